"""The model card of a shipped model (MODEL_CARD.md): what it was trained on and how, and what
it scores on the test split when loaded from the shipped file itself.

Model cards after Mitchell et al., 2019, "Model Cards for Model Reporting".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seq2seq.checkpoint import Trained
from seq2seq.comparison.results import METRICS, RunResult
from seq2seq.markdown import cell, table

CORPUS_TERMS = """The Cornell Movie-Dialogs Corpus (Danescu-Niculescu-Mizil and Lee, 2011) ships
without a licence file. Its authors ask that work using it cite the paper it was released with
("Chameleons in imagined conversations: A new approach to understanding coordination of
linguistic style in dialogs", CMCL 2011, pages 76-87) and that results be reported to them
(cristian@cs.cornell.edu, llee@cs.cornell.edu); see corpora/cornell/README.md. The replies of
this model are learned from film dialogue and can repeat its language. The code is MIT-licensed
(LICENSE)."""


@dataclass
class Measured:
    """The test-split figures of the shipped file, and how far it is from the original."""

    shipped: RunResult
    original: RunResult
    same_replies: int  # greedy replies equal to the float32 original's, of shipped.n_replies
    description: str  # which examples


def figures_table(measured: Measured) -> str:
    """One row per comparison metric: the shipped file's value, then the original's."""
    rows = []
    for metric in METRICS:
        if metric.key == "replies_per_second":  # a property of the machine, not the model
            continue
        values = [getattr(run, metric.key) for run in (measured.shipped, measured.original)]
        rows.append([metric.label, *("n/a" if v is None else f"{v:.{metric.digits}f}"
                                     for v in values)])
    return table(["metric (greedy replies)", "shipped (float16 -> float32)", "original float32"],
                 rows)


def model_card(
    name: str, trained: Trained, precision: str, source: Path, commit: str | None,
    measured: Measured,
) -> str:
    """MODEL_CARD.md of `trained` (the model loaded back from the shipped folder `name`)."""
    config, shipped = trained.config, measured.shipped
    data = "\n".join(f"- `data.{key}`: {value}" for key, value in config.to_dict()["data"].items())
    seconds = trained.train_seconds
    minutes = "not recorded" if seconds is None else f"{seconds / 60:.1f}"
    corpus = Path(trained.corpus).name if trained.corpus else "not recorded"
    top = shipped.top_replies[0] if shipped.top_replies else ("", 0)
    return f"""# {name}: a {config.model.arch} chatbot trained from scratch on Cornell Movie-Dialogs

Shipped with the repo (docs/pretrained.md): `python chat.py --run pretrained/{name}`,
`python compare.py pretrained/transformer pretrained/gru --corpus CORPUS`.

## Data

- corpus: `{corpus}` (as training recorded it: `{cell(trained.corpus or "?")}`)
{data}

## Model and training

- architecture: {config.model.arch}, {trained.model.num_parameters():,} parameters; the full
  resolved config is config.yaml beside this card
- command: `python train.py --config pretrained/{name}/config.yaml --corpus {corpus}`
  (the resolved config holds every setting, train.seed {config.train.seed} included)
- steps: {trained.step:,}; epochs: {trained.epoch if trained.epoch is not None else "?"}; \
training minutes: {minutes} (on {trained.device or "?"}, validation excluded)
- exported from `{cell(str(source))}` at commit {commit or "unknown (not a git checkout)"},
  weights stored as {precision}, loaded as float32

## Test split, measured on the shipped file

{measured.description}; greedy decoding, at most data.max_tgt_len + 1 tokens, as
`compare.py` scores a run. Beside it, the float32 checkpoint it was exported from: the shipped
file gives the same greedy reply on {measured.same_replies} of {shipped.n_replies} prompts.

{figures_table(measured)}

Most frequent reply: "{cell(top[0])}" ({top[1]} of {shipped.n_replies}).

## Corpus terms and licence

{CORPUS_TERMS}
"""
