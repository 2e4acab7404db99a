"""Neural chatbots trained from scratch: a handwritten Transformer and a GRU + Luong baseline."""
