"""The one way in for the CPU fast paths (seq2seq/models/speed.py): which modules it swaps,
what it keeps, its switch, and that training and loaded models go through it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seq2seq.checkpoint import load_trained
from seq2seq.config import DecodeConfig
from seq2seq.decoding import Decoding, generate
from seq2seq.models.dropout import FastDropout
from seq2seq.models.linear import LARGE_WEIGHT, FewRowLinear
from seq2seq.models.rnn import GRUConfig, GRUSeq2Seq
from seq2seq.models.speed import ENV_VAR, speed_up
from seq2seq.models.transformer import Transformer, TransformerConfig
from seq2seq.training import loop as training_loop

PAD, BOS, EOS, VOCAB = 0, 2, 3, 50
# wide enough for its products to take the arranged path at few rows
WIDE = TransformerConfig(d_model=256, n_heads=4, n_layers=2, d_ff=512, max_len=32)


def transformer(config: TransformerConfig = WIDE) -> Transformer:
    torch.manual_seed(0)
    return Transformer(config, vocab_size=VOCAB, pad_id=PAD).eval()


def kinds(model: nn.Module) -> dict[str, type]:
    return {name: type(module) for name, module in model.named_modules()}


def test_swaps_every_linear_and_dropout_keeping_the_parameters_and_their_names():
    model = transformer()
    before = kinds(model)
    tensors = {name: t.data_ptr() for name, t in model.state_dict(keep_vars=True).items()}
    assert speed_up(model, "cpu") is model
    after = kinds(model)
    assert after.keys() == before.keys()
    swapped = {FewRowLinear: nn.Linear, FastDropout: nn.Dropout}
    for name, kind in after.items():
        assert swapped.get(kind, kind) is before[name]
    assert FewRowLinear in after.values() and FastDropout in after.values()
    assert nn.Linear not in after.values() and nn.Dropout not in after.values()
    assert {name: t.data_ptr() for name, t in model.state_dict(keep_vars=True).items()} == tensors
    assert model.generator.weight is model.embed.tokens.weight  # still tied


def test_the_gru_is_sped_up_too():
    torch.manual_seed(0)
    model = speed_up(GRUSeq2Seq(GRUConfig(d_model=16, n_layers=2), VOCAB, PAD), "cpu")
    assert type(model.decoder.out) is FewRowLinear
    assert type(model.decoder.attention.w_c) is FewRowLinear
    assert type(model.decoder.dropout) is FastDropout


@pytest.mark.parametrize("device", ["cuda", "meta"])
def test_nothing_changes_for_another_device(device):
    model = transformer()
    before = kinds(model)
    speed_up(model, device)
    assert kinds(model) == before


def test_the_environment_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "0")
    model = transformer()
    before = kinds(model)
    speed_up(model, "cpu")
    assert kinds(model) == before
    monkeypatch.setenv(ENV_VAR, "1")
    assert type(speed_up(model, "cpu").generator) is FewRowLinear


@torch.no_grad()
def test_sped_up_decoding_gives_the_plain_models_replies():
    plain, fast = transformer(), speed_up(transformer(), "cpu")
    assert fast.decoder.layers[0].self_attn.qkv_proj.weight.numel() >= LARGE_WEIGHT
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, VOCAB, (3, 7), generator=g)
    src_mask = torch.ones_like(src, dtype=torch.bool)
    tokenizer = type("Ids", (), {"bos_id": BOS, "eos_id": EOS, "pad_id": PAD})
    for config in (DecodeConfig(strategy="greedy", max_len=8),
                   DecodeConfig(strategy="beam", beam_size=4, max_len=8)):
        decoding = Decoding.of(config, tokenizer)
        expected = generate(plain, src, src_mask, decoding)
        result = generate(fast, src, src_mask, decoding)
        assert result.tokens == expected.tokens
        torch.testing.assert_close(torch.tensor(result.scores), torch.tensor(expected.scores))


def test_dropout_in_training_is_the_fast_dropout_stream():
    config = TransformerConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=16)
    model = speed_up(transformer(config), "cpu").train()
    x = torch.randn(4, 16)
    torch.manual_seed(3)
    y = model.embed.dropout(x)
    torch.manual_seed(3)
    assert torch.equal(y, FastDropout(0.1)(x))
    torch.manual_seed(3)
    assert not torch.equal(y, nn.Dropout(0.1)(x))


def test_training_and_loaded_models_go_through_it(tmp_path, tiny_config, train_tiny, monkeypatch):
    built = []
    build = training_loop.build_model

    def recording_build(*args):
        built.append(build(*args))
        return built[-1]

    monkeypatch.setattr(training_loop, "build_model", recording_build)
    train_tiny(tiny_config("transformer", train={"max_steps": 2}), tmp_path / "run")
    assert type(built[0].generator) is FewRowLinear
    assert type(load_trained(tmp_path / "run").model.generator) is FewRowLinear
    monkeypatch.setenv(ENV_VAR, "0")
    assert type(load_trained(tmp_path / "run").model.generator) is nn.Linear
