import numpy as np
import pytest
import torch

from seq2seq.batching import collate
from seq2seq.checkpoint import load_trained
from seq2seq.comparison.scoring import eval_batches, teacher_forced, timed_replies
from seq2seq.data import prepare_data
from seq2seq.decoding import Decoding, greedy
from seq2seq.metrics import Accumulator


@pytest.fixture(scope="module")
def gru_and_test_split(tiny_runs, data_cache, exchanges_corpus):
    trained = load_trained(tiny_runs["gru"])
    split = prepare_data(trained.config.data, exchanges_corpus, cache_dir=data_cache)
    return trained, split.splits["test"]


def test_per_example_sums_add_up_to_the_training_metrics(gru_and_test_split):
    trained, split = gru_and_test_split
    tok = trained.tokenizer
    batches = eval_batches(split.src, split.tgt, batch_size=4)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(split)))
    scores = teacher_forced(trained.model, tok, split.src, split.tgt, batches)
    assert scores.n_tokens.tolist() == [len(t) + 1 for t in split.tgt]  # eos counts
    # The whole split as one batch through the training code's accumulator.
    batch = collate(split.src, split.tgt, pad_id=tok.pad_id, bos_id=tok.bos_id, eos_id=tok.eos_id)
    totals = Accumulator()
    with torch.no_grad():
        totals.add(trained.model(batch.src, batch.src_mask, batch.tgt_in), batch.tgt_out,
                   tok.pad_id)
    expected = totals.result()
    assert scores.loss == pytest.approx(expected["loss"], rel=1e-5)
    assert scores.accuracy == pytest.approx(expected["token_acc"])


def test_greedy_replies_come_back_in_example_order(gru_and_test_split):
    trained, split = gru_and_test_split
    tok = trained.tokenizer
    batches = eval_batches(split.src, None, batch_size=3)
    decoding = Decoding.plain_greedy(8, tok)
    replies = timed_replies(trained.model, tok, split.src, batches, decoding)
    assert replies.seconds > 0 and replies.per_second == len(split) / replies.seconds
    for src, reply in zip(split.src, replies.tokens, strict=True):
        one = torch.tensor([src.tolist()])
        alone = greedy(trained.model, one, torch.ones_like(one, dtype=torch.bool), decoding)
        assert reply == alone.tokens[0]
