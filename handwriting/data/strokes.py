"""Pen strokes as offset sequences, the synthesis network's input and target (Graves 2013, §4).

A line of online handwriting is a list of strokes, each an [N, 2] array of absolute pen positions
(x, y) as recorded: IAM-OnDB gives integer whiteboard units with y growing downward. The networks
see it as T = (total points) rows (dx, dy, eos):

  * (dx, dy) is the pen's move from the previous point, with y flipped so that y grows up. The
    first row is (0, 0): the line starts at the origin, so a line's position on the whiteboard is
    not modelled (`offsets_to_strokes` takes the start point back as an argument).
  * eos = 1 on the last point of each stroke (the pen lifts after it), else 0. The row after an
    eos row therefore holds the pen-up jump to the next stroke's first point.

Graves 2013, §4: "Recording errors in the x, y data was corrected by interpolating to fill in for
missing readings, and removing steps whose length exceeded a certain threshold." We do both:
`fill_gaps` interpolates over pen-down steps longer than `max_step` (the sensor dropped samples,
see DEFAULT_MAX_STEP), and `points_to_offsets(max_offset=...)` removes any remaining step longer
than `max_offset` (`remove_long_steps`). `preprocess` is both, the one function that training data
(`prepare iam-ondb`) and styles read from XML files (`Style.from_xml`) go through.

Dimension letters: T = rows (points) of one line, N = points of one stroke, B = batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from handwriting.data.report import DataError

# Coordinates beyond this are not a whiteboard reading (IAM-OnDB spans about 0..10,000).
MAX_COORD = 1e6

# Pen-down steps longer than this (raw IAM-OnDB units) are gaps in the recording and get filled
# by `fill_gaps`. Measured on all 10,715 IAM-OnDB lines (6.7 M points): the median pen-down step
# is 18; on a quarter of the lines, the 99.99th percentile of steps one sample apart
# (dt <= 0.02 s) is 121..150, while steps spanning 3-5 sample times (dropped readings) reach
# 380..930.
DEFAULT_MAX_STEP = 150.0

# Steps longer than this (raw units) are removed (Graves 2013, section 4). Pen-down steps never get
# here after `fill_gaps`; pen-up jumps have median 174, 99th percentile 700 and 99.9th 1,190, the
# longest (up to 2,860, about half a line's width of ~5,500) being returns to add a stroke far back
# in the line. 1,000 touches ~0.2 % of pen-up jumps (~500 in the corpus): these rare extreme
# targets would otherwise dominate the mixture-density loss.
DEFAULT_MAX_OFFSET = 1000.0


def validate_strokes(strokes: Sequence[np.ndarray], name: str) -> list[np.ndarray]:
  """The strokes as float32 [N, 2] arrays; DataError(name, reason) for unusable input.

  Rejects: no strokes, a stroke with no points, non-numeric values, NaN/inf and absurd
  coordinates (|x| or |y| > MAX_COORD).
  """
  if len(strokes) == 0:
    raise DataError(name, "empty stroke set")
  out = []
  for i, s in enumerate(strokes):
    try:
      pts_Nx2 = np.asarray(s, dtype=np.float32)
    except (TypeError, ValueError):
      raise DataError(name, f"non-numeric coordinates: stroke {i}") from None
    if pts_Nx2.size == 0:
      raise DataError(name, f"stroke without points: stroke {i}")
    if pts_Nx2.ndim != 2 or pts_Nx2.shape[1] != 2:
      raise DataError(name, f"bad stroke shape: stroke {i} is {pts_Nx2.shape}, expected [n, 2]")
    out.append(pts_Nx2)
  # Value checks on all points at once (one line has ~25 strokes; per-stroke numpy calls are
  # most of the cost of reading IAM-OnDB); the loop below only runs to name a bad stroke.
  all_Tx2 = np.concatenate(out)
  if np.isfinite(all_Tx2).all() and np.abs(all_Tx2).max() <= MAX_COORD:
    return out
  for i, pts_Nx2 in enumerate(out):
    if not np.isfinite(pts_Nx2).all():
      raise DataError(name, f"NaN or infinite coordinate: stroke {i}")
    if np.abs(pts_Nx2).max() > MAX_COORD:
      raise DataError(name, f"absurd coordinate: {np.abs(pts_Nx2).max():.3g} in stroke {i} "
                            f"(limit {MAX_COORD:.0e})")
  raise AssertionError("unreachable")


def fill_gaps(strokes: Sequence[np.ndarray], max_step: float) -> list[np.ndarray]:
  """Interpolates over pen-down steps longer than `max_step` (Graves 2013, §4, missing readings).

  A step of length L > max_step inside a stroke is cut into ceil(L / max_step) equal steps by
  inserting points on the straight segment; pen-up jumps between strokes are left alone.
  """
  if max_step <= 0:
    raise ValueError(f"max_step must be positive, got {max_step}")
  lengths_S = np.array([len(s) for s in strokes], dtype=np.int64)
  starts_S = np.cumsum(lengths_S) - lengths_S
  pts_Tx2 = np.concatenate(strokes).astype(np.float64)
  step_Mx2 = np.diff(pts_Tx2, axis=0)  # M = T - 1; step m goes from point m to point m + 1
  pieces_M = np.ceil(np.hypot(step_Mx2[:, 0], step_Mx2[:, 1]) / max_step).astype(np.int64)
  pieces_M = np.maximum(pieces_M, 1)
  pieces_M[starts_S[1:] - 1] = 1  # the pen-up jump into each next stroke
  if (pieces_M == 1).all():
    return [np.asarray(s, dtype=np.float32) for s in strokes]
  # Sub-step k of step m starts at point m + (k / pieces_m) * step_m.
  first_T = np.concatenate([[0], np.cumsum(pieces_M)])  # index of point t in the filled sequence
  step_of = np.repeat(np.arange(len(step_Mx2)), pieces_M)
  k = np.arange(len(step_of)) - first_T[step_of]
  filled = pts_Tx2[step_of] + (k / pieces_M[step_of])[:, None] * step_Mx2[step_of]
  filled = np.concatenate([filled, pts_Tx2[-1:]]).astype(np.float32)
  return np.split(filled, first_T[starts_S[1:]])


def remove_long_steps(dxy_Tx2: np.ndarray, max_offset: float) -> np.ndarray:
  """Removes the steps (rows) longer than `max_offset`: their move becomes (0, 0).

  The step is gone, not shortened: the strokes after it move back by its whole length. Its row
  stays (as a zero move) so that every point and end-of-stroke mark is kept: a removed pen-up jump
  leaves the next stroke starting where the previous one ended.
  """
  length_T = np.hypot(dxy_Tx2[:, 0], dxy_Tx2[:, 1])
  out = np.array(dxy_Tx2, copy=True)
  out[length_T > max_offset] = 0.0
  return out


def preprocess(strokes: Sequence[np.ndarray], max_step: float | None = DEFAULT_MAX_STEP,
               max_offset: float | None = DEFAULT_MAX_OFFSET, name: str = "strokes"
               ) -> np.ndarray:
  """Graves 2013, section 4: recorded strokes (y down) -> offsets [T, 3] with recording gaps
  filled (`fill_gaps`, pen-down steps over `max_step`) and the steps longer than `max_offset`
  removed (`remove_long_steps`); None skips either. DataError(name, reason) for bad input."""
  strokes = validate_strokes(strokes, name)
  filled = fill_gaps(strokes, max_step) if max_step is not None else strokes
  return points_to_offsets(filled, max_offset, name=name)


def points_to_offsets(strokes: Sequence[np.ndarray], max_offset: float | None = None,
                      name: str = "strokes") -> np.ndarray:
  """Absolute strokes (y down, as recorded) -> offsets [T, 3] float32 (dx, dy up, eos).

  Row 0 is (0, 0, eos_0); row t > 0 is (x_t - x_{t-1}, -(y_t - y_{t-1}), eos_t) over the points of
  all strokes in order; eos_t = 1 on each stroke's last point. With `max_offset`, longer (dx, dy)
  rows are removed (`remove_long_steps`). Bad input raises DataError(name, reason).
  """
  strokes = validate_strokes(strokes, name)
  pts_Tx2 = np.concatenate(strokes).astype(np.float64)
  pts_Tx2[:, 1] = -pts_Tx2[:, 1]
  offsets_Tx3 = np.zeros((len(pts_Tx2), 3), np.float64)
  offsets_Tx3[1:, :2] = np.diff(pts_Tx2, axis=0)
  offsets_Tx3[np.cumsum([len(s) for s in strokes]) - 1, 2] = 1.0
  if max_offset is not None:
    offsets_Tx3[:, :2] = remove_long_steps(offsets_Tx3[:, :2], max_offset)
  return offsets_Tx3.astype(np.float32)


def offsets_to_strokes(offsets_Tx3: np.ndarray, start: Sequence[float] = (0.0, 0.0),
                       y_down: bool = False) -> list[np.ndarray]:
  """Inverse of `points_to_offsets` (before clipping): offsets -> list of [N, 2] absolute points.

  Points are start + cumulative sum of (dx, dy), in the y-up frame of the offsets (for plotting),
  or in the recorded y-down frame with `y_down` (then `start` is a y-down point too, and
  offsets_to_strokes(points_to_offsets(s), s[0][0], y_down=True) gives s back). A stroke ends at
  each row with eos > 0.5; rows after the last eos (an unfinished sampled stroke) form a last
  stroke.
  """
  offsets_Tx3 = np.asarray(offsets_Tx3, dtype=np.float64)
  if offsets_Tx3.ndim != 2 or offsets_Tx3.shape[1] != 3:
    raise ValueError(f"expected offsets [T, 3], got shape {offsets_Tx3.shape}")
  pts_Tx2 = np.cumsum(offsets_Tx3[:, :2], axis=0)
  if y_down:
    pts_Tx2[:, 1] = -pts_Tx2[:, 1]
  pts_Tx2 += np.asarray(start, dtype=np.float64)
  ends = np.nonzero(offsets_Tx3[:, 2] > 0.5)[0] + 1
  pieces = np.split(pts_Tx2.astype(np.float32), ends)
  return [p for p in pieces if len(p)]


def compute_stats(offsets: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """(mean [2], std [2]) float32 of (dx, dy) over all lines: pass the training split only.

  Row 0 of each line is the fixed (0, 0) start, not a pen movement, so it is left out.
  """
  dxy = [np.asarray(o, np.float64)[1:, :2] for o in offsets]
  dxy_Tx2 = np.concatenate(dxy) if dxy else np.zeros((0, 2))
  if len(dxy_Tx2) < 2:
    raise ValueError("need at least two pen movements to compute offset statistics")
  mean, std = dxy_Tx2.mean(axis=0), dxy_Tx2.std(axis=0)
  if (std <= 0).any():
    raise ValueError(f"offset std is zero ({std}): the strokes do not move")
  return mean.astype(np.float32), std.astype(np.float32)


def normalize(offsets_Tx3: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
  """(dx, dy) -> ((dx, dy) - mean) / std, eos untouched; works on [..., 3] (e.g. [B, T, 3])."""
  out = np.array(offsets_Tx3, dtype=np.float32, copy=True)
  out[..., :2] = (out[..., :2] - mean) / std
  return out


def denormalize(offsets_Tx3: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
  """Inverse of `normalize`."""
  out = np.array(offsets_Tx3, dtype=np.float32, copy=True)
  out[..., :2] = out[..., :2] * std + mean
  return out
