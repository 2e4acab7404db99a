"""The checks that make resuming safe.

Resuming continues the very same experiment: the checkpoint's model, data, tokenizer and every
training setting that shapes the trajectory must match. Only when and how long to train
(`RESUME_MAY_CHANGE`) and how validation samples are decoded may differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seq2seq.checkpoint import TrainingState, tokenizer_of
from seq2seq.config import Config, config_from_dict
from seq2seq.errors import UserError
from seq2seq.tokenizer import Tokenizer

RESUME_MAY_CHANGE = {
    "train.max_steps", "train.epochs", "train.patience", "train.eval_interval",
    "train.log_interval", "train.num_sample_prompts", "train.diversity_prompts",
    "train.relevance_examples",
    "train.keep_checkpoints",
}


def resumable_state(config: Config, payload: dict[str, Any], path: Path) -> TrainingState:
    """The training state of a checkpoint that `config` may continue.

    Raises:
        UserError: the checkpoint has no training state, or the first setting that differs
            from the checkpoint's, named.
    """
    arch = (payload.get("config") or {}).get("model", {}).get("arch")
    if arch != config.model.arch:  # before any setting: the others follow from it
        raise UserError(
            f"--resume: {path} is a {arch} run but model.arch is {config.model.arch!r} here; "
            f"resume with --model {arch} or start a new --run-dir"
        )
    state = TrainingState.from_payload(payload, path)
    # Read back through config_from_dict: a key added since the checkpoint was written takes
    # its default there, which is what the run trained with.
    ours, theirs = config.flat(), config_from_dict(payload["config"]).flat()
    for key in sorted(ours.keys() | theirs.keys()):
        if key in RESUME_MAY_CHANGE or key.startswith("decode."):
            continue
        if ours.get(key) != theirs.get(key):
            raise UserError(
                f"--resume: {key} is {ours.get(key)!r} here but {theirs.get(key)!r} in {path}; "
                "resume with the run's own settings (drop the --config/--set/--seed that change "
                "it) or start a new --run-dir"
            )
    return state


def check_same_tokenizer(tokenizer: Tokenizer, payload: dict[str, Any], path: Path) -> None:
    if tokenizer.fingerprint() != tokenizer_of(payload, path).fingerprint():
        raise UserError(
            f"--resume: the corpus gives a different tokenizer than the one in {path}; "
            "pass the run's corpus with --corpus"
        )
