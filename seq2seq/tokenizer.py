"""The subword tokenizer: text normalisation followed by a sentencepiece model.

Both models read the same ids: pad=0, unk=1, bos=2, eos=3 and a `<sep>` symbol that joins the
turns of a multi-turn context. `encode` normalises before sentencepiece sees the text, so a line
typed into the chat gets exactly the treatment the training data got.

Normalisations (`data.normalize`):
    raw:      the text as written: sentencepiece's identity rule (full-width punctuation,
              ligatures and compatibility characters kept); only whitespace is collapsed.
    nfkc:     sentencepiece's default rule (NFKC, "nmt_nfkc"): compatibility characters folded
              (full-width "？" -> "?", "ﬁ" -> "fi"); whitespace collapsed.
    tutorial: the PyTorch Chatbot Tutorial's: accents stripped to ASCII, lowercased, `.!?`
              split from words, every other non-letter turned into a space, spaces collapsed.

References: Kudo & Richardson, 2018, "SentencePiece: A simple and language independent subword
tokenizer"; Kudo, 2018, "Subword regularization" (the unigram model); Inkawhich, "Chatbot
Tutorial", pytorch.org/tutorials/beginner/chatbot_tutorial.html (the `tutorial` normalisation).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from seq2seq.errors import UserError

NORMALIZATIONS = ("raw", "nfkc", "tutorial")
# the sentencepiece normalisation rule each mode trains with (stored in the model file)
SPM_RULES = {"raw": "identity", "nfkc": "nmt_nfkc", "tutorial": "nmt_nfkc"}
MODEL_TYPES = ("unigram", "bpe")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SEP_PIECE = "<sep>"
# sentencepiece's result depends on the number of threads that count pieces, so it is fixed:
# the same texts give the same model on every machine.
TRAIN_THREADS = 4
TRAIN_SEED = 1234  # sentencepiece's own generator (used when it samples), seeded all the same
# sentencepiece's default max_sentence_length in bytes: it skips longer sentences, and fails
# (INTERNAL, "!sentences_.empty()") when that leaves none.
SPM_SENTENCE_BYTES = 4192


def normalize_text(text: str, mode: str) -> str:
    """Apply a `data.normalize` mode to one utterance (see the module docstring)."""
    if mode in ("raw", "nfkc"):
        return text.strip()
    if mode == "tutorial":
        decomposed = unicodedata.normalize("NFD", text.lower().strip())
        text = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
        text = re.sub(r"([.!?])", r" \1", text)
        text = re.sub(r"[^a-zA-Z.!?]+", " ", text)
        return re.sub(r"\s+", " ", text).strip()
    raise UserError(f"unknown normalisation {mode!r} (known: {', '.join(NORMALIZATIONS)})")


class Tokenizer:
    """A trained sentencepiece model plus the normalisation applied before it."""

    pad_id = PAD_ID
    unk_id = UNK_ID
    bos_id = BOS_ID
    eos_id = EOS_ID

    def __init__(self, model: bytes, normalize: str) -> None:
        """Wrap a serialized sentencepiece model (`to_bytes()` output)."""
        if normalize not in NORMALIZATIONS:
            raise UserError(
                f"tokenizer normalisation {normalize!r} is not one of {', '.join(NORMALIZATIONS)}"
            )
        self.processor = spm.SentencePieceProcessor()
        try:
            self.processor.LoadFromSerializedProto(model)
        except RuntimeError:
            raise UserError("the tokenizer model is damaged (not a sentencepiece model)") from None
        self.model = model
        self.normalize = normalize
        self.sep_id = self.processor.piece_to_id(SEP_PIECE)
        expected = (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
        found = (
            self.processor.pad_id(),
            self.processor.unk_id(),
            self.processor.bos_id(),
            self.processor.eos_id(),
        )
        if found != expected or self.sep_id == UNK_ID:
            raise UserError(
                "the tokenizer model was not made by Tokenizer.train "
                f"(special ids {found}, expected {expected} and a {SEP_PIECE} piece)"
            )

    @property
    def vocab_size(self) -> int:
        """The real number of pieces (may be below the requested `data.vocab_size`)."""
        return self.processor.get_piece_size()

    def normalize_text(self, text: str) -> str:
        """The text as the model sees it, before subword splitting."""
        return normalize_text(text, self.normalize)

    def encode(self, text: str) -> list[int]:
        """Normalise and split one utterance into ids, without bos/eos."""
        return self.processor.encode(self.normalize_text(text))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """`encode` for many utterances at once (faster than a Python loop)."""
        return self.processor.encode([self.normalize_text(text) for text in texts])

    def encode_context(self, turns: list[str]) -> list[int]:
        """Encode previous turns, oldest first, joined by `sep_id` (no bos/eos).

        Turns up to the last one that encodes to nothing are left out (see `context_start`).
        """
        return join_turns(self.encode_batch(turns), self.sep_id)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to text: stops at the first eos, skips pad and bos."""
        kept = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                kept.append(i)
        return self.processor.decode(kept)

    def pieces(self, ids: Iterable[int]) -> list[str]:
        """The subword string of every id (for inspecting tokenisation and attention)."""
        return [self.processor.id_to_piece(int(i)) for i in ids]

    def to_bytes(self) -> bytes:
        """The serialized sentencepiece model (stored in checkpoints)."""
        return self.model

    @classmethod
    def from_bytes(cls, data: bytes, normalize: str) -> Tokenizer:
        return cls(data, normalize)

    def fingerprint(self) -> str:
        """SHA-256 over the model and the normalisation: equal fingerprints, equal ids."""
        digest = hashlib.sha256(self.model)
        digest.update(b"\0normalize=" + self.normalize.encode())
        return digest.hexdigest()

    def save(self, path: str | Path) -> None:
        """Write the sentencepiece model file atomically (the normalisation lives in the config)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(self.model)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path, normalize: str) -> Tokenizer:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"tokenizer model {path} does not exist")
        return cls(path.read_bytes(), normalize)

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int,
        model_type: str = "unigram",
        normalize: str = "nfkc",
    ) -> Tokenizer:
        """Train a sentencepiece model on normalised `texts`, deterministically.

        Args:
            texts: training utterances (raw; normalised here exactly as `encode` will).
            vocab_size: wanted number of pieces; a small corpus may give fewer
                (`hard_vocab_limit=False`), see `vocab_size`.
            model_type: "unigram" or "bpe".
            normalize: a `data.normalize` mode.
        """
        if model_type not in MODEL_TYPES:
            raise UserError(f"tokenizer type {model_type!r} is not one of {', '.join(MODEL_TYPES)}")
        normalized = (normalize_text(text, normalize) for text in texts)
        sentences = [text for text in normalized if text]
        if not sentences:
            raise UserError("no text to train the tokenizer on (is the training split empty?)")
        # Raised to the longest text, so that every training text is learnt from (the length
        # filters drop over-long examples later, in tokens); not passed otherwise, since the
        # model file records it: corpora without such texts give the same model as before.
        longest = max(len(text.encode("utf-8")) for text in sentences)
        limit = {"max_sentence_length": longest} if longest > SPM_SENTENCE_BYTES else {}
        model = io.BytesIO()
        spm.set_random_generator_seed(TRAIN_SEED)
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=model,
                model_type=model_type,
                normalization_rule_name=SPM_RULES[normalize],
                vocab_size=vocab_size,
                hard_vocab_limit=False,
                pad_id=PAD_ID,
                unk_id=UNK_ID,
                bos_id=BOS_ID,
                eos_id=EOS_ID,
                # A control symbol, not a user-defined one: the text "<sep>" typed in a line is
                # split like any text, so only encode_context can produce the separator.
                control_symbols=[SEP_PIECE],
                num_threads=TRAIN_THREADS,
                **limit,
                minloglevel=2,
            )
        except (RuntimeError, ValueError) as error:  # ValueError: an argument it refuses
            message = str(error).splitlines()[0] if str(error) else "unknown error"
            raise UserError(f"sentencepiece could not train the tokenizer: {message}") from None
        return cls(model.getvalue(), normalize)


def context_start(turns: list[list[int]]) -> int:
    """Index of the first turn a context keeps: the turns after the last empty one.

    An empty turn (a blank line, or one the normalisation erases) breaks the exchange, so what
    came before it is not context for what follows.
    """
    empty = [index for index, turn in enumerate(turns) if not turn]
    return empty[-1] + 1 if empty else 0


def join_turns(turns: list[list[int]], sep_id: int) -> list[int]:
    """The context format: the kept turns (see `context_start`) with `sep_id` between them."""
    ids: list[int] = []
    for turn in turns[context_start(turns) :]:
        if ids:
            ids.append(sep_id)
        ids.extend(turn)
    return ids


def empty_source(eos_id: int) -> list[int]:
    """The source of "no prompt": eos alone, a prompt that ends before it begins.

    Encoders need at least one real position (attention over none is undefined), and eos never
    occurs in a source otherwise. A reply language model (data.direction: reply_lm) trains on
    it; a forward model fed it is MMI-antiLM's cheap stand-in for one (seq2seq/mmi.py).
    """
    return [eos_id]
