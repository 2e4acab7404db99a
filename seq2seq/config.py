"""Experiment configuration: YAML files loaded into frozen dataclasses, strictly.

A config has four sections, each a frozen dataclass:

    model:  the architecture's own dataclass (`TransformerConfig`, `GRUConfig`, ...), chosen by
            `model.arch` from the model registry, so a new architecture brings its own section
    data:   `DataConfig`   corpus -> examples -> splits -> sentencepiece tokenizer
    train:  `TrainConfig`  batching, optimisation, schedule, validation, precision
    decode: `DecodeConfig` greedy by default; beam search and sampling on request

Files are read with `yaml.safe_load`; command-line overrides are dotted (`--set model.n_layers=4`,
values parsed as YAML). An unknown key, a wrong type or an impossible value raises `ConfigError`
naming the key, before any data is touched.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seq2seq.errors import ConfigError, check, check_choice, check_probability
from seq2seq.models import get_architecture
from seq2seq.paths import what_it_is
from seq2seq.tokenizer import MODEL_TYPES, NORMALIZATIONS

SCHEDULES = ("inverse_sqrt", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SELECTIONS = ("loss", "diverse")
ENTROPY_FILTERS = ("none", "source", "target", "both")
LOSSES = ("cross_entropy", "face")
FACE_WEIGHTINGS = ("pre", "post")
FEEDS = ("argmax", "sample")
STRATEGIES = ("greedy", "beam", "sample")
DIRECTIONS = ("forward", "backward", "reply_lm")
MMI_METHODS = ("none", "antilm", "bidi")
MMI_LMS = ("reply_lm", "empty_source")
MIN_VOCAB_SIZE = 100
MIN_TEMPERATURE = 1e-4  # logits / temperature must stay finite in float32
MAX_LENGTH_PENALTY = 10.0  # max_len ** length_penalty must stay finite
MAX_VOCAB_SIZE = 1_000_000  # sentencepiece takes an int32; no corpus here comes near either


@dataclass(frozen=True)
class DataConfig:
    """How the corpus becomes tokenized (context, response) examples. Shared by all models."""

    context_turns: int = 1  # previous utterances joined (by the tokenizer's <sep>) as context
    normalize: str = "nfkc"  # "raw" (as written), "nfkc" or the PyTorch tutorial's "tutorial"
    tokenizer: str = "unigram"  # sentencepiece model type: unigram or bpe
    vocab_size: int = 8000
    max_src_len: int = 64  # examples with a longer context (in tokens) are dropped
    max_tgt_len: int = 48  # examples with a longer response (in tokens) are dropped
    valid_fraction: float = 0.05
    test_fraction: float = 0.05
    split_seed: int = 1234
    # Csáky et al. (2019), identity variant: drop training pairs whose source (or target, or
    # either) utterance has more than `filter_threshold` bits of entropy (seq2seq/data/entropy.py)
    filter: str = "none"  # none, source, target or both
    filter_threshold: float = 1.0
    # forward p(reply|prompt), backward p(prompt|reply) or reply_lm p(reply): same examples and
    # tokenizer whatever it says, sides swapped or the prompt emptied (seq2seq/data/direction.py)
    direction: str = "forward"

    # Keys that change only which training pairs are kept: the tokenizer and the validation and
    # test splits are the same whatever they say, so runs that differ in them compare fairly.
    TRAINING_ONLY = ("filter", "filter_threshold")

    def evaluation_view(self) -> DataConfig:
        """This config with the training-only keys at their defaults: equal for two configs
        exactly when their tokenizer and their validation and test splits are the same."""
        defaults = DataConfig()
        return dataclasses.replace(
            self, **{key: getattr(defaults, key) for key in self.TRAINING_ONLY}
        )

    def validate(self) -> None:
        check(self.context_turns >= 1, "data.context_turns", "must be >= 1")
        check_choice(self.normalize, NORMALIZATIONS, "data.normalize")
        check_choice(self.tokenizer, MODEL_TYPES, "data.tokenizer")
        check(
            self.vocab_size >= MIN_VOCAB_SIZE,
            "data.vocab_size",
            f"{self.vocab_size} is too small (at least {MIN_VOCAB_SIZE})",
        )
        check(
            self.vocab_size <= MAX_VOCAB_SIZE,
            "data.vocab_size",
            f"{self.vocab_size} is too large (at most {MAX_VOCAB_SIZE:,})",
        )
        check(self.max_src_len >= 1, "data.max_src_len", "must be >= 1")
        check(self.max_tgt_len >= 1, "data.max_tgt_len", "must be >= 1")
        check(0.0 < self.valid_fraction < 0.5, "data.valid_fraction", "must be in (0, 0.5)")
        check(0.0 < self.test_fraction < 0.5, "data.test_fraction", "must be in (0, 0.5)")
        check(
            self.valid_fraction + self.test_fraction < 0.5,
            "data.test_fraction",
            "valid_fraction + test_fraction must leave most data for training",
        )
        check_choice(self.filter, ENTROPY_FILTERS, "data.filter")
        check(self.filter_threshold >= 0, "data.filter_threshold", "must be >= 0 (bits)")
        check_choice(self.direction, DIRECTIONS, "data.direction")

    def stored_view(self) -> DataConfig:
        """This config read forward: what the data cache stores (the direction is applied after
        it, so all directions share the cache folder and its tokenizer)."""
        return dataclasses.replace(self, direction="forward")


@dataclass(frozen=True)
class TrainConfig:
    """Batching, optimisation and validation of the teacher-forced training loop.

    One `teacher_forcing` ratio below 1 means different things for the two models: the GRU
    decodes step by step and a non-gold input is its own prediction of the step before, made
    from its own earlier inputs (Bengio et al., 2015); the Transformer keeps its parallel
    training, so a non-gold input is the prediction of a first pass fed every gold token
    (Mihaylova & Martins, 2019; seq2seq/models/transformer.py `scheduled_inputs`). The same
    ratio is therefore a milder departure from teacher forcing for the Transformer, and the
    decoder_lr_multiplier (5 in the GRU configs) gives the two models different decoder rates.
    """

    batch_size: int = 64  # at most this many examples per batch
    max_tokens: int = 4096  # and at most this many padded tokens (src + tgt) per batch
    grad_accum: int = 1
    lr: float = 5e-4  # peak learning rate
    schedule: str = "inverse_sqrt"  # the Transformer paper's warm-up, or constant
    warmup_steps: int = 1000
    decoder_lr_multiplier: float = 1.0  # the PyTorch tutorial's decoder_learning_ratio
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.98
    clip_norm: float = 1.0  # clip the global gradient norm to this; 0 disables clipping
    label_smoothing: float = 0.0
    loss: str = "cross_entropy"  # or "face", frequency-aware (seq2seq/training/face.py)
    face_weighting: str = "pre"  # FACE's pre-weight (per gold token) or post-weight
    face_strength: float = 1.0  # 1: the paper's weights; 0: plain cross-entropy
    # Below 1, the model's own predictions replace gold tokens: the GRU's step by step (fed
    # the prediction it just made), the Transformer's from a first decoder pass over the gold
    # target (two passes); seq2seq/training/feeding.py
    teacher_forcing: float = 1.0  # probability of feeding the gold token at each step
    teacher_forcing_final: float = 1.0  # ratio reached by linear decay ...
    teacher_forcing_decay_steps: int = 0  # ... over this many steps (0: no decay)
    teacher_forcing_feed: str = "argmax"  # else fed: the argmax prediction, or a sample
    epochs: int = 20
    max_steps: int = 0  # 0: train for `epochs`
    eval_interval: int = 500  # validate (and save last.pt) every this many optimizer steps
    log_interval: int = 50
    patience: int = 5  # stop after this many validations without a better loss (0: never)
    num_sample_prompts: int = 8  # validation prompts decoded greedily and logged as text
    diversity_prompts: int = 500  # validation prompts decoded greedily for valid/distinct_2 etc.
    relevance_examples: int = 100  # validation examples ranked for valid/hits1_* (0: none)
    keep_checkpoints: int = 0  # weights-only step-<N>.pt snapshots kept, spread over the run
    select: str = "loss"  # which checkpoint chat/compare use and early stopping watches
    select_margin: float = 0.1  # "diverse": perplexity within this fraction of the best
    max_nonfinite_steps: int = 20  # consecutive non-finite steps that stop the run
    precision: str = "auto"  # auto: bf16 on CUDA where supported, else fp16; fp32 on CPU
    compile: bool = False
    seed: int = 1234

    def validate(self) -> None:
        for key in ("batch_size", "max_tokens", "grad_accum", "epochs", "eval_interval",
                    "log_interval"):
            check(getattr(self, key) >= 1, f"train.{key}", "must be >= 1")
        for key in ("max_steps", "warmup_steps", "patience", "num_sample_prompts",
                    "teacher_forcing_decay_steps", "diversity_prompts", "relevance_examples"):
            check(getattr(self, key) >= 0, f"train.{key}", "must be >= 0")
        check(self.relevance_examples != 1, "train.relevance_examples",
              "must be 0 (none) or >= 2 (the context gap gives each another's prompt)")
        check(self.max_nonfinite_steps >= 1, "train.max_nonfinite_steps", "must be >= 1")
        check(self.lr > 0, "train.lr", "must be > 0")
        check_choice(self.schedule, SCHEDULES, "train.schedule")
        check(self.decoder_lr_multiplier > 0, "train.decoder_lr_multiplier", "must be > 0")
        check(self.weight_decay >= 0, "train.weight_decay", "must be >= 0")
        check_probability(self.adam_beta1, "train.adam_beta1")
        check_probability(self.adam_beta2, "train.adam_beta2")
        check(self.clip_norm >= 0, "train.clip_norm", "must be >= 0 (0 disables clipping)")
        check_probability(self.label_smoothing, "train.label_smoothing")
        check_choice(self.loss, LOSSES, "train.loss")
        check_choice(self.face_weighting, FACE_WEIGHTINGS, "train.face_weighting")
        check(0.0 <= self.face_strength <= 1.0, "train.face_strength",
              f"{self.face_strength} must be in [0, 1]")
        for key in ("teacher_forcing", "teacher_forcing_final"):
            value = getattr(self, key)
            check(0.0 <= value <= 1.0, f"train.{key}", f"{value} must be in [0, 1]")
        check_choice(self.teacher_forcing_feed, FEEDS, "train.teacher_forcing_feed")
        check_choice(self.precision, PRECISIONS, "train.precision")
        check(
            self.keep_checkpoints == 0 or self.keep_checkpoints >= 2,
            "train.keep_checkpoints", "must be 0 (none) or >= 2 (the first and the latest)",
        )
        check_choice(self.select, SELECTIONS, "train.select")
        check(self.select_margin >= 0, "train.select_margin", "must be >= 0")
        check(
            self.select == "loss" or self.diversity_prompts > 0,
            "train.diversity_prompts", "must be > 0 when train.select is 'diverse'",
        )


@dataclass(frozen=True)
class DecodeConfig:
    """Decoding settings for validation samples, chat and comparison. Greedy by default."""

    strategy: str = "greedy"
    max_len: int = 40  # new tokens at most
    min_len: int = 0  # eos is forbidden before this many new tokens
    beam_size: int = 5
    length_penalty: float = 1.0  # beam scores are divided by length ** length_penalty
    no_repeat_ngram: int = 0  # forbid repeating any n-gram of this size (0: off)
    temperature: float = 1.0
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1.0: off
    repetition_penalty: float = 1.0  # 1.0: off (CTRL's penalty on already generated tokens)
    # Sampling: draw this many replies and keep the best (sample-and-rank, Adiwardana et al.,
    # 2020): the most likely, or the best MMI-bidi score; 1: plain sampling.
    num_samples: int = 1
    # Maximum mutual information (Li et al., 2016; docs/mmi.md): none; antilm (greedy and beam:
    # every step's score minus mmi_lambda * log p_LM over the first mmi_gamma tokens); bidi
    # (beam's n-best or the samples reranked by + mmi_lambda * log p(prompt | reply)).
    mmi: str = "none"
    mmi_lambda: float = 0.5
    mmi_gamma: int = 5
    mmi_lm: str = "reply_lm"  # antilm's LM: a reply-LM run, or the forward model, empty source
    mmi_length_bonus: float = 0.0  # reranking: + this * reply tokens (Li et al.'s gamma, eq. 10)

    def validate(self) -> None:
        check_choice(self.strategy, STRATEGIES, "decode.strategy")
        check(self.max_len >= 1, "decode.max_len", "must be >= 1")
        check(0 <= self.min_len <= self.max_len, "decode.min_len", "must be in [0, max_len]")
        check(self.beam_size >= 1, "decode.beam_size", "must be >= 1")
        check(
            0 <= self.length_penalty <= MAX_LENGTH_PENALTY, "decode.length_penalty",
            f"must be in [0, {MAX_LENGTH_PENALTY:g}] (1 averages the log-probability per token)",
        )
        check(self.no_repeat_ngram >= 0, "decode.no_repeat_ngram", "must be >= 0")
        check(
            self.temperature >= MIN_TEMPERATURE, "decode.temperature",
            f"must be >= {MIN_TEMPERATURE:g} (lower divides the logits past float range; "
            "decode.strategy=greedy is the limit)",
        )
        check(self.top_k >= 0, "decode.top_k", "must be >= 0")
        check(0.0 < self.top_p <= 1.0, "decode.top_p", "must be in (0, 1]")
        check(self.repetition_penalty >= 1.0, "decode.repetition_penalty", "must be >= 1")
        check(self.num_samples >= 1, "decode.num_samples", "must be >= 1")
        check_choice(self.mmi, MMI_METHODS, "decode.mmi")
        check(self.mmi_lambda >= 0, "decode.mmi_lambda", "must be >= 0")
        check(self.mmi_gamma >= 1, "decode.mmi_gamma", "must be >= 1 (tokens)")
        check_choice(self.mmi_lm, MMI_LMS, "decode.mmi_lm")
        check(
            self.mmi != "antilm" or self.strategy in ("greedy", "beam"),
            "decode.mmi", "antilm works at every step of greedy or beam search, not sampling "
            "(use mmi=bidi to rerank samples)",
        )
        check(
            self.mmi != "bidi" or self.strategy == "beam"
            or (self.strategy == "sample" and self.num_samples > 1),
            "decode.mmi", "bidi reranks several replies: use strategy beam, or sample with "
            "num_samples > 1",
        )

    def reranks(self) -> bool:
        """Whether several replies are made and the best kept (sample-and-rank or MMI-bidi)."""
        return self.mmi == "bidi" or (self.strategy == "sample" and self.num_samples > 1)


def check_decode_fits(model: Any, decode: DecodeConfig) -> None:
    """Refuse a `decode.max_len` longer than the positions a model covers (a Transformer's
    `model.max_len`; a GRU has no limit), when the setting is made rather than at the reply."""
    positions = getattr(model, "max_len", None)
    if positions is not None:
        check(
            decode.max_len <= positions, "decode.max_len",
            f"{decode.max_len} needs more positions than the model covers (model.max_len is "
            f"{positions}); lower decode.max_len to at most {positions}",
        )


@dataclass(frozen=True)
class Config:
    """A whole experiment: model, data, training and decoding."""

    model: Any  # the dataclass registered for `model.arch`
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def validate(self) -> None:
        self.model.validate()
        self.data.validate()
        self.train.validate()
        self.decode.validate()

        positions = getattr(self.model, "max_len", None)  # positions a Transformer covers
        if positions is not None:
            lengths = {"data.max_src_len": self.data.max_src_len,
                       "data.max_tgt_len": self.data.max_tgt_len}
            source, target = lengths  # a backward model reads the reply and writes the prompt
            if self.data.direction == "backward":
                source, target = target, source
            for key, length in (
                (source, lengths[source]),
                (target, lengths[target] + 1),  # bos first
                ("decode.max_len", self.decode.max_len),
            ):
                check(
                    length <= positions,
                    key,
                    f"needs {length} positions but model.max_len is {positions}; "
                    f"raise model.max_len or lower {key}",
                )
        check_decode_fits(self.model, self.decode)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """Every setting under its dotted name, as `--set` names it: {"train.lr": 5e-4, ...}."""
        return {
            f"{section}.{key}": value
            for section, values in self.to_dict().items()
            for key, value in values.items()
        }

    def replace(self, **sections: Any) -> Config:
        return dataclasses.replace(self, **sections)


def build_section(cls: type, values: Any, section: str) -> Any:
    """Instantiate dataclass `cls` from a mapping, rejecting unknown keys and wrong types."""
    if values is None:
        values = {}
    check(isinstance(values, dict), section, f"must be a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key not in fields:
            known = ", ".join(fields)
            raise ConfigError(f"config: {section}.{key}: unknown key (known keys: {known})")
        values[key] = coerce(value, hints[key], f"{section}.{key}")
    return cls(**values)


def coerce(value: Any, expected: Any, key: str) -> Any:
    """Check `value` against a type hint; ints are accepted where floats are expected."""
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(expected):
            try:
                return coerce(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"config: {key}: {value!r} is not a {expected}")
    if expected is type(None):
        check(value is None, key, f"{value!r} is not null")
        return value
    if origin in (tuple, list):
        (item_type, *_) = typing.get_args(expected) or (Any,)
        check(isinstance(value, (list, tuple)), key, f"{value!r} is not a list")
        return origin(coerce(item, item_type, key) for item in value)
    if expected is Any:
        return value
    if expected is float:
        number = as_number(value)
        check(number is not None, key, f"{value!r} is not a number")
        return float(number)
    if expected is int:
        number = as_number(value)
        ok = number is not None and float(number).is_integer()
        check(ok, key, f"{value!r} is not an integer")
        return int(number)
    check(isinstance(value, expected), key, f"{value!r} is not a {expected.__name__}")
    return value


NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def as_number(value: Any) -> int | float | None:
    """An int or a finite float, or None when `value` is not a number.

    YAML 1.1 (`yaml.safe_load`) reads `5e-4` and `1e6` as strings (its floats need a dot and a
    signed exponent, `5.0e-4`), so a string written like a number in scientific notation counts.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`'model.n_layers=4'` -> (['model', 'n_layers'], 4); the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected section.key=value, e.g. model.n_layers=4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        if len(path) != 2:
            raise ConfigError(f"--set {text}: keys have the form section.key, e.g. model.n_layers")
        section, key = path
        if section not in SECTIONS:
            known = ", ".join(SECTIONS)
            raise ConfigError(f"--set {text}: unknown section {section!r} (known: {known})")
        if raw.get(section) is None:  # absent, or an empty `section:` line in the file
            raw[section] = {}
        check(isinstance(raw[section], dict), section, "must be a mapping")
        raw[section][key] = value
    return raw


SECTIONS = ("model", "data", "train", "decode")


def config_from_dict(raw: dict[str, Any], arch: str | None = None) -> Config:
    """Build and validate a `Config` from plain data (a parsed YAML file or a checkpoint)."""
    check(isinstance(raw, dict), "config", "the file must hold a mapping of sections")
    for section, values in raw.items():
        if section not in SECTIONS:
            known = ", ".join(SECTIONS)
            raise ConfigError(f"config: {section}: unknown section (known: {known})")
        check(
            values is None or isinstance(values, dict),
            section,
            f"must be a mapping, got {type(values).__name__}",
        )
    raw = {section: dict(values or {}) for section, values in raw.items()}
    model = raw.setdefault("model", {})
    file_arch = model.get("arch")
    if arch is not None and file_arch is not None and file_arch != arch:
        raise ConfigError(
            f"config: model.arch: the config is for {file_arch!r} but --model is {arch!r}; "
            f"pass a config for {arch!r} or drop --model"
        )
    model["arch"] = arch or file_arch
    check(model["arch"] is not None, "model.arch", "missing (set it in the file or use --model)")
    config = Config(
        model=build_section(get_architecture(model["arch"]).config_class, model, "model"),
        data=build_section(DataConfig, raw.get("data"), "data"),
        train=build_section(TrainConfig, raw.get("train"), "train"),
        decode=build_section(DecodeConfig, raw.get("decode"), "decode"),
    )
    config.validate()
    return config


def load_config(
    path: str | Path, overrides: list[str] | None = None, arch: str | None = None
) -> Config:
    """Read a YAML config, apply `--set` overrides and validate everything.

    Args:
        path: the YAML file.
        overrides: dotted `section.key=value` strings, applied in order.
        arch: the `--model` name; must agree with the file's `model.arch` when both are given.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} {what_it_is(path)} (see configs/ for examples)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}: not UTF-8 text; save it as UTF-8") from None
    except OSError as error:
        raise ConfigError(f"config file {path}: cannot read it ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path}{where}: not valid YAML") from None
    if raw is None:
        raise ConfigError(
            f"config file {path} is empty; give it at least a model section "
            "(see configs/ for examples)"
        )
    check(isinstance(raw, dict), str(path), "must hold a mapping of sections")
    return config_from_dict(apply_overrides(raw, overrides or []), arch=arch)


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (it loads back with `load_config`)."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")


def make_decode(values: dict, model: Any = None) -> DecodeConfig:
    """A validated `DecodeConfig` from plain values (`ConfigError` naming a bad key), checked
    against the model config `model` (when given) as soon as it is set, not at the next reply."""
    decode = build_section(DecodeConfig, values, "decode")
    decode.validate()
    if model is not None:
        check_decode_fits(model, decode)
    return decode


def parse_settings(decode: DecodeConfig, arguments: list[str], model: Any = None) -> DecodeConfig:
    """`/set` arguments (`key=value`, `beam=5`, `sample`) applied to `decode` (and checked
    against the model config `model`, when given).

    Raises:
        ConfigError: one line naming the bad key or value.
    """
    values = dataclasses.asdict(decode)
    for argument in arguments:
        if argument in STRATEGIES:
            values["strategy"] = argument
            continue
        if not argument.partition("=")[0].strip():  # no "=", or nothing before it
            raise ConfigError(
                f"/set {argument}: expected key=value (e.g. temperature=0.7) or one of "
                f"{', '.join(STRATEGIES)}"
            )
        path, value = parse_override(argument)
        key = ".".join(path[1:] if path[0] == "decode" else path)
        if key == "beam":
            values["strategy"], key = "beam", "beam_size"
        values[key] = value
    return make_decode(values, model)
