"""Chat with a trained model, or compare several side by side.

    python chat.py                                   # the newest runs/*/best.pt
    python chat.py --run runs/transformer-20261122-0101 --set decode.beam=5
    python chat.py --run runs/A --run runs/B         # both answer every line
    printf 'hi\\nhow are you?\\n' | python chat.py --run runs/A    # one reply line per input

See seq2seq/chat.py for the commands and the piped-mode contract.
"""

from __future__ import annotations

import argparse

from seq2seq.errors import run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Chat with trained seq2seq chatbots (type /help in the chat for commands).",
    )
    parser.add_argument(
        "--run", dest="sources", action="append", default=[], metavar="DIR",
        help="a run folder (its best.pt); repeat to chat with several models side by side "
        "(default: the newest run under runs/)",
    )
    parser.add_argument(
        "--checkpoint", dest="sources", action="append", metavar="FILE",
        help="a checkpoint file, e.g. runs/NAME/last.pt; may be mixed with --run",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, mps")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="decode.KEY=VALUE",
        help="decoding settings, e.g. --set decode.strategy=beam --set decode.beam_size=5",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    from seq2seq.chat import main as chat  # after parsing, so --help answers without torch

    return chat(args.sources, device=args.device, overrides=args.overrides)


if __name__ == "__main__":
    run_cli(main)
