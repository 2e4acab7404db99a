"""The optimiser's parameter groups, the learning-rate schedules and the teacher-forcing ratio
(seq2seq/training/optim.py)."""

from __future__ import annotations

import pytest
import torch

from seq2seq.config import TrainConfig
from seq2seq.models import build_model
from seq2seq.training.optim import lr_factor, parameter_groups, teacher_forcing_ratio


def test_inverse_sqrt_schedule_peaks_at_the_end_of_warm_up() -> None:
    factors = [lr_factor(n, "inverse_sqrt", 100) for n in (1, 50, 100, 400)]
    assert factors == pytest.approx([0.01, 0.5, 1.0, 0.5])
    assert lr_factor(4, "inverse_sqrt", 0) == pytest.approx(0.5)


def test_constant_schedule_with_and_without_warm_up() -> None:
    assert [lr_factor(n, "constant", 4) for n in (1, 2, 4, 100)] == [0.25, 0.5, 1.0, 1.0]
    assert lr_factor(1, "constant", 0) == 1.0


def test_teacher_forcing_ratio_is_constant_without_decay() -> None:
    train = TrainConfig(teacher_forcing=0.8)
    assert teacher_forcing_ratio(0, train) == teacher_forcing_ratio(10**6, train) == 0.8


def test_parameter_groups_decay_only_weight_matrices(tiny_config) -> None:
    config = tiny_config("transformer", train={"weight_decay": 0.1})
    model = build_model(config.model, FakeTokenizer())
    decayed = {name for group in parameter_groups(model, config.train)
               if group["weight_decay"] > 0 for name in group["names"]}
    named = dict(model.named_parameters())
    assert decayed and all(named[name].ndim == 2 for name in decayed)
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    assert not any(id(named[name]) in embeddings for name in decayed)
    norms = {f"{n}.{p}" for n, m in model.named_modules() if isinstance(m, torch.nn.LayerNorm)
             for p, _ in m.named_parameters()}
    assert norms and not norms & decayed
    counted = sum(p.numel() for g in parameter_groups(model, config.train) for p in g["params"])
    assert counted == model.num_parameters()


def test_decoder_parameters_get_the_decoder_learning_rate(tiny_config) -> None:
    config = tiny_config("gru", train={"lr": 0.001, "decoder_lr_multiplier": 5.0})
    model = build_model(config.model, FakeTokenizer())
    for group in parameter_groups(model, config.train):
        in_decoder = {"decoder" in name for name in group["names"]}
        assert len(in_decoder) == 1
        assert group["lr"] == pytest.approx(0.005 if in_decoder.pop() else 0.001)


class FakeTokenizer:
    vocab_size = 120
    pad_id = 0
