"""Ink of a page image: the Otsu (1979) threshold between ink and paper, and the 8-connected ink
components as row runs (vectorised union-find), for the line finder (data/segment.py).

Pixel convention: paper (data/images.py), uint8 [H, W], white paper 255, dark ink low.
Dimension letters: H = image height, W = image width (pixels), R = row runs of ink,
E = pairs of touching runs, N = ranges.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Otsu always splits the histogram in two, even on blank paper with scanner noise; two classes
# whose mean grey levels differ by less than this are one (paper only, no ink).
MIN_CONTRAST = 32


def otsu_threshold(paper_HxW: np.ndarray) -> int | None:
  """The grey level t that best splits `paper_HxW` into ink (< t) and paper (>= t) (Otsu 1979).

  Maximises the between-class variance w0 w1 (mu0 - mu1)^2 over the 256-bin histogram; on a
  plateau of equal variances (two-level images) it takes the plateau's middle. None when the
  image holds a single class: flat, or classes closer than MIN_CONTRAST grey levels.
  """
  hist_256 = np.bincount(as_uint8(paper_HxW).ravel(), minlength=256).astype(np.float64)
  p_256 = hist_256 / max(hist_256.sum(), 1.0)
  levels_256 = np.arange(256, dtype=np.float64)
  w0_256 = np.cumsum(p_256)  # weight of the dark class, levels <= k
  m0_256 = np.cumsum(p_256 * levels_256)
  mean = m0_256[-1]
  w1_256 = 1.0 - w0_256
  valid = (w0_256 > 1e-12) & (w1_256 > 1e-12)
  if not valid.any():
    return None
  var_256 = np.where(valid, (mean * w0_256 - m0_256) ** 2 / np.where(valid, w0_256 * w1_256, 1.0),
                     -1.0)
  best = np.flatnonzero(var_256 >= var_256.max() * (1 - 1e-12))
  k = int(np.floor((best[0] + best[-1]) / 2))
  mu0 = m0_256[k] / w0_256[k]
  mu1 = (mean - m0_256[k]) / w1_256[k]
  if mu1 - mu0 < MIN_CONTRAST:
    return None
  return k + 1


def as_uint8(img_HxW: np.ndarray) -> np.ndarray:
  img_HxW = np.asarray(img_HxW)
  if img_HxW.dtype == np.uint8:
    return img_HxW
  return np.clip(np.floor(img_HxW.astype(np.float64) + 0.5), 0, 255).astype(np.uint8)


def expand(starts_N: np.ndarray, lengths_N: np.ndarray) -> np.ndarray:
  """Concatenated ranges [start, start + length) for every N, vectorised."""
  total = int(lengths_N.sum())
  offsets_N = np.cumsum(lengths_N) - lengths_N
  return np.repeat(starts_N - offsets_N, lengths_N) + np.arange(total)


@dataclasses.dataclass(frozen=True)
class Ink:
  """The ink mask as row runs [start, end) and the components they belong to."""

  row_R: np.ndarray
  start_R: np.ndarray
  end_R: np.ndarray
  comp_R: np.ndarray  # component of each run, 0..C-1
  shape: tuple[int, int]

  @property
  def length_R(self) -> np.ndarray:
    return self.end_R - self.start_R

  @property
  def n_comps(self) -> int:
    return int(self.comp_R.max()) + 1 if self.comp_R.size else 0


def _touching_runs(ink_rows: tuple[np.ndarray, np.ndarray, np.ndarray],
                   W: int) -> tuple[np.ndarray, np.ndarray]:
  """Pairs (a_E, b_E) of runs in consecutive rows that touch, diagonals included (8-connected).

  Runs are in row-major order, so keys row * (W + 2) + column sort them, and the runs of row r+1
  touching run i (s_j <= e_i and s_i <= e_j) are one contiguous slice found by searchsorted.
  """
  row_R, start_R, end_R = ink_rows
  K = W + 2
  lo_R = np.searchsorted(row_R * K + end_R, (row_R + 1) * K + start_R, side="left")
  hi_R = np.searchsorted(row_R * K + start_R, (row_R + 1) * K + end_R, side="right")
  n_R = np.maximum(hi_R - lo_R, 0)
  a_E = np.repeat(np.arange(row_R.size), n_R)
  return a_E, expand(lo_R, n_R)


def _union(n: int, a_E: np.ndarray, b_E: np.ndarray) -> np.ndarray:
  """Component labels 0..C-1 of n nodes joined by edges (a_E, b_E): vectorised union-find.

  Each round hooks every root to the smallest root it touches, then jumps pointers until every
  node points at its root; parent[x] <= x throughout, so no cycle can form.
  """
  parent = np.arange(n)
  while True:
    ra_E, rb_E = parent[a_E], parent[b_E]
    apart = ra_E != rb_E
    if not apart.any():
      break
    np.minimum.at(parent, np.maximum(ra_E, rb_E)[apart], np.minimum(ra_E, rb_E)[apart])
    while True:
      grand = parent[parent]
      if np.array_equal(grand, parent):
        break
      parent = grand
  return np.unique(parent, return_inverse=True)[1].ravel()


def find_ink(mask_HxW: np.ndarray) -> Ink:
  H, W = mask_HxW.shape
  padded = np.zeros((H, W + 2), np.int8)
  padded[:, 1:-1] = mask_HxW
  step = np.diff(padded, axis=1)  # step[r, c] = mask[r, c] - mask[r, c - 1]
  row_R, start_R = np.nonzero(step == 1)
  _, end_R = np.nonzero(step == -1)
  a_E, b_E = _touching_runs((row_R, start_R, end_R), W)
  return Ink(row_R, start_R, end_R, _union(row_R.size, a_E, b_E), (H, W))


def pixel_labels(ink: Ink) -> np.ndarray:
  """int [H, W] component of every ink pixel, -1 on paper."""
  H, W = ink.shape
  labels_HxW = np.full(H * W, -1, np.int64)
  labels_HxW[expand(ink.row_R * W + ink.start_R, ink.length_R)] = np.repeat(ink.comp_R,
                                                                             ink.length_R)
  return labels_HxW.reshape(H, W)


def label_components(mask_HxW: np.ndarray) -> tuple[np.ndarray, int]:
  """8-connected components of a boolean mask: (int [H, W] labels 1..n, 0 off the mask; n)."""
  ink = find_ink(np.asarray(mask_HxW, bool))
  return pixel_labels(ink) + 1, ink.n_comps
