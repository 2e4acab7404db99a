import pytest

from seq2seq.comparison.text import corpus_bleu, reference_words


def test_reference_words_add_one_per_reply_for_eos():
    assert reference_words(["hello there", "", "a b c"]) == 3 + 1 + 4


def test_corpus_bleu_is_100_for_identical_text_and_reports_its_signature():
    refs = ["where are you going ?", "i am going home now ."]
    assert corpus_bleu(refs, refs).score == pytest.approx(100.0)
    assert corpus_bleu([r.upper() for r in refs], refs).score == pytest.approx(100.0)
    assert corpus_bleu(["nothing alike at all"] * 2, refs).score < 1.0
    signature = corpus_bleu(refs, refs).signature
    assert "tok:13a" in signature and "case:lc" in signature


def test_chinese_words_and_bleu_count_characters():
    assert reference_words(["我很好。", "", "ok 好"]) == 5 + 1 + 3
    refs = ["我 很 好", "今天 天气 不错"]
    hypotheses = ["我很好", "今天天气不错"]  # the same characters, written without spaces
    bleu = corpus_bleu(hypotheses, refs)
    assert bleu.score == pytest.approx(100.0) and "tok:zh" in bleu.signature
