from __future__ import annotations

import pytest
import torch

from seq2seq.errors import UserError
from seq2seq.pretrained.compact import compact_payload, compact_weights


def test_float32_tensors_are_stored_in_half_precision_and_others_as_they_are():
    weights = {"w": torch.tensor([0.1, -2.5]), "steps": torch.tensor([3, 4])}
    compact = compact_weights(weights, "float16")
    assert compact["w"].dtype == torch.float16
    assert torch.allclose(compact["w"].float(), weights["w"], rtol=1e-3)
    assert compact["steps"].dtype == torch.int64
    assert compact_weights(weights, "bfloat16")["w"].dtype == torch.bfloat16


def test_a_value_float16_cannot_hold_is_refused_rather_than_shipped_as_inf():
    with pytest.raises(UserError, match="does not fit float16.*bfloat16"):
        compact_weights({"big": torch.tensor([1e6])}, "float16")
    assert torch.isfinite(compact_weights({"big": torch.tensor([1e6])}, "bfloat16")["big"]).all()


def test_a_shipped_payload_keeps_no_training_state():
    payload = {"format": "f", "config": {}, "model": {"w": torch.zeros(2)}, "tokenizer": {},
               "step": 3, "optimizer": {"state": 1}, "rng": {}, "scheduler": {}}
    kept = compact_payload(payload, "float16")
    assert set(kept) == {"format", "config", "model", "tokenizer", "step", "precision"}
    assert kept["precision"] == "float16"


def test_an_unknown_precision_is_a_user_error():
    with pytest.raises(UserError, match="choose one of"):
        compact_weights({}, "int8")
