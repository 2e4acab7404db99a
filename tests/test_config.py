"""Strict configs: every shipped file loads, and every kind of mistake names its key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from seq2seq.config import Config, config_from_dict, load_config, save_config
from seq2seq.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHIPPED = sorted(CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.model.arch in ("transformer", "gru")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("transformer.yaml", "gru.yaml"),
        ("tiny-transformer.yaml", "tiny-gru.yaml"),
        ("cpu-transformer.yaml", "cpu-gru.yaml"),
        ("protocol-cpu-transformer.yaml", "protocol-cpu-gru.yaml"),
        ("protocol-transformer.yaml", "protocol-gru.yaml"),
    ],
)
def test_paired_configs_share_data_settings(first: str, second: str) -> None:
    """Same data config => same cache key => one tokenizer and one split for both models."""
    assert load_config(CONFIGS / first).data == load_config(CONFIGS / second).data


def test_overrides_are_typed_and_applied() -> None:
    config = load_config(
        CONFIGS / "tiny-transformer.yaml",
        ["model.n_layers=3", "train.lr=0.01", "train.compile=true", "data.vocab_size=500"],
    )
    assert config.model.n_layers == 3
    assert config.train.lr == 0.01
    assert config.train.compile is True
    assert config.data.vocab_size == 500


def test_int_is_accepted_where_a_float_is_expected() -> None:
    config = load_config(CONFIGS / "tiny-gru.yaml", ["train.clip_norm=5"])
    assert config.train.clip_norm == 5.0 and isinstance(config.train.clip_norm, float)


def test_configs_are_frozen() -> None:
    config = load_config(CONFIGS / "tiny-gru.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.bogus=1", "model.bogus"),
        ("train.bogus=1", "train.bogus"),
        ("model.n_layers=two", "model.n_layers"),
        ("model.n_layers=2.5", "model.n_layers"),
        ("train.compile=3", "train.compile"),
        ("model.d_model=65", "model.d_model"),
        ("model.dropout=1.0", "model.dropout"),
        ("model.dropout=-0.1", "model.dropout"),
        ("data.vocab_size=10", "data.vocab_size"),
        ("data.vocab_size=999999999999", "data.vocab_size"),  # sentencepiece: not an int32
        ("data.normalize=lower", "data.normalize"),
        ("decode.strategy=best", "decode.strategy"),
        ("decode.top_p=0", "decode.top_p"),
        ("decode.temperature=1e-40", "decode.temperature"),  # logits / t would overflow
        ("decode.length_penalty=1000", "decode.length_penalty"),  # length ** 1000 would too
        ("train.label_smoothing=1.5", "train.label_smoothing"),
        ("data.filter=generic", "data.filter"),
        ("data.filter_threshold=-1", "data.filter_threshold"),
        ("train.loss=focal", "train.loss"),
        ("train.face_weighting=mid", "train.face_weighting"),
        ("train.face_strength=1.5", "train.face_strength"),
        ("train.teacher_forcing=1.5", "train.teacher_forcing"),
        ("train.teacher_forcing_feed=beam", "train.teacher_forcing_feed"),
    ],
)
def test_bad_values_name_their_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(CONFIGS / "tiny-transformer.yaml", [override])
    message = str(error.value)
    assert key in message
    assert "\n" not in message


@pytest.mark.parametrize("override", ["nokey", "model=1", "a.b.c=1", "nosection.key=1"])
def test_malformed_overrides_are_rejected(override: str) -> None:
    with pytest.raises(ConfigError):
        load_config(CONFIGS / "tiny-transformer.yaml", [override])


def test_model_flag_must_agree_with_the_file() -> None:
    with pytest.raises(ConfigError, match="model.arch"):
        load_config(CONFIGS / "gru.yaml", arch="transformer")


def test_unknown_architecture_and_section() -> None:
    with pytest.raises(ConfigError, match="unknown architecture"):
        config_from_dict({"model": {"arch": "lstm"}})
    with pytest.raises(ConfigError, match="optim"):
        config_from_dict({"model": {"arch": "gru"}, "optim": {}})


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_saved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(CONFIGS / "gru.yaml", ["model.attention=concat"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config
    assert config_from_dict(config.to_dict()) == config


@pytest.mark.parametrize("value", [5, [1, 2], "gru"])
def test_a_section_that_is_not_a_mapping_names_the_section(value) -> None:
    with pytest.raises(ConfigError, match="config: data: must be a mapping"):
        config_from_dict({"model": {"arch": "gru"}, "data": value})


def test_overrides_fill_a_section_left_empty_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("model:\n  arch: gru\ndata:\n")
    assert load_config(path, ["data.vocab_size=200"]).data.vocab_size == 200


@pytest.mark.parametrize("name", ["tiny-transformer.yaml", "tiny-gru.yaml"])
def test_both_models_take_the_same_teacher_forcing_knob_and_decay(name: str) -> None:
    overrides = ["train.teacher_forcing=0.9", "train.teacher_forcing_final=0.5",
                 "train.teacher_forcing_decay_steps=100", "train.teacher_forcing_feed=sample"]
    train = load_config(CONFIGS / name, overrides).train
    assert (train.teacher_forcing, train.teacher_forcing_final) == (0.9, 0.5)
    assert train.teacher_forcing_feed == "sample"


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("train.lr=5e-4", "lr", 5e-4),
        ("train.lr=3E-4", "lr", 3e-4),
        ("train.lr=.5e-3", "lr", 5e-4),
        ("train.clip_norm=1e1", "clip_norm", 10.0),
        ("train.max_steps=1e6", "max_steps", 1_000_000),
        ("train.max_steps=2.0e+3", "max_steps", 2000),
    ],
)
def test_scientific_notation_is_a_number(override: str, key: str, expected: float) -> None:
    # YAML 1.1 (safe_load) reads 5e-4 and 1e6 as strings
    config = load_config(CONFIGS / "tiny-transformer.yaml", [override])
    value = getattr(config.train, key)
    assert value == expected and type(value) is type(expected)


def test_scientific_notation_in_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "sci.yaml"
    path.write_text("model:\n  arch: gru\ntrain:\n  lr: 3e-4\n  max_steps: 1e3\n", "utf-8")
    config = load_config(path)
    assert config.train.lr == 3e-4 and config.train.max_steps == 1000


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("train.max_steps=1.5e0", "not an integer"),
        ("train.max_steps=2.5", "not an integer"),
        ("train.lr=.inf", "not a number"),
        ("train.lr=1e-4x", "not a number"),
        ("train.lr=inf", "not a number"),
        ("train.lr=nan", "not a number"),
        ("train.lr=e5", "not a number"),
    ],
)
def test_strings_that_are_not_numbers_are_still_refused(override: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_config(CONFIGS / "tiny-transformer.yaml", [override])


def test_an_empty_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    for text in ("", "# only a comment\n"):
        path.write_text(text, "utf-8")
        with pytest.raises(ConfigError, match="empty"):
            load_config(path, arch="gru")


def test_a_config_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("model:\n  arch: gru  # é\n".encode("utf-16"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("decode.max_len=200", "decode.max_len"),
        ("data.max_src_len=129", "data.max_src_len"),
        ("data.max_tgt_len=128", "data.max_tgt_len"),
    ],
)
def test_lengths_beyond_the_transformer_positions_are_refused(override: str, key: str) -> None:
    # tiny-transformer.yaml has model.max_len 128: checked at load, not at the first validation
    with pytest.raises(ConfigError, match=f"{key}: .*model.max_len is 128"):
        load_config(CONFIGS / "tiny-transformer.yaml", [override])
    load_config(CONFIGS / "tiny-transformer.yaml", ["decode.max_len=128", "data.max_tgt_len=127"])


@pytest.mark.parametrize(
    "scorer", ["protocol-cpu-backward.yaml", "protocol-cpu-reply-lm.yaml"]
)
def test_mmi_scorers_read_the_protocol_data(scorer: str) -> None:
    """The backward model and the reply LM read the forward protocol's examples and tokenizer:
    their data config differs in the direction only (the cache folder is the forward one's)."""
    forward = load_config(CONFIGS / "protocol-cpu-transformer.yaml").data
    data = load_config(CONFIGS / scorer).data
    assert data.direction != "forward" and data.stored_view() == forward


def test_the_evaluator_is_split_and_seeded_otherwise() -> None:
    forward = load_config(CONFIGS / "protocol-cpu-transformer.yaml")
    evaluator = load_config(CONFIGS / "protocol-cpu-evaluator.yaml")
    assert evaluator.data.direction == "backward"
    assert evaluator.data.split_seed != forward.data.split_seed
    assert evaluator.train.seed != forward.train.seed


def test_a_backward_model_needs_positions_for_the_longest_prompt() -> None:
    with pytest.raises(ConfigError, match=r"data.max_src_len: needs 61 positions"):
        load_config(
            CONFIGS / "tiny-transformer.yaml",
            ["data.direction=backward", "data.max_src_len=60", "data.max_tgt_len=20",
             "model.max_len=60", "decode.max_len=20"],
        )
