"""Seq2seq architectures behind one interface (`Seq2SeqModel`), built by name from the registry.

Each architecture's module registers its model class with `@register_model("name", Config)`;
they are imported here by name, so a new architecture is one new file and one line below.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from seq2seq.models import rnn, transformer  # noqa: F401  (registers "gru" and "transformer")
from seq2seq.models.base import Memory, Seq2SeqModel
from seq2seq.models.registry import ARCHITECTURES, Architecture, get_architecture, register_model
from seq2seq.models.weights import SkipRandomInit, assign_weights


def build_model(config, tokenizer, weights: Mapping[str, Tensor] | None = None) -> Seq2SeqModel:
    """Build the architecture named by `config.arch` for `tokenizer`'s vocabulary.

    Args:
        config: the model section of a `Config` (a registered config dataclass).
        tokenizer: anything with `vocab_size` and `pad_id` (a `seq2seq.tokenizer.Tokenizer`).
        weights: a trained model's state dict, whose tensors become the model's own, without
            a random initialisation first or a copy (see `seq2seq.models.weights`); None: a
            freshly initialised model.

    Raises:
        RuntimeError, TypeError: (torch's) `weights` do not fit the model (`assign_weights`).
    """
    model_class = get_architecture(config.arch).model_class
    if weights is None:
        return model_class(config, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)
    with SkipRandomInit():
        model = model_class(config, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)
    assign_weights(model, weights)
    return model


__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "Memory",
    "Seq2SeqModel",
    "build_model",
    "get_architecture",
    "register_model",
]
