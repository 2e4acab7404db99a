"""Cross-attention heat-maps of greedy replies: where each generated token looked in the source.

Each model reports one step's encoder-decoder attention as (H, S) weights (`decode_step(...,
need_attention=True)`): the Transformer its last decoder layer's heads, the GRU a single Luong
"head". A map shows the mean over heads, or each head on its own when asked.

TensorBoard's tags are `xattn/example_<i>` (cross-attention): TensorBoard's Time Series page
orders tag groups alphabetically, and "xattn" comes after the training runs' train/* and valid/*
curves, which stay the first thing `tensorboard --logdir runs` shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seq2seq.comparison.scoring import source_batch
from seq2seq.decoding import Decoding, generate
from seq2seq.models import Seq2SeqModel
from seq2seq.plots import attention_figure, figure_to_array, save_png
from seq2seq.tokenizer import Tokenizer

TAG_GROUP = "xattn"  # sorts after train/ and valid/ (see above)


@dataclass
class AttentionImage:
    """One rendered heat-map."""

    tag: str  # e.g. "xattn/example_12" or "xattn/example_12/head_3"
    image: np.ndarray  # (H, W, 3) uint8
    path: Path  # the PNG file


def attention_images(
    model: Seq2SeqModel,
    tokenizer: Tokenizer,
    src: Sequence[np.ndarray],
    indices: Sequence[int],
    *,
    decoding: Decoding,
    label: str,
    out_dir: Path,
    per_head: bool = False,
) -> list[AttentionImage]:
    """Greedy-decode the sources `indices` and draw their cross-attention.

    Args:
        src: all context id arrays; only `indices` are decoded (as one batch).
        decoding: how the replies are decoded (the comparison's plain greedy).
        label: the run's label, in titles and file names.
        out_dir: where the PNG files go.
        per_head: one map per head besides the mean over heads.

    Returns:
        The images, in order; a reply that is empty (eos first) has no map.
    """
    if not indices:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    sources, mask = source_batch([src[i] for i in indices], tokenizer, model.device)
    result = generate(model, sources, mask, decoding, need_attention=True)
    images = []
    for index, reply, weights in zip(indices, result.tokens, result.attention, strict=True):
        if not reply:
            continue
        src_pieces, tgt_pieces = tokenizer.pieces(src[index]), tokenizer.pieces(reply)
        maps = [("mean over heads" if weights.size(1) > 1 else "", None, weights.mean(1))]
        if per_head and weights.size(1) > 1:
            maps += [(f"head {h}", h, weights[:, h]) for h in range(weights.size(1))]
        for name, head, matrix in maps:
            suffix = "" if head is None else f"/head_{head}"
            stem = f"{label}-example{index}" + ("" if head is None else f"-head{head}")
            title = f"{label}, example {index}" + (f", {name}" if name else "")
            images.append(render(matrix, src_pieces, tgt_pieces, title,
                                 f"{TAG_GROUP}/example_{index}{suffix}", out_dir / f"{stem}.png"))
    return images


def render(
    weights: torch.Tensor, src_pieces: list[str], tgt_pieces: list[str], title: str, tag: str,
    path: Path,
) -> AttentionImage:
    """Draw (T, S) weights once, as an array for TensorBoard and as a PNG file."""
    image = figure_to_array(attention_figure(weights.float().numpy(), src_pieces, tgt_pieces,
                                             title))
    save_png(image, path)
    return AttentionImage(tag, image, path)
