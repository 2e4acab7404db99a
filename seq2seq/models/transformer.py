"""(placeholder: the Transformer model is being written; its config is final)"""

from __future__ import annotations

from dataclasses import dataclass

from seq2seq.config import check, check_choice, check_probability


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of the encoder-decoder Transformer (Vaswani et al., 2017)."""

    arch: str = "transformer"
    d_model: int = 256
    n_heads: int = 4
    n_layers: int = 3  # in the encoder and in the decoder
    d_ff: int = 1024
    dropout: float = 0.1
    activation: str = "relu"  # relu (the paper) or gelu
    norm: str = "post"  # post-LN (the paper) or pre-LN
    positional: str = "sinusoidal"  # sinusoidal (the paper) or learned
    max_len: int = 256  # longest sequence the positional encoding covers
    tie_embeddings: bool = True  # output projection shares the source/target embedding
    attention: str = "fused"  # fused (torch's scaled_dot_product_attention) or manual

    def validate(self) -> None:
        for key in ("d_model", "n_heads", "n_layers", "d_ff", "max_len"):
            check(getattr(self, key) >= 1, f"model.{key}", "must be >= 1")
        check(
            self.d_model % self.n_heads == 0,
            "model.d_model",
            f"{self.d_model} is not divisible by model.n_heads={self.n_heads}",
        )
        check_probability(self.dropout, "model.dropout")
        check_choice(self.activation, ("relu", "gelu"), "model.activation")
        check_choice(self.norm, ("post", "pre"), "model.norm")
        check_choice(self.positional, ("sinusoidal", "learned"), "model.positional")
        check_choice(self.attention, ("fused", "manual"), "model.attention")
