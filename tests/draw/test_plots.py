import numpy as np
import pytest
from PIL import Image

from handwriting.draw.plots import plot_strokes_and_image


def _offsets():
  # Two strokes: an upward tick (3 points) and a dot (1 point).
  return np.array([[0, 0, 0], [1, 1, 0], [1, 2, 1], [2, -1, 1]], np.float32)


def _image():
  img = np.zeros((16, 40), np.uint8)
  img[6:10, 5:35] = 255
  return img


def test_writes_a_png_with_both_panels(tmp_path):
  path = tmp_path / "line.png"
  plot_strokes_and_image(_offsets(), _image(), "a tick.", str(path))
  with Image.open(path) as png:
    assert png.format == "PNG"
    w, h = png.size
  assert path.stat().st_size > 2000
  assert 600 <= w <= 2400 and 200 <= h <= 1000  # a wide figure, two panels high


def test_either_panel_alone(tmp_path):
  plot_strokes_and_image(_offsets(), None, "strokes only", str(tmp_path / "s.png"))
  plot_strokes_and_image(None, _image(), "image only", str(tmp_path / "i.png"))
  with Image.open(tmp_path / "s.png") as s, Image.open(tmp_path / "i.png") as i:
    assert s.size[0] > 0 and i.size[1] > 0
    # One panel is about half as high as two.
    assert s.size[1] < 0.7 * 440
  with pytest.raises(ValueError, match="nothing to plot"):
    plot_strokes_and_image(None, None, "", str(tmp_path / "n.png"))


def test_image_panel_shows_ink_dark(tmp_path):
  path = tmp_path / "i.png"
  plot_strokes_and_image(None, _image(), "", str(path))
  with Image.open(path) as png:
    grey = np.asarray(png.convert("L"), np.float32)
  # The bar is 19 % of the image and is drawn dark; were the ink convention shown as stored
  # (background 0 = black), the dark 81 % would cover some 20 % of the figure.
  dark = (grey < 60).mean()
  assert 0.02 < dark < 0.1
