"""A drawing from the page (mouse, pen or touch) as pen points in IAM-OnDB's units and sampling.

The browser sends strokes of (x, y, t) in CSS pixels, y growing down, sampled at whatever rate
the device gives (a mouse: coarse and uneven). The shipped online reader and writer were trained
on IAM-OnDB lines, so a drawing is brought to that data's form before either sees it:
  * y flipped to grow up (the data convention, api/page.py);
  * scaled so that its ink's 5-95 % height band matches IAM-OnDB's (INK_HEIGHT), which fixes the
    size whatever the screen, zoom or device;
  * each stroke resampled at equal arc-length steps of IAM-OnDB's median pen-down step
    (POINT_SPACING), which fixes the point density a coarse mouse or a fast tablet gives.
Both constants were measured on the IAM-OnDB training lines prepared by `prepare iam-ondb
--protocol official` (every 10th trainset line, 535 lines): the median over lines of the 5-95 %
percentile band of point heights (353 units) and of the median pen-down step (19.2 units).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from handwriting.api.page import strokes_to_points
from handwriting.data.report import DataError

INK_HEIGHT = 353.0
POINT_SPACING = 19.2
MAX_STROKES = 500
MAX_POINTS = 20_000


def _resample(stroke_Nx2: np.ndarray, spacing: float) -> np.ndarray:
  """Points at equal arc-length steps of `spacing` along the polyline, both ends kept."""
  seg = np.hypot(*np.diff(stroke_Nx2, axis=0).T)
  length = float(seg.sum())
  if len(stroke_Nx2) < 2 or length <= 0:
    return stroke_Nx2[:1]
  at = np.concatenate([[0.0], np.cumsum(seg)])
  n = max(int(round(length / spacing)), 1)
  s = np.linspace(0.0, length, n + 1)
  return np.stack([np.interp(s, at, stroke_Nx2[:, 0]), np.interp(s, at, stroke_Nx2[:, 1])], 1)


def check_strokes(strokes: object, name: str = "strokes") -> list[np.ndarray]:
  """The drawing as float arrays [N, 2+] (x, y[, t]); DataError for anything else."""
  if not isinstance(strokes, Sequence) or not strokes:
    raise DataError(name, "no strokes: draw something first")
  if len(strokes) > MAX_STROKES:
    raise DataError(name, f"too many strokes: {len(strokes)} > {MAX_STROKES}")
  out, total = [], 0
  for i, s in enumerate(strokes):
    try:
      a = np.asarray(s, np.float64)
    except (TypeError, ValueError):
      raise DataError(name, f"stroke {i} is not a list of [x, y] points") from None
    if a.ndim != 2 or a.shape[1] < 2 or len(a) == 0:
      raise DataError(name, f"stroke {i} is not a list of [x, y] points (shape {a.shape})")
    if not np.isfinite(a[:, :2]).all():
      raise DataError(name, f"stroke {i} holds a non-finite coordinate")
    total += len(a)
    out.append(a[:, :2])
  if total > MAX_POINTS:
    raise DataError(name, f"too many points: {total} > {MAX_POINTS}")
  return out


def drawing_to_points(strokes: object) -> np.ndarray:
  """Browser strokes (CSS pixels, y down) -> points [N, 3] (x, y up, pen_up) in IAM-OnDB units
  and point spacing, the first point at the origin."""
  checked = check_strokes(strokes)
  flipped = [np.stack([s[:, 0], -s[:, 1]], 1) for s in checked]
  # Height band on evenly spaced points (dense, 1 px), so slow and fast parts weigh alike.
  dense = np.concatenate([_resample(s, 1.0) for s in flipped])
  band = float(np.percentile(dense[:, 1], 95) - np.percentile(dense[:, 1], 5))
  if band < 1.0:  # a flat scribble: use its width instead, as one line of a few letters
    band = max(float(np.ptp(dense[:, 0])) / 8.0, 1.0)
  scale = INK_HEIGHT / band
  resampled = [_resample(s * scale, POINT_SPACING) for s in flipped]
  points = strokes_to_points(resampled)
  if len(points) < 2:
    raise DataError("strokes", "the drawing is a single dot: write a word")
  points[:, :2] -= points[0, :2]
  return points
