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


def test_training_curves_from_a_metrics_log(tmp_path):
  import json

  from handwriting.data.report import DataError
  from handwriting.draw.curves import plot_curves
  log = tmp_path / "metrics.jsonl"
  rows = [{"step": s, "split": "train", "time": 0.0, "loss": 1.0 / s, "steps_per_sec": 2.0}
          for s in range(1, 20)]
  rows += [{"step": 10, "split": "eval", "time": 0.0, "loss": 0.2, "nll": -5.0}]
  log.write_text("\n".join(json.dumps(r) for r in rows) + "\n{torn")
  png = tmp_path / "curve.png"
  assert plot_curves(log, png) == ["loss", "nll"]  # every eval metric, one panel each
  assert Image.open(png).size[1] > Image.open(png).size[0] / 2
  # A moving average's run also logs the optimizer's parameters (<metric>_raw): same panels.
  with log.open("a") as f:
    f.write("\n" + json.dumps({**rows[-1], "step": 19, "loss_raw": 0.3, "nll_raw": -4.0}))
  assert plot_curves(log, tmp_path / "curve_ema.png") == ["loss", "nll"]
  with pytest.raises(DataError, match="no metrics file"):
    plot_curves(tmp_path / "missing.jsonl", png)
