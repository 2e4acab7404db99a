"""`python compare.py RUN_A RUN_B [...]`: the command line of a comparison.

The comparison's modules (and torch with them) are imported after the arguments are parsed, so
that `--help` and a wrong option answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from seq2seq.errors import UserError
from seq2seq.paths import check_writable_folder

if TYPE_CHECKING:
    from seq2seq.comparison.pipeline import Options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="compare.py",
        description="Compare trained runs on the same held-out examples with greedy decoding: "
        "loss, perplexity (token and word level, bootstrap CI of the differences), token "
        "accuracy, BLEU, distinct-n, reply length, most frequent replies, speed; whether the "
        "reply answers the prompt (hits@1/5 and MRR against random and generic distractors, "
        "the context gap) and GT/RT reference rows (docs/relevance.md).",
    )
    parser.add_argument("runs", nargs="*", help="run folders (the checkpoint each offers: "
                        "selected.pt, else best.pt), pretrained/ folders or .pt checkpoints")
    parser.add_argument("--group", dest="groups", action="append", default=[],
                        metavar="NAME=RUN1,RUN2,...",
                        help="several runs of one setting, differing only by train.seed, as one "
                        "entry: figures as mean +- sd over them (a glob such as runs/T-s* may "
                        "name several); repeatable")
    parser.add_argument("--corpus", help="the corpus (default: the one the runs' checkpoints "
                        "name when they agree and it is here, else $CORNELL_CORPUS, then "
                        "./corpora/cornell); with --split all, an external corpus file")
    parser.add_argument("--split", default="test",  # checked by the pipeline
                        help="test or valid split of the runs' data, or all examples of --corpus")
    parser.add_argument("--limit", type=int, default=0, help="only the first N examples")
    parser.add_argument("--prompts", help="a file of prompts, one per line, instead of a data "
                        "split (no references: replies side by side and reply-level statistics "
                        "only; --corpus and --split are not used)")
    parser.add_argument("--out", help="output folder (default: runs/compare-<timestamp>)")
    parser.add_argument("--device", default="auto",
                        help="auto (a GPU if any), cpu, cuda, cuda:N or mps")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per batch")
    parser.add_argument("--samples", type=int, default=10,
                        help="sampled prompts shown side by side (with --prompts: every prompt)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the samples, the distractors and the bootstrap")
    parser.add_argument("--candidates", type=int,
                        help="hits@1/N: rank the gold reply among N candidates (N-1 distractors, "
                        "written to distractors.jsonl; default: ConvAI2's 20); 0: no ranking")
    parser.add_argument("--max-len", type=int, default=0,
                        help="tokens per greedy reply at most (default: data.max_tgt_len + 1)")
    parser.add_argument("--attention", type=int, default=3,
                        help="sampled prompts drawn as attention heat-maps per run (0: none)")
    parser.add_argument("--attention-heads", action="store_true",
                        help="also draw every attention head, not only their mean")
    parser.add_argument("--sweep", action="store_true",
                        help="score every step-<N>.pt snapshot of each run folder instead and "
                        "draw perplexity and reply diversity over training steps (sweep.png)")
    parser.add_argument("--speed-passes", type=int, default=3,
                        help="timed greedy passes per run (the runs take turns); replies/s is "
                        "their median, the report gives the spread")
    mmi = parser.add_argument_group("decoding settings and MMI (docs/mmi.md)")
    mmi.add_argument("--decode", dest="decodes", action="append", default=[],
                     metavar="NAME=SETTINGS",
                     help="compare each run under this decoding instead of greedy; repeat for "
                     "several, e.g. --decode greedy=greedy --decode beam5=beam=5 --decode "
                     "antilm=mmi=antilm,mmi_lambda=0.3 (the chat's /set settings, by commas)")
    # seq2seq.mmi's FLAGS and ROLES, spelled out so that --help need not load torch
    mmi.add_argument("--backward", dest="backward", metavar="RUN",
                     help="the backward model p(prompt | reply) of mmi=bidi (a run with the "
                     "runs' tokenizer)")
    mmi.add_argument("--reply-lm", dest="reply_lm", metavar="RUN",
                     help="the reply language model p(reply) of mmi=antilm (a run with the "
                     "runs' tokenizer)")
    mmi.add_argument("--evaluator", metavar="RUN",
                     help="a backward model trained on other data that judges every decoding's "
                     "replies by prompt retrieval@1/20 (never used for decoding)")
    parser.add_argument("--threads", type=int,
                        help="CPU threads for torch (default: one per core); the report says "
                        "how many were used. On a busy machine 1 gives steadier speed figures")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    from seq2seq.comparison.groups import parse_group
    from seq2seq.comparison.pipeline import Options
    from seq2seq.device import resolve_device
    from seq2seq.mmi import FLAGS
    from seq2seq.relevance import CANDIDATES

    if args.candidates is None:
        args.candidates = CANDIDATES
    for flag in ("limit", "samples", "max_len", "attention", "candidates"):
        if getattr(args, flag) < 0:
            raise UserError(f"--{flag.replace('_', '-')} must be >= 0")
    if args.batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    if args.candidates == 1:
        raise UserError("--candidates must be 0 (no ranking) or >= 2")
    if args.speed_passes < 1:
        raise UserError("--speed-passes must be >= 1")
    return Options(
        decodes=args.decodes, evaluator=args.evaluator,
        extras={role: getattr(args, role) for role in FLAGS if getattr(args, role) is not None},
        runs=args.runs, corpus=args.corpus, split=args.split, limit=args.limit,
        prompts=args.prompts, device=str(resolve_device(args.device)),
        batch_size=args.batch_size, samples=args.samples, seed=args.seed, max_len=args.max_len,
        attention=args.attention, attention_heads=args.attention_heads,
        speed_passes=args.speed_passes, candidates=args.candidates,
        groups=[parse_group(text) for text in args.groups],
    )


def tensorboard_logdir(out_dir: Path, runs: list[str]) -> Path:
    """The folder holding both the comparison and the compared runs (their training curves),
    e.g. runs/ for runs/compare-X and runs/A, runs/B."""
    folders = [Path(run) if Path(run).is_dir() else Path(run).parent for run in runs]
    common = Path(os.path.commonpath([p.resolve() for p in [out_dir, *folders]]))
    try:
        return common.relative_to(Path.cwd())
    except ValueError:
        return common


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from seq2seq.comparison.pipeline import compare
    from seq2seq.comparison.report import summary, write_reports
    from seq2seq.comparison.sweep import sweep, sweep_markdown, write_sweep
    from seq2seq.comparison.tensorboard import write_tensorboard
    from seq2seq.device import set_threads
    from seq2seq.runs import new_run_dir

    set_threads(args.threads)
    options = options_from(args)
    out_dir = Path(args.out) if args.out else new_run_dir("sweep" if args.sweep else "compare")
    check_writable_folder(out_dir, f"--out {out_dir}", "choose another --out")
    if args.sweep:
        if options.decodes or options.extras or options.evaluator:
            raise UserError("--sweep scores snapshots with greedy decoding: --decode, "
                            "--backward, --reply-lm and --evaluator belong to a comparison")
        runs, groups = sweep(options)
        png = write_sweep(runs, out_dir, f"{options.split} split" if not options.limit
                          else f"{options.split} split, first {options.limit}", groups)
        print(sweep_markdown(runs, options.split))
        print(f"\nwrote {png}, sweep.md, sweep.json and TensorBoard events "
              f"(tensorboard --logdir {tensorboard_logdir(out_dir, args.runs)})",
              file=sys.stderr)
        return 0
    comparison, images = compare(options, out_dir)
    print(summary(comparison))
    md_path, _ = write_reports(comparison, out_dir)
    write_tensorboard(comparison, out_dir, images)
    print(f"\nwrote {md_path}, report.json, distractors.jsonl (when ranked), attention/*.png "
          f"and TensorBoard events "
          f"(tensorboard --logdir {tensorboard_logdir(out_dir, args.runs)})", file=sys.stderr)
    return 0
