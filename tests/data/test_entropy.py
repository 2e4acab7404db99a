"""The entropy filter (Csáky et al., 2019): entropies with known values on a hand-made corpus,
and a filter that only ever touches the training split and is part of the cache key."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from seq2seq.config import DataConfig
from seq2seq.data import Example, prepare_data
from seq2seq.data.__main__ import main
from seq2seq.data.entropy import entropy_bits, filter_examples, utterance_entropies

GENERIC = "I don't know."

# Hand-made pairs with known entropies, in bits:
#   "What?" as a source is answered by A, B, C, D once each       H_tgt = log2(4) = 2
#   "Hi." as a source is answered by E twice and by F twice        H_tgt = 1
#   "Yo." as a source is answered by F only                        H_tgt = 0
#   A, B, C, D and E as targets each answer one utterance only     H_src = 0
#   "F" as a target answers "Hi." twice and "Yo." twice            H_src = 1
PAIRS = [
    ("What?", "A"), ("What?", "B"), ("What?", "C"), ("What?", "D"),
    ("Hi.", "E"), ("Hi.", "E"), ("Hi.", "F"), ("Hi.", "F"),
    ("Yo.", "F"), ("Yo.", "F"),
]


def example(source: str, target: str, group: str = "g") -> Example:
    return Example((source,), target, group, ("s", "t"))


def test_entropy_in_bits_of_counts() -> None:
    assert entropy_bits(Counter(a=1)) == 0.0
    assert entropy_bits(Counter(a=1, b=1)) == 1.0
    assert entropy_bits(Counter(a=2, b=1, c=1)) == 1.5
    assert entropy_bits(Counter({str(i): 1 for i in range(8)})) == 3.0


def test_utterance_entropies_on_a_hand_made_corpus() -> None:
    source_h, target_h = utterance_entropies(PAIRS)
    assert source_h == {"What?": 2.0, "Hi.": 1.0, "Yo.": 0.0}
    assert target_h == {"A": 0.0, "B": 0.0, "C": 0.0, "D": 0.0, "E": 0.0, "F": 1.0}


@pytest.mark.parametrize(
    ("mode", "threshold", "dropped", "utterances"),
    [
        ("none", 0.0, [], {}),
        ("source", 1.0, [0, 1, 2, 3], {"What?": 4}),  # strictly above: "Hi." (1 bit) stays
        ("source", 0.5, [0, 1, 2, 3, 4, 5, 6, 7], {"What?": 4, "Hi.": 4}),
        ("target", 0.5, [6, 7, 8, 9], {"F": 4}),
        ("both", 1.5, [0, 1, 2, 3], {"What?": 4}),
        ("both", 0.5, list(range(10)), {"What?": 4, "Hi.": 4, "F": 4}),
    ],
)
def test_the_filter_drops_the_pairs_whose_chosen_side_is_high_entropy(
    mode: str, threshold: float, dropped: list[int], utterances: dict[str, int]
) -> None:
    examples = [example(s, t) for s, t in PAIRS]
    result = filter_examples(examples, lambda text: text, mode, threshold)
    assert result.kept == [e for i, e in enumerate(examples) if i not in dropped]
    assert dict(result.top_dropped) == utterances
    assert result.stats["dropped"] == sum(result.dropped.values()) == len(dropped)
    assert result.stats["pairs"] == len(PAIRS)


def test_utterances_are_compared_after_normalisation() -> None:
    examples = [example("What?", "A"), example("WHAT?", "B"), example("what?", "C")]
    assert filter_examples(examples, str.strip, "source", 1.0).stats["dropped"] == 0
    lowered = filter_examples(examples, str.lower, "source", 1.0)  # log2(3) bits > 1
    assert lowered.stats["dropped"] == 3 and lowered.top_dropped == [("what?", 3)]


def test_the_source_is_the_last_context_turn() -> None:
    examples = [
        Example(("first", "What?"), reply, "g", ("a", "b", "c")) for reply in "ABC"
    ]
    result = filter_examples(examples, lambda text: text, "source", 1.0)
    assert result.stats["dropped"] == 3


def generic_corpus(path: Path) -> Path:
    """60 one-row chains; every third reply is the generic one (20 different prompts)."""
    rows = [
        f"Question number {i}?\t" + (GENERIC if i % 3 == 0 else f"Answer number {i}.")
        for i in range(60)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_the_filter_touches_the_training_split_only_and_changes_the_cache_key(
    tmp_path: Path,
) -> None:
    corpus = generic_corpus(tmp_path / "generic.tsv")
    config = DataConfig(vocab_size=120, max_src_len=32, max_tgt_len=24)
    filtered_config = dataclasses.replace(config, filter="target", filter_threshold=2.0)
    plain = prepare_data(config, corpus, cache_dir=tmp_path / "cache", progress=False)
    filtered = prepare_data(filtered_config, corpus, cache_dir=tmp_path / "cache", progress=False)

    assert filtered.key != plain.key and not filtered.cached
    for name in ("valid", "test"):
        assert filtered.splits[name].tgt_text == plain.splits[name].tgt_text
        assert filtered.splits[name].src_text == plain.splits[name].src_text
    assert filtered.tokenizer.fingerprint() == plain.tokenizer.fingerprint()
    generic_in_train = plain.splits["train"].tgt_text.count(GENERIC)
    assert generic_in_train > 4  # enough distinct prompts for more than 2 bits
    assert GENERIC not in filtered.splits["train"].tgt_text
    assert len(filtered.splits["train"]) == len(plain.splits["train"]) - generic_in_train
    report = filtered.stats["entropy_filter"]
    assert report["dropped"] == generic_in_train
    assert report["top_dropped"] == [[GENERIC, generic_in_train]]
    assert filtered.stats["dropped"]["high-entropy target (data.filter)"] == generic_in_train
    again = prepare_data(filtered_config, corpus, cache_dir=tmp_path / "cache", progress=False)
    assert again.cached and again.stats == filtered.stats


def test_python_m_seq2seq_data_reports_the_drops_and_the_thresholds(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    corpus = generic_corpus(tmp_path / "generic.tsv")
    main([
        "--corpus", str(corpus), "--cache-dir", str(tmp_path / "cache"),
        "--set", "data.vocab_size=120", "--set", "data.filter=both",
        "--set", "data.filter_threshold=2",
    ])
    out = capsys.readouterr().out
    assert "entropy filter (both, > 2 bits): dropped" in out
    assert f"most frequent: {GENERIC!r}" in out
    assert "high-entropy target (data.filter)" in out
    assert "training pairs above an entropy threshold" in out and "> 0.5 bits" in out
