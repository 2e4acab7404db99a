"""compare.py --decode: several decoding settings of one run in one report, with MMI's models
and the evaluator; bad settings, missing models and foreign tokenizers refused in one line."""

from __future__ import annotations

import json

import pytest
import torch

from seq2seq.comparison.decodings import describe, parse_decodes
from seq2seq.config import DecodeConfig
from seq2seq.decoding import Decoding
from seq2seq.errors import UserError

from .test_cli import EXCHANGES, compare, retokenized_copy, table_rows

BASE = Decoding(DecodeConfig(max_len=20), 1, 2, 0)


def test_decode_settings_are_the_chat_settings_by_commas():
    parsed = parse_decodes(["greedy=greedy", "beam5=beam=5", "bidi=beam=4,mmi=bidi,mmi_lambda=0.3",
                            "plain="], BASE)
    assert [name for name, _ in parsed] == ["greedy", "beam5", "bidi", "plain"]
    configs = [decoding.config for _, decoding in parsed]
    assert configs[0] == configs[3] == BASE.config
    assert (configs[1].strategy, configs[1].beam_size, configs[1].max_len) == ("beam", 5, 20)
    assert (configs[2].mmi, configs[2].mmi_lambda, configs[2].beam_size) == ("bidi", 0.3, 4)
    assert describe(configs[2]) == "beam, beam_size=4, mmi=bidi, mmi_lambda=0.3"


@pytest.mark.parametrize(("texts", "message"), [
    (["beam"], "--decode beam: expected NAME=SETTINGS"),
    (["a b=beam"], "--decode a b=beam: expected NAME=SETTINGS"),
    (["x=beam", "x=greedy"], "--decode x=greedy: the name x is given twice"),
    (["x=mmi=loud"], "--decode x=mmi=loud: config: decode.mmi: 'loud' is not one of"),
    (["x=mmi=bidi"], "--decode x=mmi=bidi: config: decode.mmi: bidi reranks several replies"),
])
def test_bad_decode_settings_are_refused_in_one_line(texts, message):
    with pytest.raises(UserError, match=f"^{message}"):
        parse_decodes(texts, BASE)


def test_one_run_under_several_decodings_with_mmi_and_the_evaluator(
    tiny_runs, data_cache, tmp_path
):
    out, threads = tmp_path / "out", torch.get_num_threads()
    try:
        stdout = compare(
            [str(tiny_runs["transformer"]), "--decode", "greedy=greedy",
             "--decode", "antilm=mmi=antilm,mmi_lm=empty_source,mmi_lambda=0.5",
             "--decode", "bidi=beam=3,mmi=bidi,mmi_lambda=1",
             "--decode", "rank=sample,num_samples=3",
             "--backward", str(tiny_runs["gru"]), "--evaluator", str(tiny_runs["gru"]),
             "--split", "all", "--corpus", str(EXCHANGES), "--limit", "40",
             "--out", str(out), "--device", "cpu", "--speed-passes", "1", "--attention", "1",
             "--threads", "1", "--samples", "3"],
            data_cache,
        )
    finally:
        torch.set_num_threads(threads)
    labels = [f"transformer+{name}" for name in ("greedy", "antilm", "bidi", "rank")]
    rows = table_rows(stdout)
    assert rows["prompt retrieval@1/20 (--evaluator, PMI)"][0] == "40"  # n: two blocks
    report = json.loads((out / "report.json").read_text())
    assert [run["label"] for run in report["runs"]] == labels
    assert report["perplexity_differences"] == []  # one checkpoint: the same references' NLL
    for run in report["runs"]:
        assert 0.0 <= run["prompt_retrieval"] <= 1.0 and run["n_replies"] == 40
    assert report["setup"]["decoding"].startswith(
        "transformer+greedy: greedy; transformer+antilm: greedy, mmi=antilm, mmi_lm=empty_source"
    )
    assert report["setup"]["extra models"] == f"--backward {tiny_runs['gru']}"
    drawn = [path.name for path in (out / "attention").glob("*.png")]
    assert [name.split("-example")[0] for name in drawn] == ["transformer+greedy"]  # MMI and
    # reranked replies have no attention of their own to draw


def test_a_decoding_whose_model_is_missing_is_refused(tiny_runs, data_cache, tmp_path):
    with pytest.raises(UserError, match=r"^--decode bidi: mmi=bidi needs a model: pass it with "
                       r"--backward RUN$"):
        compare([str(tiny_runs["transformer"]), "--decode", "greedy=greedy",
                 "--decode", "bidi=beam=3,mmi=bidi", "--corpus", str(EXCHANGES),
                 "--out", str(tmp_path / "out"), "--device", "cpu"], data_cache)


def test_an_extra_model_with_another_tokenizer_is_refused_but_not_an_evaluator(
    tiny_runs, data_cache, tmp_path
):
    other = retokenized_copy(tiny_runs["gru"], tmp_path / "gru-120")
    with pytest.raises(UserError, match=f"^--reply-lm {other / 'best.pt'}: its tokenizer "
                       "differs from the forward model's"):
        compare([str(tiny_runs["transformer"]), str(tiny_runs["gru"]), "--reply-lm", str(other),
                 "--corpus", str(EXCHANGES), "--out", str(tmp_path / "out"), "--device", "cpu"],
                data_cache)
    # the evaluator reads the texts with its own tokenizer: trained on other data, it has one
    stdout = compare([str(tiny_runs["transformer"]), str(tiny_runs["gru"]), "--evaluator",
                      str(other), "--split", "all", "--corpus", str(EXCHANGES), "--limit", "20",
                      "--out", str(tmp_path / "judged"), "--device", "cpu", "--attention", "0",
                      "--speed-passes", "1"], data_cache)
    assert table_rows(stdout)["prompt retrieval@1/20 (--evaluator, PMI)"][0] == "20"
