"""Chat with one trained model, or with several side by side.

A model is rebuilt from its checkpoint alone (`load_trained`, as nanoGPT's `sample.py` does)
and answers each input line through `seq2seq.decoding.generate`:

    python chat.py                              # the newest run under runs/, else the
                                                # pretrained pair shipped in pretrained/
    python chat.py --run runs/A --run runs/B    # both answer every line, each labelled
    printf 'hi\\nhow are you?\\n' | python chat.py --run runs/A   # one reply line per input

Interactive (stdin is a terminal): a prompt with line editing and a history file, commands
/help, /reset, /retry, /save, /set, /quit; an empty line prompts again; Ctrl-C cancels the turn
being generated (every model's reply to that line), Ctrl-D or /quit ends the chat.

The MMI settings (decode.mmi, mmi_lambda, ...: docs/mmi.md) read the extra models given as
`extras` (chat.py's --backward and --reply-lm); a setting whose model is missing decodes without
MMI and says so in a note with every reply.

Besides the `decode` fields, /set takes two chat settings, as in fairseq-interactive and
ParlAI: `nbest=N` (beam search: the N best replies with their scores and each token's
log-probability, fairseq-interactive's H and P lines) and
`seed=N` (sampling draws from a generator seeded with N, so a session can be repeated).

Piped (stdin is not a terminal): stdout carries replies only, so scripts can pair them with
their inputs: every input line gives exactly one line per model, the reply itself with one
model and `[label] reply` with several. An empty line gives an empty reply. A line starting
with / is a command: it runs (its messages go to stderr) and, like an empty line, gives empty
replies, except /quit, which ends the input, and /retry, which answers the last line again
(one line per model). The banner and all notices go to stderr; with nbest > 1 the best reply
is the reply line and the n-best list (H and P lines) goes to stderr.

A model trained with context (`data.context_turns` > 1) sees the last turns of the
conversation, its own replies included, joined by the tokenizer's separator, as in training.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import torch

from seq2seq.checkpoint import Trained, load_trained
from seq2seq.config import Config, DecodeConfig, parse_settings
from seq2seq.decoding import Decoding, token_scores
from seq2seq.device import resolve_device, set_threads
from seq2seq.errors import ConfigError, UserError
from seq2seq.mmi import Scorers, check_tokenizers, generate, missing_note
from seq2seq.runs import BEST, PRETRAINED, SHIPPED, find_latest_run, shipped_pair

HISTORY_FILE = Path.home() / ".cache" / "seq2seq-chatbots" / "chat_history"
HISTORY_LENGTH = 1000
HELP = """commands:
  /help                 this list
  /reset                forget the conversation so far (context models start afresh)
  /retry                answer the last line again (a new draw when sampling)
  /save FILE            write the conversation so far to FILE
  /set                  show the decoding settings
  /set key=value ...    change them: any decode field (strategy, max_len, min_len, beam_size,
                        length_penalty, no_repeat_ngram, temperature, top_k, top_p,
                        repetition_penalty, num_samples, mmi, mmi_lambda, mmi_gamma, mmi_lm,
                        mmi_length_bonus); beam=5 means strategy=beam beam_size=5, and a
                        strategy name alone (greedy, beam, sample) switches to it;
                        nbest=3 shows the 3 best beam replies with their scores;
                        seed=42 makes sampling repeatable (seed=none: unseeded)
  /quit                 end the chat (as does Ctrl-D)"""
# The settings that only one strategy reads; the others apply to every strategy.
STRATEGY_OF = {
    "beam_size": "beam", "length_penalty": "beam", "nbest": "beam",
    "temperature": "sample", "top_k": "sample", "top_p": "sample", "seed": "sample",
    "num_samples": "sample",
}
CHAT_SETTINGS = ("nbest", "seed")  # the chat's own, not fields of DecodeConfig
# torch.Generator.manual_seed takes at most 64 bits; an n-best list is read by a person
MAX_CHAT_SETTING = {"nbest": 100, "seed": 2**64 - 1}

Notify = Callable[[str], None]


@dataclass
class Bot:
    """A loaded model, its decoding settings and its side of the conversation."""

    trained: Trained
    label: str
    decode: DecodeConfig
    turns: list[str] = field(default_factory=list)  # oldest first, user and bot alternating
    scorers: Scorers = field(default_factory=Scorers)  # the extra models of MMI decoding
    nbest: int = 1  # beam search: show this many best replies
    seed: int | None = None  # sampling: the seed of `generator` (None: torch's global one)
    generator: torch.Generator | None = None
    # the last n-best list: (reply, score, each token's log-probability)
    alternatives: list[tuple[str, float, list[float]]] = field(default_factory=list)

    @property
    def config(self) -> Config:
        return self.trained.config


def load_bots(
    sources: list[str], device: str, overrides: list[str], labels: list[str] | None = None,
    extras: dict[str, str] | None = None,
) -> list[Bot]:
    """Load every run folder or checkpoint in `sources` (when empty: `default_models`).

    Args:
        sources: run folders or .pt files, in the order their replies are shown.
        device: a torch device name ("auto", "cpu", "cuda", "cuda:1", "mps").
        overrides: `decode.key=value` strings applied to every model's decoding settings.
        labels: names for the first len(labels) models (default: `label_of`).
        extras: MMI's extra models by role ("backward", "reply_lm"): run folders or .pt files,
            each refused unless its tokenizer is every model's.
    """
    labels = labels or []
    if len(labels) > max(len(sources), 1):
        raise UserError(
            f"{len(labels)} --label for {len(sources)} --run/--checkpoint: give at most one "
            "label per model, in the same order"
        )
    device = resolve_device(device)
    paths = [Path(source) for source in sources] or default_models()
    extra = {role: load_trained(path, device=device) for role, path in (extras or {}).items()}
    scorers = Scorers(**{role: trained.model for role, trained in extra.items()})
    bots = []
    for i, path in enumerate(paths):
        trained = load_trained(path, device=device)
        check_tokenizers(trained, extra)
        decode = override_decode(trained.config.decode, overrides, trained.config.model)
        label = labels[i] if i < len(labels) else label_of(trained)
        bots.append(Bot(trained, label, decode, scorers=scorers))
    return bots


def default_models(runs_dir: Path = Path("runs"), shipped: Path = PRETRAINED) -> list[Path]:
    """The newest run under `runs_dir`; without one, the pretrained pair under `shipped`.

    Raises:
        UserError: neither is there (saying how to train a model).
    """
    try:
        return [find_latest_run(runs_dir)]
    except UserError:
        pair = shipped_pair(shipped)
        if not pair:
            raise
        return pair


def override_decode(decode: DecodeConfig, overrides: list[str], model: Any = None) -> DecodeConfig:
    """Apply `--set decode.key=value` overrides (as `/set key=value`); the other sections
    are fixed by the checkpoint (`model`: its model config, which bounds decode.max_len)."""
    arguments = []
    for text in overrides:
        section, dot, argument = text.partition(".")
        if section != "decode" or not dot:
            raise ConfigError(
                f"--set {text}: chat can only change decoding settings (decode.key=value, "
                "e.g. decode.beam_size=5)"
            )
        arguments.append(argument)
    return parse_settings(decode, arguments, model)


def label_of(trained: Trained) -> str:
    """`run-folder` (plus the model name unless the folder has it, and the checkpoint name
    unless it is best.pt), e.g. `transformer-20261122-0101`."""
    label = trained.run_dir.name or str(trained.run_dir)
    arch = trained.config.model.arch
    if arch not in label:
        label = f"{label} {arch}"
    if trained.path.name not in (BEST, SHIPPED):
        label = f"{label} {trained.path.stem}"
    return label


def describe(bot: Bot) -> str:
    """The banner for one model, two lines: what it is, and how it decodes."""
    trained, data = bot.trained, bot.config.data
    context = f", reads {data.context_turns} turns" if data.context_turns > 1 else ""
    return (
        f"[{bot.label}] {bot.config.model.arch}, {trained.model.num_parameters():,} parameters, "
        f"step {trained.step:,}{context} ({trained.path})\n  decoding: {settings(bot)}"
    )


def banner(bots: list[Bot], chosen: bool) -> str:
    """Every model's `describe`, after a line saying so when, none chosen (`chosen` False),
    the shipped pretrained pair answers because runs/ holds no trained model."""
    lines = [describe(bot) for bot in bots]
    if not chosen and all(bot.trained.path.name == SHIPPED for bot in bots):
        lines.insert(0, f"no trained run under runs/: chatting with the pretrained models "
                     f"shipped in {PRETRAINED}/ (their model cards: {PRETRAINED}/*/MODEL_CARD.md)")
    return "\n".join(lines)


def settings(bot: Bot) -> str:
    """The decoding settings that matter for the bot's strategy, on one line."""
    decode = bot.decode
    shown = [f"{key}={getattr(decode, key)}" for key in
             ("strategy", "max_len", "min_len", "no_repeat_ngram", "repetition_penalty")]
    if decode.strategy == "beam":
        shown += [f"beam_size={decode.beam_size}", f"length_penalty={decode.length_penalty}",
                  f"nbest={bot.nbest}"]
    if decode.strategy == "sample":
        shown += [f"temperature={decode.temperature}", f"top_k={decode.top_k}",
                  f"top_p={decode.top_p}", f"num_samples={decode.num_samples}", f"seed={bot.seed}"]
    if decode.mmi != "none":
        shown += [f"mmi={decode.mmi}", f"mmi_lambda={decode.mmi_lambda}"]
        shown += ([f"mmi_gamma={decode.mmi_gamma}", f"mmi_lm={decode.mmi_lm}"]
                  if decode.mmi == "antilm" else [])
    if decode.reranks():
        shown.append(f"mmi_length_bonus={decode.mmi_length_bonus}")
    return " ".join(shown)


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
    note = missing_note(bot.decode, bot.scorers)
    if note:
        notify(f"[{bot.label}] {note}")
    src = torch.tensor([ids], device=trained.model.device)  # (1, S)
    src_mask = torch.ones_like(src, dtype=torch.bool)
    decoding = Decoding.of(bot.decode, trained.tokenizer)
    result = generate(
        trained.model, src, src_mask, decoding, scorers=bot.scorers, generator=bot.generator,
        nbest=bot.nbest,
    )
    reply = one_line(trained.tokenizer.decode(result.tokens[0]))
    bot.alternatives = []
    if result.nbest:
        best = result.nbest[0]
        positional = token_scores(
            trained.model, src, src_mask, [tokens for tokens, _ in best], decoding
        )
        bot.alternatives = [
            (one_line(trained.tokenizer.decode(tokens)), score, scores)
            for (tokens, score), scores in zip(best, positional, strict=True)
        ]
    bot.turns = [*bot.turns, text, reply][-2 * bot.config.data.context_turns :]
    return reply


def one_line(text: str) -> str:
    return " ".join(text.split())


def answer_safely(bot: Bot, text: str, notify: Notify) -> str:
    """`answer`, where a model error loses this reply (empty) but not the chat; Ctrl-C
    cancels the whole turn (`answer_turn`)."""
    try:
        return answer(bot, text, notify)
    except UserError as error:
        notify(f"[{bot.label}] error: {error}")
    return ""


def answer_turn(bots: list[Bot], text: str, notify: Notify) -> list[str] | None:
    """Every bot's reply to `text`; None when Ctrl-C cancelled the turn, which then leaves
    no trace in any bot's conversation."""
    before = [list(bot.turns) for bot in bots]
    try:
        return [answer_safely(bot, text, notify) for bot in bots]
    except KeyboardInterrupt:
        for bot, turns in zip(bots, before, strict=True):
            bot.turns = turns
        notify("turn cancelled")
        return None


# --- commands --------------------------------------------------------------------------------


def split_chat_settings(arguments: list[str]) -> tuple[list[str], dict[str, int | None]]:
    """`/set` arguments -> (the decode ones, the chat's own: nbest and seed, validated).

    Raises:
        ConfigError: a bad nbest or seed value.
    """
    decode_arguments, own = [], {}
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key not in CHAT_SETTINGS:
            decode_arguments.append(argument)
            continue
        if key == "seed" and value.lower() == "none":
            own[key] = None
            continue
        try:
            number = int(value)
        except ValueError:
            number = -1
        if not (1 if key == "nbest" else 0) <= number <= MAX_CHAT_SETTING[key]:
            raise ConfigError(
                f"/set {argument}: {key} takes a whole number"
                + (" from 1" if key == "nbest" else " from 0")
                + f" to {MAX_CHAT_SETTING[key]}"
                + ("" if key == "nbest" else ", or none")
            )
        own[key] = number
    return decode_arguments, own


def apply_settings(bot: Bot, arguments: list[str]) -> tuple[DecodeConfig, dict[str, int | None]]:
    """The bot's new decode config and chat settings after `/set arguments` (not applied)."""
    decode_arguments, own = split_chat_settings(arguments)
    return parse_settings(bot.decode, decode_arguments, bot.config.model), own


def inapplicable(decode: DecodeConfig, arguments: list[str]) -> list[str]:
    """The keys among `/set arguments` that the strategy in `decode` does not read."""
    keys = []
    for argument in arguments:
        key = argument.partition("=")[0].removeprefix("decode.")
        if key in STRATEGY_OF and STRATEGY_OF[key] != decode.strategy:
            keys.append(key)
    return keys


@dataclass
class Transcript:
    """The conversation as shown, for /save: `you> line` and one line per reply."""

    lines: list[str] = field(default_factory=list)
    last_input: str | None = None  # for /retry
    turns_before: list[list[str]] = field(default_factory=list)  # each bot's, before it

    def record(
        self, bots: list[Bot], text: str, replies: list[str], before: list[list[str]]
    ) -> None:
        self.lines.append(f"you> {text}")
        labelled = len(bots) > 1
        self.lines += [f"[{bot.label}] {reply}" if labelled else f"bot> {reply}"
                       for bot, reply in zip(bots, replies, strict=True)]
        self.last_input, self.turns_before = text, before


def save_transcript(transcript: Transcript, arguments: list[str], info: Notify) -> None:
    if len(arguments) != 1:
        info("usage: /save FILE")
        return
    path = Path(arguments[0]).expanduser()
    try:
        path.write_text("\n".join(transcript.lines) + "\n", encoding="utf-8")
    except OSError as error:
        info(f"error: cannot write {path} ({error.strerror or error})")
        return
    info(f"saved {len(transcript.lines)} lines to {path}")


def change_settings(bots: list[Bot], arguments: list[str], info: Notify) -> None:
    """`/set key=value ...` for every bot, all or nothing; notes the settings the current
    strategy ignores."""
    try:
        updated = [apply_settings(bot, arguments) for bot in bots]
    except ConfigError as error:
        info(f"error: {error}")
        return
    for bot, (decode, own) in zip(bots, updated, strict=True):
        bot.decode = decode
        bot.nbest = own.get("nbest", bot.nbest)
        if "seed" in own:
            bot.seed = own["seed"]
            bot.generator = None
            if bot.seed is not None:
                bot.generator = torch.Generator(bot.trained.model.device).manual_seed(bot.seed)
        info(f"[{bot.label}] {settings(bot)}")
        for key in inapplicable(decode, arguments):
            info(f"[{bot.label}] note: {key} applies to {STRATEGY_OF[key]} only; the strategy "
                 f"is {decode.strategy} (/set {STRATEGY_OF[key]} to use it)")


def run_command(
    line: str, bots: list[Bot], info: Notify, transcript: Transcript | None = None
) -> bool:
    """Run a `/command` line; False when the chat should end (/retry is `converse`'s)."""
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
            info(f"[{bot.label}] {settings(bot)}")
    elif name == "/set":
        change_settings(bots, arguments, info)
    elif name == "/save" and transcript is not None:
        save_transcript(transcript, line.split()[1:], info)
    else:
        info(f"unknown command {name} (try /help)")
    return True


# --- the two loops ---------------------------------------------------------------------------


def chat(bots: list[Bot], chosen: bool = True) -> int:
    """Talk on the terminal, or answer piped lines; returns the exit code.

    Args:
        chosen: whether the user named the models (else the banner says which were picked).
    """
    interactive = sys.stdin.isatty()
    sys.stdout.reconfigure(errors="replace")
    out: TextIO = sys.stdout if interactive else sys.stderr

    def info(text: str) -> None:
        print(text, file=out, flush=True)

    def notify(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    info(banner(bots, chosen))
    if interactive:
        info("type a line and press Enter; /help for commands, Ctrl-D to quit")
    try:
        converse(bots, interactive, info, notify)
    except BrokenPipeError:  # whoever read the replies is gone (`| head -1`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def converse(bots: list[Bot], interactive: bool, info: Notify, notify: Notify) -> None:
    """Answer every line until the input ends or /quit (see the module docstring)."""
    transcript = Transcript()
    for line in prompted_lines() if interactive else piped_lines():
        text = line.strip()
        command = text.startswith("/")
        if command and text.split()[0] == "/retry":
            if transcript.last_input is None:
                info("nothing to retry yet")
            else:  # forget the last exchange, then answer its line again
                for bot, turns in zip(bots, transcript.turns_before, strict=True):
                    bot.turns = turns
                text, command = transcript.last_input, False
        elif command and not run_command(text, bots, info, transcript):
            return
        if interactive and (command or not text):
            continue
        before = [list(bot.turns) for bot in bots]
        replies = answer_turn(bots, text, notify) if text and not command else None
        if replies is not None:
            transcript.record(bots, text, replies, before)
        elif interactive:  # Ctrl-C cancelled the turn, which "turn cancelled" said
            continue
        for i, bot in enumerate(bots):
            show(bot, "" if replies is None else replies[i], len(bots) > 1, interactive, notify)


def show(bot: Bot, reply: str, labelled: bool, interactive: bool, notify: Notify) -> None:
    """Print one reply on one stdout line, and its n-best list to stderr: per hypothesis an H
    line (rank, score, reply) and a P line (each token's log-probability, eos last), as
    fairseq-interactive prints them."""
    prefix = f"[{bot.label}] " if labelled else ("bot> " if interactive else "")
    print(f"{prefix}{reply}", flush=True)
    if len(bot.alternatives) > 1:
        for rank, (text, score, scores) in enumerate(bot.alternatives, start=1):
            notify(f"  H{rank} {score:.4f}\t{text}")
            notify(f"  P{rank} " + " ".join(f"{value:.4f}" for value in scores))
    bot.alternatives = []


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


def main(
    sources: list[str], device: str = "auto", overrides: list[str] | None = None,
    labels: list[str] | None = None, threads: int | None = None,
    extras: dict[str, str] | None = None,
) -> int:
    """Load the models and chat (the body of `chat.py`)."""
    set_threads(threads)
    with torch.inference_mode():
        bots = load_bots(sources, device, overrides or [], labels, extras)
        return chat(bots, chosen=bool(sources))
