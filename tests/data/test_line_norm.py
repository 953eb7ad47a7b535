"""The one line normalisation: contrast, binarisation, clean-up, deskew, deslant, crop, height."""

import math

import numpy as np
import pytest
from PIL import Image

from handwriting.data.line_norm import (BlankImage, LineNorm, _best_angle, darkness,
                                        normalize_line, otsu_threshold)
from handwriting.data.render import render_strokes
from handwriting.data.synthetic import write_text

HEIGHT = 32


def _bars(slant_deg: float = 0.0, n: int = 6, H: int = 80, paper: int = 255, ink: int = 0
          ) -> np.ndarray:
  """Paper image of `n` vertical bars (rows 20..60), each leaning by `slant_deg` (top right)."""
  img = np.full((H, 40 * n + 60), paper, np.uint8)
  t = math.tan(math.radians(slant_deg))
  for r in range(20, 60):
    shift = int(round(t * (60 - r)))
    for k in range(n):
      c = 30 + 40 * k + shift
      img[r, c:c + 6] = ink
  return img


def _line(H: int = 96) -> np.ndarray:
  """Paper image of a written line (the built-in Hershey script) with ascenders and descenders."""
  line = write_text("hold the big fly quietly", np.random.default_rng(3))
  return 255 - render_strokes(line.strokes, height=H, pen_width=0.05)


def test_otsu_splits_two_modes():
  values = np.concatenate([np.full(500, 0.1), np.full(300, 0.7)])
  t = otsu_threshold(values)
  assert 0.1 < t <= 0.7
  assert np.all((values > t) == (values == 0.7))


def test_darkness_maps_paper_to_0_and_ink_to_1():
  img = np.full((50, 200), 200, np.uint8)
  img[20:30, 10:190] = 50  # 18 % ink
  d = darkness(img)
  assert d[0, 0] == pytest.approx(0.0) and d[25, 100] == pytest.approx(1.0)
  with pytest.raises(BlankImage):
    darkness(np.full((20, 50), 128, np.uint8))


def test_output_height_margin_and_range():
  out = normalize_line(_line(), HEIGHT)
  assert out.shape[0] == HEIGHT and out.dtype == np.uint8
  rows = np.flatnonzero(out.max(1) > 64)
  pad = (HEIGHT - (HEIGHT - 2 * round(0.04 * HEIGHT))) // 2
  assert rows[0] == pad and rows[-1] == HEIGHT - 1 - pad  # ink spans the band, margins empty
  assert out.max() == 255 and out[0].max() == 0


def test_paper_and_ink_levels_do_not_matter():
  clean = normalize_line(_line(), HEIGHT)
  grey = (_line().astype(np.float64) * (180 - 70) / 255 + 70).astype(np.uint8)  # grey on grey
  other = normalize_line(grey, HEIGHT)
  assert other.shape == clean.shape
  assert np.mean(np.abs(other.astype(int) - clean.astype(int))) < 3


def test_resolution_does_not_matter():
  big, small = _line(192), _line(48)
  a, b = normalize_line(big, HEIGHT), normalize_line(small, HEIGHT)
  assert abs(a.shape[1] - b.shape[1]) <= 2
  w = min(a.shape[1], b.shape[1])
  iou = np.sum((a[:, :w] > 127) & (b[:, :w] > 127)) / np.sum((a[:, :w] > 127) | (b[:, :w] > 127))
  assert iou > 0.6


def test_deslant_makes_bars_upright():
  flat = LineNorm(max_skew_deg=0)
  upright = np.sum((normalize_line(_bars(0.0), HEIGHT, flat) > 127).any(0))
  for slant in (-25.0, 20.0):
    # Leaning bars cover many more columns than upright ones; deslanted, they cover as few.
    inked = np.sum((normalize_line(_bars(slant), HEIGHT, flat) > 127).any(0))
    assert inked <= 1.3 * upright, slant
    off = np.sum((normalize_line(_bars(slant), HEIGHT, LineNorm(max_skew_deg=0, max_slant_deg=0)) > 127).any(0))
    assert off >= 1.8 * upright, slant


def test_best_angle_finds_a_rotation_and_a_shear():
  x = np.linspace(0, 500, 2000)
  y = np.tan(math.radians(4.0)) * x + np.repeat([0.0, 30.0], 1000)  # two parallel lines at 4 deg
  assert _best_angle(x, y, np.arange(-8, 8.01, 0.5), "rows") == pytest.approx(4.0)
  ys = np.tile(np.linspace(0, 40, 50), 10)
  xs = np.repeat(np.arange(10) * 30.0, 50) + np.tan(math.radians(15.0)) * ys  # leaning right
  assert _best_angle(xs, ys, np.arange(-45, 45.01, 1.0), "cols") == pytest.approx(-15.0, abs=1.0)


def test_deskew_levels_a_rotated_line():
  img = _line()
  rotated = np.asarray(Image.fromarray(img).rotate(5, resample=Image.Resampling.BILINEAR,
                                                   expand=True, fillcolor=255))
  a = normalize_line(img, HEIGHT, LineNorm(max_slant_deg=0))
  b = normalize_line(rotated, HEIGHT, LineNorm(max_slant_deg=0))
  assert abs(a.shape[1] - b.shape[1]) <= 0.05 * a.shape[1]  # a tilted line would come out shorter
  no = normalize_line(rotated, HEIGHT, LineNorm(max_slant_deg=0, max_skew_deg=0))
  assert no.shape[1] < 0.9 * a.shape[1]


def test_specks_and_neighbour_fragments_are_removed():
  clean = np.pad(_line(), ((14, 0), (0, 0)), constant_values=255)  # room above the line
  dirty = clean.copy()
  rng = np.random.default_rng(0)
  for r, c in zip(rng.integers(0, dirty.shape[0], 40), rng.integers(0, dirty.shape[1], 40)):
    dirty[r, c] = 0  # scanner specks
  dirty[:6, 100:160] = 0  # a descender of the line above, cut at the top edge
  a, b = normalize_line(clean, HEIGHT), normalize_line(dirty, HEIGHT)
  assert a.shape == b.shape and np.mean(np.abs(a.astype(int) - b.astype(int))) < 2
  kept = normalize_line(dirty, HEIGHT, LineNorm(clean=False))
  assert kept.shape != a.shape  # without clean-up the fragment stretches the crop


def test_blank_images_raise():
  with pytest.raises(BlankImage):
    normalize_line(np.full((40, 100), 255, np.uint8), HEIGHT)
  with pytest.raises(BlankImage):
    normalize_line(np.full((40, 100), 90, np.uint8), HEIGHT)
