"""One place that reports a run: TensorBoard, metrics.jsonl, and the terminal.

Both architectures log the same TensorBoard tags, so `tensorboard --logdir runs` overlays a
Transformer run and a GRU run:

    train/loss train/ppl train/lr train/grad_norm train/tokens_per_s train/pad_share
    train/nonfinite_steps valid/loss valid/ppl valid/token_acc
    valid/distinct_1 valid/distinct_2 valid/distinct_1_ngrams valid/distinct_2_ngrams
    valid/distinct_replies valid/top_reply_share valid/reply_length
    valid/hits1_random valid/hits1_generic valid/context_gap (docs/relevance.md)
    text: samples/valid (prompts, replies, gold), replies/valid_top (most frequent replies)
    hparams: the flattened config; its metrics are the valid/* tags above (no extra scalars)

train/* values are means over the steps since the previous log line. train/loss is the plain
NLL per target token even when label smoothing is on (the smoothed objective is what is
optimised, but only the NLL is comparable between models and with valid/loss); train/lr is the
scheduled rate of the parameters without the decoder multiplier, and train/lr_decoder (only
where train.decoder_lr_multiplier is not 1, as in the GRU configs) the rate of the decoder's,
both also on the terminal line; train/grad_norm is the global
gradient norm before clipping; train/tokens_per_s counts real (non-pad) source and target tokens
per second of training steps.

The valid/distinct_*, distinct_replies, top_reply_share and reply_length scalars describe the
greedy replies to `train.diversity_prompts` fixed validation prompts (`seq2seq.diversity`);
valid/hits1_random, hits1_generic and context_gap rank the gold replies of
`train.relevance_examples` fixed validation examples among 19 distractors each
(`seq2seq.training.validation.relevance_probe`).

metrics.jsonl holds one JSON object per train log line ("kind": "train") and per validation
("kind": "valid", with its sample replies and most frequent replies), so runs can be compared
without TensorBoard.

In a terminal a tqdm bar shows the loss, tokens/s and the time left in the epoch (its own ETA
is the whole run's); when stderr is not a terminal (a log file, a batch job) the same numbers
come as plain lines on stderr every `train.log_interval` steps. train.log in the run folder keeps
every printed line and the plain train lines in either case, also with `quiet` (which leaves the
terminal only the lines that must be seen: the time estimate, warnings, the last line).
Only the main process of a multi-GPU run reports anything (`enabled=False` elsewhere).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from seq2seq.hparams import write_hparams
from seq2seq.markdown import cell, table
from seq2seq.metrics import perplexity
from seq2seq.runs import METRICS, TRAIN_LOG


@dataclass
class IntervalSums:
    """Sums over the steps since the last train log line."""

    updates: int = 0
    nll: float = 0.0  # summed over real target tokens
    targets: int = 0
    grad_norm: float = 0.0  # summed over updates
    lr: float = 0.0  # of the latest update
    tokens: int = 0  # real src + target tokens, skipped steps included
    padded: int = 0
    seconds: float = 0.0

    def add_step(self, tokens: int, padded: int, seconds: float) -> None:
        """Any step, skipped or not: it took time and read data."""
        self.tokens += tokens
        self.padded += padded
        self.seconds += seconds

    def add_update(self, loss: float, targets: int, grad_norm: float, lr: float) -> None:
        """A step that updated the model: `loss` is its mean NLL per target token."""
        self.updates += 1
        self.nll += loss * targets
        self.targets += targets
        self.grad_norm += grad_norm
        self.lr = lr

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)

    def values(self, nonfinite_total: int) -> dict[str, float]:
        """The train/* scalars: means over the interval's updates."""
        loss = self.nll / max(self.targets, 1)
        return {
            "loss": loss,
            "ppl": perplexity(loss),
            "lr": self.lr,
            "grad_norm": self.grad_norm / max(self.updates, 1),
            "tokens_per_s": self.tokens_per_s,
            "pad_share": 1.0 - self.tokens / max(self.padded, 1),
            "nonfinite_steps": float(nonfinite_total),
        }


class RunLogger:
    """Writes a run's metrics to TensorBoard, metrics.jsonl and the terminal."""

    def __init__(
        self, run_dir: Path, *, enabled: bool, start_step: int, total_steps: int | None,
        quiet: bool = False, decoder_lr_multiplier: float = 1.0,
    ) -> None:
        self.enabled = enabled
        self.decoder_lr_multiplier = decoder_lr_multiplier
        self.run_dir = run_dir
        self.quiet = quiet
        self.writer: SummaryWriter | None = None
        self.bar: tqdm | None = None
        self.plain_lines = not sys.stderr.isatty() and not quiet
        if not enabled:
            return
        # purge_step hides events a crashed run wrote after its last checkpoint, and
        # drop_after does the same for metrics.jsonl: a resumed run continues one history.
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=start_step + 1)
        damaged = drop_after(run_dir / METRICS, start_step)
        self.file = open(run_dir / METRICS, "a", encoding="utf-8")  # noqa: SIM115 closed in close()
        self.log = open(run_dir / TRAIN_LOG, "a", encoding="utf-8")  # noqa: SIM115 likewise
        self.bar = tqdm(
            total=total_steps, initial=start_step, unit="step", disable=True if quiet else None,
            dynamic_ncols=True,
        )
        if damaged:
            self.message(
                f"{run_dir / METRICS}: dropped {damaged} damaged line(s) (a write cut short, "
                "e.g. by a full disk or a power cut)"
            )

    def message(self, text: str, always: bool = False) -> None:
        """A line for the user, printed above the progress bar (with `quiet`, only when
        `always`) and kept in train.log."""
        if not self.enabled:
            return
        self.log.write(text + "\n")
        self.log.flush()
        if always or not self.quiet:
            tqdm.write(text, file=sys.stderr)

    def advance(
        self, step: int, loss: float, tokens_per_s: float, epoch_left: str | None = None
    ) -> None:
        """Move the bar to `step` after an optimizer update (`epoch_left`: the time left in
        the epoch, once estimated)."""
        if self.bar is not None and not self.bar.disable:
            self.bar.update(step - self.bar.n)
            postfix = {"loss": f"{loss:.3f}", "tok_s": f"{tokens_per_s:,.0f}"}
            if epoch_left is not None:
                postfix["epoch_left"] = epoch_left
            self.bar.set_postfix(postfix, refresh=False)

    def train(self, step: int, epoch: int, values: dict[str, float]) -> None:
        """Log training metrics (`loss`, `ppl`, `lr`, ...) averaged since the last call."""
        if not self.enabled:
            return
        lr = f"{values['lr']:.2e}"
        if self.decoder_lr_multiplier != 1.0:  # a second parameter group: say its rate too
            values = {**values, "lr_decoder": values["lr"] * self.decoder_lr_multiplier}
            lr += f" (decoder {values['lr_decoder']:.2e})"
        for key, value in values.items():
            self.writer.add_scalar(f"train/{key}", value, step)
        self.write_json({"kind": "train", "step": step, "epoch": epoch, **values})
        line = (
            f"step {step} | epoch {epoch} | loss {values['loss']:.4f} | ppl "
            f"{values['ppl']:.1f} | lr {lr} | grad norm "
            f"{values['grad_norm']:.3g} | {values['tokens_per_s']:,.0f} tok/s"
        )
        self.log.write(line + "\n")
        self.log.flush()
        if self.plain_lines:
            print(line, file=sys.stderr, flush=True)

    def valid(
        self, step: int, epoch: int, values: dict[str, float], best: bool,
        samples: list[tuple[str, str, str]], top_replies: list[tuple[str, int]],
    ) -> None:
        """Log validation metrics, the (prompt, reply, gold reply) samples and the most
        frequent (reply, count) of the diversity prompts."""
        if not self.enabled:
            return
        for key, value in values.items():
            self.writer.add_scalar(f"valid/{key}", value, step)
        if samples:
            self.writer.add_text("samples/valid", samples_markdown(samples), step)
        if top_replies:
            self.writer.add_text("replies/valid_top", top_markdown(top_replies), step)
        self.writer.flush()
        self.write_json({
            "kind": "valid", "step": step, "epoch": epoch, **values, "best": best,
            "samples": [{"prompt": p, "reply": r, "gold": g} for p, r, g in samples],
            "top_replies": [[reply, count] for reply, count in top_replies],
        })
        mark = " (best)" if best else ""
        diverse = ""
        if "distinct_2" in values:
            diverse = (
                f" | distinct-2 {values['distinct_2']:.3f} | top reply "
                f"{values['top_reply_share']:.0%} | {values['reply_length']:.1f} words"
            )
        if "hits1_random" in values:
            diverse += (
                f" | hits@1 random {values['hits1_random']:.1%} generic "
                f"{values['hits1_generic']:.1%} | context gap {values['context_gap']:.3f}"
            )
        self.message(
            f"valid step {step} | loss {values['loss']:.4f} | ppl {values['ppl']:.1f} | "
            f"token acc {values['token_acc']:.3f}{diverse}{mark}"
        )
        if top_replies:
            self.message(f"  most frequent reply: {shorten(top_replies[0][0])!r}")
        for prompt, reply, _ in samples:
            self.message(f"  {shorten(prompt)} => {shorten(reply)}")

    def hparams(self, settings: dict[str, Any], metric_tags: list[str]) -> None:
        """Record the config in the run's own folder, for TensorBoard's HParams tab.

        Args:
            settings: the config's settings by dotted name (`Config.flat()`).
            metric_tags: scalar tags the run already logs (e.g. "valid/loss"); the HParams
                tab shows their latest values. torch's `add_hparams` would instead write
                each metric again as a one-point scalar chart (hparam/*) beside the curves.
        """
        if not self.enabled:
            return
        write_hparams(self.writer, settings, metric_tags)

    def write_json(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        self.bar.close()
        self.writer.close()
        self.file.close()
        self.log.close()


def drop_after(path: Path, step: int) -> int:
    """Remove metrics.jsonl records of steps after `step` (left by a run killed after saving)
    and damaged lines (a half-written last line); returns how many lines were damaged."""
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    kept, damaged = [], 0
    for line in lines:
        record = record_step(line)
        if record is None:
            damaged += line.strip() != ""
        elif record <= step:
            kept.append(line if line.endswith("\n") else line + "\n")
    if kept != lines:
        path.write_text("".join(kept), encoding="utf-8")
    return damaged


def parse_record(line: str) -> dict[str, Any] | None:
    """One metrics.jsonl line as its record, or None when the line is not a whole record."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def record_step(line: str) -> int | None:
    """The step of one metrics.jsonl line, or None when the line is not a whole record."""
    record = parse_record(line)
    step = None if record is None else record.get("step")
    return step if isinstance(step, int) else None


def shorten(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def top_markdown(top_replies: list[tuple[str, int]]) -> str:
    """The most frequent (reply, count) pairs as a Markdown table."""
    return table(["count", "reply"], [[str(count), cell(reply)] for reply, count in top_replies])


def samples_markdown(samples: list[tuple[str, str, str]]) -> str:
    """(prompt, reply, gold) triples as a Markdown table."""
    return table(["prompt", "reply", "gold"], [[cell(text) for text in row] for row in samples])
