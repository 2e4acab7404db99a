"""compare.py --group: several seeds of one setting as one entry, mean +- sd, intervals over
seeds and examples."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seq2seq.comparison.cli import main
from seq2seq.comparison.groups import Group, hierarchical_intervals, parse_group, spread
from seq2seq.errors import UserError
from tests.conftest import EXCHANGES

QUICK = ["--corpus", str(EXCHANGES), "--attention", "0", "--speed-passes", "1"]


def test_a_group_names_runs_by_list_or_glob(tmp_path):
    for name in ("T-s1", "T-s2", "G-s1"):
        (tmp_path / name).mkdir()
    name, paths = parse_group(f"T={tmp_path}/T-s*,{tmp_path}/G-s1")
    assert name == "T" and [p.rsplit("/", 1)[1] for p in paths] == ["T-s1", "T-s2", "G-s1"]
    with pytest.raises(UserError, match="NAME=RUN1,RUN2"):
        parse_group("runs/a,runs/b")
    with pytest.raises(UserError, match="matches no run"):
        parse_group(f"T={tmp_path}/X-*")


def test_spread_is_mean_and_sample_sd_with_every_value():
    s = spread([1.0, 2.0, 3.0], ["a", "b", "c"])
    assert (s.mean, s.sd, s.n, s.values["c"]) == (2.0, 1.0, 3, 3.0)
    assert spread([1.0, None], ["a", "b"]).mean is None


def test_the_interval_carries_the_seed_to_seed_spread():
    """A figure that does not depend on the examples at all still gets an interval from the
    seeds: runs 0-2 score 1, 2, 3; runs 3-5 score 10."""
    values = np.array([1.0, 2.0, 3.0, 10.0, 10.0, 10.0])

    def statistic(run, counts):
        return np.full(len(counts), values[run])

    groups = [Group("A", (0, 1, 2)), Group("B", (3, 4, 5))]
    (d,) = hierarchical_intervals(statistic, groups, 50, "x", resamples=400, seed=1)
    assert d.difference == pytest.approx(8.0)
    assert 7.0 <= d.lower < 8.0 < d.upper <= 9.0
    (same,) = hierarchical_intervals(statistic, [Group("A", (3, 4)), Group("B", (5,))], 50, "x")
    assert (same.lower, same.upper) == (0.0, 0.0)


@pytest.fixture(scope="module")
def second_seed(train_tiny, tiny_config, tmp_path_factory):
    """The tiny Transformer trained again with another train.seed."""
    config = tiny_config("transformer", train={"keep_checkpoints": 3, "seed": 99})
    return train_tiny(config, tmp_path_factory.mktemp("seed") / "transformer-s99").run_dir


def test_groups_report_mean_sd_per_seed_values_and_intervals(tiny_runs, second_seed, tmp_path):
    out = tmp_path / "out"
    assert main(["--group", f"T={tiny_runs['transformer']},{second_seed}", "--group",
                 f"G={tiny_runs['gru']}", *QUICK, "--candidates", "5", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    t, g = report["groups"]
    assert t["seeds"] == [1234, 99] and t["runs"] == ["transformer", "transformer-s99"]
    ppl = t["metrics"]["token_ppl"]
    assert ppl["n"] == 2 and ppl["mean"] == pytest.approx(np.mean(list(ppl["values"].values())))
    assert g["metrics"]["token_ppl"]["sd"] is None
    keys = [(d["key"], d["a"], d["b"]) for d in report["group_differences"]]
    assert keys == [("token_ppl", "T", "G"), ("top1_share", "T", "G")]
    d = report["group_differences"][0]
    assert d["lower"] <= d["difference"] <= d["upper"]
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert f"| token perplexity | {ppl['mean']:.2f} +- {ppl['sd']:.2f} (2) |" in markdown
    # the relevance figures too: each run's own value (as in its row of the per-run table)
    hits = t["relevance"]["hits1_random"]
    per_run = [run["relevance"]["random"]["hits1"]["difference"] for run in report["runs"]
               if run["label"] in t["runs"]]
    assert hits["n"] == 2 and hits["values"] == dict(zip(t["runs"], per_run, strict=True))
    assert hits["mean"] == pytest.approx(np.mean(per_run))
    assert len(t["relevance"]) == 14 and g["relevance"]["gap_deranged"]["sd"] is None
    assert (f"| hits@1/5 random | {hits['mean']:.3f} +- {hits['sd']:.3f} (2) | "
            f"{g['relevance']['hits1_random']['mean']:.3f} |") in markdown


def test_a_group_whose_runs_differ_by_more_than_the_seed_is_refused(tiny_runs, tmp_path):
    with pytest.raises(UserError, match=r"--group X: transformer and gru differ by .*model\.arch"
                       r".*only by train\.seed"):
        main(["--group", f"X={tiny_runs['transformer']},{tiny_runs['gru']}", "--group",
              f"Y={tiny_runs['gru']}", *QUICK, "--out", str(tmp_path / "o")])


def test_the_sweep_draws_a_group_as_its_mean_and_band(tiny_runs, second_seed, tmp_path):
    out = tmp_path / "sweep"
    assert main(["--sweep", "--group", f"T={tiny_runs['transformer']},{second_seed}",
                 str(tiny_runs["gru"]), *QUICK, "--out", str(out)]) == 0
    (group,) = json.loads((out / "sweep.json").read_text(encoding="utf-8"))["groups"]
    runs = json.loads((out / "sweep.json").read_text(encoding="utf-8"))["runs"]
    first = [r["points"][0]["token_ppl"] for r in runs if r["label"] in group["runs"]]
    assert group["steps"] == [10, 20, 30]
    assert group["mean"]["token_ppl"][0] == pytest.approx(np.mean(first))
    assert group["sd"]["token_ppl"][0] == pytest.approx(np.std(first, ddof=1))
