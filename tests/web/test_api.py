"""The JSON API through a real HTTP client, against a server on 127.0.0.1 with tiny trained
runs: the runs it lists, every run's reply (the terminal chat's reply), context, settings,
concurrent requests, and every bad request refused with a 400 while the server keeps serving."""

from __future__ import annotations

import threading
import time

import pytest

from seq2seq import conversation
from seq2seq.errors import UserError

from .helpers import VISIBLE, call, expected_replies, running


def assert_still_serving(url: str) -> None:
    status, body, _ = call(url, "POST", "/api/reply", {"message": "still there?"})
    assert status == 200 and len(body["replies"]) == 2


def test_runs_lists_each_run_with_its_architecture_and_settings(pair_url, pair):
    status, body, _ = call(pair_url, "GET", "/api/runs")
    assert status == 200
    assert [run["label"] for run in body["runs"]] == ["transformer", "gru"]
    assert [run["arch"] for run in body["runs"]] == ["transformer", "gru"]
    (bot,) = conversation.load_bots([str(pair[1])], "cpu", VISIBLE)
    gru = body["runs"][1]
    assert gru["parameters"] == bot.trained.model.num_parameters()
    assert gru["steps"] == bot.trained.step and gru["checkpoint"] == "best.pt"
    assert gru["settings"]["strategy"] == "greedy"  # the default
    assert gru["settings"]["min_len"] == 3  # --set decode.min_len=3 reached the page
    assert body["strategies"] == ["greedy", "beam", "sample"]
    assert body["choices"]["mmi"] == ["none", "antilm", "bidi"]
    assert body["choices"]["mmi_lm"] == ["reply_lm", "empty_source"]
    assert gru["settings"]["mmi"] == "none" and gru["settings"]["num_samples"] == 1
    assert body["limits"]["message_chars"] == 1000
    assert body["limits"]["max_len"] == 128  # the tiny Transformer's positions, not 256


def test_every_run_replies_as_the_terminal_chat_does(pair_url, pair):
    status, body, _ = call(pair_url, "POST", "/api/reply", {"message": "  hello there "})
    assert status == 200
    replies = body["replies"]
    assert [reply["label"] for reply in replies] == ["transformer", "gru"]
    for reply, run in zip(replies, pair, strict=True):
        (expected,) = expected_replies(run, ["hello there"])
        assert reply["reply"] == expected and expected  # a visible reply, the same one
        assert reply["turns"] == ["hello there", expected]
        assert 0 < reply["seconds"] < 60 and reply["notes"] == []


def test_the_conversation_keeps_context(context_run, monkeypatch):
    sources = []
    generate = conversation.generate

    def spy(model, src, *args, **kwargs):
        sources.append(src[0].tolist())
        return generate(model, src, *args, **kwargs)

    monkeypatch.setattr(conversation, "generate", spy)
    bots = conversation.load_bots([str(context_run)], "cpu", VISIBLE)
    tokenizer = bots[0].trained.tokenizer
    with running(bots) as url:
        _, first, _ = call(url, "POST", "/api/reply", {"message": "hello"})
        turns = [first["replies"][0]["turns"]]
        _, second, _ = call(url, "POST", "/api/reply", {"message": "and you?", "turns": turns})
    replies = [first["replies"][0]["reply"], second["replies"][0]["reply"]]
    monkeypatch.setattr(conversation, "generate", generate)
    assert replies == expected_replies(context_run, ["hello", "and you?"])
    assert sources[1] == tokenizer.encode_context(["hello", replies[0], "and you?"])
    assert second["replies"][0]["turns"] == ["hello", replies[0], "and you?", replies[1]]


def test_settings_apply_to_every_run_for_that_request_only(pair_url, pair):
    settings = {"strategy": "beam", "beam_size": 2}
    _, beam, _ = call(pair_url, "POST", "/api/reply", {"message": "hi", "settings": settings})
    _, greedy, _ = call(pair_url, "POST", "/api/reply", {"message": "hi"})
    for run, with_beam, without in zip(pair, beam["replies"], greedy["replies"], strict=True):
        assert with_beam["reply"] == expected_replies(run, ["hi"], ("decode.beam=2",))[0]
        assert without["reply"] == expected_replies(run, ["hi"])[0]


def test_mmi_settings_apply_as_in_the_terminal_chat(pair_url, pair):
    settings = {"mmi": "antilm", "mmi_lm": "empty_source", "mmi_lambda": 0.5, "mmi_gamma": 3}
    _, body, _ = call(pair_url, "POST", "/api/reply", {"message": "hi", "settings": settings})
    chat = tuple(f"decode.{key}={value}" for key, value in settings.items())
    for run, reply in zip(pair, body["replies"], strict=True):
        assert reply["reply"] == expected_replies(run, ["hi"], chat)[0]
        assert reply["notes"] == []


def test_mmi_without_its_model_answers_with_a_note(pair_url):
    settings = {"strategy": "beam", "mmi": "bidi"}
    status, body, _ = call(pair_url, "POST", "/api/reply", {"message": "hi", "settings": settings})
    assert status == 200
    for reply in body["replies"]:
        assert reply["notes"] == [f"[{reply['label']}] note: mmi=bidi needs a model given with "
                                  "--backward RUN; decoding without MMI"]


def test_a_run_that_fails_answers_empty_with_a_note_and_the_others_still_reply(
    pair_url, monkeypatch
):
    # settings beyond a model are refused when set (a 400); a failure while replying, here
    # the Transformer's, loses its reply only
    generate = conversation.generate

    def transformer_fails(model, *args, **kwargs):
        if "Transformer" in type(model).__name__:
            raise UserError("the model failed")
        return generate(model, *args, **kwargs)

    monkeypatch.setattr(conversation, "generate", transformer_fails)
    status, body, _ = call(pair_url, "POST", "/api/reply", {"message": "hi"})
    transformer, gru = body["replies"]
    assert status == 200
    assert transformer["reply"] == "" and "the model failed" in transformer["notes"][0]
    assert transformer["turns"] == []  # the failed exchange does not join the context
    assert gru["reply"] and gru["turns"][0] == "hi"


def test_concurrent_requests_get_their_own_replies_one_model_call_at_a_time(
    pair, pair_url, monkeypatch
):
    active, most = [0], [0]
    generate = conversation.generate

    def slow(*args, **kwargs):
        active[0] += 1
        most[0] = max(most[0], active[0])
        time.sleep(0.02)  # long enough for another thread to come in, were it let in
        try:
            return generate(*args, **kwargs)
        finally:
            active[0] -= 1

    monkeypatch.setattr(conversation, "generate", slow)
    messages = ["hello", "who are you?", "where is it?", "no", "what time is it?", "go away"]
    results: dict[str, list[str]] = {}

    def ask(message: str) -> None:
        _, body, _ = call(pair_url, "POST", "/api/reply", {"message": message})
        results[message] = [reply["reply"] for reply in body["replies"]]

    threads = [threading.Thread(target=ask, args=(message,)) for message in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.setattr(conversation, "generate", generate)
    assert most[0] == 1
    for message in messages:
        assert results[message] == [expected_replies(run, [message])[0] for run in pair]


@pytest.mark.parametrize(("body", "message"), [
    ({}, '"message" is missing'),
    ({"message": ""}, '"message" is empty'),
    ({"message": " \n\t "}, '"message" is empty'),
    ({"message": 5}, '"message" must be a string, not a number'),
    ({"message": "x" * 1001}, '"message" has 1,001 characters; at most 1,000'),
    (["hello"], "must be a JSON object"),
    ({"message": "hi", "history": []}, "unknown field 'history'"),
    ({"message": "hi", "settings": "beam"}, '"settings" must be an object'),
    ({"message": "hi", "settings": {"colour": "blue"}}, "decode.colour: unknown key"),
    ({"message": "hi", "settings": {"temperature": 0}}, "decode.temperature: must be >= 0.0001"),
    ({"message": "hi", "settings": {"top_k": "many"}}, "decode.top_k: 'many' is not an integer"),
    ({"message": "hi", "settings": {"strategy": "fast"}}, "decode.strategy"),
    # the Transformer covers 128 positions: named when set, not blamed on the next message
    ({"message": "hi", "settings": {"max_len": 129}},
     "decode.max_len: 129 needs more positions than the model covers (model.max_len is 128)"),
    ({"message": "hi", "settings": {"beam_size": 99}}, "beam_size is at most 16"),
    ({"message": "hi", "settings": {"mmi": "loud"}}, "decode.mmi: 'loud' is not one of"),
    ({"message": "hi", "settings": {"mmi_lambda": -1}}, "decode.mmi_lambda: must be >= 0"),
    ({"message": "hi", "settings": {"mmi": "antilm", "strategy": "sample"}},
     "decode.mmi: antilm works at every step of greedy or beam search"),
    ({"message": "hi", "settings": {"strategy": "sample", "num_samples": 99}},
     "num_samples is at most 32"),
    ({"message": "hi", "turns": [["hello", "hi"]]}, "list of 2 list(s) of strings"),
    ({"message": "hi", "turns": [[1], []]}, "list of 2 list(s) of strings"),
    ({"message": "hi", "turns": "hello"}, "list of 2 list(s) of strings"),
])
def test_bad_requests_get_a_400_naming_the_problem(pair_url, body, message):
    status, answer, _ = call(pair_url, "POST", "/api/reply", body)
    assert status == 400
    assert message in answer["error"]
    assert_still_serving(pair_url)
