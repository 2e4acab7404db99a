"""Token-budget batches: complete, within budget, reproducible per (seed, epoch), little padding,
sharded evenly between processes; collate builds bos/eos-shifted, padded, masked rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seq2seq.batching import (
    collate,
    epoch_batches,
    hilbert_index,
    make_batches,
    padded_cost,
    padding_share,
)

PAD, BOS, EOS = 0, 2, 3


@pytest.fixture
def lengths() -> tuple[np.ndarray, np.ndarray]:
    """Lengths like a dialogue corpus: mostly short, some long, many ties."""
    rng = np.random.default_rng(0)
    src = np.clip(rng.geometric(0.12, size=20_000), 1, 32)
    tgt = np.clip(rng.geometric(0.12, size=20_000), 1, 24)
    return src, tgt


def test_every_example_once_and_within_budget(lengths) -> None:
    src, tgt = lengths
    batches = epoch_batches(src, tgt, max_tokens=600, batch_size=40, seed=1, epoch=0)
    everything = np.concatenate(batches)
    assert sorted(everything.tolist()) == list(range(len(src)))
    for batch in batches:
        assert len(batch) <= 40
        assert padded_cost(len(batch), src[batch].max(), tgt[batch].max()) <= 600


def test_batch_size_caps_examples_when_budget_allows_more(lengths) -> None:
    src, tgt = lengths
    batches = make_batches(src, tgt, max_tokens=10**9, batch_size=16)
    assert max(len(b) for b in batches) == 16


def test_an_example_over_budget_gets_a_batch_of_its_own() -> None:
    batches = make_batches([2, 50, 2], [2, 50, 2], max_tokens=20, batch_size=8)
    assert sorted(len(b) for b in batches) == [1, 2]
    assert [1] in [b.tolist() for b in batches]


def test_order_is_a_pure_function_of_seed_and_epoch(lengths) -> None:
    src, tgt = lengths

    def run(seed: int, epoch: int) -> list[list[int]]:
        batches = epoch_batches(src, tgt, max_tokens=600, batch_size=40, seed=seed, epoch=epoch)
        return [b.tolist() for b in batches]

    assert run(7, 3) == run(7, 3)
    assert run(7, 3) != run(7, 4)
    assert run(7, 3) != run(8, 3)


def test_bucketing_pads_far_less_than_random_batches(lengths) -> None:
    src, tgt = lengths
    bucketed = epoch_batches(src, tgt, max_tokens=1200, batch_size=64, seed=0, epoch=0)
    random_batches = np.array_split(np.random.default_rng(0).permutation(len(src)), len(bucketed))
    assert padding_share(bucketed, src, tgt) < 0.10
    assert padding_share(random_batches, src, tgt) > 3 * padding_share(bucketed, src, tgt)


@pytest.mark.parametrize("side", [2, 8, 32])
def test_hilbert_index_walks_the_grid_one_cell_at_a_time(side: int) -> None:
    x, y = (grid.ravel() for grid in np.meshgrid(np.arange(side), np.arange(side)))
    index = hilbert_index(x, y)
    assert sorted(index.tolist()) == list(range(side * side))
    order = np.argsort(index)
    steps = np.abs(np.diff(x[order])) + np.abs(np.diff(y[order]))
    assert np.all(steps == 1)


def test_validation_batches_are_deterministic_and_follow_the_curve(lengths) -> None:
    src, tgt = lengths
    first = make_batches(src, tgt, max_tokens=600, batch_size=40)
    second = make_batches(src, tgt, max_tokens=600, batch_size=40)
    assert [b.tolist() for b in first] == [b.tolist() for b in second]
    order = np.concatenate(first)
    assert np.all(np.diff(hilbert_index(src, tgt)[order]) >= 0)


def test_shards_are_disjoint_and_equal_in_number(lengths) -> None:
    src, tgt = lengths
    common = dict(max_tokens=600, batch_size=40, seed=5, epoch=2)
    whole = epoch_batches(src, tgt, **common)
    shards = [epoch_batches(src, tgt, rank=r, world_size=3, **common) for r in range(3)]
    assert len({len(shard) for shard in shards}) == 1
    assert sum(len(shard) for shard in shards) == len(whole) - len(whole) % 3
    seen = [i for shard in shards for batch in shard for i in batch.tolist()]
    assert len(seen) == len(set(seen))


def test_collate_shifts_the_target_and_pads() -> None:
    src = [np.array([5, 6, 7], dtype=np.int32), np.array([8], dtype=np.int32)]
    tgt = [np.array([9], dtype=np.int32), np.array([10, 11], dtype=np.int32)]
    batch = collate(src, tgt, pad_id=PAD, bos_id=BOS, eos_id=EOS)
    assert batch.src.tolist() == [[5, 6, 7], [8, PAD, PAD]]
    assert batch.src_mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.tgt_in.tolist() == [[BOS, 9, PAD], [BOS, 10, 11]]
    assert batch.tgt_out.tolist() == [[9, EOS, PAD], [10, 11, EOS]]
    assert batch.src.dtype == batch.tgt_in.dtype == torch.int64
    assert batch.num_tokens == 4 + 5  # src 3 + 1, targets 2 + 3
    assert batch.num_targets == 5
    assert batch.num_padded == 6 + 6
    assert batch.pad_share == pytest.approx(1 - 9 / 12)


def test_padding_share_matches_what_collate_builds(lengths) -> None:
    src_lengths, tgt_lengths = lengths
    src = [np.full(n, 7, dtype=np.int32) for n in src_lengths]
    tgt = [np.full(n, 8, dtype=np.int32) for n in tgt_lengths]
    batches = make_batches(src_lengths, tgt_lengths, max_tokens=600, batch_size=40)[:20]
    collated = [collate([src[i] for i in b], [tgt[i] for i in b], pad_id=PAD, bos_id=BOS,
                        eos_id=EOS) for b in batches]
    real = sum(b.num_tokens for b in collated)
    padded = sum(b.num_padded for b in collated)
    assert padding_share(batches, src_lengths, tgt_lengths) == pytest.approx(1 - real / padded)


def test_batch_to_device_keeps_contents() -> None:
    batch = collate([np.array([5], dtype=np.int32)], [np.array([6], dtype=np.int32)],
                    pad_id=PAD, bos_id=BOS, eos_id=EOS)
    moved = batch.to(torch.device("cpu"))
    assert torch.equal(moved.tgt_out, batch.tgt_out)
    assert moved.num_targets == batch.num_targets
