"""The golden file: what the shipped models say, pinned, so that a change to the code that
alters a trained model's replies or scores is caught (tests/pretrained/test_golden.py).

For each model it records the sha256 of its model.pt, its greedy reply to each of 30 fixed
prompts and its token NLL (mean over the reply's tokens, eos included) on 30 fixed exchanges,
as tab-separated lines:

    model   pretrained/transformer  <sha256>
    reply   pretrained/transformer  <prompt>  <greedy reply>
    nll     pretrained/transformer  <prompt>  <reply>  <NLL per token>  <tokens>

Each prompt and exchange is scored alone (no padding, no batch neighbours), with the decoding
`compare.py` uses (plain greedy, at most data.max_tgt_len + 1 tokens). A check reads the prompts
and exchanges from the file itself and wants the same replies exactly and each NLL within
`NLL_TOLERANCE`. Regenerate only on purpose: python -m seq2seq.pretrained golden.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seq2seq.checkpoint import Trained, load_trained
from seq2seq.comparison.scoring import source_batch, teacher_forced
from seq2seq.decoding import Decoding, generate
from seq2seq.errors import UserError
from seq2seq.runs import SHIPPED

NLL_TOLERANCE = 1e-4
HEADER = """# Golden outputs of the shipped models: greedy replies to fixed prompts and token NLL on
# fixed exchanges (seq2seq/pretrained/golden.py). Regenerate only on purpose:
#     python -m seq2seq.pretrained golden
"""


@dataclass
class Record:
    """One model's outputs."""

    sha256: str
    replies: list[tuple[str, str]] = field(default_factory=list)  # (prompt, reply)
    nll: list[tuple[str, str, float, int]] = field(default_factory=list)  # (prompt, reply, ...)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def greedy_reply(trained: Trained, prompt: str) -> str:
    """The model's plain greedy reply to one prompt, decoded alone."""
    data, tokenizer = trained.config.data, trained.tokenizer
    src = np.asarray(tokenizer.encode_context([prompt])[-data.max_src_len :], dtype=np.int64)
    decoding = Decoding.plain_greedy(data.max_tgt_len + 1, tokenizer)
    result = generate(trained.model, *source_batch([src], tokenizer, trained.model.device),
                      decoding)
    return tokenizer.decode(result.tokens[0])


def token_nll(trained: Trained, prompt: str, reply: str) -> tuple[float, int]:
    """(mean NLL per reply token, eos included; token count) of `reply` after `prompt`."""
    data, tokenizer = trained.config.data, trained.tokenizer
    src = [np.asarray(tokenizer.encode_context([prompt])[-data.max_src_len :], dtype=np.int64)]
    tgt = [np.asarray(tokenizer.encode(reply)[: data.max_tgt_len], dtype=np.int64)]
    scores = teacher_forced(trained.model, tokenizer, src, tgt, [np.arange(1)])
    return scores.loss, int(scores.n_tokens[0])


def record(folder: Path, prompts: list[str], exchanges: list[tuple[str, str]]) -> Record:
    """Measure one shipped folder on the prompts and exchanges, on the CPU."""
    trained = load_trained(folder, "cpu")
    result = Record(file_sha256(folder / SHIPPED))
    with torch.inference_mode():
        result.replies = [(prompt, greedy_reply(trained, prompt)) for prompt in prompts]
        result.nll = [(prompt, reply, *token_nll(trained, prompt, reply))
                      for prompt, reply in exchanges]
    return result


def clean(text: str) -> str:
    """A field on one line of the file: tabs and line breaks as spaces."""
    return " ".join(text.replace("\t", " ").splitlines())


def write_golden(path: Path, records: dict[str, Record]) -> None:
    """Write the golden file: `records` by model folder name (e.g. pretrained/gru)."""
    lines = [HEADER.rstrip("\n")]
    for name, rec in records.items():
        lines.append(f"model\t{name}\t{rec.sha256}")
        lines += [f"reply\t{name}\t{clean(p)}\t{clean(r)}" for p, r in rec.replies]
        lines += [f"nll\t{name}\t{clean(p)}\t{clean(r)}\t{value:.6f}\t{count}"
                  for p, r, value, count in rec.nll]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_golden(path: Path) -> dict[str, Record]:
    """The records of a golden file, by model folder name."""
    records: dict[str, Record] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        kind, name, *rest = line.split("\t")
        if kind == "model" and len(rest) == 1:
            records[name] = Record(rest[0])
        elif kind == "reply" and len(rest) == 2 and name in records:
            records[name].replies.append((rest[0], rest[1]))
        elif kind == "nll" and len(rest) == 4 and name in records:
            records[name].nll.append((rest[0], rest[1], float(rest[2]), int(rest[3])))
        else:
            raise UserError(f"{path}:{number}: not a golden-file line ({line[:60]!r})")
    return records


def differences(path: Path, root: Path) -> list[str]:
    """Every way today's code and the shipped files under `root` (the folder holding
    pretrained/) depart from the golden file, one line each; empty when they reproduce it."""
    found = []
    for name, expected in read_golden(path).items():
        folder = root / name
        if not (folder / SHIPPED).is_file():
            found.append(f"{name}: no {SHIPPED} (the golden file names it)")
            continue
        prompts = [prompt for prompt, _ in expected.replies]
        exchanges = [(prompt, reply) for prompt, reply, _, _ in expected.nll]
        actual = record(folder, prompts, exchanges)
        if actual.sha256 != expected.sha256:
            found.append(f"{name}: {SHIPPED} is not the file the golden file was recorded from "
                         "(a new export: regenerate it)")
        for (prompt, want), (_, got) in zip(expected.replies, actual.replies, strict=True):
            if got != want:
                found.append(f"{name}: reply to {prompt!r} is {got!r}, golden {want!r}")
        for want, got in zip(expected.nll, actual.nll, strict=True):
            if abs(got[2] - want[2]) > NLL_TOLERANCE or got[3] != want[3]:
                found.append(f"{name}: NLL of {want[1]!r} after {want[0]!r} is {got[2]:.6f} over "
                             f"{got[3]} tokens, golden {want[2]:.6f} over {want[3]}")
    return found


def regenerate(
    path: Path, folders: list[Path], prompts_file: Path, exchanges_file: Path, count: int
) -> None:
    """Record `folders` on the first `count` prompts and exchanges and write the golden file."""
    prompts = [line.strip() for line in prompts_file.read_text(encoding="utf-8").splitlines()
               if line.strip()][:count]
    rows = exchanges_file.read_text(encoding="utf-8").splitlines()
    exchanges = [tuple(row.split("\t", 1)) for row in rows if "\t" in row][:count]
    if len(prompts) < count or len(exchanges) < count:
        raise UserError(f"need {count} prompts and {count} exchanges: {prompts_file} gives "
                        f"{len(prompts)}, {exchanges_file} {len(exchanges)}")
    write_golden(path, {folder.as_posix(): record(folder, prompts, exchanges)
                        for folder in folders})
