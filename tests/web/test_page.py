"""The page in a real headless Chromium, driven as a person drives it: click the message box,
type, press Enter, read every run's reply from the page. Skipped where Chromium is absent
(`apt-get install chromium` on Debian)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from seq2seq import conversation

from .chromium import Chromium, Page, find_chromium
from .helpers import VISIBLE, expected_replies, running

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (Debian: apt-get install chromium)"
)

LAST_REPLIES = """(() => {
  const exchanges = document.querySelectorAll('#log .exchange');
  const last = exchanges[exchanges.length - 1];
  if (!last || last.querySelector('.reply.pending')) return null;
  return {
    exchanges: exchanges.length,
    you: last.querySelector('.you').textContent,
    replies: [...last.querySelectorAll('.reply')].map((card) => ({
      who: card.querySelector('.who').textContent,
      text: card.querySelector('.text').textContent,
      time: card.querySelector('.time').textContent,
    })),
  };
})()"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium.start(CHROMIUM) as chromium:
        yield chromium


def open_chat(browser: Chromium, url: str) -> Page:
    page = browser.open(url)
    page.wait_for("document.body.dataset.ready === 'true'")
    return page


def say(page: Page, message: str, exchanges: int) -> dict:
    """Click the message box, type `message`, press Enter; the exchange it adds, answered."""
    page.click("#message")
    page.type_text(message)
    page.press_enter()
    return page.wait_for(f"(() => {{ const r = {LAST_REPLIES}; "
                         f"return r && r.exchanges === {exchanges} ? r : null; }})()")


def test_a_person_types_a_message_and_reads_both_replies(browser, pair_url, pair):
    page = open_chat(browser, pair_url)
    runs = page.evaluate("[...document.querySelectorAll('#runs li')].map((li) => li.textContent)")
    assert runs[0].startswith("transformertransformer") and "parameters" in runs[0]
    shown = say(page, "hello there", exchanges=1)
    assert shown["you"] == "hello there"
    expected = [expected_replies(run, ["hello there"])[0] for run in pair]
    assert [reply["text"] for reply in shown["replies"]] == expected and all(expected)
    assert [reply["who"] for reply in shown["replies"]] == ["transformertransformer", "grugru"]
    assert all(re.fullmatch(r"\d+\.\d\d s", reply["time"]) for reply in shown["replies"])
    assert page.evaluate("document.querySelector('#message').value") == ""  # ready for more
    # The decoding settings start from the runs' own: greedy, with the --set values.
    settings = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#fields [name]')]"
        ".map((field) => [field.name, field.value]))"
    )
    assert settings["strategy"] == "greedy" and settings["min_len"] == "3"


def test_the_conversation_keeps_context_and_reset_forgets_it(browser, context_run):
    with running(conversation.load_bots([str(context_run)], "cpu", VISIBLE)) as url:
        page = open_chat(browser, url)
        first = say(page, "hello", exchanges=1)["replies"][0]["text"]
        second = say(page, "and you?", exchanges=2)["replies"][0]["text"]
        assert [first, second] == expected_replies(context_run, ["hello", "and you?"])
        page.click("#reset")
        assert page.evaluate("document.querySelectorAll('#log .exchange').length") == 0
        fresh = say(page, "and you?", exchanges=1)["replies"][0]["text"]
        assert fresh == expected_replies(context_run, ["and you?"])[0]


def test_settings_on_the_page_change_the_decoding_and_bad_ones_show_an_error(
    browser, pair_url, pair
):
    page = open_chat(browser, pair_url)
    page.click("#settings-panel summary")
    page.evaluate("document.querySelector('[name=strategy]').value = 'beam'")
    page.click("[name=beam_size]")
    page.evaluate("document.querySelector('[name=beam_size]').select()")
    page.type_text("2")
    shown = say(page, "hi", exchanges=1)
    expected = [expected_replies(run, ["hi"], ("decode.beam=2",))[0] for run in pair]
    assert [reply["text"] for reply in shown["replies"]] == expected

    page.click("[name=temperature]")
    page.evaluate("document.querySelector('[name=temperature]').select()")
    page.type_text("0")
    page.click("#message")
    page.type_text("again")
    page.press_enter()
    error = page.wait_for("!document.querySelector('#error').hidden && "
                          "document.querySelector('#error').textContent")
    assert "decode.temperature: must be >= 0.0001" in error
    assert page.evaluate("document.querySelectorAll('#log .exchange').length") == 1
    assert page.evaluate("document.querySelector('#message').value") == "again"  # not lost


def test_markup_in_a_message_is_shown_as_text_never_run(browser, pair_url):
    page = open_chat(browser, pair_url)
    message = '<b>bold</b><img src="x" onerror="window.ran = true">'
    shown = say(page, message, exchanges=1)
    assert shown["you"] == message
    assert page.evaluate("document.querySelectorAll('#log b, #log img').length") == 0
    assert page.evaluate("window.ran === undefined")
    assert len(shown["replies"]) == 2  # the runs answered it like any other line
