"""Chat with a trained model, or compare several side by side.

    python chat.py                                   # the newest run under runs/, else the
                                                     # pretrained pair in pretrained/
    python chat.py --run runs/transformer-20261122-0101 --set decode.beam=5
    python chat.py --run runs/A --run runs/B         # both answer every line
    printf 'hi\\nhow are you?\\n' | python chat.py --run runs/A    # one reply line per input
    python chat.py --web --run runs/A --run runs/B   # the same chat on http://127.0.0.1:8000/
    python chat.py --run runs/A --backward runs/A-backward --set decode.mmi=bidi --set decode.beam=5

See seq2seq/conversation.py for the commands and the piped-mode contract, seq2seq/web/ for the page.
"""

from __future__ import annotations

import argparse
import os
import sys

from seq2seq.errors import run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Chat with trained seq2seq chatbots (type /help in the chat for commands).",
    )
    parser.add_argument(
        "--run", dest="sources", action="append", default=[], metavar="DIR",
        help="a run folder (its selected.pt, else best.pt, else last.pt); repeat to chat with "
        "several models side by side (default: the newest run under runs/, else the "
        "pretrained pair shipped in pretrained/)",
    )
    parser.add_argument(
        "--checkpoint", dest="sources", action="append", metavar="FILE",
        help="a checkpoint file, e.g. runs/NAME/last.pt; may be mixed with --run",
    )
    parser.add_argument(
        "--label", dest="labels", action="append", default=[], metavar="NAME",
        help="a name for the model of the matching --run/--checkpoint (in order), shown in "
        "the banner and before its replies",
    )
    parser.add_argument("--device", default="auto",
                        help="auto (default: CUDA when present, else cpu), cpu, cuda, cuda:1, mps")
    parser.add_argument("--threads", type=int,
                        help="CPU threads for torch (default: one per core)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="decode.KEY=VALUE",
        help="decoding settings, e.g. --set decode.strategy=beam --set decode.beam_size=5",
    )
    mmi = parser.add_argument_group("MMI decoding (docs/mmi.md)")
    mmi.add_argument("--backward", metavar="RUN",
                     help="a backward model p(prompt | reply) for decode.mmi=bidi: a run folder "
                     "or .pt file trained with data.direction: backward and the same tokenizer")
    mmi.add_argument("--reply-lm", metavar="RUN",
                     help="a reply language model for decode.mmi=antilm: a run folder or .pt "
                     "file trained with data.direction: reply_lm and the same tokenizer")
    web = parser.add_argument_group("browser chat")
    web.add_argument(
        "--web", action="store_true",
        help="serve the chat as a local web page (and a JSON API) instead of the terminal",
    )
    web.add_argument(
        "--port", type=port_number, help="the page's port (default 8000; 0: any free one)"
    )
    web.add_argument(
        "--host",
        help="the address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 exposes "
        "the page to the network, without a password)",
    )
    args = parser.parse_args()
    if not args.web and (args.port is not None or args.host is not None):
        parser.error("--port and --host are options of the web page: add --web")
    return args


def port_number(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (0 to 65535; 0: any)")
    return int(text)


def main() -> int:
    args = parse_args()
    models = {"backward": args.backward, "reply_lm": args.reply_lm}
    extras = {role: path for role, path in models.items() if path is not None}
    # Imported after parsing, so --help answers without torch.
    if args.web:
        from seq2seq.device import set_threads
        from seq2seq.web.server import main as web

        set_threads(args.threads)
        given = {"host": args.host, "port": args.port}
        options = {name: value for name, value in given.items() if value is not None}
        status = web(args.sources, args.device, args.overrides, labels=args.labels,
                     extras=extras, **options)
        # Stopped by Ctrl-C: end the process without the interpreter's shutdown. The request
        # threads are daemons (a kept-alive connection's thread waits in a read for up to
        # READ_TIMEOUT_S), and tearing down torch's C++ runtime while they still live aborted
        # about one Ctrl-C in 15 ("terminate called without an active exception", status -6).
        # The server writes no file, so nothing is lost.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    from seq2seq.conversation import main as chat

    return chat(args.sources, device=args.device, overrides=args.overrides,
                labels=args.labels, threads=args.threads, extras=extras)


if __name__ == "__main__":
    run_cli(main)
