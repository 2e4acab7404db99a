"""What a comparison measures: per-run results, side-by-side samples and the metric table's rows.

Every number carries the count it rests on: `METRICS` names, for each row of the table, which
count (`n_examples`, `n_replies`) is its n, and distinct-n also shows each run's n-gram count
beside its value (None, shown "n/a", below `seq2seq.diversity.MIN_NGRAMS`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from seq2seq.comparison.bootstrap import Interval
from seq2seq.comparison.groups import GroupDifference, GroupSummary
from seq2seq.comparison.references import ReplyStats
from seq2seq.comparison.relevance import Relevance


@dataclass(frozen=True)
class Metric:
    """One row of the comparison table."""

    key: str  # the field of `RunResult` and the key in report.json
    label: str  # the row name in report.md and on stdout
    digits: int  # decimals shown in the tables (report.json keeps full precision)
    n_key: str  # the `RunResult` count this number rests on
    teacher_forced: bool  # needs references (absent with --prompts)
    count_key: str | None = None  # a per-run count shown beside each value, e.g. n-grams
    optional: bool = False  # a row only when some run has a value (an option computed it)


METRICS: tuple[Metric, ...] = (
    Metric("loss", "loss (NLL per token)", 4, "n_examples", True),
    Metric("token_ppl", "token perplexity", 2, "n_examples", True),
    Metric("word_ppl", "word perplexity", 2, "n_examples", True),
    Metric("token_accuracy", "token accuracy", 4, "n_examples", True),
    Metric("bleu", "BLEU", 2, "n_replies", True),
    Metric("distinct_1", "distinct-1", 4, "n_replies", False, "distinct_1_ngrams"),
    Metric("distinct_2", "distinct-2", 4, "n_replies", False, "distinct_2_ngrams"),
    Metric("distinct_2_per_word", "distinct-2 per word (Li et al.)", 4, "n_replies", False),
    Metric("mean_length", "mean reply length (words)", 2, "n_replies", False),
    Metric("top1_share", "most frequent reply share", 4, "n_replies", False),
    Metric("top10_share", "top-10 replies share", 4, "n_replies", False),
    Metric("unique_share", "distinct replies share", 4, "n_replies", False),
    Metric("prompt_retrieval", "prompt retrieval@1/20 (--evaluator, PMI)", 4, "n_retrieval",
           False, optional=True),
    Metric("replies_per_second", "replies/s (batched, median)", 1, "n_replies", False),
)


@dataclass
class RunResult:
    """One run's numbers on the shared examples. Teacher-forced fields are None with --prompts.

    Attributes:
        n_examples: examples scored teacher-forced; n_tokens: their target tokens (eos
            included); n_words: their reference words (+1 per reply for eos), the word-level
            perplexity's denominator.
        n_replies: greedy replies generated (one per example or prompt).
        distinct_1, distinct_2: None when their replies hold fewer than `MIN_NGRAMS` n-grams;
            distinct_1_ngrams, distinct_2_ngrams: the n-gram counts they rest on;
            distinct_2_per_word: Li et al.'s distinct-2 (distinct bigrams / words).
        top_replies: the most frequent greedy replies with their counts.
        replies_per_second: the median of `speed_passes`, the replies/s of each timed pass.
        epoch, train_minutes, train_device: how it was trained (None: not recorded).
        relevance: hits@k, MRR and the context gap (None with --prompts or --candidates 0).
    """

    label: str
    checkpoint: str
    arch: str
    step: int
    parameters: int
    n_replies: int
    distinct_1: float | None
    distinct_2: float | None
    distinct_1_ngrams: int
    distinct_2_ngrams: int
    mean_length: float
    top1_share: float
    top10_share: float
    unique_share: float
    replies_per_second: float
    decode_seconds: float
    top_replies: list[tuple[str, int]]
    speed_passes: list[float] = field(default_factory=list)
    epoch: int | None = None
    train_minutes: float | None = None
    train_device: str | None = None
    n_examples: int | None = None
    n_tokens: int | None = None
    n_words: int | None = None
    loss: float | None = None
    token_ppl: float | None = None
    word_ppl: float | None = None
    token_accuracy: float | None = None
    bleu: float | None = None
    bleu_signature: str | None = None
    bleu_detail: str | None = None
    distinct_2_per_word: float = 0.0
    relevance: Relevance | None = None
    prompt_retrieval: float | None = None  # --evaluator: its own prompt first among 20
    n_retrieval: int | None = None  # the replies it counted (whole blocks of 20)


@dataclass
class Sample:
    """One prompt with its reference (None with --prompts) and each run's greedy reply."""

    index: int  # position among the compared examples
    prompt: str
    reference: str | None
    replies: list[str]  # one per run, in run order


@dataclass
class Difference:
    """ppl(b) - ppl(a) between two runs with its paired bootstrap interval."""

    a: str
    b: str
    interval: Interval


@dataclass
class Comparison:
    """Everything report.md, report.json, stdout and TensorBoard show."""

    runs: list[RunResult]
    samples: list[Sample]
    differences: list[Difference] = field(default_factory=list)
    setup: dict[str, Any] = field(default_factory=dict)  # split, corpus, limit, seed, ...
    reply_rows: list[ReplyStats] = field(default_factory=list)  # every run's, then GT and RT
    # with --group: every entry's figures over its seeds, and the differences between entries
    groups: list[GroupSummary] = field(default_factory=list)
    group_differences: list[GroupDifference] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [run.label for run in self.runs]

    @property
    def teacher_forced(self) -> bool:
        return self.runs[0].loss is not None

    def metrics(self) -> tuple[Metric, ...]:
        """The table's rows: all of them, or the reply-level ones without references."""
        return tuple(
            m for m in METRICS
            if (self.teacher_forced or not m.teacher_forced)
            and (not m.optional or any(getattr(run, m.key) is not None for run in self.runs))
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for report.json."""
        return {
            "setup": self.setup,
            "metrics": [
                {"key": m.key, "label": m.label, "n": getattr(self.runs[0], m.n_key),
                 "values": {run.label: getattr(run, m.key) for run in self.runs},
                 **({"counts": {run.label: getattr(run, m.count_key) for run in self.runs}}
                    if m.count_key else {})}
                for m in self.metrics()
            ],
            "runs": [asdict(run) for run in self.runs],
            "perplexity_differences": [
                {"a": d.a, "b": d.b, **asdict(d.interval)} for d in self.differences
            ],
            "reply_statistics": [asdict(row) for row in self.reply_rows],
            "samples": [asdict(sample) for sample in self.samples],
            "groups": [asdict(group) for group in self.groups],
            "group_differences": [asdict(d) for d in self.group_differences],
        }
