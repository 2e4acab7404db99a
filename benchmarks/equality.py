"""Record what short seeded CPU trainings produce, to check a refactoring changes nothing.

    python benchmarks/equality.py record before.json --corpus PATH    # on the old code
    python benchmarks/equality.py record after.json --corpus PATH     # on the new code
    python benchmarks/equality.py compare before.json after.json      # exit 1 on any difference

Each run trains a config for a few steps with `--threads 1` and a fixed seed (train.py, in a
subprocess), then records its metrics.jsonl without the wall-clock fields, the sha256 of every
tensor of last.pt's model, and the greedy and beam replies (tokens, scores, attention's sha256)
of the trained model to a few training prompts. Equal records mean equal behaviour to the bit.
A metric logged by only one of the two codes (one added since the old record) is named by
`compare` and left out of the comparison; every metric both log must agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # this checkout's seq2seq, not an installed one
    sys.path.insert(0, str(REPO))
FIXTURE = REPO / "tests" / "fixtures" / "exchanges.tsv"
STEPS = 30
SEED = 7
# Fields of a metrics.jsonl line that measure time, not behaviour.
CLOCK_FIELDS = ("time", "seconds", "per_s", "eta", "elapsed", "wall")

# name -> (config, corpus: "fixture" or "corpus", overrides)
RUNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "tiny-transformer": ("tiny-transformer.yaml", "fixture", ()),
    "tiny-transformer-post-ln-manual-learned-gelu": ("tiny-transformer.yaml", "fixture", (
        "model.norm=post", "model.attention=manual", "model.positional=learned",
        "model.activation=gelu", "model.tie_embeddings=false")),
    "tiny-transformer-scheduled-sample": ("tiny-transformer.yaml", "fixture", (
        "train.teacher_forcing=0.5", "train.teacher_forcing_feed=sample")),
    "tiny-transformer-scheduled-argmax-decay": ("tiny-transformer.yaml", "fixture", (
        "train.teacher_forcing=1.0", "train.teacher_forcing_final=0.2",
        "train.teacher_forcing_decay_steps=20", "model.norm=post")),
    "tiny-gru": ("tiny-gru.yaml", "fixture", ()),
    "tiny-gru-general-tied-scheduled": ("tiny-gru.yaml", "fixture", (
        "model.attention=general", "model.tie_embeddings=true", "train.teacher_forcing=0.5")),
    "tiny-gru-concat-scheduled-sample": ("tiny-gru.yaml", "fixture", (
        "model.attention=concat", "train.teacher_forcing=0.3",
        "train.teacher_forcing_feed=sample")),
    "protocol-cpu-transformer": ("protocol-cpu-transformer.yaml", "corpus", (
        "train.eval_interval=15", "train.diversity_prompts=40")),
    "protocol-cpu-gru": ("protocol-cpu-gru.yaml", "corpus", (
        "train.eval_interval=15", "train.diversity_prompts=40")),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tensor_digest(tensor) -> str:
    """sha256 of a tensor's dtype, shape and bytes."""
    import torch

    t = tensor.detach().cpu().contiguous()
    header = f"{t.dtype}{tuple(t.shape)}".encode()
    return sha256(header + t.view(-1).view(torch.uint8).numpy().tobytes())


def metrics_without_clock(path: Path) -> list[dict]:
    lines = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        lines.append({key: value for key, value in record.items()
                      if not any(field in key for field in CLOCK_FIELDS)})
    return lines


def decodes(run_dir: Path, prompts: list[str]) -> dict:
    """Greedy and beam replies of the trained model, with digests of their attention."""
    import torch

    from seq2seq.checkpoint import load_trained
    from seq2seq.config import DecodeConfig
    from seq2seq.decoding import Decoding, generate

    torch.set_num_threads(1)
    trained = load_trained(run_dir / "last.pt")
    tokenizer = trained.tokenizer
    ids = [tokenizer.encode(prompt)[:30] or [tokenizer.eos_id] for prompt in prompts]
    length = max(len(row) for row in ids)
    src = torch.full((len(ids), length), tokenizer.pad_id)
    for i, row in enumerate(ids):
        src[i, : len(row)] = torch.tensor(row)
    src_mask = src != tokenizer.pad_id
    out = {}
    settings = {
        "greedy": DecodeConfig(strategy="greedy", max_len=20),
        "beam": DecodeConfig(strategy="beam", beam_size=5, max_len=20),
    }
    for name, config in settings.items():
        decoding = Decoding.of(config, tokenizer)
        for batch, (rows, rows_mask) in {"batch": (src, src_mask),
                                         "one": (src[:1], src_mask[:1])}.items():
            result = generate(trained.model, rows, rows_mask, decoding, need_attention=True,
                              nbest=3 if name == "beam" else 1)
            out[f"{name}.{batch}"] = {
                "tokens": result.tokens,
                "scores": [float(score).hex() for score in result.scores],
                "attention": [tensor_digest(a) for a in result.attention],
                "nbest": result.nbest and [[(t, float(s).hex()) for t, s in hyps]
                                           for hyps in result.nbest],
            }
    return out


def record_run(name: str, corpus: Path, folder: Path) -> dict:
    import torch

    # the prepared data is shared by the runs (and by the records, when the cache is kept)
    environment = {**os.environ, "SEQ2SEQ_CACHE": os.environ.get("SEQ2SEQ_CACHE",
                                                                 str(folder / "cache"))}

    config, which, overrides = RUNS[name]
    run_dir = folder / name
    command = [sys.executable, str(REPO / "train.py"), "--config", str(REPO / "configs" / config),
               "--corpus", str(FIXTURE if which == "fixture" else corpus),
               "--run-dir", str(run_dir), "--max-steps", str(STEPS), "--seed", str(SEED),
               "--threads", "1", "--device", "cpu", "--quiet"]
    for override in overrides:
        command += ["--set", override]
    subprocess.run(command, check=True, cwd=folder, env=environment)
    weights = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)["model"]
    prompts = [line.split("\t")[0] for line in FIXTURE.read_text().splitlines()[:6]]
    return {
        "command": command[2:],
        "metrics": metrics_without_clock(run_dir / "metrics.jsonl"),
        "weights": {key: tensor_digest(value) for key, value in weights.items()},
        "decodes": decodes(run_dir, prompts),
    }


def record(out: Path, corpus: Path, only: list[str] | None) -> None:
    records = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in only or RUNS:
            print(f"[{name}]", flush=True)
            records[name] = record_run(name, corpus, Path(tmp))
    out.write_text(json.dumps(records, indent=1, sort_keys=True))


def metric_keys(lines: list[dict]) -> set[str]:
    """Every `kind/key` the metrics lines hold (`valid/hits1_random`)."""
    return {f"{line['kind']}/{key}" for line in lines for key in line}


def shared_metrics(lines: list[dict], keys: set[str]) -> list[dict]:
    """The metrics lines cut down to `keys` (of metric_keys' form)."""
    return [{key: value for key, value in line.items() if f"{line['kind']}/{key}" in keys}
            for line in lines]


def compare_metrics(before: list[dict], after: list[dict]) -> tuple[bool, list[str]]:
    """Whether the lines agree on every key both records log, and a note naming the keys that
    only one record logs (a metric added or dropped between the two codes, not compared)."""
    keys_before, keys_after = metric_keys(before), metric_keys(after)
    shared = keys_before & keys_after
    same = shared_metrics(before, shared) == shared_metrics(after, shared)
    notes = [f"only {which}: {', '.join(sorted(keys))}"
             for which, keys in (("before", keys_before - keys_after),
                                 ("after", keys_after - keys_before)) if keys]
    return same, notes


def compare(before: Path, after: Path) -> int:
    """Print part by part whether two records agree; 1 on any difference, else 0. Metrics are
    compared on the keys both records log; the others are named, not compared."""
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    differences = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"{name}: only in one record")
            differences += 1
            continue
        for part in ("metrics", "weights", "decodes"):
            notes: list[str] = []
            if part == "metrics":
                same, notes = compare_metrics(a[name][part], b[name][part])
            else:
                same = a[name][part] == b[name][part]
            differences += not same
            shared = " on the shared keys" if notes else ""
            print(f"{name}.{part}: {'identical' if same else 'DIFFERENT'}{shared}"
                  + "".join(f"; {note}" for note in notes))
    return 1 if differences else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("out", type=Path)
    rec.add_argument("--corpus", type=Path, required=True, help="TSV for the protocol configs")
    rec.add_argument("--only", nargs="+", choices=sorted(RUNS))
    cmp = sub.add_parser("compare")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        record(args.out.resolve(), args.corpus.resolve(), args.only)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
