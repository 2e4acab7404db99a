"""Chat with one trained model, or with several side by side.

A model is rebuilt from its checkpoint alone (`load_trained`, as nanoGPT's `sample.py` does)
and answers each input line through `seq2seq.decoding.generate`:

    python chat.py                              # the newest runs/*/best.pt
    python chat.py --run runs/A --run runs/B    # both answer every line, each labelled
    printf 'hi\\nhow are you?\\n' | python chat.py --run runs/A   # one reply line per input

Interactive (stdin is a terminal): a prompt with line editing and a history file, commands
/help, /reset, /set, /quit; an empty line prompts again; Ctrl-C cancels a reply being generated,
Ctrl-D or /quit ends the chat.

Piped (stdin is not a terminal): stdout carries replies only, so scripts can pair them with
their inputs: every input line gives exactly one line per model, the reply itself with one
model and `[label] reply` with several. An empty line gives an empty reply. A line starting
with / is a command: it runs (its messages go to stderr) and, like an empty line, gives empty
replies, except /quit, which ends the input. The banner and all notices go to stderr.

A model trained with context (`data.context_turns` > 1) sees the last turns of the
conversation, its own replies included, joined by the tokenizer's separator, as in training.
"""

from __future__ import annotations

import dataclasses
import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TextIO

import torch

from seq2seq.checkpoint import BEST, Trained, find_latest_run, load_trained
from seq2seq.config import STRATEGIES, Config, DecodeConfig, build_section, parse_override
from seq2seq.decoding import generate
from seq2seq.errors import ConfigError, UserError

HISTORY_FILE = Path.home() / ".cache" / "seq2seq-chatbots" / "chat_history"
HISTORY_LENGTH = 1000
HELP = """commands:
  /help                 this list
  /reset                forget the conversation so far (context models start afresh)
  /set                  show the decoding settings
  /set key=value ...    change them: any decode field (strategy, max_len, min_len, beam_size,
                        length_penalty, no_repeat_ngram, temperature, top_k, top_p,
                        repetition_penalty); beam=5 means strategy=beam beam_size=5, and a
                        strategy name alone (greedy, beam, sample) switches to it
  /quit                 end the chat (as does Ctrl-D)"""

Notify = Callable[[str], None]


@dataclass
class Bot:
    """A loaded model, its decoding settings and its side of the conversation."""

    trained: Trained
    label: str
    decode: DecodeConfig
    turns: list[str] = field(default_factory=list)  # oldest first, user and bot alternating

    @property
    def config(self) -> Config:
        return self.trained.config


def load_bots(sources: list[str], device: str, overrides: list[str]) -> list[Bot]:
    """Load every run folder or checkpoint in `sources` (the newest run when empty).

    Args:
        sources: run folders or .pt files, in the order their replies are shown.
        device: a torch device name ("cpu", "cuda", "cuda:1", "mps").
        overrides: `decode.key=value` strings applied to every model's decoding settings.
    """
    device = check_device(device)
    paths = [Path(source) for source in sources] or [find_latest_run("runs")]
    bots = []
    for path in paths:
        trained = load_trained(path, device=device)
        decode = override_decode(trained.config.decode, overrides)
        bots.append(Bot(trained, label_of(trained), decode))
    return bots


def check_device(name: str) -> str:
    """`name` if torch can place a model there, else a `UserError` saying what to use."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: not a device name (try cpu or cuda)") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        raise UserError(f"--device {name}: not available on this machine (try --device cpu)")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise UserError(f"--device {name}: only {count} CUDA GPU(s) are visible")
    return name


def override_decode(decode: DecodeConfig, overrides: list[str]) -> DecodeConfig:
    """Apply `--set decode.key=value` overrides (as `/set key=value`); the other sections
    are fixed by the checkpoint."""
    arguments = []
    for text in overrides:
        section, dot, argument = text.partition(".")
        if section != "decode" or not dot:
            raise ConfigError(
                f"--set {text}: chat can only change decoding settings (decode.key=value, "
                "e.g. decode.beam_size=5)"
            )
        arguments.append(argument)
    return parse_settings(decode, arguments)


def make_decode(values: dict) -> DecodeConfig:
    """A validated `DecodeConfig` from plain values (`ConfigError` naming a bad key)."""
    decode = build_section(DecodeConfig, values, "decode")
    decode.validate()
    return decode


def label_of(trained: Trained) -> str:
    """`run-folder` (plus the model name unless the folder has it, and the checkpoint name
    unless it is best.pt), e.g. `transformer-20261122-0101`."""
    label = trained.run_dir.name or str(trained.run_dir)
    arch = trained.config.model.arch
    if arch not in label:
        label = f"{label} {arch}"
    if trained.path.name != BEST:
        label = f"{label} {trained.path.stem}"
    return label


def describe(bot: Bot) -> str:
    """The banner lines for one model: what it is and how it decodes."""
    trained, data = bot.trained, bot.config.data
    context = (
        f"the last {data.context_turns} turns" if data.context_turns > 1 else "the last line"
    )
    return "\n".join([
        f"[{bot.label}] {trained.path}",
        f"  model: {bot.config.model}",
        f"  parameters: {trained.model.num_parameters():,}, trained for {trained.step:,} steps, "
        f"vocabulary {trained.tokenizer.vocab_size:,}",
        f"  reads {context}, at most {data.max_src_len} tokens",
        f"  decoding: {settings(bot.decode)}",
    ])


def settings(decode: DecodeConfig) -> str:
    """The decoding settings that matter for the chosen strategy, on one line."""
    shown = ["strategy", "max_len", "min_len", "no_repeat_ngram", "repetition_penalty"]
    if decode.strategy == "beam":
        shown += ["beam_size", "length_penalty"]
    if decode.strategy == "sample":
        shown += ["temperature", "top_k", "top_p"]
    return " ".join(f"{key}={getattr(decode, key)}" for key in shown)


# --- replying --------------------------------------------------------------------------------


def encode_input(bot: Bot, text: str, notify: Notify) -> list[int]:
    """Source ids for `text` after the conversation so far, at most `data.max_src_len` long.

    The oldest turns go first; an input too long on its own keeps its last tokens.
    """
    tokenizer, data = bot.trained.tokenizer, bot.config.data
    turns = ([*bot.turns, text])[-data.context_turns :]
    ids = tokenizer.encode_context(turns)
    while len(ids) > data.max_src_len and len(turns) > 1:
        turns = turns[1:]
        ids = tokenizer.encode_context(turns)
    if len(ids) > data.max_src_len:
        notify(
            f"[{bot.label}] note: the input is {len(ids)} tokens; the model reads only the "
            f"last {data.max_src_len} (data.max_src_len)"
        )
        ids = ids[-data.max_src_len :]
    return ids


def answer(bot: Bot, text: str, notify: Notify) -> str:
    """The bot's reply to `text` on one line; the exchange joins its context."""
    ids = encode_input(bot, text, notify)
    if not ids:
        notify(f"[{bot.label}] note: nothing in that line survives the model's normalisation")
        return ""
    trained = bot.trained
    src = torch.tensor([ids], device=trained.model.device)  # (1, S)
    result = generate(
        trained.model,
        src,
        torch.ones_like(src, dtype=torch.bool),
        bot.decode,
        bos_id=trained.tokenizer.bos_id,
        eos_id=trained.tokenizer.eos_id,
    )
    reply = " ".join(trained.tokenizer.decode(result.tokens[0]).split())
    bot.turns = [*bot.turns, text, reply][-2 * bot.config.data.context_turns :]
    return reply


def answer_safely(bot: Bot, text: str, notify: Notify) -> str:
    """`answer`, where Ctrl-C or a model error loses this reply (empty) but not the chat."""
    try:
        return answer(bot, text, notify)
    except KeyboardInterrupt:
        notify(f"[{bot.label}] reply cancelled")
    except UserError as error:
        notify(f"[{bot.label}] error: {error}")
    return ""


# --- commands --------------------------------------------------------------------------------


def parse_settings(decode: DecodeConfig, arguments: list[str]) -> DecodeConfig:
    """`/set` arguments (`key=value`, `beam=5`, `sample`) applied to `decode`.

    Raises:
        ConfigError: one line naming the bad key or value.
    """
    values = dataclasses.asdict(decode)
    for argument in arguments:
        if argument in STRATEGIES:
            values["strategy"] = argument
            continue
        if "=" not in argument:
            raise ConfigError(
                f"/set {argument}: expected key=value (e.g. temperature=0.7) or one of "
                f"{', '.join(STRATEGIES)}"
            )
        path, value = parse_override(argument)
        key = ".".join(path[1:] if path[0] == "decode" else path)
        if key == "beam":
            values["strategy"], key = "beam", "beam_size"
        values[key] = value
    return make_decode(values)


def run_command(line: str, bots: list[Bot], info: Notify) -> bool:
    """Run a `/command` line; False when the chat should end."""
    name, *arguments = line.replace(",", " ").split()
    if name in ("/quit", "/exit"):
        return False
    if name == "/help":
        info(HELP)
    elif name == "/reset":
        for bot in bots:
            bot.turns = []
        info("conversation reset")
    elif name == "/set" and not arguments:
        for bot in bots:
            info(f"[{bot.label}] {settings(bot.decode)}")
    elif name == "/set":
        try:
            updated = [parse_settings(bot.decode, arguments) for bot in bots]
        except ConfigError as error:
            info(f"error: {error}")
            return True
        for bot, decode in zip(bots, updated, strict=True):
            bot.decode = decode
            info(f"[{bot.label}] {settings(decode)}")
    else:
        info(f"unknown command {name} (try /help)")
    return True


# --- the two loops ---------------------------------------------------------------------------


def chat(bots: list[Bot]) -> int:
    """Talk on the terminal, or answer piped lines; returns the exit code."""
    interactive = sys.stdin.isatty()
    sys.stdout.reconfigure(errors="replace")
    out: TextIO = sys.stdout if interactive else sys.stderr

    def info(text: str) -> None:
        print(text, file=out, flush=True)

    def notify(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    for bot in bots:
        info(describe(bot))
    if interactive:
        info("type a line and press Enter; /help for commands, Ctrl-D to quit")
    try:
        converse(bots, interactive, info, notify)
    except BrokenPipeError:  # whoever read the replies is gone (`| head -1`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def converse(bots: list[Bot], interactive: bool, info: Notify, notify: Notify) -> None:
    """Answer every line until the input ends or /quit (see the module docstring)."""
    for line in prompted_lines() if interactive else piped_lines():
        text = line.strip()
        command = text.startswith("/")
        if command and not run_command(text, bots, info):
            return
        if interactive and (command or not text):
            continue
        for bot in bots:
            reply = answer_safely(bot, text, notify) if text and not command else ""
            show(bot, reply, len(bots) > 1, interactive)


def show(bot: Bot, reply: str, labelled: bool, interactive: bool) -> None:
    """Print one reply on one stdout line."""
    prefix = f"[{bot.label}] " if labelled else ("bot> " if interactive else "")
    print(f"{prefix}{reply}", flush=True)


def piped_lines() -> Iterator[str]:
    """Lines of stdin read as UTF-8, split on \\n only; invalid bytes become U+FFFD instead of
    ending the chat with a traceback."""
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="\n")
    for line in stdin:
        yield line.rstrip("\r\n")


def prompted_lines() -> Iterator[str]:
    """Lines typed at a `you> ` prompt with readline editing and history, until Ctrl-D."""
    sys.stdin.reconfigure(errors="replace")
    history = start_history()
    try:
        while True:
            try:
                yield input("you> ")
            except KeyboardInterrupt:  # Ctrl-C at the prompt drops the line, as a shell does
                print(file=sys.stderr)
            except EOFError:
                print(file=sys.stderr)
                return
    finally:
        if history is not None:
            save_history(history)


def start_history() -> ModuleType | None:
    """Import readline (line editing) and load the history file; None where unavailable."""
    try:
        import readline
    except ImportError:  # Windows has no readline: input() still works, without editing
        return None
    readline.set_history_length(HISTORY_LENGTH)
    try:
        readline.read_history_file(HISTORY_FILE)
    except OSError:  # no history yet, or an unreadable file: start empty
        pass
    return readline


def save_history(readline: ModuleType) -> None:
    try:
        HISTORY_FILE.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(HISTORY_FILE)
    except OSError:  # a read-only home must not break leaving the chat
        pass


def main(sources: list[str], device: str = "cpu", overrides: list[str] | None = None) -> int:
    """Load the models and chat (the body of `chat.py`)."""
    with torch.inference_mode():
        bots = load_bots(sources, device, overrides or [])
        return chat(bots)
