"""Shipped models: a `pretrained/` folder of the repo holds trained models ready to use on a
fresh clone, without training (docs/pretrained.md).

    pretrained/<name>/
        model.pt        a weights-only checkpoint (`seq2seq.checkpoint`'s format) whose float
                        tensors are stored in half precision; loaded as float32
        config.yaml     the resolved config the model was trained with (also inside model.pt)
        MODEL_CARD.md   data, config, command, commit, steps, training minutes, the test-split
                        figures measured on model.pt itself, and the corpus's terms

A folder is used wherever a run folder is (`chat.py --run`, `compare.py`), and `chat.py` with no
run under runs/ chats with the shipped pair side by side. Written by
`python -m seq2seq.pretrained export RUN pretrained/<name>` (`export.py`); the golden file that
pins what the shipped pair says is written by `python -m seq2seq.pretrained golden`
(`golden.py`).
"""

from __future__ import annotations

from pathlib import Path

from seq2seq.runs import SHIPPED

ROOT = Path("pretrained")  # relative to the working folder, as runs/ is
PAIR = ("transformer", "gru")  # the shipped pair, in the order chat.py shows them
CONFIG = "config.yaml"
CARD = "MODEL_CARD.md"


def shipped_pair(root: Path = ROOT) -> list[Path]:
    """The folders of the shipped pair present under `root`, in `PAIR` order."""
    return [root / name for name in PAIR if (root / name / SHIPPED).is_file()]
