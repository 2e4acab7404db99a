"""Chat start-up: `python chat.py --run DIR` answering one piped line, against `import torch`.

The chat's cold start (interpreter, torch, the package, the checkpoint, the tokenizer, the first
greedy reply) is measured from the outside, as a user waits for it: the wall time of a fresh
process given one line on stdin, until it has printed its reply and exited. The reference is a
process that only imports torch, the floor every torch program pays, so the ratio says what the
project adds on top. Each process's own peak RSS comes from `os.wait4`.

The run is `--run DIR` when given; otherwise a throwaway run of the benchmark's Transformer
config is trained for `THROWAWAY_STEPS` steps in a temporary folder through the public training
API (start-up time depends on the model's size, not on how well it is trained).
"""

from __future__ import annotations

import dataclasses
import io
import shlex
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from benchmarks.harness import Figure, Process, median_figure, run_process
from benchmarks.workload import FIXTURE_CORPUS, ROOT, Settings
from seq2seq.errors import UserError
from seq2seq.training import TrainOptions, train

THROWAWAY_STEPS = 2
PROMPT = "hello, how are you?\n"


def throwaway_run(settings: Settings) -> Path:
    """Train the benchmark's Transformer for a few steps in the work folder; its run folder."""
    config = settings.transformer_config()
    config = config.replace(train=dataclasses.replace(
        config.train, max_steps=THROWAWAY_STEPS, eval_interval=THROWAWAY_STEPS,
        num_sample_prompts=0,
    ))
    options = TrainOptions(
        run_dir=settings.work_dir / "run", device=settings.device.type,
        cache_dir=settings.work_dir / "cache",
    )
    log = io.StringIO()
    with redirect_stdout(log), redirect_stderr(log):  # the training log is not the table's
        result = train(config, settings.corpus or FIXTURE_CORPUS, options)
    return result.run_dir


def run(settings: Settings) -> list[Figure]:
    """Cold start to the first reply vs `import torch`, in turns, median of the repeats."""
    run_dir = settings.run_dir or throwaway_run(settings)
    commands = {
        "chat": [sys.executable, "chat.py", "--run", str(run_dir),
                 "--device", settings.device.type],
        "import torch": [sys.executable, "-c", "import torch"],
    }
    results: dict[str, list[Process]] = {name: [] for name in commands}
    # One untimed round reads everything from disk into the page cache; with --quick the
    # throwaway training has just done that.
    warmup = 0 if settings.quick else 1
    for repeat in range(warmup + settings.repeats):
        for name in commands if repeat % 2 == 0 else reversed(commands):
            process = run_process(commands[name], stdin=PROMPT, cwd=ROOT)
            if process.returncode != 0 or (name == "chat" and not process.stdout.strip()):
                last = (process.stderr.strip().splitlines() or ["no output"])[-1]
                raise UserError(f"{shlex.join(commands[name][1:])} failed "
                                f"(exit {process.returncode}): {last}")
            if repeat >= warmup:
                results[name].append(process)
    chat, torch_only = results["chat"], results["import torch"]
    what = "--run " + str(settings.run_dir) if settings.run_dir else (
        f"a throwaway {settings.transformer_config_path.name} run")
    return [
        median_figure(
            "chat.cold_start", "Chat cold start to first reply", [p.seconds for p in chat],
            "s", "python -c 'import torch'", [p.seconds for p in torch_only], goal=("<=", 1.3),
            note=f"{what}, one piped line, greedy; wall time of the whole process; "
                 "lower is better",
        ),
        median_figure(
            "memory.chat", "Chat process peak memory", [p.max_rss_mib for p in chat], "MiB",
            "python -c 'import torch'", [p.max_rss_mib for p in torch_only],
            note="peak RSS of the whole process (os.wait4)",
        ),
    ]

