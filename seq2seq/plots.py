"""Attention heat-maps rendered off-screen with matplotlib's Agg canvas.

A figure is drawn once into an (H, W, 3) uint8 array, which goes to TensorBoard's
`add_image(..., dataformats="HWC")` and into a PNG file; matplotlib's global backend is never
touched and no window opens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imsave

# Sized so that TensorBoard's default image card (which shrinks wide images to fit) still
# shows every label: big cells and a big font rather than a big canvas.
INCHES_PER_TOKEN = 0.36  # the image grows with the tokens so every label stays readable
MARGIN_INCHES = 2.8  # room for the rotated labels, the title and the colour bar
FONT_SIZE = 20  # about 3/4 of a cell: the largest that keeps neighbouring labels apart
DPI = 100
WORD_START = "\u2581"  # sentencepiece's ▁: the piece starts a word


def piece_label(piece: str) -> str:
    """A sentencepiece piece as a tick label: ▁ (word start) shown as the space it stands for."""
    return piece.replace(WORD_START, " ")


def figure_size(rows: int, columns: int) -> tuple[float, float]:
    """(width, height) in inches of a heat-map with `rows` x `columns` cells."""
    return MARGIN_INCHES + INCHES_PER_TOKEN * columns, MARGIN_INCHES + INCHES_PER_TOKEN * rows


def attention_figure(
    weights: np.ndarray, src_labels: list[str], tgt_labels: list[str], title: str = ""
) -> Figure:
    """A heat-map of cross-attention: one row per generated token, one column per source token.

    Args:
        weights: (T, S) attention of each generated token over the source tokens.
        src_labels: S source token labels (x axis), sentencepiece pieces or plain text.
        tgt_labels: T generated token labels (y axis), likewise.
        title: shown above the map.
    """
    t, s = weights.shape
    if (len(tgt_labels), len(src_labels)) != (t, s):
        raise ValueError(
            f"weights are {t}x{s} but there are {len(tgt_labels)}x{len(src_labels)} labels"
        )
    figure = Figure(figsize=figure_size(t, s), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    # A fixed 0..1 scale: the same colour means the same weight in every model's map.
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(s), [piece_label(p) for p in src_labels], rotation=90,
                    fontsize=FONT_SIZE)
    axes.set_yticks(range(t), [piece_label(p) for p in tgt_labels], fontsize=FONT_SIZE)
    axes.set_xlabel("source", fontsize=FONT_SIZE)
    axes.set_ylabel("generated", fontsize=FONT_SIZE)
    if title:
        axes.set_title(title, fontsize=FONT_SIZE)
    colorbar = figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02)
    colorbar.ax.tick_params(labelsize=FONT_SIZE - 2)
    figure.tight_layout()
    return figure


def figure_to_array(figure: Figure) -> np.ndarray:
    """Render a figure: (H, W, 3) uint8 RGB, H and W in pixels (figsize * dpi)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_png(image: np.ndarray, path: str | Path) -> None:
    """Write an (H, W, 3) uint8 image (`figure_to_array`'s) as a PNG file, without redrawing."""
    imsave(str(path), image, format="png")
