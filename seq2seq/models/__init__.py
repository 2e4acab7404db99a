"""Seq2seq architectures behind one interface (`Seq2SeqModel`), built by name from the registry.

Each architecture's module registers its model class with `@register_model("name", Config)`;
they are imported here by name, so a new architecture is one new file and one line below.
"""

from __future__ import annotations

from seq2seq.models import rnn, transformer  # noqa: F401  (registers "gru" and "transformer")
from seq2seq.models.base import Memory, Seq2SeqModel
from seq2seq.models.registry import ARCHITECTURES, Architecture, get_architecture, register_model


def build_model(config, tokenizer) -> Seq2SeqModel:
    """Build the architecture named by `config.arch` for `tokenizer`'s vocabulary.

    Args:
        config: the model section of a `Config` (a registered config dataclass).
        tokenizer: anything with `vocab_size` and `pad_id` (a `seq2seq.tokenizer.Tokenizer`).
    """
    model_class = get_architecture(config.arch).model_class
    return model_class(config, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)


__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "Memory",
    "Seq2SeqModel",
    "build_model",
    "get_architecture",
    "register_model",
]
