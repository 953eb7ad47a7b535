"""Drawings from the page brought to IAM-OnDB's size and point spacing (serve/ink.py)."""

from __future__ import annotations

import numpy as np
import pytest

from handwriting.data.report import DataError
from handwriting.serve.ink import INK_HEIGHT, POINT_SPACING, drawing_to_points


def _zigzag(scale: float, step: float) -> list[list[list[float]]]:
  """Two strokes of a zig-zag 'word' in screen pixels (y down), sampled every `step` px."""
  xs = np.arange(0, 200, step)
  ys = 50 + 20 * np.abs(((xs / 60) % 2) - 1)  # between 50 and 70 px
  first = [[x * scale, y * scale, 10.0 * i] for i, (x, y) in enumerate(zip(xs, ys))]
  second = [[250 * scale, 30 * scale, 0.0], [250 * scale, 80 * scale, 5.0]]
  return [first, second]


def test_size_and_sampling_do_not_matter():
  a = drawing_to_points(_zigzag(1.0, 1.0))  # a dense pen
  b = drawing_to_points(_zigzag(3.0, 9.0))  # a coarse mouse on a bigger screen
  assert len(b) == pytest.approx(len(a), rel=0.05)  # coarse sampling cuts corners a little
  for p in (a, b):
    steps = np.hypot(*np.diff(p[:, :2], axis=0).T)[p[:-1, 2] < 0.5]  # pen-down moves
    assert np.median(steps) == pytest.approx(POINT_SPACING, rel=0.1)
    band = np.percentile(p[:, 1], 95) - np.percentile(p[:, 1], 5)
    assert band == pytest.approx(INK_HEIGHT, rel=0.25)
    assert p[:, 2].sum() == 2 and p[-1, 2] == 1 and p[0, :2].tolist() == [0, 0]


def test_y_is_flipped_to_grow_up():
  p = drawing_to_points([[[0, 100, 0], [0, 0, 1]]])  # drawn upward on screen
  assert p[-1, 1] > 0


@pytest.mark.parametrize("strokes, reason", [
  ([], "no strokes"), ([[]], "stroke 0"), ([[[0, "a"]]], "stroke 0"),
  ([[[0, float("nan")], [1, 1]]], "non-finite"), ([[[5, 5]]], "single dot")])
def test_bad_drawings_are_refused(strokes, reason):
  with pytest.raises(DataError, match=reason):
    drawing_to_points(strokes)
