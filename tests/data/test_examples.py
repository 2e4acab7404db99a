from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seq2seq.config import DataConfig
from seq2seq.data.cornell import read_cornell
from seq2seq.data.dialogues import Conversation, Dialogues, Turn
from seq2seq.data.examples import (
    build_examples,
    check_not_emptied,
    encode_examples,
    training_texts,
)
from seq2seq.data.tsv import read_tsv
from seq2seq.errors import UserError
from seq2seq.tokenizer import Tokenizer


def dialogues(*texts: str) -> Dialogues:
    turns = [Turn(f"L{i}", text) for i, text in enumerate(texts)]
    return Dialogues("raw", [Conversation("m0", turns)])


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    texts = ["Where were you?", "At the library.", "Until it closed?", "Yes, until nine."] * 20
    return Tokenizer.train(texts, vocab_size=100)


def test_one_turn_examples() -> None:
    examples = build_examples(dialogues("a", "b", "c"), context_turns=1)
    assert [(e.context, e.response) for e in examples] == [(("a",), "b"), (("b",), "c")]
    assert examples[1].turn_ids == ("L1", "L2") and examples[1].response_id == "L2"
    assert examples[0].group == "m0"


def test_multi_turn_context_takes_up_to_n_previous_turns() -> None:
    examples = build_examples(dialogues("a", "b", "c", "d"), context_turns=2)
    assert [e.context for e in examples] == [("a",), ("a", "b"), ("b", "c")]


def test_fixture_example_count(raw_corpus: Path) -> None:
    # 11 usable conversations of 3,2,4 | 3,2,3 | 3,3,2 | 4,2 turns: sum of (turns - 1).
    assert len(build_examples(read_cornell(raw_corpus), context_turns=1)) == 20


def test_training_texts_hold_contexts_and_responses() -> None:
    examples = build_examples(dialogues("a", "b", "c"), context_turns=2)
    assert training_texts(examples) == ["a", "b", "a", "b", "c"]


def test_encoding_keeps_ids_and_normalised_texts(tokenizer: Tokenizer) -> None:
    examples = build_examples(dialogues("Where were you?", "At the library."), 1)
    encoded = encode_examples(examples, tokenizer, DataConfig(vocab_size=100), "train")
    split = encoded.split
    assert split.name == "train" and len(split) == 1
    assert split.src[0].dtype == np.int32
    assert split.src[0].tolist() == tokenizer.encode("Where were you?")
    assert split.tgt[0].tolist() == tokenizer.encode("At the library.")
    assert (split.src_text, split.tgt_text) == (["Where were you?"], ["At the library."])
    assert not encoded.dropped


def test_context_turns_are_joined_by_sep(tokenizer: Tokenizer) -> None:
    texts = ("Where were you?", "At the library.", "Until it closed?")
    examples = build_examples(dialogues(*texts), context_turns=2)
    split = encode_examples(examples, tokenizer, DataConfig(vocab_size=100), "train").split
    assert split.src[1].tolist() == tokenizer.encode_context(list(texts[:2]))
    assert tokenizer.sep_id in split.src[1].tolist()
    assert split.src_text[1] == "Where were you? <sep> At the library."


def test_every_drop_is_counted_by_reason(tokenizer: Tokenizer) -> None:
    long = "Yes, until nine. " * 10
    examples = build_examples(dialogues("Where were you?", "", "At the library.", long, "Yes."), 1)
    config = DataConfig(vocab_size=100, max_src_len=20, max_tgt_len=20)
    encoded = encode_examples(examples, tokenizer, config, "train")
    assert encoded.dropped == {
        "empty response": 1,
        "empty context": 1,
        "response longer than data.max_tgt_len": 1,
        "context longer than data.max_src_len": 1,
    }
    assert len(encoded.split) == 0
    # Lengths are recorded before the length filters: both over-long examples are in them.
    assert max(encoded.response_lengths) > 20 and max(encoded.context_lengths) > 20


def test_tutorial_normalisation_reaches_the_texts() -> None:
    tokenizer = Tokenizer.train(
        ["where were you ?", "at the library ."] * 20, 100, "unigram", "tutorial"
    )
    examples = build_examples(dialogues("Where WERE you?", "At the library."), 1)
    config = DataConfig(vocab_size=100, normalize="tutorial")
    split = encode_examples(examples, tokenizer, config, "all").split
    assert split.src_text == ["where were you ?"]
    assert split.src[0].tolist() == tokenizer.encode("where were you?")


def test_real_tsv_rows_with_an_empty_side_are_dropped_and_counted(tokenizer: Tokenizer) -> None:
    tsv = Path(__file__).resolve().parents[3] / "shared/corpora/cornell/exchanges-25k.tsv"
    if not tsv.is_file():
        pytest.skip("the real TSV is not beside the checkout")
    examples = build_examples(read_tsv(tsv), context_turns=1)
    assert len(examples) == 25_000
    config = DataConfig(vocab_size=100, max_src_len=100_000, max_tgt_len=100_000)
    encoded = encode_examples(examples, tokenizer, config, "all")
    # 44 rows have an empty side: 25 empty replies, 25 empty prompts, 6 of them both.
    assert encoded.dropped == {"empty response": 25, "empty context": 19}
    assert len(encoded.split) == 25_000 - 44


def test_a_split_the_length_filters_emptied_is_refused_naming_what_to_raise(
    tokenizer: Tokenizer,
) -> None:
    examples = build_examples(dialogues("Hi.", "Where were you?", "Until nine."), 1)
    config = DataConfig(vocab_size=100, max_src_len=2, max_tgt_len=50)
    with pytest.raises(UserError) as error:
        check_not_emptied(encode_examples(examples, tokenizer, config, "train"), config)
    message = str(error.value)
    assert message.startswith(
        "the train split is empty: the length filters dropped all its 2 examples (2 with a "
        "context longer than data.max_src_len); raise data.max_src_len (now 2; its contexts are "
    )
    assert "max_tgt_len" not in message.split("raise ")[1] and "\n" not in message
    # both filters at work: both counted, both named
    both = DataConfig(vocab_size=100, max_src_len=10, max_tgt_len=2)  # "Hi." is 3 or 4 tokens
    encoded = encode_examples(examples, tokenizer, both, "valid")
    assert encoded.dropped["context longer than data.max_src_len"]
    assert encoded.dropped["response longer than data.max_tgt_len"]
    with pytest.raises(UserError) as error:
        check_not_emptied(encoded, both)
    # raising data.max_tgt_len alone keeps the example whose context fits: only it is named
    assert "(1 with a context longer than data.max_src_len, 1 with a response longer " in str(
        error.value
    )
    assert str(error.value).split("; raise ")[1].startswith("data.max_tgt_len (now 2;")
    assert "and" not in str(error.value).split("; raise ")[1]
    # a split that keeps one example, or lost its examples otherwise, is not this error
    check_not_emptied(encode_examples(examples, tokenizer, DataConfig(vocab_size=100), "test"),
                      DataConfig(vocab_size=100))
