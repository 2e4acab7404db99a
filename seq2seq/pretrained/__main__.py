"""The shipped models' command line (docs/pretrained.md).

    python -m seq2seq.pretrained export runs/protocol-cpu-transformer pretrained/transformer
    python -m seq2seq.pretrained golden          # rewrite tests/golden/pretrained.txt, on purpose
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seq2seq.errors import UserError, run_cli
from seq2seq.pretrained import PAIR, ROOT, shipped_pair
from seq2seq.pretrained.compact import PRECISIONS

GOLDEN = Path("tests/golden/pretrained.txt")
GOLDEN_PROMPTS = Path("tests/golden/prompts.txt")
GOLDEN_EXCHANGES = Path("tests/fixtures/exchanges.tsv")
GOLDEN_COUNT = 30  # prompts and exchanges, each


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m seq2seq.pretrained",
                                     description="Export shipped models; pin what they say.")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser(
        "export", help="write a run's checkpoint as a shipped folder (weights only, half "
        "precision, config, model card with test-split figures)")
    export.add_argument("run", help="a run folder (the checkpoint it offers: selected.pt, else "
                        "best.pt) or a .pt checkpoint")
    export.add_argument("out", help=f"the folder to write, e.g. {ROOT / PAIR[0]}")
    export.add_argument("--precision", default="float16", choices=sorted(PRECISIONS),
                        help="how the weights are stored (loaded as float32 either way)")
    export.add_argument("--corpus", help="the corpus of the test split the card's figures are "
                        "measured on (default: the one the checkpoint names)")
    export.add_argument("--limit", type=int, default=0,
                        help="measure on the first N test examples only (default: all)")
    export.add_argument("--commit", help="the training code's commit, named in the card "
                        "(default: the commit checked out here)")
    export.add_argument("--replace", action="store_true", help="overwrite an existing folder")
    golden = commands.add_parser(
        "golden", help=f"record the shipped models' replies and NLL in {GOLDEN} (on purpose "
        "only: the golden test then pins the new outputs)")
    golden.add_argument("--out", type=Path, default=GOLDEN, help=f"default: {GOLDEN}")
    golden.add_argument("--prompts", type=Path, default=GOLDEN_PROMPTS,
                        help=f"one prompt per line (default: {GOLDEN_PROMPTS})")
    golden.add_argument("--exchanges", type=Path, default=GOLDEN_EXCHANGES,
                        help=f"prompt<TAB>reply rows (default: {GOLDEN_EXCHANGES})")
    golden.add_argument("models", nargs="*", type=Path,
                        help=f"shipped folders (default: the pair under {ROOT}/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported after parsing, so --help answers without torch.
    if args.command == "export":
        from seq2seq.pretrained.export import export

        if args.limit < 0:
            raise UserError("--limit must be >= 0")
        path = export(args.run, args.out, args.precision, args.corpus, args.limit,
                      args.replace, args.commit)
        print(f"wrote {path.parent}/ ({path.stat().st_size / 2**20:.1f} MiB model)",
              file=sys.stderr)
        return 0
    from seq2seq.pretrained.golden import regenerate

    folders = args.models or shipped_pair()
    if not folders:
        raise UserError(f"no shipped models under {ROOT}/ (export them first: "
                        "python -m seq2seq.pretrained export RUN pretrained/NAME)")
    for path in (args.prompts, args.exchanges):
        if not path.is_file():
            raise UserError(f"{path} is not a file (run from the repo's root)")
    regenerate(args.out, folders, args.prompts, args.exchanges, GOLDEN_COUNT)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
