"""The JSON API of the browser chat, without HTTP: what the runs are, and every run's reply to
a message, answered by `seq2seq.conversation.answer_safely` as in the terminal chat.

The server keeps no conversation: each request carries every run's turns so far (user and bot
alternating, oldest first, as `Bot.turns`) and each reply comes back with the run's turns after
the exchange, which the client sends with its next message. So a script, a reload or two
browser tabs cannot mix up conversations, and `reset` is the client forgetting its turns.

    GET  /api/runs   -> {"runs": [{"label", "arch", "checkpoint", "parameters", "steps",
                                   "context_turns", "settings": {decode field: value}}],
                         "strategies": [...], "choices": {text field: [...]}, "limits": {...}}
    POST /api/reply  {"message": "hi", "turns": [[...], ...], "settings": {"strategy": "beam"}}
                     -> {"replies": [{"label", "reply", "seconds", "turns", "notes"}]}

`turns` (one list per run, in the order of /api/runs) and `settings` (any decode fields,
applied to every run's own settings) may be left out. One request at a time uses the models.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import torch

from seq2seq.config import MMI_LMS, MMI_METHODS, STRATEGIES, DecodeConfig, make_decode
from seq2seq.conversation import Bot, answer_safely
from seq2seq.errors import ConfigError

MAX_MESSAGE_CHARS = 1000
# A page may be open to others (--host): these bound the work one request can ask for.
SETTING_LIMITS = {"max_len": 256, "beam_size": 16, "num_samples": 32}
# The settings that are words, not numbers: the page offers their values in a list.
CHOICES = {"strategy": STRATEGIES, "mmi": MMI_METHODS, "mmi_lm": MMI_LMS}
REQUEST_FIELDS = ("message", "turns", "settings")


class RequestError(Exception):
    """A request the API refuses: an HTTP status and a message for the person who sent it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class WebChat:
    """The loaded runs, answering one request at a time."""

    def __init__(self, bots: list[Bot]) -> None:
        self.bots = bots
        # The models are shared by the server's threads; a lock keeps their calls one at a time
        # (a batch of one is what the terminal chat decodes too).
        self.lock = threading.Lock()

    def runs(self) -> dict[str, Any]:
        """The body of GET /api/runs."""
        return {
            "runs": [describe_run(bot) for bot in self.bots],
            "strategies": list(STRATEGIES),
            "choices": {key: list(values) for key, values in CHOICES.items()},
            "limits": {"message_chars": MAX_MESSAGE_CHARS, **self.setting_limits()},
        }

    def setting_limits(self) -> dict[str, int]:
        """`SETTING_LIMITS`, with max_len lowered to the fewest positions a loaded model covers."""
        positions = [getattr(bot.config.model, "max_len", None) for bot in self.bots]
        covered = [limit for limit in positions if limit is not None]
        return {**SETTING_LIMITS, "max_len": min([SETTING_LIMITS["max_len"], *covered])}

    def reply(self, request: Any) -> dict[str, Any]:
        """The body of POST /api/reply: every run's reply to the request's message.

        Raises:
            RequestError: 400 naming what is wrong with the request; nothing has run.
        """
        message, turns, settings = self.parse(request)
        bots = [
            dataclasses.replace(bot, decode=apply_settings(bot, settings), turns=own)
            for bot, own in zip(self.bots, turns, strict=True)
        ]
        replies = []
        with self.lock, torch.inference_mode():  # inference mode is per thread: set it here
            for bot in bots:
                notes: list[str] = []
                start = time.perf_counter()
                reply = answer_safely(bot, message, notes.append)
                replies.append({
                    "label": bot.label,
                    "reply": reply,
                    "seconds": round(time.perf_counter() - start, 4),
                    "turns": bot.turns,
                    "notes": notes,
                })
        return {"replies": replies}

    def parse(self, request: Any) -> tuple[str, list[list[str]], dict[str, Any]]:
        """The message, each run's turns and the settings of a POST /api/reply body."""
        if not isinstance(request, dict):
            raise RequestError(400, "the request must be a JSON object with a \"message\"")
        unknown = sorted(set(request) - set(REQUEST_FIELDS))
        if unknown:
            raise RequestError(
                400, f"unknown field {unknown[0]!r} (known: {', '.join(REQUEST_FIELDS)})"
            )
        return (
            parse_message(request.get("message")),
            parse_turns(request.get("turns"), len(self.bots)),
            parse_object(request.get("settings"), "settings"),
        )


def describe_run(bot: Bot) -> dict[str, Any]:
    """What the page shows about one run."""
    trained = bot.trained
    return {
        "label": bot.label,
        "arch": bot.config.model.arch,
        "checkpoint": trained.path.name,
        "parameters": trained.model.num_parameters(),
        "steps": trained.step,
        "context_turns": bot.config.data.context_turns,
        "settings": dataclasses.asdict(bot.decode),
    }


def parse_message(message: Any) -> str:
    if message is None:
        raise RequestError(400, "\"message\" is missing: send {\"message\": \"your line\"}")
    if not isinstance(message, str):
        raise RequestError(400, f"\"message\" must be a string, not {json_type(message)}")
    message = message.strip()
    if not message:
        raise RequestError(400, "\"message\" is empty: type something to say")
    if len(message) > MAX_MESSAGE_CHARS:
        raise RequestError(
            400, f"\"message\" has {len(message):,} characters; at most {MAX_MESSAGE_CHARS:,}"
        )
    return message


def parse_turns(turns: Any, runs: int) -> list[list[str]]:
    """One list of strings per run (empty lists when `turns` is left out)."""
    if turns is None:
        return [[] for _ in range(runs)]
    shape = f"\"turns\" must be a list of {runs} list(s) of strings, one per run"
    if not isinstance(turns, list) or len(turns) != runs:
        raise RequestError(400, shape)
    for own in turns:
        if not isinstance(own, list) or not all(isinstance(turn, str) for turn in own):
            raise RequestError(400, shape)
    return turns


def parse_object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(400, f"\"{name}\" must be an object, not {json_type(value)}")
    return value


def apply_settings(bot: Bot, settings: dict[str, Any]) -> DecodeConfig:
    """The bot's decode settings with the request's, checked as the terminal chat's /set
    checks them (its model bounds max_len), and within `SETTING_LIMITS`."""
    try:
        updated = make_decode({**dataclasses.asdict(bot.decode), **settings}, bot.config.model)
    except ConfigError as error:
        raise RequestError(400, str(error)) from None
    for key, limit in SETTING_LIMITS.items():
        if getattr(updated, key) > limit:
            raise RequestError(400, f"settings: {key} is at most {limit} on the web page")
    return updated


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)
