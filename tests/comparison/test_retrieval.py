"""Prompt retrieval@1/20: PMI normalisation against a popular prompt, chance level for a reply
that is the same everywhere, and the refusal of too few examples."""

from __future__ import annotations

import pytest
import torch

from seq2seq.checkpoint import load_trained
from seq2seq.comparison import retrieval
from seq2seq.errors import UserError

PROMPTS = [f"question number {word}" for word in (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty twentyone twentytwo"
).split()]


def test_pmi_lets_each_reply_find_its_prompt_past_a_prompt_likely_after_anything(
    tiny_runs, monkeypatch
):
    evaluator = load_trained(tiny_runs["gru"])
    popular = evaluator.tokenizer.encode(PROMPTS[0])

    def likelihood(model, sources, targets, decoding):
        # log p(S | T): 0 for a reply's own prompt (the reply repeats it), -5 otherwise, and
        # +10 for one prompt whatever the reply: without PMI it would win every ranking
        return torch.tensor([(0.0 if s == t else -5.0) + (10.0 if t == popular else 0.0)
                             for s, t in zip(sources, targets, strict=True)])

    monkeypatch.setattr(retrieval, "sequence_log_probs", likelihood)
    result = retrieval.prompt_retrieval(evaluator, PROMPTS, PROMPTS, seed=0)
    assert result == retrieval.Retrieval(1.0, 20)  # 22 examples: one whole block of 20


def test_a_reply_given_to_every_prompt_retrieves_at_chance(tiny_runs):
    evaluator = load_trained(tiny_runs["gru"])
    result = retrieval.prompt_retrieval(evaluator, PROMPTS * 2, ["i do not know ."] * 44, seed=1)
    assert result == retrieval.Retrieval(pytest.approx(2 / 40), 40)  # one hit per block


def test_fewer_than_twenty_examples_are_refused(tiny_runs):
    evaluator = load_trained(tiny_runs["gru"])
    with pytest.raises(UserError, match="needs at least 20 examples, not 19"):
        retrieval.prompt_retrieval(evaluator, PROMPTS[:19], PROMPTS[:19], seed=0)
