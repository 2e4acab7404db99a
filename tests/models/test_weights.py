"""Building a model around trained weights (`build_model(..., weights=...)`): the same model as
the one saved, for every architecture and the variants that change its parameters or buffers,
built without drawing random numbers and without copying the weights."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from seq2seq.models import ARCHITECTURES, Seq2SeqModel, build_model
from seq2seq.models.weights import shared_parameters


class FakeTokenizer:
    """What a model is built from: the vocabulary size and the pad id."""

    pad_id, bos_id = 0, 2
    vocab_size = 29


TOKENIZER = FakeTokenizer()
SMALL = {"d_model": 16, "n_heads": 2, "n_layers": 2, "d_ff": 32, "max_len": 24}
# What changes the parameters or buffers: learned positions are parameters, sinusoidal ones a
# buffer left out of checkpoints; tied embeddings are one parameter under two names.
VARIANTS = {
    "transformer": [
        {"positional": positional, "tie_embeddings": tie, "norm": norm}
        for positional, tie, norm in itertools.product(
            ("sinusoidal", "learned"), (True, False), ("post", "pre"))
    ],
    "gru": [
        {"tie_embeddings": tie, "attention": score}
        for tie, score in itertools.product((True, False), ("dot", "general", "concat"))
    ],
}
CASES = [
    pytest.param((arch, variant), id="-".join([arch, *map(str, variant.values())]))
    for arch in sorted(ARCHITECTURES)
    for variant in VARIANTS[arch]
]


def small_config(arch: str, variant: dict):
    config_class = ARCHITECTURES[arch].config_class
    names = set(config_class.__dataclass_fields__)
    return config_class(**{k: v for k, v in SMALL.items() if k in names}, **variant)


def trained_and_saved(arch: str, variant: dict, folder: Path):
    """A seeded model in eval mode and its weights read back as load_trained reads them
    (torch.load with weights_only and mmap)."""
    config = small_config(arch, variant)
    torch.manual_seed(0)
    trained = build_model(config, TOKENIZER).eval()
    torch.save(trained.state_dict(), folder / "weights.pt")
    weights = torch.load(folder / "weights.pt", weights_only=True, mmap=True)
    return config, trained, weights


def outputs(model: Seq2SeqModel) -> list[torch.Tensor]:
    """Teacher-forced logits and a few decode_step logits on a fixed padded batch."""
    generator = torch.Generator().manual_seed(1)
    src = torch.randint(5, TOKENIZER.vocab_size, (3, 7), generator=generator)
    src_mask = torch.arange(7)[None, :] < torch.tensor([[7], [4], [1]])
    src = src.masked_fill(~src_mask, TOKENIZER.pad_id)
    tgt_in = torch.randint(5, TOKENIZER.vocab_size, (3, 5), generator=generator)
    tgt_in[:, 0] = TOKENIZER.bos_id
    with torch.no_grad():
        found = [model(src, src_mask, tgt_in)]
        memory, state = model.encode(src, src_mask), None
        for t in range(tgt_in.size(1)):
            logits, state = model.decode_step(tgt_in[:, t], memory, state, need_attention=True)
            found += [logits, state.cross_attention]
    return found


def test_every_architecture_is_covered():
    assert {case.values[0][0] for case in CASES} == set(ARCHITECTURES)


@pytest.mark.parametrize("case", CASES)
def test_a_model_built_from_weights_is_the_saved_model(case, tmp_path):
    config, trained, weights = trained_and_saved(*case, tmp_path)
    loaded = build_model(config, TOKENIZER, weights=weights).eval()

    assert shared_parameters(loaded) == shared_parameters(trained)
    assert bool(shared_parameters(loaded)) == config.tie_embeddings
    assert loaded.num_parameters() == trained.num_parameters()
    assert all(p.requires_grad for p in loaded.parameters())
    buffers = dict(trained.named_buffers())  # persistent or not (the sinusoidal table)
    assert buffers.keys() == dict(loaded.named_buffers()).keys()
    for name, buffer in loaded.named_buffers():
        assert torch.equal(buffer, buffers[name]), name
    for ours, theirs in zip(outputs(loaded), outputs(trained), strict=True):
        assert torch.equal(ours, theirs)


@pytest.mark.parametrize("case", CASES)
def test_the_weights_become_the_parameters_without_a_copy(case, tmp_path):
    config, _, weights = trained_and_saved(*case, tmp_path)
    loaded = build_model(config, TOKENIZER, weights=weights)
    for name, tensor in loaded.state_dict().items():
        assert tensor.data_ptr() == weights[name].data_ptr(), name


@pytest.mark.parametrize("case", CASES)
def test_building_from_weights_draws_no_random_numbers(case, tmp_path):
    config, _, weights = trained_and_saved(*case, tmp_path)
    state = torch.get_rng_state()
    build_model(config, TOKENIZER, weights=weights)
    assert torch.equal(torch.get_rng_state(), state)
    build_model(config, TOKENIZER)  # a fresh model does draw them
    assert not torch.equal(torch.get_rng_state(), state)


def test_weights_of_another_dtype_take_the_models(tmp_path):
    config, trained, weights = trained_and_saved(*CASES[-1].values[0], tmp_path)
    doubled = {name: tensor.double() for name, tensor in weights.items()}
    loaded = build_model(config, TOKENIZER, weights=doubled).eval()
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    assert shared_parameters(loaded) == shared_parameters(trained)
    for ours, theirs in zip(outputs(loaded), outputs(trained), strict=True):
        assert torch.equal(ours, theirs)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize(("damage", "message"), [
    (lambda weights: weights.popitem(), "Missing key"),
    (lambda weights: weights.update(extra=torch.zeros(1)), "Unexpected key"),
    (lambda weights: weights.update({next(iter(weights)): torch.zeros(3, 1)}), "size mismatch"),
    (lambda weights: weights.update({next(iter(weights)): "text"}), "expected torch.Tensor"),
])
def test_weights_that_do_not_fit_are_refused(arch, damage, message, tmp_path):
    config, _, weights = trained_and_saved(arch, VARIANTS[arch][0], tmp_path)
    damage(weights)
    with pytest.raises(RuntimeError, match=message):
        build_model(config, TOKENIZER, weights=weights)
