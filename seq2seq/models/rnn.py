"""(placeholder: the GRU + Luong attention model is being written; its config is final)"""

from __future__ import annotations

from dataclasses import dataclass

from seq2seq.config import check, check_choice, check_probability


@dataclass(frozen=True)
class GRUConfig:
    """Hyper-parameters of the GRU + Luong attention baseline (the PyTorch Chatbot Tutorial's)."""

    arch: str = "gru"
    d_model: int = 500  # hidden size, also the embedding size
    n_layers: int = 2  # in the encoder and in the decoder
    dropout: float = 0.1
    attention: str = "dot"  # Luong score: dot, general or concat
    tie_embeddings: bool = False  # output projection shares the embedding

    def validate(self) -> None:
        check(self.d_model >= 1, "model.d_model", "must be >= 1")
        check(self.n_layers >= 1, "model.n_layers", "must be >= 1")
        check_probability(self.dropout, "model.dropout")
        check_choice(self.attention, ("dot", "general", "concat"), "model.attention")
