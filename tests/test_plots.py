import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.font_manager import FontProperties, findfont
from matplotlib.image import imread

from seq2seq import plots
from seq2seq.plots import (
    DPI,
    FONT_SIZE,
    attention_figure,
    figure_size,
    figure_to_array,
    save_png,
)


def heat_map(t: int, s: int) -> np.ndarray:
    weights = np.random.default_rng(0).random((t, s))
    figure = attention_figure(
        weights / weights.sum(1, keepdims=True), [f"s{i}" for i in range(s)],
        [f"t{i}" for i in range(t)], title="demo",
    )
    return figure_to_array(figure)


def test_heat_map_is_an_rgb_uint8_image_that_grows_with_the_tokens():
    small = heat_map(3, 5)
    assert small.dtype == np.uint8 and small.ndim == 3 and small.shape[2] == 3
    assert small.shape[0] > 50 and small.shape[1] > 50
    assert small.std() > 0  # something was drawn
    wider = heat_map(3, 15)
    taller = heat_map(12, 5)
    assert wider.shape[1] > small.shape[1] and wider.shape[0] == small.shape[0]
    assert taller.shape[0] > small.shape[0] and taller.shape[1] == small.shape[1]
    width, height = figure_size(12, 5)
    assert taller.shape[:2] == (round(height * DPI), round(width * DPI))


def test_labels_must_match_the_weights():
    with pytest.raises(ValueError, match="labels"):
        attention_figure(np.zeros((2, 3)), ["a", "b"], ["x", "y"])


def test_save_png_writes_the_image_as_it_is(tmp_path):
    path = tmp_path / "attention.png"
    image = figure_to_array(attention_figure(np.eye(2), ["a", "b"], ["x", "y"]))
    save_png(image, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    read = imread(path)  # floats in [0, 1], RGBA
    assert read.shape[:2] == image.shape[:2]
    np.testing.assert_array_equal((read[..., :3] * 255).round().astype(np.uint8), image)


def test_pieces_show_word_starts_as_spaces_in_a_readable_font():
    figure = attention_figure(np.full((2, 3), 1 / 3), ["\u2581Where", "\u2581are", "?"],
                              ["\u2581I", "'m"])
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == [" Where", " are", "?"]
    assert [t.get_text() for t in axes.get_yticklabels()] == [" I", "'m"]
    # TensorBoard's default card shrinks the image: labels need a larger font than matplotlib's
    assert all(t.get_fontsize() >= 12 for t in axes.get_xticklabels()) and FONT_SIZE >= 12


def test_a_long_title_wraps_inside_a_narrow_map():
    figure = attention_figure(np.full((2, 2), 0.5), ["a", "b"], ["x", "y"],
                              title="transformer-long-run-label, example 1234, mean over heads")
    figure_to_array(figure)
    title = figure.get_suptitle()
    box = figure._suptitle.get_window_extent(figure.canvas.get_renderer())
    assert "\n" in title and 0 <= box.x0 and box.x1 <= figure.bbox.x1 and box.y1 <= figure.bbox.y1


@pytest.fixture
def ascii_fonts(monkeypatch):
    """Every installed font draws ASCII only; the one-per-process warning not yet given."""
    monkeypatch.setattr(plots, "font_characters", lambda path: frozenset(range(128)))
    monkeypatch.setattr(plots, "warned_missing_glyphs", False)


def test_characters_no_font_draws_become_code_points_with_one_warning(ascii_fonts, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's own per-glyph warnings would fail here
        for _ in range(2):
            figure = attention_figure(np.full((2, 2), 0.5), ["\u2581你", "好"], ["我", "?"])
            figure_to_array(figure)
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == [" U+4F60", "U+597D"]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["U+6211", "?"]
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "你 (U+4F60)" in err and "install a font" in err


def test_a_font_that_has_the_characters_is_used_as_a_fallback(monkeypatch, capsys):
    default = findfont(FontProperties())
    cjk = SimpleNamespace(name="Some CJK Font", fname="/fonts/cjk.ttf")
    placeholder = SimpleNamespace(name="Last Resort High-Efficiency", fname="/fonts/last.ttf")
    charmaps = {default: frozenset(range(128)), cjk.fname: frozenset(map(ord, "你好")),
                placeholder.fname: frozenset(range(0x30000))}
    monkeypatch.setattr(plots, "font_characters", charmaps.__getitem__)
    monkeypatch.setattr(plots, "fontManager", SimpleNamespace(ttflist=[placeholder, cjk]))
    labels, families = plots.honest_labels(["你", "好 a"])
    assert labels == ["你", "好 a"] and families == [FontProperties().get_name(), cjk.name]
    assert capsys.readouterr().err == ""
