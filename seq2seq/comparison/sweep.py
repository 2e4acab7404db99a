"""The curve that explains generic replies: every kept checkpoint of some runs, on one set of
examples, over training steps.

    python compare.py --sweep runs/protocol-cpu-transformer runs/protocol-cpu-gru --limit 1000

Each run folder's `step-<N>.pt` snapshots (`train.keep_checkpoints`) are scored exactly as a
comparison scores a run (`pipeline.evaluate_run`: teacher-forced NLL and greedy replies on the
same examples), and one figure draws, over training steps and for every run, token perplexity,
distinct-2, the most frequent reply's share and the mean reply length. The checkpoint the run
selected (selected.pt, else best.pt) is marked with a dashed line, its lowest validation loss
(best.pt) with a dotted one. A Transformer whose loss is already flat while its top reply's
share is still falling is the picture of "stopped on validation loss, kept the most generic
model".

With `--group NAME=RUN1,RUN2,...` (runs differing only by train.seed) a group is drawn as its
mean over the seeds at the steps every run kept, with a band of +- one sample sd.

Outputs in the comparison folder: sweep.png, sweep.md, sweep.json, and TensorBoard scalars
`sweep/<metric>` per run (one sub-folder per run label) with the figure as an image.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch.utils.tensorboard import SummaryWriter

from seq2seq.checkpoint import load_checkpoint, load_trained
from seq2seq.comparison.groups import check_seeds_only
from seq2seq.comparison.pipeline import (
    Options,
    check_same_tokenizer,
    comparison_decoding,
    evaluate_run,
    load_examples,
    unique_labels,
)
from seq2seq.diversity import MIN_NGRAMS, distinct_n
from seq2seq.errors import UserError
from seq2seq.markdown import cell, table
from seq2seq.plots import figure_to_array, save_png
from seq2seq.runs import BEST, SELECTED, snapshot_name, snapshot_steps

CURVE_FOLDER = "curve"  # TensorBoard sub-folder of the figure
PANELS = (  # (SweepPoint field, axis label)
    ("token_ppl", "token perplexity (test)"),
    ("distinct_2", "distinct-2 of greedy replies"),
    ("top1_share", "most frequent reply's share"),
    ("mean_length", "mean reply length (words)"),
)


@dataclass
class SweepPoint:
    """One checkpoint's numbers on the shared examples."""

    step: int
    loss: float
    token_ppl: float
    distinct_2: float
    distinct_2_ngrams: int
    top1_share: float
    unique_share: float
    mean_length: float
    top_reply: str


@dataclass
class SweepRun:
    """One run's curve and its marked checkpoints (None when the file is absent)."""

    label: str
    arch: str
    run_dir: str
    points: list[SweepPoint]
    selected_step: int | None
    best_step: int | None


@dataclass
class SweepGroup:
    """Several seeds of one setting: the mean and sample sd of every panel's figure over its
    runs, at the steps all of them kept."""

    name: str
    runs: list[str]
    steps: list[int]
    mean: dict[str, list[float]]
    sd: dict[str, list[float]]


def group_curve(name: str, runs: list[SweepRun]) -> SweepGroup:
    """The mean and sd curves of `runs` over their common steps."""
    steps = sorted(set.intersection(*({p.step for p in run.points} for run in runs)))
    if not steps:
        raise UserError(f"--group {name}: its runs kept no snapshot at a common step")
    mean, sd = {}, {}
    for key, _ in PANELS:
        values = [[next(getattr(p, key) for p in run.points if p.step == step) for run in runs]
                  for step in steps]
        mean[key] = [statistics.fmean(v) for v in values]
        sd[key] = [statistics.stdev(v) for v in values]
    return SweepGroup(name, [run.label for run in runs], steps, mean, sd)


def snapshots(run_dir: Path) -> list[Path]:
    """A run folder's snapshots in step order; a one-line error when there are none."""
    if not run_dir.is_dir():
        raise UserError(f"--sweep {run_dir}: not a run folder (pass run folders, not .pt files)")
    steps = snapshot_steps(run_dir)
    if not steps:
        raise UserError(
            f"--sweep: {run_dir} holds no step-<N>.pt snapshots (train with "
            "train.keep_checkpoints > 0, as configs/protocol-cpu-*.yaml do)"
        )
    return [run_dir / snapshot_name(step) for step in steps]


def marked_step(run_dir: Path, name: str) -> int | None:
    path = run_dir / name
    return int(load_checkpoint(path, mmap=True)["step"]) if path.is_file() else None


def sweep(options: Options) -> tuple[list[SweepRun], list[SweepGroup]]:
    """Score every snapshot of every run folder in `options.runs` and `options.groups` on the
    same examples; the single runs' curves, then each group's runs' curves, and the groups'."""
    run_dirs = [Path(run) for run in [*options.runs, *(r for _, g in options.groups for r in g)]]
    paths = [snapshots(run_dir) for run_dir in run_dirs]
    first = [load_trained(run_paths[0], options.device) for run_paths in paths]
    labels = unique_labels([run_dir.resolve().name for run_dir in run_dirs])
    check_same_tokenizer(first, labels)
    start = len(options.runs)
    for name, group in options.groups:
        members = slice(start, start + len(group))
        check_seeds_only(first[members], labels[members], name)
        start += len(group)
    examples = load_examples(options, first, labels)
    if examples.tgt is None:
        raise UserError("--sweep needs references to score perplexity: drop --prompts")
    decoding = comparison_decoding(options, first[0])
    runs = []
    for run_dir, run_paths, label, trained in zip(run_dirs, paths, labels, first, strict=True):
        points = []
        for path in run_paths:
            run = load_trained(path, options.device)
            result, replies, _ = evaluate_run(run, f"{label} step {run.step}", examples,
                                              options, decoding)
            points.append(SweepPoint(
                step=run.step, loss=result.loss, token_ppl=result.token_ppl,
                distinct_2=distinct_n(replies, 2), distinct_2_ngrams=result.distinct_2_ngrams,
                top1_share=result.top1_share, unique_share=result.unique_share,
                mean_length=result.mean_length,
                top_reply=result.top_replies[0][0] if result.top_replies else "",
            ))
        selected = marked_step(run_dir, SELECTED)
        best = marked_step(run_dir, BEST)
        runs.append(SweepRun(label, trained.config.model.arch, str(run_dir), points,
                             selected if selected is not None else best, best))
    groups, start = [], len(options.runs)
    for name, group in options.groups:
        groups.append(group_curve(name, runs[start : start + len(group)]))
        start += len(group)
    return runs, groups


def sweep_figure(runs: list[SweepRun], groups: list[SweepGroup] | None = None) -> Figure:
    """Four panels over training steps, one line per run; dashed: selected, dotted: best loss;
    a group's runs as thin lines, its mean as a thick one in a band of +- one sd."""
    groups = groups or []
    in_group = {label for group in groups for label in group.runs}
    figure = Figure(figsize=(11, 7.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 2, sharex=True).ravel()
    colours = [f"C{i}" for i in range(len(runs))]
    group_colours = [f"C{len(runs) + i}" for i in range(len(groups))]
    for panel, (key, title) in zip(axes, PANELS, strict=True):
        for group, colour in zip(groups, group_colours, strict=True):
            mean = group.mean[key]
            low = [m - s for m, s in zip(mean, group.sd[key], strict=True)]
            high = [m + s for m, s in zip(mean, group.sd[key], strict=True)]
            panel.fill_between(group.steps, low, high, color=colour, alpha=0.25, linewidth=0)
            panel.plot(group.steps, mean, color=colour, linewidth=2.5,
                       label=f"{group.name}: mean +- sd of {len(group.runs)} seeds")
        for run, colour in zip(runs, colours, strict=True):
            if run.label in in_group:
                continue
            steps = [p.step for p in run.points]
            panel.plot(steps, [getattr(p, key) for p in run.points], marker="o", markersize=3,
                       color=colour, label=f"{run.label} ({run.arch})")
            if run.selected_step is not None:
                panel.axvline(run.selected_step, color=colour, linestyle="--", linewidth=1)
            if run.best_step is not None and run.best_step != run.selected_step:
                panel.axvline(run.best_step, color=colour, linestyle=":", linewidth=1)
        panel.set_title(title, fontsize=10)
        panel.grid(alpha=0.3)
    axes[0].set_yscale("log")
    for panel in axes[2:]:
        panel.set_xlabel("training step")
    axes[0].legend(fontsize=8)
    figure.suptitle("every kept checkpoint on the same examples "
                    "(dashed: selected checkpoint, dotted: lowest validation loss)", fontsize=10)
    figure.tight_layout()
    return figure


def sweep_markdown(runs: list[SweepRun], description: str) -> str:
    parts = [f"# Checkpoint sweep\n\nExamples: {description}. Greedy replies.\n"]
    header = ["step", "token ppl", "distinct-2 (bigrams)", "top reply share",
              "distinct replies", "mean length", "most frequent reply"]
    for run in runs:
        rows = []
        for p in run.points:
            marks = "".join([" (selected)" if p.step == run.selected_step else "",
                             " (best loss)" if p.step == run.best_step else ""])
            distinct = (f"{p.distinct_2:.4f} ({p.distinct_2_ngrams})"
                        if p.distinct_2_ngrams >= MIN_NGRAMS else f"n/a ({p.distinct_2_ngrams})")
            rows.append([f"{p.step}{marks}", f"{p.token_ppl:.2f}", distinct,
                         f"{p.top1_share:.3f}", f"{p.unique_share:.3f}", f"{p.mean_length:.2f}",
                         cell(p.top_reply)])
        parts.append(f"## {run.label} ({run.arch}, {run.run_dir})\n\n{table(header, rows)}\n")
    return "\n".join(parts)


def write_sweep(
    runs: list[SweepRun], out_dir: Path, description: str, groups: list[SweepGroup] | None = None
) -> Path:
    """sweep.png, sweep.md, sweep.json and TensorBoard events in `out_dir`; returns the PNG."""
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = groups or []
    image = figure_to_array(sweep_figure(runs, groups))
    png = out_dir / "sweep.png"
    save_png(image, png)
    (out_dir / "sweep.md").write_text(sweep_markdown(runs, description), encoding="utf-8")
    (out_dir / "sweep.json").write_text(
        json.dumps({"examples": description, "runs": [asdict(run) for run in runs],
                    "groups": [asdict(group) for group in groups]}, indent=2),
        encoding="utf-8",
    )
    for run in runs:
        with SummaryWriter(log_dir=str(out_dir / run.label)) as writer:
            for point in run.points:
                for key, _ in PANELS:
                    writer.add_scalar(f"sweep/{key}", getattr(point, key), point.step)
    with SummaryWriter(log_dir=str(out_dir / CURVE_FOLDER)) as writer:
        writer.add_image("sweep/curve", image, 0, dataformats="HWC")
    return png
