"""The architecture registry: `--model NAME` -> (config dataclass, model class)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from seq2seq.errors import ConfigError


@dataclass(frozen=True)
class Architecture:
    """A registered architecture: its name, config dataclass and `Seq2SeqModel` subclass."""

    name: str
    config_class: type
    model_class: type


ARCHITECTURES: dict[str, Architecture] = {}


def register_model(name: str, config_class: type) -> Callable[[type], type]:
    """Class decorator: make a `Seq2SeqModel` subclass buildable as `--model name`."""

    def register(model_class: type) -> type:
        if name in ARCHITECTURES:
            raise ValueError(f"architecture {name!r} is registered twice")
        ARCHITECTURES[name] = Architecture(name, config_class, model_class)
        return model_class

    return register


def get_architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ConfigError(f"config: model.arch: unknown architecture {name!r} (known: {known})")
    return ARCHITECTURES[name]
