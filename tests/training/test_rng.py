"""Random states (seq2seq/training/rng.py): validation must not change training."""

from __future__ import annotations

import torch

from seq2seq.training.rng import preserved_rng


def test_validation_leaves_the_random_state_alone() -> None:
    before = torch.get_rng_state()
    with preserved_rng():
        torch.rand(100)
    assert torch.equal(torch.get_rng_state(), before)
