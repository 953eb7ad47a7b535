"""Random distortions of pen strokes for training an online reader: size, aspect, slant and
writing speed, so that it reads writers (and mouse or tablet drawings) unlike those it saw.

A line comes as normalised offsets [T, 3] (data/strokes.py); it is turned back into points in
data units, distorted, and normalised again with the same statistics:
  * scale: x and y scaled by exp(u), u uniform in `log_scale` (y by its own draw within
    `aspect` of x's), about the line's start;
  * slant: x += tan(a) * y, a uniform in `slant` (radians);
  * speed: every stroke resampled by linear interpolation to round(n / r) points, r uniform
    in `speed` (r > 1: a faster writer, fewer points), its end points kept.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from handwriting.data.strokes import denormalize, normalize


@dataclasses.dataclass(frozen=True)
class StrokeJitter:
  log_scale: tuple[float, float] = (-0.15, 0.15)
  aspect: tuple[float, float] = (-0.1, 0.1)
  slant: tuple[float, float] = (-0.25, 0.25)
  speed: tuple[float, float] = (0.8, 1.25)


def _resample(stroke_Nx2: np.ndarray, n: int) -> np.ndarray:
  if len(stroke_Nx2) < 2 or n == len(stroke_Nx2):
    return stroke_Nx2
  at = np.linspace(0.0, len(stroke_Nx2) - 1.0, max(n, 2))
  idx = np.arange(len(stroke_Nx2))
  return np.stack([np.interp(at, idx, stroke_Nx2[:, 0]), np.interp(at, idx, stroke_Nx2[:, 1])], 1)


def distort(offsets_Tx3: np.ndarray, mean: np.ndarray, std: np.ndarray,
            rng: np.random.Generator, jitter: StrokeJitter = StrokeJitter()) -> np.ndarray:
  """One random distortion of a line of normalised offsets (see the module docstring)."""
  raw = denormalize(offsets_Tx3, mean, std).astype(np.float64)
  pts = np.cumsum(raw[:, :2], axis=0)
  u = rng.uniform(*jitter.log_scale)
  sx, sy = np.exp(u), np.exp(u + rng.uniform(*jitter.aspect))
  shear = np.tan(rng.uniform(*jitter.slant))
  speed = rng.uniform(*jitter.speed)
  pts = np.stack([sx * pts[:, 0] + shear * sy * pts[:, 1], sy * pts[:, 1]], 1)
  ends = np.nonzero(raw[:, 2] > 0.5)[0] + 1
  strokes = [s for s in np.split(pts, ends) if len(s)]
  strokes = [_resample(s, int(round(len(s) / speed))) for s in strokes]
  out_pts = np.concatenate(strokes)
  out = np.zeros((len(out_pts), 3))
  out[1:, :2] = np.diff(out_pts, axis=0)
  out[np.cumsum([len(s) for s in strokes]) - 1, 2] = 1.0
  if raw[-1, 2] < 0.5:  # an unfinished last stroke stays unfinished
    out[-1, 2] = 0.0
  return normalize(out.astype(np.float32), mean, std)
