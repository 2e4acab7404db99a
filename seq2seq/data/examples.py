"""Conversations -> (context, response) examples -> token ids, with every drop counted.

An example answers turn i of a conversation: its context is the previous `data.context_turns`
turns (oldest first, joined by the tokenizer's <sep>), its response is turn i. Normalisation
happens inside the tokenizer, so the ids here are exactly what `Tokenizer.encode` gives at chat
time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from seq2seq.config import DataConfig
from seq2seq.data.dialogues import Dialogues
from seq2seq.errors import UserError
from seq2seq.tokenizer import SEP_PIECE, Tokenizer, context_start, join_turns

CONTEXT_TOO_LONG = "context longer than data.max_src_len"
RESPONSE_TOO_LONG = "response longer than data.max_tgt_len"


@dataclass(frozen=True)
class Example:
    """One exchange before tokenisation: raw texts plus where they came from."""

    context: tuple[str, ...]  # previous turns, oldest first
    response: str
    group: str  # movie or TSV chain: the unit kept within one split
    turn_ids: tuple[str, ...]  # ids of the context turns, then of the response

    @property
    def response_id(self) -> str:
        return self.turn_ids[-1]


@dataclass
class Split:
    """Tokenized examples of one split; ids carry no bos/eos.

    `src_text` / `tgt_text` are the normalised texts (what `Tokenizer.decode` of the ids reads
    like, up to sentencepiece's NFKC), turns of a context joined by " <sep> ".
    """

    name: str
    src: list[np.ndarray]  # int32 (S,) context ids
    tgt: list[np.ndarray]  # int32 (T,) response ids
    src_text: list[str]
    tgt_text: list[str]

    def __len__(self) -> int:
        return len(self.src)


@dataclass
class Encoded:
    """A split plus what encoding left out and the lengths seen before the length filters."""

    split: Split
    dropped: Counter[str]
    context_lengths: list[int]  # tokens, of every example with both sides non-empty
    response_lengths: list[int]


def build_examples(dialogues: Dialogues, context_turns: int) -> list[Example]:
    """Every (previous turns, turn) pair of every conversation, before any filtering."""
    examples = []
    for conversation in dialogues.conversations:
        turns = conversation.turns
        for i in range(1, len(turns)):
            window = turns[max(0, i - context_turns) : i]
            examples.append(
                Example(
                    context=tuple(turn.text for turn in window),
                    response=turns[i].text,
                    group=conversation.group,
                    turn_ids=tuple(turn.id for turn in (*window, turns[i])),
                )
            )
    return examples


def training_texts(examples: list[Example]) -> list[str]:
    """The texts the tokenizer learns from: every context turn and response of the examples."""
    return [text for example in examples for text in (*example.context, example.response)]


def encode_examples(
    examples: list[Example], tokenizer: Tokenizer, config: DataConfig, name: str
) -> Encoded:
    """Tokenize examples and drop (counting by reason) empty sides and over-long ones."""
    unique = sorted({text for example in examples for text in (*example.context, example.response)})
    ids = dict(zip(unique, tokenizer.encode_batch(unique), strict=True))
    normalized = {text: tokenizer.normalize_text(text) for text in unique}

    split = Split(name, [], [], [], [])
    dropped: Counter[str] = Counter()
    context_lengths, response_lengths = [], []
    for example in examples:
        turns = [ids[text] for text in example.context]
        kept = example.context[context_start(turns) :]
        src = join_turns(turns, tokenizer.sep_id)
        tgt = ids[example.response]
        if not tgt:
            dropped["empty response"] += 1
            continue
        if not src:
            dropped["empty context"] += 1
            continue
        context_lengths.append(len(src))
        response_lengths.append(len(tgt))
        if len(src) > config.max_src_len:
            dropped[CONTEXT_TOO_LONG] += 1
        elif len(tgt) > config.max_tgt_len:
            dropped[RESPONSE_TOO_LONG] += 1
        else:
            split.src.append(np.asarray(src, dtype=np.int32))
            split.tgt.append(np.asarray(tgt, dtype=np.int32))
            split.src_text.append(f" {SEP_PIECE} ".join(normalized[text] for text in kept))
            split.tgt_text.append(normalized[example.response])
    return Encoded(split, dropped, context_lengths, response_lengths)


def check_not_emptied(encoded: Encoded, config: DataConfig) -> None:
    """Refuse a split that the length filters emptied, saying what each filter dropped and which
    data.max_*_len to raise (those below the split's median length, else those some exceed).

    Raises:
        UserError: the split is empty and the length filters dropped examples from it.
    """
    cut = {key: encoded.dropped[key] for key in (CONTEXT_TOO_LONG, RESPONSE_TOO_LONG)}
    if len(encoded.split) or not sum(cut.values()):
        return
    limits = (
        ("data.max_src_len", config.max_src_len, "contexts", encoded.context_lengths),
        ("data.max_tgt_len", config.max_tgt_len, "responses", encoded.response_lengths),
    )
    # The limits below most examples' length; else (each cutting a few) those that cut any.
    named = [entry for entry in limits if np.median(entry[3]) > entry[1]] or [
        entry for entry in limits if max(entry[3]) > entry[1]
    ]
    to_raise = [
        f"{key} (now {limit}; its {side} are {int(np.median(lengths))} tokens at the median, "
        f"{max(lengths)} at most)"
        for key, limit, side, lengths in named
    ]
    dropped = ", ".join(f"{count:,} with a {key}" for key, count in cut.items() if count)
    raise UserError(
        f"the {encoded.split.name} split is empty: the length filters dropped all its "
        f"{len(encoded.context_lengths):,} examples ({dropped}); raise {' and '.join(to_raise)}"
    )
