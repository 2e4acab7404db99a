"""Several decoding settings of each run in one comparison: `--decode NAME=SETTINGS`.

    --decode greedy=greedy  --decode beam5=beam=5  --decode antilm=mmi=antilm,mmi_lambda=0.3
    --decode rank=sample,num_samples=10,temperature=0.7  --decode bidi=beam=10,mmi=bidi

SETTINGS are the terminal chat's `/set` arguments separated by commas (any decode field, or the
shorthands `beam=5` and a bare strategy name), applied to the comparison's plain greedy (at most
--max-len new tokens). Each run then appears once per setting, labelled `RUN+NAME`.
"""

from __future__ import annotations

import dataclasses
import re

from seq2seq.config import DecodeConfig, parse_settings
from seq2seq.decoding import Decoding
from seq2seq.errors import ConfigError, UserError

NAME = re.compile(r"[A-Za-z0-9_.-]+")


def parse_decodes(texts: list[str], base: Decoding) -> list[tuple[str, Decoding]]:
    """(name, decoding) for each `--decode NAME=SETTINGS`, in order.

    Raises:
        UserError: one line naming the bad --decode.
    """
    parsed: list[tuple[str, Decoding]] = []
    for text in texts:
        name, sep, settings = text.partition("=")
        if not sep or not NAME.fullmatch(name):
            raise UserError(
                f"--decode {text}: expected NAME=SETTINGS, e.g. beam5=beam=5 or "
                "antilm=mmi=antilm,mmi_lambda=0.3 (a name of letters, digits, _ . -)"
            )
        if name in [known for known, _ in parsed]:
            raise UserError(f"--decode {text}: the name {name} is given twice")
        arguments = [argument for argument in settings.split(",") if argument.strip()]
        try:
            config: DecodeConfig = parse_settings(base.config, arguments)
        except ConfigError as error:
            raise UserError(f"--decode {text}: {error}") from None
        parsed.append((name, dataclasses.replace(base, config=config)))
    return parsed


def describe(config: DecodeConfig) -> str:
    """The settings that differ from plain greedy, e.g. "beam, beam_size=5, mmi=bidi"."""
    plain = DecodeConfig(max_len=config.max_len)
    keys = [f.name for f in dataclasses.fields(config) if f.name != "strategy"]
    changed = [f"{key}={getattr(config, key)}" for key in keys
               if getattr(config, key) != getattr(plain, key)]
    return ", ".join([config.strategy, *changed])
