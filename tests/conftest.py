"""Fixtures shared by the whole test suite: the fixture corpus, very small configs, and tiny
trained runs, each trained once per session: a Transformer and a GRU on the same data and
tokenizer (`tiny_runs`), and a GRU that reads context (`context_run`), for the tests of chat,
compare, the web page and checkpoints.

    def test_something(tiny_runs):            # {"transformer": Path, "gru": Path}
        trained = load_trained(tiny_runs["gru"])

Every test that trains a model (or needs one trained) is marked `slow`, so that

    python -m pytest -m "not slow"

runs the rest in a fraction of the time; train_tiny's callers mark themselves by asking for it
(tests/test_train_cli.py, which trains in subprocesses, is marked as a whole).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from seq2seq.config import Config, config_from_dict
from seq2seq.training import TrainOptions, TrainResult, train

REPO = Path(__file__).resolve().parents[1]
EXCHANGES = REPO / "tests" / "fixtures" / "exchanges.tsv"
TINY_RUN_STEPS = 30
# Fixtures that train: a test using any of them (directly or through another fixture) is slow.
TRAINING_FIXTURES = {"train_tiny", "tiny_runs", "context_run"}

# Smaller than configs/tiny-*.yaml, so that a few dozen steps take a few seconds on a CPU.
# The data section is the same for both architectures: same split, same tokenizer.
TINIER: dict[str, dict[str, Any]] = {
    "data": {"vocab_size": 150},
    "train": {
        "batch_size": 32,
        "max_tokens": 1024,
        "max_steps": TINY_RUN_STEPS,
        "eval_interval": 10,
        "log_interval": 5,
        "num_sample_prompts": 2,
    },
    "decode": {"max_len": 8},
}
TINIER_MODEL = {
    "transformer": {"d_model": 32, "n_heads": 2, "n_layers": 1, "d_ff": 64},
    "gru": {"d_model": 32, "n_layers": 1},
}


def make_tiny_config(arch: str, **sections: dict[str, Any]) -> Config:
    """configs/tiny-<arch>.yaml shrunk for tests, then `sections` applied, e.g.
    `make_tiny_config("gru", train={"max_steps": 8})`."""
    raw = yaml.safe_load((REPO / "configs" / f"tiny-{arch}.yaml").read_text(encoding="utf-8"))
    raw["model"].update(TINIER_MODEL[arch])
    for name, values in (*TINIER.items(), *sections.items()):
        raw.setdefault(name, {}).update(values)
    return config_from_dict(raw)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` every test that needs a model trained (see TRAINING_FIXTURES)."""
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """torch on one thread in every test: for models this small, splitting each operation
    between threads costs more than it saves, and far more on a machine busy with other work
    (a tiny decoding test took 20 s with two threads there)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def exchanges_corpus() -> Path:
    """tests/fixtures/exchanges.tsv: the small invented prompt<TAB>reply corpus."""
    return EXCHANGES


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One prepared-data cache for the session, so the fixture corpus is tokenized once."""
    return tmp_path_factory.mktemp("data-cache")


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., Config]:
    """The `make_tiny_config(arch, **sections)` factory."""
    return make_tiny_config


@pytest.fixture(scope="session")
def train_tiny(data_cache: Path) -> Callable[..., TrainResult]:
    """`train_tiny(config, run_dir, corpus=EXCHANGES, **options)`: train on a fixture corpus
    (the English one by default), on the CPU (one thread: `one_torch_thread`)."""

    def run(config: Config, run_dir: Path, corpus: Path = EXCHANGES, **options: Any) -> TrainResult:
        settings = TrainOptions(run_dir=run_dir, device="cpu", cache_dir=data_cache, **options)
        return train(config, corpus, settings)

    return run


@pytest.fixture(scope="session")
def tiny_runs(
    tmp_path_factory: pytest.TempPathFactory, train_tiny: Callable[..., TrainResult]
) -> dict[str, Path]:
    """Two tiny trained runs, {"transformer": run_dir, "gru": run_dir}, 30 steps each, on the
    fixture corpus with the same data config (hence the same tokenizer), each keeping three
    step-<N>.pt snapshots. Read-only: copy a run before changing it."""
    root = tmp_path_factory.mktemp("tiny-runs")
    runs = {}
    for arch in ("transformer", "gru"):
        # Three snapshots each, for the checkpoint sweep and the snapshot-loading tests.
        result = train_tiny(make_tiny_config(arch, train={"keep_checkpoints": 3}), root / arch)
        runs[arch] = result.run_dir
    return runs


@pytest.fixture(scope="session")
def context_run(
    train_tiny: Callable[..., TrainResult], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A tiny GRU trained to read the last 3 turns (at most 64 tokens). Read-only."""
    config = make_tiny_config("gru", data={"context_turns": 3, "max_src_len": 64})
    return train_tiny(config, tmp_path_factory.mktemp("context") / "gru-context").run_dir
