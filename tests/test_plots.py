import numpy as np
import pytest
from matplotlib.image import imread

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
