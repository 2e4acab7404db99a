"""The training loop, in plain sight.

    for each optimizer step:
        train_step (step.py): train.grad_accum token-budget batches in a seeded order ->
            forward (teacher-forced, or fed some of its own predictions), masked cross-entropy
            (label-smoothed, FACE-weighted with train.loss: face), backward, the global
            gradient norm clipped to train.clip_norm, AdamW step, learning-rate schedule step
        non-finite loss or norm? the update was skipped: count it, stop after max_nonfinite_steps
        every log_interval steps: log;  every eval_interval steps and at each epoch end:
        validate: loss, diversity of greedy replies to fixed prompts, a few replies to read;
        save last.pt, best.pt (lowest loss), selected.pt (train.select) and step-<N>.pt
        snapshots (train.keep_checkpoints); early stopping on the selection rule

Teacher forcing: each model reads the gold token with probability `ratio` at every position
after bos, else its own prediction (`train.teacher_forcing_feed`: argmax or a sample), the ratio
decayed linearly as `train.teacher_forcing*` say: the GRU step by step, the Transformer by
scheduled sampling's two decoder passes (feeding.py). Ratio 1.0 is plain teacher forcing.

A run stops at train.max_steps (when > 0, whatever train.epochs says), else after train.epochs
epochs, or after train.patience validations that did not change the selected checkpoint (a
better loss, with the default train.select: loss), or when the time budget of
training (validation excluded) is spent, or on Ctrl-C/SIGTERM. It always ends by saving last.pt;
except after a signal, it validates first.

Around the loop, each in its own module: the run folder's checks, lock and repairs
(run_folder.py), which checkpoint files a validation writes (saving.py), why a run stops and
the non-finite guard (stopping.py), clean stops on signals (signals.py) and the time estimate
(estimate.py).

Resuming repeats the uninterrupted run exactly on a CPU: the checkpoint holds every random state
and the position within the epoch's batches, the batches are a pure function of (seed, epoch),
and validation leaves all random states as it found them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from seq2seq import runs
from seq2seq.checkpoint import TrainingState, load_checkpoint, weights_payload
from seq2seq.config import Config
from seq2seq.data.splits import split_warnings
from seq2seq.decoding import Decoding
from seq2seq.device import Precision, configure_backend, resolve_device
from seq2seq.diversity import diversity_scalars, reply_counts
from seq2seq.models import build_model
from seq2seq.models.speed import speed_up
from seq2seq.tokenizer import Tokenizer
from seq2seq.training.data import TrainingData, prepare_on_main_first
from seq2seq.training.distributed import (
    Distributed,
    agree_max,
    close_distributed,
    init_distributed,
)
from seq2seq.training.estimate import Pace, estimate_messages, format_duration
from seq2seq.training.face import build_frequency_weights
from seq2seq.training.feeding import Feeding
from seq2seq.training.log import IntervalSums, RunLogger
from seq2seq.training.optim import (
    build_optimizer,
    build_scheduler,
    lr_factor,
    teacher_forcing_ratio,
)
from seq2seq.training.resume import check_same_tokenizer, resumable_state
from seq2seq.training.rng import preserved_rng, rng_state, seed_everything, set_rng_state
from seq2seq.training.run_folder import check_run_folder, claim_run_folder
from seq2seq.training.saving import save_checkpoints
from seq2seq.training.selection import Selection
from seq2seq.training.signals import StopOnSignal
from seq2seq.training.step import Objective, StepResult, train_step
from seq2seq.training.stopping import STOP_REASONS, NonfiniteGuard, stop_reason
from seq2seq.training.validation import (
    diversity_replies,
    relevance_scalars,
    sample_replies,
    validate,
)


@dataclass
class TrainOptions:
    """How to run training (the config says what to train)."""

    run_dir: Path | None = None  # None: <runs_root>/<arch>-<timestamp>
    runs_root: Path = Path("runs")
    resume: bool = False  # continue run_dir's last.pt
    device: str = "auto"  # auto, cpu, cuda, cuda:N or mps
    threads: int | None = None  # the user's --threads (applied by train.py), kept when resuming
    time_budget: float | None = None  # minutes of training (validation excluded), then stop
    cache_dir: Path | None = None  # prepared-data cache (None: the data package's default)
    # what train.py knows about configs/: lines comparing the model's size with the other
    # architectures' configs, and the config a long run on a CPU is pointed to
    size_comparison: Callable[[Config, Tokenizer], list[str]] | None = None
    cpu_hint: str | None = None
    verbose: bool = False  # print the model's structure (always written to model.txt)
    quiet: bool = False  # the terminal shows only warnings and the last line (train.log has all)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    best_valid_loss: float
    stop_reason: str  # one of STOP_REASONS[1:]
    signal: int | None = None  # the signal that stopped the run, if any


def train(
    config: Config, corpus: str | Path | None = None, options: TrainOptions | None = None
) -> TrainResult:
    """Train `config`'s model on `corpus` and return where the run is and why it stopped.

    Raises:
        UserError: bad corpus, device, run folder or checkpoint, one line each.
        stopping.TrainingDiverged: `train.max_nonfinite_steps` non-finite steps in a row.
    """
    options = options or TrainOptions()
    world = init_distributed(options.device)
    try:
        return Trainer(config, corpus, options, world).fit()
    finally:
        close_distributed(world)


class Trainer:
    """The state of one training run and the loop over it."""

    def __init__(
        self,
        config: Config,
        corpus: str | Path | None,
        options: TrainOptions,
        world: Distributed,
    ) -> None:
        self.config, self.options, self.world = config, options, world
        self.corpus = corpus  # as the user gave it (None: the default, or the resumed run's own)
        self.device = resolve_device(
            options.device, world.local_rank if world.enabled else None
        )
        configure_backend(self.device)
        self.precision = Precision(config.train.precision, self.device)
        resumed = self.open_run(corpus)
        self.build(resumed)
        last = None if resumed is None else resumed[0]
        notices = claim_run_folder(
            self.run_dir, options.resume, self.last_stamp, last, config, self.tokenizer,
            self.raw_model,
        ) if world.is_main else []
        train = config.train
        self.total_steps = (
            train.max_steps or train.epochs * len(self.data.batches(0)) // train.grad_accum
        )
        self.pace = Pace(self.step, self.train_seconds)  # this session's, for the estimate
        self.logger = RunLogger(
            self.run_dir, enabled=world.is_main, start_step=self.step,
            total_steps=self.total_steps, quiet=options.quiet,
            decoder_lr_multiplier=train.decoder_lr_multiplier,
        )
        for notice in notices:
            self.logger.message(notice, always=True)
        self.report_start()

    def open_run(self, corpus: str | Path | None) -> tuple[dict[str, Any], TrainingState] | None:
        """The run folder, and the data: the corpus given, else the resumed run's own.

        Returns:
            With --resume, last.pt's payload and its training state (checked against the
            config and the tokenizer), else None.
        """
        config, options = self.config, self.options
        self.run_dir, self.last_stamp = check_run_folder(  # the stamp: checked again when claimed
            options.run_dir, options.runs_root, config.model.arch, options.resume
        )
        resumed = None
        if options.resume:
            payload = load_checkpoint(self.run_dir / runs.LAST)
            resumed = payload, resumable_state(config, payload, self.run_dir / runs.LAST)
            corpus = corpus if corpus is not None else payload.get("corpus")
        self.prepared = prepare_on_main_first(config, corpus, options.cache_dir, self.world)
        self.tokenizer = self.prepared.tokenizer
        if resumed is not None:
            check_same_tokenizer(self.tokenizer, resumed[0], self.run_dir / runs.LAST)
        self.data = TrainingData(self.prepared, config, self.world, self.device.type == "cuda")
        # the validation replies: plain greedy for their diversity, `decode` for the samples
        self.diversity_decoding = Decoding.plain_greedy(config.decode.max_len, self.tokenizer)
        self.sample_decoding = Decoding.of(config.decode, self.tokenizer)
        self.frequency_weights = build_frequency_weights(  # from the training split, or resumed
            config.train, self.data.train.tgt, self.tokenizer.vocab_size, self.device,
            saved=None if resumed is None else resumed[1].token_frequencies,
        )
        return resumed

    def build(self, resumed: tuple[dict[str, Any], TrainingState] | None) -> None:
        """The model, optimizer and schedule, seeded; resumed where the checkpoint left off."""
        train, world = self.config.train, self.world
        seed_everything(train.seed)
        self.raw_model = speed_up(
            build_model(self.config.model, self.tokenizer).to(self.device), self.device
        )
        self.optimizer = build_optimizer(self.raw_model, train)
        self.scheduler = build_scheduler(self.optimizer, train)
        self.step = self.epoch = self.position = 0  # position: batches done in this epoch
        self.bad_evals = 0
        self.train_seconds = 0.0
        self.nonfinite = NonfiniteGuard(train.max_nonfinite_steps)
        self.last_eval_step, self.metrics = -1, {}
        self.selection = Selection(train.select, train.select_margin)
        self.interval = IntervalSums()
        if resumed is not None:
            self.restore(*resumed)
        if world.enabled:
            # Different dropout on every process. A checkpoint holds rank 0's random state, which
            # restore() gave every process, so a resumed run derives fresh seeds from its step.
            torch.manual_seed(train.seed + world.rank + world.world_size * self.step)
        self.model = Feeding(self.raw_model, train.teacher_forcing_feed)
        if train.compile:
            self.model = torch.compile(self.model)
        self.eval_model = self.model  # validation runs on one process, without DDP
        if world.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.model, device_ids=ids)

    def restore(self, payload: dict[str, Any], state: TrainingState) -> None:
        """Continue from a checkpoint: weights, optimizer, schedule, counters, random states."""
        self.raw_model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(state.optimizer)
        self.scheduler.load_state_dict(state.scheduler)
        if state.scaler and self.precision.scaler.is_enabled():
            self.precision.scaler.load_state_dict(state.scaler)
        self.step, self.epoch = int(payload["step"]), int(payload["epoch"])
        self.position = state.data_position
        self.bad_evals = state.bad_evals
        self.train_seconds = float(payload.get("train_seconds") or 0.0)
        self.nonfinite.total = state.nonfinite_steps
        self.metrics = dict(payload.get("metrics") or {})
        self.interval = IntervalSums(**state.log_interval_sums)
        if state.selection is not None:
            self.selection = Selection.from_dict(state.selection)
        else:  # a checkpoint from before selection rules: its best loss is all it knows
            self.selection.best_loss = state.best_valid_loss
        set_rng_state(state.rng)

    def report_start(self) -> None:
        say = self.logger.message
        if self.options.verbose:
            say(str(self.raw_model))
        say(f"{self.config.model.arch}: {self.raw_model.num_parameters():,} parameters")
        if self.options.size_comparison is not None:
            for line in self.options.size_comparison(self.config, self.tokenizer):
                say(line)
        say(self.data.describe(self.epoch))
        for warning in split_warnings(self.prepared.stats):
            self.logger.message(warning, always=True)
        say(
            f"device {self.device}, precision {self.precision.name}, "
            f"{self.world.world_size} process(es), run folder {self.run_dir}"
        )
        if self.step:
            say(f"resuming at step {self.step} (epoch {self.epoch}, batch {self.position})")

    @property
    def best_valid_loss(self) -> float:
        """The lowest validation loss so far (the selection rule keeps it)."""
        return self.selection.best_loss

    def validated(self) -> bool:
        """Whether this step was validated already (an epoch may end on an eval_interval)."""
        return self.last_eval_step == self.step

    def steps_per_epoch(self) -> int:
        return len(self.data.batches(self.epoch)) // self.config.train.grad_accum

    def fit(self) -> TrainResult:
        """Train until a stop condition; save last.pt; return why it stopped."""
        train = self.config.train
        try:
            with StopOnSignal() as self.stop:
                while not (reason := self.stop_reason()):
                    result = self.update()
                    if result.finite:
                        self.nonfinite.passed()
                        self.log_update(result)
                        if self.step % train.eval_interval == 0 and not self.validated():
                            self.evaluate()
                    else:  # the update was skipped
                        line = self.nonfinite.skipped(self.step, result.loss, result.grad_norm)
                        self.logger.message(line, always=True)
                        self.nonfinite.check(self.step, self.run_dir / runs.LAST)
                    if self.position >= len(self.data.batches(self.epoch)):  # the epoch is done
                        self.epoch, self.position = self.epoch + 1, 0
                        if not self.validated():
                            self.evaluate()
                self.finish(reason)
        finally:
            self.logger.close()
            if self.world.is_main:
                runs.unlock_run_dir(self.run_dir)
        return TrainResult(
            self.run_dir, self.step, self.epoch, self.best_valid_loss, reason, self.stop.signum
        )

    def stop_reason(self) -> str:
        """Why to stop now ("" to go on), agreed between processes."""
        reason = stop_reason(
            self.config.train, self.step, self.epoch, self.bad_evals, self.train_seconds,
            self.options.time_budget, self.stop.signum,
        )
        index = agree_max(STOP_REASONS.index(reason), self.world, self.device)
        return STOP_REASONS[index]

    def update(self) -> StepResult:
        """One optimizer update over the next `train.grad_accum` batches (or a skipped one)."""
        start = time.perf_counter()
        train = self.config.train
        group = self.data.batches(self.epoch)[self.position : self.position + train.grad_accum]
        batches = [self.data.collate(self.data.train, indices).to(self.device) for indices in group]
        objective = Objective(
            train, self.tokenizer.pad_id, teacher_forcing_ratio(self.step, train),
            self.frequency_weights,
        )
        result = train_step(
            self.model, batches, self.optimizer, self.scheduler, self.precision, objective,
            self.world,
        )
        if result.finite:
            self.step += 1
        self.position += len(group)
        seconds = time.perf_counter() - start
        self.train_seconds += seconds
        self.pace.record(seconds)
        self.interval.add_step(
            sum(b.num_tokens for b in batches), sum(b.num_padded for b in batches), seconds
        )
        return result

    def log_update(self, result: StepResult) -> None:
        """The progress line, the estimate once, and every log_interval updates a train line."""
        train = self.config.train
        lr = train.lr * lr_factor(self.step, train.schedule, train.warmup_steps)
        self.interval.add_update(result.loss, result.targets, result.grad_norm, lr)
        per_step = self.pace.seconds_per_step(self.step, self.train_seconds)
        epoch_left = None
        if per_step is not None:
            steps_left = self.steps_per_epoch() - self.position // train.grad_accum
            epoch_left = format_duration(per_step * steps_left)
        self.logger.advance(self.step, result.loss, self.interval.tokens_per_s, epoch_left)
        if per_step is not None and self.pace.estimate_due(self.step):
            for line in estimate_messages(
                str(self.device), per_step, self.steps_per_epoch(), self.step, self.total_steps,
                self.train_seconds, self.options.time_budget, self.options.cpu_hint,
            ):
                self.logger.message(line, always=True)
        if self.step % train.log_interval == 0:
            values = self.interval.values(self.nonfinite.total)
            self.logger.train(self.step, self.epoch, values)
            self.interval = IntervalSums()

    def evaluate(self) -> None:
        """Validate on the main process, log, save last.pt (and best.pt), count bad evals."""
        self.last_eval_step = self.step
        if not self.world.is_main:
            return
        data = self.data
        with preserved_rng():
            metrics = validate(
                self.eval_model, data.valid_batches, self.precision, self.tokenizer.pad_id
            )
            replies = diversity_replies(
                self.raw_model, data.diversity_batches, self.tokenizer, self.diversity_decoding,
                self.precision,
            )
            samples = sample_replies(
                self.raw_model, data.prompts, data.prompt_texts, data.gold_texts,
                self.tokenizer, self.sample_decoding, self.precision, self.config.train.seed,
            )
            if data.relevance is not None:
                metrics.update(relevance_scalars(self.raw_model, data.relevance, self.tokenizer,
                                                 self.config.train.batch_size))
        if replies:
            metrics.update(diversity_scalars(replies))
        best, selected = self.selection.update(self.step, metrics)
        self.bad_evals = 0 if selected else self.bad_evals + 1
        self.metrics = metrics
        self.logger.valid(
            self.step, self.epoch, metrics, best, samples, reply_counts(replies).top
        )
        self.save(best=best, selected=selected, validated=True)

    def weights_payload(self) -> dict[str, Any]:
        """Everything needed to use the model (snapshots and selected.pt hold only this)."""
        return weights_payload(
            self.config, self.raw_model, self.tokenizer, step=self.step, epoch=self.epoch,
            metrics=self.metrics, corpus=str(Path(self.prepared.corpus).resolve()),
            train_seconds=self.train_seconds, device=str(self.device),
        )

    def payload(self) -> dict[str, Any]:
        """Everything needed to use the model, or to continue this run exactly."""
        weights = self.frequency_weights
        state = TrainingState(
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.precision.scaler.state_dict(),
            data_position=self.position,
            bad_evals=self.bad_evals,
            rng=rng_state(),
            selection=self.selection.to_dict(),
            best_valid_loss=self.best_valid_loss,
            nonfinite_steps=self.nonfinite.total,
            log_interval_sums=dataclasses.asdict(self.interval),
            token_frequencies=None if weights is None else weights.frequencies,
        )
        return {**self.weights_payload(), **state.to_payload()}

    def resume_command(self) -> str:
        """The command that continues this run as the user started it."""
        options = self.options
        return runs.resume_command(
            self.run_dir, options.time_budget, self.corpus, options.threads, options.device
        )

    def save(self, best: bool = False, selected: bool = False, validated: bool = False) -> None:
        """Write last.pt, and after a validation the files it earned (saving.py)."""
        if self.world.is_main:
            save_checkpoints(
                self.run_dir, self.step, self.config.train, self.weights_payload, self.payload,
                self.resume_command(), best, selected, validated,
            )

    def finish(self, reason: str) -> None:
        """Validate (unless stopped by a signal, or just done) and save last.pt."""
        if reason != "signal" and not self.validated():
            self.evaluate()  # saves
        else:
            self.save()
        if reason == "signal":
            self.logger.message(
                f"interrupted: saved {self.run_dir / runs.LAST} at step {self.step}; "
                f"continue with: "
                f"{self.resume_command()}", always=True
            )
        else:
            self.logger.message(
                f"stopped ({reason}) at step {self.step}; run in {self.run_dir}", always=True
            )
        if self.metrics:
            self.logger.hparams(self.config.flat(), [f"valid/{key}" for key in self.metrics])
