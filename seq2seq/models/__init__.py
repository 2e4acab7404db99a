"""Seq2seq architectures behind one interface (`Seq2SeqModel`), built by name from the registry.

Every module in this package is imported here, so a new architecture is one new file that
decorates its model class with `@register_model("name", ConfigClass)`.
"""

from __future__ import annotations

import importlib
import pkgutil

from seq2seq.models.base import Memory, Seq2SeqModel
from seq2seq.models.registry import ARCHITECTURES, Architecture, get_architecture, register_model

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


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
