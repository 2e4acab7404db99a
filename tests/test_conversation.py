"""chat.py: the piped-mode contract (one reply line per input line and model), commands,
context, bad input and the error cases, driven as a subprocess like a user's script would."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from seq2seq import conversation
from seq2seq.config import DecodeConfig
from seq2seq.errors import ConfigError, UserError
from seq2seq.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "chat.py"


# Tiny models often answer nothing or a bare space; at least three distinct tokens make every
# reply visible, so a reply on the wrong line would show.
VISIBLE = ["decode.min_len=3", "decode.no_repeat_ngram=1"]
VISIBLE_ARGS = [arg for setting in VISIBLE for arg in ("--set", setting)]


@pytest.fixture(scope="module")
def runs(tiny_runs, context_run, tmp_path_factory) -> dict[str, Path]:
    """The session's tiny Transformer and GRU runs, copied under a runs/ folder, plus the
    session's GRU that reads 3 turns of context."""
    root = tmp_path_factory.mktemp("chat") / "runs"
    copies = {arch: Path(shutil.copytree(tiny_runs[arch], root / arch)) for arch in tiny_runs}
    return {**copies, "context": context_run}


def run_chat(args: list[str], stdin: bytes, cwd: Path | None = None, home: Path | None = None):
    env = {**os.environ, "HOME": str(home or cwd or ROOT)}
    return subprocess.run(
        [sys.executable, str(CHAT), *args], input=stdin, capture_output=True, cwd=cwd,
        env=env, timeout=120,
    )


def expected_replies(run: Path, messages: list[str | None]) -> list[str]:
    """What the chat must answer (with VISIBLE), computed in-process; None stands for a
    /set beam=2 line."""
    (bot,) = conversation.load_bots([str(run)], "cpu", VISIBLE)
    replies = []
    for message in messages:
        if message is None:
            bot.decode = conversation.parse_settings(bot.decode, ["beam=2"])
            replies.append("")
        else:
            replies.append(conversation.answer(bot, message, print) if message.strip() else "")
    return replies


# --- piped mode, as a script sees it ---------------------------------------------------------


def test_piped_mode_prints_one_reply_line_per_input_line(runs):
    lines = [b"hi", b"", b"how are you?", b"/set beam=2", b"caf\xc3\xa9 \xe2\x98\x95 \xff\xfe ok",
             b"   ", b"word " * 80, b"/quit", b"never answered"]
    result = run_chat(["--run", str(runs["gru"]), *VISIBLE_ARGS], b"\n".join(lines) + b"\n")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode("utf-8").split("\n")
    assert out[-1] == ""  # every reply ends with a newline
    messages = ["hi", "", "how are you?", None, "caf\u00e9 \u2615 \ufffd\ufffd ok", "   ",
                "word " * 80]
    expected = expected_replies(runs["gru"], messages)
    assert all(expected[i] for i in (0, 2, 4, 6))  # real replies, so alignment is visible
    assert out[:-1] == expected
    err = result.stderr.decode()
    assert "parameters" in err and "strategy=greedy" in err  # the banner, on stderr
    assert "strategy=beam" in err  # /set reports to stderr
    assert "data.max_src_len" in err  # the 80-word line was cut, with a notice
    assert "Traceback" not in err


def test_two_runs_answer_each_line_in_order_with_labels(runs):
    result = run_chat(
        ["--run", str(runs["transformer"]), "--checkpoint", str(runs["gru"] / "best.pt"),
         *VISIBLE_ARGS],
        b"hello\n\nwhere were you?",  # the last line has no newline: it is still answered
    )
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode().splitlines()
    labels = [line.split("]")[0] + "]" for line in out]
    assert labels == ["[transformer]", "[gru]"] * 3
    assert out[2:4] == ["[transformer] ", "[gru] "]  # the empty line
    assert all(line.split("] ", 1)[1] for line in out[:2] + out[4:])
    assert out[0] == "[transformer] " + expected_replies(runs["transformer"], ["hello"])[0]


def test_labels_nbest_save_retry_seed_and_notes_in_one_session(runs, tmp_path):
    lines = [b"hello there", b"/set top_p=0.9", b"/set sample seed=7 temperature=2",
             b"how are you?", b"/retry", b"/save chat.txt", b"/set beam=3 nbest=2",
             b"where are you going?"]
    args = ["--run", str(runs["gru"]), "--label", "G", "--threads", "1", *VISIBLE_ARGS]
    result = run_chat(args, b"\n".join(lines) + b"\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    out, err = result.stdout.decode().splitlines(), result.stderr.decode()
    assert len(out) == len(lines)  # one line per input line, /retry answering again
    assert out[1] == out[2] == out[5] == out[6] == ""
    assert all(out[i] for i in (0, 3, 4, 7))
    assert err.startswith("[G] gru, ")  # the compact banner: label, model, parameters, step
    assert "note: top_p applies to sample only; the strategy is greedy" in err
    assert "seed=7" in err and "nbest=2" in err
    hypotheses = [line for line in err.splitlines() if line.startswith("  H")]
    assert [line.split()[0] for line in hypotheses] == ["H1", "H2"]
    assert hypotheses[0].split("\t")[1] == out[7]  # the best is the reply
    assert float(hypotheses[0].split()[1]) >= float(hypotheses[1].split()[1])
    positional = [line for line in err.splitlines() if line.startswith("  P")]
    assert [line.split()[0] for line in positional] == ["P1", "P2"]
    for h_line, p_line in zip(hypotheses, positional, strict=True):
        values = [float(value) for value in p_line.split()[1:]]
        assert all(value <= 0 for value in values)
        # the token scores (eos last) summed and divided by their count (length penalty 1)
        assert sum(values) / len(values) == pytest.approx(float(h_line.split()[1]), abs=1e-3)
    transcript = (tmp_path / "chat.txt").read_text(encoding="utf-8").splitlines()
    assert transcript == ["you> hello there", f"bot> {out[0]}", "you> how are you?",
                          f"bot> {out[3]}", "you> how are you?", f"bot> {out[4]}"]
    again = run_chat(args, b"\n".join(lines) + b"\n", cwd=tmp_path)
    assert again.stdout.decode().splitlines()[3:5] == out[3:5]  # seeded: the same draws


def test_retry_replaces_the_last_exchange_in_the_context(bots, monkeypatch, capsys):
    bot = bots["context"]
    bot.turns = []
    monkeypatch.setattr(conversation, "piped_lines", lambda: iter(["hi", "/retry", "/retry"]))
    conversation.converse([bot], False, print, print)
    replies = capsys.readouterr().out.splitlines()[-3:]
    assert bot.turns == ["hi", replies[-1]]  # one exchange, the last answer


def test_more_labels_than_models_is_a_user_error(runs):
    result = run_chat(["--run", str(runs["gru"]), "--label", "a", "--label", "b"], b"")
    assert result.returncode == 2
    assert b"--label" in result.stderr and b"Traceback" not in result.stderr


def test_without_arguments_chat_uses_the_newest_run(runs):
    os.utime(runs["transformer"] / "best.pt")  # newer than the others
    result = run_chat([], b"hello\n", cwd=runs["transformer"].parents[1])
    assert result.returncode == 0, result.stderr.decode()
    assert "[transformer]" in result.stderr.decode()
    assert len(result.stdout.decode().splitlines()) == 1


# --- errors: one line, exit code 2, no traceback ---------------------------------------------


def damaged(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04 not really a zip" * 10)


def foreign(path: Path) -> None:
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, path)


@pytest.mark.parametrize(("make", "message"), [
    (None, "python train.py --config configs/tiny-transformer.yaml"),
    (damaged, "is not a seq2seq-chatbots checkpoint"),
    (foreign, "is not a seq2seq-chatbots checkpoint"),
])
def test_unusable_checkpoints_fail_with_one_clear_line(tmp_path, make, message):
    if make is not None:
        (tmp_path / "runs" / "broken").mkdir(parents=True)
        make(tmp_path / "runs" / "broken" / "best.pt")
    result = run_chat([], b"hi\n", cwd=tmp_path)
    err = result.stderr.decode().strip().splitlines()
    assert result.returncode == 2
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert result.stdout == b""


def edited(source: Path, path: Path, key: str, value) -> None:
    payload = torch.load(source, weights_only=True)
    if key == "tokenizer":
        payload["tokenizer"]["model"] = value
    else:
        payload[key] = value
    torch.save(payload, path)


@pytest.mark.parametrize(("make", "message"), [
    (lambda source, path: path.write_bytes(b""), "is not a seq2seq-chatbots checkpoint (the "
     "file is empty)"),
    (lambda source, path: path.write_bytes(os.urandom(5000)), "is not a seq2seq-chatbots "
     "checkpoint (not a PyTorch file written by train.py, or damaged)"),
    (lambda source, path: edited(source, path, "step", "ten"), "is damaged: its step 'ten' is "
     "not a step count"),
    (lambda source, path: edited(source, path, "tokenizer", b"not sentencepiece"),
     "is damaged: the tokenizer model is damaged"),
])
def test_a_bad_checkpoint_file_is_one_line_naming_it(runs, tmp_path, make, message):
    path = tmp_path / "model.pt"
    make(runs["gru"] / "best.pt", path)
    result = run_chat(["--run", str(path)], b"hi\n", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == b""
    (line,) = result.stderr.decode().splitlines()
    assert line.startswith(f"error: {path} ") and message in line
    assert "mmap" not in line and "weights_only" not in line


def test_a_bad_option_fails_with_one_clear_line(runs):
    result = run_chat(["--run", str(runs["gru"]), "--set", "decode.top_p=2"], b"hi\n")
    assert result.returncode == 2 and result.stdout == b""
    (line,) = result.stderr.decode().splitlines()
    assert line.startswith("error: config: decode.top_p")


def test_load_bots_rejects_other_sections_and_unknown_devices(runs):
    with pytest.raises(ConfigError, match="decoding settings"):
        conversation.load_bots([str(runs["gru"])], "cpu", ["model.d_model=8"])
    for device in ("nonsense", "cuda:7" if not torch.cuda.is_available() else "nonsense"):
        with pytest.raises(UserError, match="--device"):
            conversation.load_bots([str(runs["gru"])], device, [])





# What a chat never needs, so never waits for: training, evaluation and plotting libraries, the
# other commands' code, and torch's compiler (2 s; building a model on the meta device would
# import it, see seq2seq/models/weights.py).
NOT_IMPORTED = (
    "tensorboard", "torch.utils.tensorboard", "sacrebleu", "matplotlib", "torch._dynamo",
    "seq2seq.training", "seq2seq.comparison", "seq2seq.data", "seq2seq.web", "seq2seq.plots",
)


def test_a_chat_imports_no_training_plotting_or_compiler_code(runs, tmp_path):
    listing = tmp_path / "modules.txt"
    code = (
        "import atexit, runpy, sys; "
        f"atexit.register(lambda: open({str(listing)!r}, 'w').write('\\n'.join(sys.modules))); "
        f"sys.argv = ['chat.py', '--run', {str(runs['transformer'])!r}, "
        f"'--run', {str(runs['gru'])!r}]; "
        f"runpy.run_path({str(CHAT)!r}, run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", code], input=b"hi\n", capture_output=True,
                            timeout=120)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2  # both replied
    modules = listing.read_text().split()
    assert "seq2seq.conversation" in modules
    assert [m for m in modules if m.startswith(tuple(f"{n}." for n in NOT_IMPORTED))
            or m in NOT_IMPORTED] == []


# --- the logic, in-process -------------------------------------------------------------------


@pytest.fixture
def bots(runs) -> dict[str, conversation.Bot]:
    loaded = conversation.load_bots([str(runs[name]) for name in ("gru", "context")], "cpu", [])
    return dict(zip(("gru", "context"), loaded, strict=True))


def test_a_context_model_reads_the_last_turns_including_its_replies(bots):
    bot = bots["context"]
    tokenizer = bot.trained.tokenizer
    first = conversation.answer(bot, "hello", print)
    assert bot.turns == ["hello", first]
    assert conversation.encode_input(bot, "and you?", print) == tokenizer.encode_context(
        ["hello", first, "and you?"]
    )
    for text in ("one", "two", "three"):
        conversation.answer(bot, text, print)
    assert len(bot.turns) == 6  # 2 * context_turns: older turns are never read again
    assert conversation.encode_input(bot, "four", print) == tokenizer.encode_context(
        [*bot.turns[-2:], "four"]
    )


def test_a_model_without_context_reads_only_the_line(bots):
    bot = bots["gru"]
    conversation.answer(bot, "hello", print)
    encoded = conversation.encode_input(bot, "and you?", print)
    assert encoded == bot.trained.tokenizer.encode("and you?")


def test_long_inputs_drop_old_turns_first_then_keep_the_last_tokens(bots):
    bot, notes = bots["context"], []
    bot.turns = [" ".join(["an old turn"] * 30), "a reply"]
    ids = conversation.encode_input(bot, "short", notes.append)
    assert ids == bot.trained.tokenizer.encode_context(["a reply", "short"]) and not notes
    long_line = " ".join(["river"] * 100)
    ids = conversation.encode_input(bot, long_line, notes.append)
    assert ids == bot.trained.tokenizer.encode(long_line)[-64:]
    assert len(notes) == 1 and "data.max_src_len" in notes[0]


def test_set_accepts_fields_shorthands_and_rejects_bad_values():
    decode = DecodeConfig()
    beam = conversation.parse_settings(decode, ["beam=5"])
    assert (beam.strategy, beam.beam_size) == ("beam", 5)
    sampled = conversation.parse_settings(beam, ["sample", "temperature=0.7", "decode.top_k=40"])
    assert (sampled.strategy, sampled.temperature, sampled.top_k) == ("sample", 0.7, 40)
    for bad in (["temperature=0"], ["colour=blue"], ["top_k=many"], ["fast"]):
        with pytest.raises(ConfigError):
            conversation.parse_settings(decode, bad)
    assert conversation.override_decode(decode, ["decode.beam=3"]).beam_size == 3


def test_set_accepts_the_mmi_settings_and_rejects_bad_values():
    decode = DecodeConfig()
    bidi = conversation.parse_settings(decode, ["beam=5", "mmi=bidi", "mmi_lambda=0.3",
                                                "mmi_length_bonus=0.5"])
    assert (bidi.mmi, bidi.mmi_lambda, bidi.mmi_length_bonus) == ("bidi", 0.3, 0.5)
    anti = conversation.parse_settings(decode, ["mmi=antilm", "mmi_gamma=3",
                                                "mmi_lm=empty_source"])
    assert (anti.mmi, anti.mmi_gamma, anti.mmi_lm) == ("antilm", 3, "empty_source")
    ranked = conversation.parse_settings(decode, ["sample", "num_samples=8", "mmi=bidi"])
    assert (ranked.num_samples, ranked.reranks()) == (8, True)
    for bad, message in (
        (["mmi=loud"], "decode.mmi: 'loud' is not one of none, antilm, bidi"),
        (["mmi_lambda=-1"], "decode.mmi_lambda: must be >= 0"),
        (["mmi_gamma=0"], "decode.mmi_gamma: must be >= 1"),
        (["mmi_lm=bigram"], "decode.mmi_lm: 'bigram' is not one of reply_lm, empty_source"),
        (["num_samples=0"], "decode.num_samples: must be >= 1"),
        (["sample", "mmi=antilm"], "antilm works at every step of greedy or beam search"),
        (["mmi=bidi"], "bidi reranks several replies: use strategy beam, or sample with"),
    ):
        with pytest.raises(ConfigError, match=message):
            conversation.parse_settings(decode, bad)


def test_mmi_models_are_loaded_and_a_foreign_tokenizer_refused(runs, monkeypatch):
    (bot,) = conversation.load_bots([str(runs["gru"])], "cpu", [],
                                    extras={"backward": str(runs["transformer"])})
    assert bot.scorers.backward is not None and bot.scorers.reply_lm is None
    said: list[str] = []
    assert conversation.run_command("/set beam=3 mmi=bidi mmi_lambda=0.5", [bot], said.append)
    assert "mmi=bidi mmi_lambda=0.5" in said[-1]
    conversation.answer(bot, "hello", said.append)
    assert not any("note" in line for line in said)
    foreign = Tokenizer.train([f"line {i} of other text" for i in range(200)], 100, "unigram",
                              "nfkc")
    load = conversation.load_trained

    def other_tokenizer(path, device):
        trained = load(path, device=device)
        if Path(path) == runs["transformer"]:
            return dataclasses.replace(trained, tokenizer=foreign)
        return trained

    monkeypatch.setattr(conversation, "load_trained", other_tokenizer)
    with pytest.raises(UserError, match=f"^--reply-lm {runs['transformer']}/best.pt: its "
                       "tokenizer differs from the forward model's"):
        conversation.load_bots([str(runs["gru"])], "cpu", [],
                               extras={"reply_lm": str(runs["transformer"])})


def test_mmi_without_its_model_notes_it_and_decodes_without(bots):
    bot, notes = bots["gru"], []
    bot.decode = conversation.parse_settings(bot.decode, ["beam=3"])
    plain = conversation.answer(bot, "hello", notes.append)
    bot.turns = []
    bot.decode = conversation.parse_settings(bot.decode, ["mmi=bidi"])
    assert conversation.answer(bot, "hello", notes.append) == plain
    assert notes == [f"[{bot.label}] note: mmi=bidi needs a model given with --backward RUN; "
                     "decoding without MMI"]


def test_settings_are_checked_when_set_with_one_line_naming_them():
    transformer = SimpleNamespace(max_len=128)  # the positions a model config covers
    with pytest.raises(ConfigError, match="decode.max_len: 200 needs more positions .* 128"):
        conversation.parse_settings(DecodeConfig(), ["max_len=200"], transformer)
    with pytest.raises(ConfigError, match="decode.max_len: 200 needs more positions"):
        conversation.override_decode(DecodeConfig(), ["decode.max_len=200"], transformer)
    assert conversation.parse_settings(DecodeConfig(), ["max_len=128"], transformer).max_len == 128
    for bad, message in [
        (["seed=99999999999999999999999"], "seed takes a whole number from 0 to"),
        (["nbest=0"], "nbest takes a whole number from 1 to 100"),
        (["="], "/set =: expected key=value"),
        (["=5"], "/set =5: expected key=value"),
    ]:
        with pytest.raises(ConfigError, match=message) as error:
            decode_arguments, _ = conversation.split_chat_settings(bad)
            conversation.parse_settings(DecodeConfig(), decode_arguments)
        assert "--set" not in str(error.value)
    assert conversation.split_chat_settings([f"seed={2**64 - 1}"])[1] == {"seed": 2**64 - 1}


def test_set_reads_scientific_notation():
    settings = ["sample", "temperature=7e-1", "top_p=9E-1"]
    sampled = conversation.parse_settings(DecodeConfig(), settings)
    assert (sampled.temperature, sampled.top_p) == (0.7, 0.9)
    assert conversation.override_decode(DecodeConfig(), ["decode.max_len=1e2"]).max_len == 100


def test_commands(bots):
    bot, said = bots["gru"], []
    bot.turns = ["hi", "hello"]
    assert conversation.run_command("/set strategy=beam,beam_size=3", [bot], said.append)
    assert (bot.decode.strategy, bot.decode.beam_size) == ("beam", 3)
    assert conversation.run_command("/set temperature=-1", [bot], said.append)
    assert said[-1].startswith("error: config: decode.temperature") and bot.decode.beam_size == 3
    assert conversation.run_command("/reset", [bot], said.append) and bot.turns == []
    assert conversation.run_command("/frobnicate", [bot], said.append) and "/help" in said[-1]
    assert conversation.run_command("/help", [bot], said.append) and "/quit" in said[-1]
    assert not conversation.run_command("/quit", [bot], said.append)


def test_a_model_error_loses_one_reply_not_the_chat(bots, monkeypatch):
    bot, notes = bots["gru"], []

    def fail(*args, **kwargs):
        raise UserError("too long for model.max_len")

    monkeypatch.setattr(conversation, "generate", fail)
    assert conversation.answer_safely(bot, "hello", notes.append) == ""
    assert "model.max_len" in notes[0]


def test_ctrl_c_cancels_the_whole_turn_of_every_model(bots, monkeypatch):
    first, second, notes = bots["gru"], bots["context"], []
    first.turns, second.turns = ["hi", "hello"], ["a", "b"]
    real, calls = conversation.generate, []

    def interrupted_second(*args, **kwargs):  # the first model answers, Ctrl-C in the second
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(conversation, "generate", interrupted_second)
    assert conversation.answer_turn([first, second], "how are you?", notes.append) is None
    assert first.turns == ["hi", "hello"] and second.turns == ["a", "b"]  # no trace left
    assert notes == ["turn cancelled"]


def test_labels_name_the_run_the_model_and_a_non_best_checkpoint(bots):
    assert bots["gru"].label == "gru"
    trained = bots["context"].trained
    assert conversation.label_of(trained) == "gru-context"
    trained.run_dir = Path("runs/20261122-0101")
    trained.path = trained.run_dir / "last.pt"
    assert conversation.label_of(trained) == "20261122-0101 gru last"


# --- interactive mode, on a pseudo-terminal ----------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_interactive_session_prompts_replies_and_ends_on_ctrl_d(runs, tmp_path):
    import pty
    import select

    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, str(CHAT), "--run", str(runs["gru"])],
        stdin=terminal, stdout=terminal, stderr=terminal, env={**os.environ, "HOME": str(tmp_path)},
    )
    os.close(terminal)
    seen = b""

    def wait_for_prompt(count: int) -> None:
        nonlocal seen
        while seen.count(b"you> ") < count and process.poll() is None:
            if select.select([controller], [], [], 60)[0]:
                try:
                    seen += os.read(controller, 4096)
                except OSError:
                    return

    for count, keys in enumerate([b"hello there\n", b"\n", b"/set beam=2\n", b"\x04"], start=1):
        wait_for_prompt(count)
        os.write(controller, keys)  # the last one is Ctrl-D, which ends the chat
    assert process.wait(timeout=120) == 0
    os.close(controller)
    text = seen.decode(errors="replace")
    assert "parameters" in text and "bot> " in text and "strategy=beam" in text
    assert text.count("bot> ") == 1  # the empty line and the commands got no reply
    history = tmp_path / ".cache" / "seq2seq-chatbots" / "chat_history"
    assert "hello there" in history.read_text()


def test_a_cancelled_turn_prints_no_empty_reply_in_the_terminal(bots, monkeypatch, capsys):
    monkeypatch.setattr(conversation, "prompted_lines", lambda: iter(["hello", "again"]))
    answers = iter([None, ["fine"]])  # Ctrl-C during the first turn, then a reply
    monkeypatch.setattr(conversation, "answer_turn", lambda *args: next(answers))
    conversation.converse([bots["gru"]], True, print, print)
    assert capsys.readouterr().out.splitlines() == ["bot> fine"]
