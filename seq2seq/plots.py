"""Attention heat-maps rendered off-screen with matplotlib's Agg canvas.

A figure is drawn once into an (H, W, 3) uint8 array, which goes to TensorBoard's
`add_image(..., dataformats="HWC")` and into a PNG file; matplotlib's global backend is never
touched and no window opens.

Labels in any script: when the default font lacks a character (Chinese, say), any installed font
that has it is used as a fallback; a character no installed font draws is labelled by its code
point (U+4F60) instead of a box, and one warning per process says so (matplotlib itself would
warn once per character and figure).
"""

from __future__ import annotations

import functools
import sys
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, fontManager
from matplotlib.ft2font import FT2Font
from matplotlib.image import imsave

# Sized so that TensorBoard's default image card (which shrinks wide images to fit) still
# shows every label: big cells and a big font rather than a big canvas.
INCHES_PER_TOKEN = 0.36  # the image grows with the tokens so every label stays readable
MARGIN_INCHES = 2.8  # room for the rotated labels, the title and the colour bar
FONT_SIZE = 20  # about 3/4 of a cell: the largest that keeps neighbouring labels apart
DPI = 100
WORD_START = "\u2581"  # sentencepiece's ▁: the piece starts a word
TITLE_CHARS_PER_INCH = 6  # characters of FONT_SIZE text per inch of figure, with room to spare
PLACEHOLDER_FONTS = ("Last Resort",)  # draw a box for every character: no fallback
warned_missing_glyphs = False  # the missing-glyph warning is printed once per process


def piece_label(piece: str) -> str:
    """A sentencepiece piece as a tick label: ▁ (word start) shown as the space it stands for."""
    return piece.replace(WORD_START, " ")


@functools.cache
def font_characters(path: str) -> frozenset[int]:
    """The code points a font file has glyphs for."""
    return frozenset(FT2Font(path).get_charmap())


def font_families(text: str) -> tuple[list[str], set[str]]:
    """The font families that draw `text` (the default first, then fallbacks that cover what it
    lacks) and the characters that no installed font draws."""
    default = FontProperties()
    missing = {c for c in text if not c.isspace()} - {
        chr(code) for code in font_characters(findfont(default))
    }
    families = [default.get_name()]
    for font in fontManager.ttflist:
        if not missing:
            break
        if font.name in families or font.name.startswith(PLACEHOLDER_FONTS):
            continue
        covered = {c for c in missing if ord(c) in font_characters(font.fname)}
        if covered:
            families.append(font.name)
            missing -= covered
    return families, missing


def honest_labels(labels: list[str]) -> tuple[list[str], list[str]]:
    """(labels, font families): characters no installed font draws become their code points,
    with one warning per process naming them."""
    global warned_missing_glyphs
    families, missing = font_families("".join(labels))
    if not missing:
        return labels, families
    if not warned_missing_glyphs:
        warned_missing_glyphs = True
        shown = ", ".join(f"{c} (U+{ord(c):04X})" for c in sorted(missing)[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        print(f"warning: no installed font draws {shown}{more}: heat-map labels show such "
              "characters as code points; install a font for the script (e.g. Noto Sans CJK) "
              "for readable labels", file=sys.stderr)
    return ["".join(f"U+{ord(c):04X}" if c in missing else c for c in label)
            for label in labels], families


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
    size = figure_size(t, s)
    figure = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    # A fixed 0..1 scale: the same colour means the same weight in every model's map.
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    labels, families = honest_labels([piece_label(p) for p in [*src_labels, *tgt_labels]])
    axes.set_xticks(range(s), labels[:s], rotation=90, fontsize=FONT_SIZE, fontfamily=families)
    axes.set_yticks(range(t), labels[s:], fontsize=FONT_SIZE, fontfamily=families)
    axes.set_xlabel("source", fontsize=FONT_SIZE)
    axes.set_ylabel("generated", fontsize=FONT_SIZE)
    if title:  # over the whole figure, wrapped to its width: a narrow map would cut it off
        width = max(int(size[0] * TITLE_CHARS_PER_INCH), 10)
        figure.suptitle(textwrap.fill(title, width), fontsize=FONT_SIZE)
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
