"""The comparison as Markdown (stdout and report.md) and JSON (report.json).

stdout shows the metric table, the perplexity differences, the relevance table (hits@k, MRR,
context gap) and the reply statistics with the GT/RT reference rows; report.md adds the setup,
the BLEU signature, the most frequent replies and the side-by-side samples; report.json holds
the same numbers at full precision.
"""

from __future__ import annotations

import json
from pathlib import Path

from seq2seq.comparison.bootstrap import Interval
from seq2seq.comparison.groups import format_spread
from seq2seq.comparison.references import ReplyStats
from seq2seq.comparison.relevance import Relevance, figures
from seq2seq.comparison.results import Comparison, Metric, RunResult, Sample
from seq2seq.diversity import MIN_NGRAMS
from seq2seq.markdown import cell, table

CONFIDENCE_LABEL = "95% CI"


def runs_table(comparison: Comparison) -> str:
    """One row per run: what it is and how it was trained."""
    rows = []
    for run in comparison.runs:
        rows.append([
            cell(run.label), run.arch, f"{run.parameters:,}", f"{run.step:,}",
            "?" if run.epoch is None else str(run.epoch),
            "?" if run.train_minutes is None else f"{run.train_minutes:.1f}",
            run.train_device or "?", cell(run.checkpoint),
        ])
    return table(["run", "architecture", "parameters", "steps", "epochs", "training minutes",
                  "trained on", "checkpoint"], rows)


def speed_spread(comparison: Comparison) -> str:
    """Each run's replies/s over its timed passes: median and range ("" without passes)."""
    if not all(run.speed_passes for run in comparison.runs):
        return ""
    parts = [
        f"{run.label} {run.replies_per_second:.1f} "
        f"(range {min(run.speed_passes):.1f} to {max(run.speed_passes):.1f})"
        for run in comparison.runs
    ]
    count = len(comparison.runs[0].speed_passes)
    return f"Replies/s, median of {count} timed pass(es): " + "; ".join(parts) + "."


def value_cell(run: RunResult, metric: Metric) -> str:
    """A run's value ("n/a" when None), with its own count beside it when the metric has one."""
    value = getattr(run, metric.key)
    text = "n/a" if value is None else f"{value:.{metric.digits}f}"
    if metric.count_key:
        text += f" ({getattr(run, metric.count_key):,} n-grams)"
    return text


def metrics_table(comparison: Comparison) -> str:
    """One row per metric, an n column, one column per run."""
    rows = []
    for metric in comparison.metrics():
        n = getattr(comparison.runs[0], metric.n_key)
        values = [value_cell(run, metric) for run in comparison.runs]
        rows.append([metric.label, str(n), *values])
    return table(["metric", "n", *map(cell, comparison.labels)], rows)


def differences_table(comparison: Comparison) -> str:
    """Token perplexity differences with their paired bootstrap intervals."""
    rows = []
    for d in comparison.differences:
        i = d.interval
        rows.append([
            f"{cell(d.b)} - {cell(d.a)}", str(i.n), f"{i.difference:.2f}",
            f"[{i.lower:.2f}, {i.upper:.2f}]",
        ])
    return table(["token perplexity difference", "n", "difference", CONFIDENCE_LABEL], rows)


def interval_cell(interval: Interval | None, digits: int) -> str:
    """"value [lower, upper]", or "n/a"."""
    if interval is None:
        return "n/a"
    i = interval
    return f"{i.difference:.{digits}f} [{i.lower:.{digits}f}, {i.upper:.{digits}f}]"


GAP_LABELS = {"gap_deranged": "context gap: deranged - own prompt (nats/token)",
              "gap_empty": "context gap: empty - own prompt (nats/token)"}
RANKING_LABELS = {"hits1": "hits@1/{n}", "hits5": "hits@5/{n}", "mrr": "MRR"}


def relevance_label(key: str, candidates: int) -> str:
    """The table's row label of a `seq2seq.comparison.relevance.figures` key."""
    if key in GAP_LABELS:
        return GAP_LABELS[key]
    figure, distractors, *pmi = key.split("_")
    return (f"{RANKING_LABELS[figure].format(n=candidates)} {distractors}"
            f"{' (PMI)' if pmi else ''}")


def relevance_rows(relevance: Relevance) -> list[tuple[str, Interval | None, int]]:
    """(row label, interval, decimals) of every relevance figure, in table order."""
    return [(relevance_label(key, relevance.candidates), interval, 3)
            for key, interval in figures(relevance).items()]


def relevance_table(comparison: Comparison) -> str:
    """hits@k, MRR and the context gaps of every run, with their 95% intervals ("" when the
    runs were not ranked)."""
    scored = [run.relevance for run in comparison.runs]
    if any(r is None for r in scored):
        return ""
    per_run = [relevance_rows(r) for r in scored]
    rows = []
    for position, (label, first, _) in enumerate(per_run[0]):
        cells = [interval_cell(rows_of_run[position][1], rows_of_run[position][2])
                 for rows_of_run in per_run]
        rows.append([label, "n/a" if first is None else str(first.n), *cells])
    n = scored[0].candidates
    chance = sum(1 / k for k in range(1, n + 1)) / n
    return (table(["does the reply answer the prompt?", "n", *map(cell, comparison.labels)],
                  rows)
            + f"\n\nChance: hits@1 {1 / n:.3f}, hits@5 {min(5, n) / n:.3f}, MRR {chance:.3f}. "
            "Ranked by mean NLL per token of each candidate given the prompt (the headline), "
            "or by PMI: minus the same given an empty prompt. Context gap 0: the prompt is "
            f"ignored. {CONFIDENCE_LABEL} in brackets.")


def reply_rows_table(rows: list[ReplyStats]) -> str:
    """The reply statistics of every run's greedy replies and of the GT/RT reference rows."""
    def share(value: float | None, count: int) -> str:
        return f"{'n/a' if value is None else f'{value:.4f}'} ({count:,})"

    return table(
        ["replies", "n", "distinct-1 (unigrams)", "distinct-2 (bigrams)",
         "distinct-2 per word (Li et al.)", "most frequent reply share",
         "distinct replies share", "mean length (words)"],
        [[cell(r.label), str(r.n_replies), share(r.distinct_1, r.distinct_1_ngrams),
          share(r.distinct_2, r.distinct_2_ngrams), f"{r.distinct_2_per_word:.4f}",
          f"{r.top1_share:.4f}", f"{r.unique_share:.4f}", f"{r.mean_length:.2f}"]
         for r in rows],
    )


def group_headers(comparison: Comparison) -> list[str]:
    """One column header per entry: its name and seeds."""
    return [f"{cell(g.name)} (seeds {', '.join(map(str, g.seeds))})" for g in comparison.groups]


def groups_table(comparison: Comparison) -> str:
    """One row per metric, one column per entry: mean +- sd (n runs) over its seeds."""
    rows = [[metric.label, *(format_spread(group.metrics[metric.key], metric.digits)
                             for group in comparison.groups)]
            for metric in comparison.metrics()]
    return table(["metric (mean +- sd (n runs))", *group_headers(comparison)], rows)


def groups_relevance_table(comparison: Comparison) -> str:
    """The relevance figures of every entry as mean +- sd (n runs) over its seeds ("" when the
    runs were not ranked)."""
    if not all(group.relevance for group in comparison.groups):
        return ""
    first = next(run.relevance for run in comparison.runs if run.relevance is not None)
    rows = [[relevance_label(key, first.candidates),
             *(format_spread(group.relevance[key], 3) for group in comparison.groups)]
            for key in comparison.groups[0].relevance]
    return table(["does the reply answer the prompt? (mean +- sd (n runs))",
                  *group_headers(comparison)], rows)


def group_differences_table(comparison: Comparison) -> str:
    """Differences between entries with their intervals over seeds and examples."""
    names = {m.key: m.label for m in comparison.metrics()}
    rows = [[names[d.key], f"{cell(d.b)} - {cell(d.a)}", f"{d.difference:.4f}",
             f"[{d.lower:.4f}, {d.upper:.4f}]"] for d in comparison.group_differences]
    return table(["figure", "difference", "of the seed means", CONFIDENCE_LABEL], rows)


def summary(comparison: Comparison) -> str:
    """What stdout shows: the metric table, then the perplexity differences, the relevance
    table and the reply statistics with the reference rows (each when there is one); with
    --group, first every entry as mean +- sd over its seeds and their differences."""
    parts = [metrics_table(comparison)]
    if comparison.groups:
        resamples = comparison.group_differences[0].resamples
        parts = [
            groups_table(comparison),
            group_differences_table(comparison) + f"\n\n{CONFIDENCE_LABEL}: hierarchical "
            f"bootstrap, {resamples} resamples: examples drawn with replacement (shared by "
            "every run), then each entry's runs drawn with replacement (docs/pretrained.md).",
            *filter(None, [groups_relevance_table(comparison)]),
            "Every run:\n\n" + parts[0],
        ]
    if comparison.differences:
        resamples = comparison.differences[0].interval.resamples
        parts.append(
            differences_table(comparison)
            + f"\n\n{CONFIDENCE_LABEL}: paired bootstrap over examples, {resamples} resamples."
        )
    if relevance_table(comparison):
        parts.append(relevance_table(comparison))
    if comparison.reply_rows:
        parts.append(reply_rows_table(comparison.reply_rows))
    return "\n\n".join(parts)


def samples_table(labels: list[str], samples: list[Sample]) -> str:
    """Prompts with the reference (when there is one) and every run's reply side by side."""
    with_reference = any(s.reference is not None for s in samples)
    header = ["#", "prompt", *(["reference"] if with_reference else []), *map(cell, labels)]
    rows = []
    for s in samples:
        reference = [cell(s.reference or "")] if with_reference else []
        rows.append([str(s.index), cell(s.prompt), *reference, *map(cell, s.replies)])
    return table(header, rows)


def top_replies_table(run: RunResult) -> str:
    """A run's most frequent replies with their counts."""
    return table(["count", "reply"], [[str(c), cell(r)] for r, c in run.top_replies])


def markdown(comparison: Comparison) -> str:
    """The whole report.md."""
    setup = comparison.setup
    lines = ["# Comparison", "", runs_table(comparison), ""]
    lines += [f"- {key}: {value}" for key, value in setup.items()]
    lines += ["", "## Metrics", "", summary(comparison), ""]
    lines += [
        "Perplexities are exp(total NLL / total count) over the same examples, plain NLL "
        "without label smoothing: per target token (eos included) and per reference word "
        "(words of the reference as the tokenizer normalises it, + 1 per reply for its end; a "
        "word is whitespace-separated, or one CJK character). BLEU compares greedy replies with "
        "those references, lowercased. Reply-level numbers count the same words in greedy "
        "replies, lowercased; distinct-n is distinct n-grams / all n-grams, shows the n-grams "
        f"it rests on and reads n/a below {MIN_NGRAMS}; Li et al.'s distinct-2 divides by the "
        "words instead. GT are the gold replies, RT one random training reply per example "
        "(Csáky et al., 2019). Speed is replies per second of batched greedy decoding, "
        "generation only. docs/relevance.md defines the relevance figures.",
        "",
    ]
    if speed_spread(comparison):
        lines += [speed_spread(comparison), ""]
    if comparison.teacher_forced:
        lines += ["BLEU signatures (sacrebleu):", ""]
        lines += [f"- {run.label}: `{run.bleu_signature}` {run.bleu_detail}"
                  for run in comparison.runs]
        lines += [""]
    lines += ["## Most frequent replies", ""]
    for run in comparison.runs:
        lines += [f"### {run.label}", ""]
        lines += [top_replies_table(run), ""]
    lines += ["## Samples (greedy)", "", samples_table(comparison.labels, comparison.samples), ""]
    return "\n".join(lines)


def write_reports(comparison: Comparison, out_dir: Path) -> tuple[Path, Path]:
    """Write report.md and report.json into `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out_dir / "report.md", out_dir / "report.json"
    md_path.write_text(markdown(comparison), encoding="utf-8")
    json_path.write_text(
        json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return md_path, json_path
