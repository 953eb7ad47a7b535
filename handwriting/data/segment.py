"""Page -> text lines: cutting a page image into line images for the line recogniser.

The offline recogniser reads one line at a time (Graves & Schmidhuber 2009 read IAM line images),
so a scanned paragraph or a generated multi-line page is cut into lines first, by the classic
horizontal projection profile:

1. Ink mask: pixels darker than an Otsu (1979) threshold, so grey paper and faint ink both work.
2. Connected ink components (8-connected, labelled from row runs; steps 1-2 are data/ink.py).
   Their area-weighted median height is the page's letter height, the unit of every length
   below; components much smaller than it are specks and do not shape the profile.
3. Ink per row, smoothed by a Gaussian a fraction of a letter high. Its peaks are line cores; the
   valley between two peaks is a cut when it falls well below the lower peak, measured over the
   columns both lines cover (a short line beside a long one's descenders still shows its gap).
4. Each component belongs to the band holding most of its ink, so a descender that crosses a cut
   stays with its line. A cut with much ink on the wrong side of it runs through letters, not
   between lines; a band that owns too little ink, or ink too flat to be letters (an underline,
   the loops of descenders), is not a line. Both are merged away.

A page whose lines run askew (a skew search on the profile, step 3) is one band, and so is one
without a clear valley: a false split hurts the reader more than a missed one.

Pixel convention: paper (data/images.py), uint8 [H, W], white paper 255, dark ink low.
Dimension letters: H = image height, W = image width (pixels), R = row runs of ink,
E = pairs of touching runs, C = ink components, B = bands (lines), P = profile peaks.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from handwriting.data.ink import Ink, as_uint8, find_ink, otsu_threshold, pixel_labels

# Anti-aliased stroke edges are lighter than the threshold: pixels this close (8-neighbour steps)
# to a component go to the component's line, so no line image keeps a neighbour's faint fringe.
FRINGE = 2
# Skew search: slopes (rows per column) from -SKEW_MAX to SKEW_MAX (about 10 degrees) in
# SKEW_STEPS steps each way (0.01, about 0.6 degrees, apart).
SKEW_MAX = 0.18
SKEW_STEPS = 18


@dataclasses.dataclass(frozen=True)
class LineOptions:
  """How find_lines and split_lines judge lines; lengths are in letter heights (see above)."""

  min_gap: float = 0.6  # profile peaks closer than this are one line's core
  max_valley: float = 0.7  # a valley cuts only where the profile falls to this x the lower peak
  max_cross: float = 0.2  # more than this share of two lines' letter ink on the wrong side of
  # their cut means the cut runs through letters: it is dropped
  min_ink: float = 0.05  # a line owns at least this fraction of the fullest line's letter ink
  min_height: float = 0.5  # and letters this high (an underline, a row of loops is no line)
  smooth: float = 0.1  # standard deviation of the Gaussian that smooths the profile
  speck: float = 0.25  # components smaller than this both ways are dust or dots
  tall: float = 1.8  # components taller than this are touching lines: shared out by rows
  max_drift: float = 1.0  # lines rising or falling more across the page: one band (skewed)


@dataclasses.dataclass(frozen=True)
class _Comps:
  """Per-component statistics, and the page's letter height (the unit of LineOptions)."""

  area_C: np.ndarray
  height_C: np.ndarray
  speck_C: np.ndarray  # too small to be a letter: no say in the profile or the checks
  tall_C: np.ndarray  # spans lines that touch: shared between bands by rows, not owned whole
  letter_height: float


def _weighted_median(values_N: np.ndarray, weights_N: np.ndarray) -> float:
  order = np.argsort(values_N, kind="stable")
  cum_N = np.cumsum(weights_N[order])
  return float(values_N[order][np.searchsorted(cum_N, cum_N[-1] / 2)])


def _comp_stats(ink: Ink, opts: LineOptions) -> _Comps:
  C = ink.n_comps
  area_C = np.bincount(ink.comp_R, ink.length_R, minlength=C)
  top_C, left_C = np.full(C, ink.shape[0]), np.full(C, ink.shape[1])
  bottom_C, right_C = np.zeros(C, np.int64), np.zeros(C, np.int64)
  np.minimum.at(top_C, ink.comp_R, ink.row_R)
  np.maximum.at(bottom_C, ink.comp_R, ink.row_R + 1)
  np.minimum.at(left_C, ink.comp_R, ink.start_R)
  np.maximum.at(right_C, ink.comp_R, ink.end_R)
  height_C = bottom_C - top_C
  # Weighted by area, so a cloud of one-pixel specks cannot pull the letter height down.
  letter_height = _weighted_median(height_C.astype(np.float64), area_C)
  speck_C = np.maximum(height_C, right_C - left_C) < opts.speck * letter_height
  return _Comps(area_C, height_C, speck_C, height_C > opts.tall * letter_height, letter_height)


def _smooth(profile_H: np.ndarray, sigma: float) -> np.ndarray:
  """Gaussian smoothing with zero padding; the output is as long as the input, whatever sigma."""
  r = max(1, int(np.ceil(3 * sigma)))
  x = np.arange(-r, r + 1, dtype=np.float64)
  kernel = np.exp(-0.5 * (x / sigma) ** 2)
  return np.convolve(np.pad(profile_H, r), kernel / kernel.sum(), mode="valid")


def _peaks(q_H: np.ndarray, min_dist: float) -> list[int]:
  """Local maxima of q_H, the highest first kept, none closer than min_dist to a kept one."""
  padded = np.concatenate([[-np.inf], q_H, [-np.inf]])
  is_peak = (q_H > padded[:-2]) & (q_H >= padded[2:]) & (q_H > 0)
  kept: list[int] = []
  for i in sorted(np.flatnonzero(is_peak).tolist(), key=lambda i: -q_H[i]):
    if all(abs(i - k) >= min_dist for k in kept):
      kept.append(i)
  return sorted(kept)


def _drift(ink: Ink, letter_R: np.ndarray) -> float:
  """How far (rows) a line of this page rises or falls across the page's ink width.

  Classic skew estimation: shear the ink by slopes up to SKEW_MAX and keep the slope whose row
  profile is sharpest (largest sum of squares), as lines crowd into the fewest rows when they
  run along them. Each run is moved by the slope at its middle column.
  """
  if not letter_R.any():
    return 0.0
  row_R, start_R, end_R = ink.row_R[letter_R], ink.start_R[letter_R], ink.end_R[letter_R]
  mid_R = (start_R + end_R) / 2 - start_R.min()
  width = float(end_R.max() - start_R.min())
  best_slope, best_energy = 0.0, -1.0
  for slope in sorted(np.linspace(-SKEW_MAX, SKEW_MAX, 2 * SKEW_STEPS + 1), key=abs):
    shifted_R = row_R + np.floor(mid_R * slope + 0.5).astype(np.int64)
    p_H = np.bincount(shifted_R - shifted_R.min(), end_R - start_R)
    energy = float((p_H.astype(np.float64) ** 2).sum())
    if energy > best_energy * (1 + 1e-9):  # ties keep the flatter slope, met first from 0
      best_slope, best_energy = slope, energy
  return abs(best_slope) * width


def _row_span(ink: Ink, letter_R: np.ndarray, top: int, bottom: int) -> tuple[int, int]:
  """Columns [left, right) of the letter ink in rows [top, bottom)."""
  lo, hi = np.searchsorted(ink.row_R, [top, bottom])
  mine_R = letter_R[lo:hi]
  if not mine_R.any():
    return 0, 0
  return int(ink.start_R[lo:hi][mine_R].min()), int(ink.end_R[lo:hi][mine_R].max())


def _valley_ratio(ink: Ink, letter_R: np.ndarray, a: int, b: int, sigma: float) -> float:
  """Lowest smoothed ink per row between peak rows a < b over the lower of the two peaks,
  counting only the columns both lines cover.

  A short line under a long one shares rows with the long line's descenders; over the whole
  width they would fill the valley, over the short line's columns they cannot.
  """
  r = max(1, int(np.ceil(3 * sigma)))
  (left_a, right_a), (left_b, right_b) = (_row_span(ink, letter_R, a - r, a + r + 1),
                                          _row_span(ink, letter_R, b - r, b + r + 1))
  left, right = max(left_a, left_b), min(right_a, right_b)
  if right <= left:  # side by side, no shared column: judge the valley over the whole width
    left, right = 0, ink.shape[1]
  top = max(a - 2 * r, 0)
  lo, hi = np.searchsorted(ink.row_R, [top, b + 2 * r + 1])
  width_R = np.clip(np.minimum(ink.end_R[lo:hi], right) - np.maximum(ink.start_R[lo:hi], left),
                    0, None) * letter_R[lo:hi]
  p_h = np.bincount(ink.row_R[lo:hi] - top, width_R, minlength=b + 2 * r + 1 - top)
  q_h = _smooth(p_h.astype(np.float64), sigma)[a - top:b - top + 1]
  low_peak = min(q_h[0], q_h[-1])
  return float(q_h.min() / low_peak) if low_peak > 0 else 1.0


def _deep_peaks(ink: Ink, letter_R: np.ndarray, q_H: np.ndarray, peaks_P: list[int],
                sigma: float, max_valley: float) -> list[int]:
  """Drops the lower peak of the shallowest valley until every valley between neighbouring
  peaks falls to at most max_valley times the lower of the two (see _valley_ratio)."""
  peaks_P = list(peaks_P)
  while len(peaks_P) > 1:
    ratios = [_valley_ratio(ink, letter_R, a, b, sigma) for a, b in itertools.pairwise(peaks_P)]
    worst = int(np.argmax(ratios))
    if ratios[worst] <= max_valley:
      break
    a, b = peaks_P[worst], peaks_P[worst + 1]
    peaks_P.remove(a if q_H[a] < q_H[b] else b)
  return peaks_P


def _cut_row(p_H: np.ndarray, q_H: np.ndarray, a: int, b: int) -> int:
  """The row between peaks a < b where the lower line starts: inside the smoothed valley, the
  middle of the emptiest run of raw-profile rows (a blank gap is halved between the lines)."""
  v = a + int(np.argmin(q_H[a:b + 1]))
  near_H = q_H <= q_H[v] + 0.25 * (min(q_H[a], q_H[b]) - q_H[v])
  lo, hi = v, v
  while lo > a and near_H[lo - 1]:
    lo -= 1
  while hi < b and near_H[hi + 1]:
    hi += 1
  emptiest_N = lo + np.flatnonzero(p_H[lo:hi + 1] == p_H[lo:hi + 1].min())
  runs = np.split(emptiest_N, np.flatnonzero(np.diff(emptiest_N) > 1) + 1)
  nearest = min(runs, key=lambda run_N: np.abs(run_N - v).min())
  return int(nearest[0] + nearest[-1] + 1) // 2


def _ink_per_band(ink: Ink, cuts: list[int]) -> np.ndarray:
  """float [C, B]: pixels of each component in each band (bands split at the cut rows)."""
  B = len(cuts) + 1
  band_R = np.searchsorted(np.asarray(cuts, np.int64), ink.row_R, side="right")
  return np.bincount(ink.comp_R * B + band_R, ink.length_R,
                     minlength=ink.n_comps * B).reshape(ink.n_comps, B)


def _owners(comps: _Comps, per_band_CxB: np.ndarray) -> np.ndarray:
  """Each component's band: the one holding most of it (ties go up); -1 for a tall one."""
  return np.where(comps.tall_C, -1, np.argmax(per_band_CxB, axis=1))


def _crossed_cut(comps: _Comps, per_band_CxB: np.ndarray, max_cross: float) -> int | None:
  """The cut with the most letter ink on the wrong side of it, if that is over `max_cross` of
  the ink of the lines on either side: a cut through letters, not between lines."""
  owner_C = _owners(comps, per_band_CxB)
  letter_C = ~comps.speck_C & (owner_C >= 0)
  above_CxK = np.cumsum(per_band_CxB, axis=1)[:, :-1]  # ink above each cut
  owner_Cx1 = owner_C[:, None]
  cut_K = np.arange(above_CxK.shape[1])
  wrong_CxK = np.where(owner_Cx1 <= cut_K, comps.area_C[:, None] - above_CxK, above_CxK)
  pair_CxK = (owner_Cx1 == cut_K) | (owner_Cx1 == cut_K + 1)
  wrong_K = (wrong_CxK * letter_C[:, None]).sum(0)
  share_K = wrong_K / np.maximum((pair_CxK * (comps.area_C * letter_C)[:, None]).sum(0), 1)
  worst = int(np.argmax(share_K)) if share_K.size else 0
  return worst if share_K.size and share_K[worst] > max_cross else None


def _weak_band(comps: _Comps, per_band_CxB: np.ndarray, opts: LineOptions) -> int | None:
  """The band owning the least letter ink among those that own too little, or letters too
  flat, to be a line; None when every band is a line. Tall components count by rows."""
  owner_C = _owners(comps, per_band_CxB)
  whole_CxB = np.eye(per_band_CxB.shape[1])[np.maximum(owner_C, 0)] * comps.area_C[:, None]
  own_CxB = np.where(comps.tall_C[:, None], per_band_CxB, whole_CxB) * ~comps.speck_C[:, None]
  own_B = own_CxB.sum(0)
  weak = []
  for b, own in enumerate(own_B):
    mine_C = own_CxB[:, b] > 0
    flat = own == 0 or (_weighted_median(comps.height_C[mine_C].astype(np.float64),
                                         own_CxB[mine_C, b])
                        < opts.min_height * comps.letter_height)
    if own < opts.min_ink * own_B.max() or flat:
      weak.append(b)
  return min(weak, key=lambda b: own_B[b]) if weak else None


def _prune_cuts(ink: Ink, comps: _Comps, cuts: list[int], opts: LineOptions) -> list[int]:
  """Removes cuts through letters, then merges bands that are not lines, until neither is left."""
  cuts = list(cuts)
  while cuts:
    per_band_CxB = _ink_per_band(ink, cuts)
    crossed = _crossed_cut(comps, per_band_CxB, opts.max_cross)
    if crossed is not None:
      del cuts[crossed]
      continue
    b = _weak_band(comps, per_band_CxB, opts)
    if b is None:
      break
    # Join the neighbour that owns most of the ink lying in band b (the letters it cut into).
    owner_C = _owners(comps, per_band_CxB)
    up = per_band_CxB[owner_C == b - 1, b].sum() if b > 0 else -1.0
    down = per_band_CxB[owner_C == b + 1, b].sum() if b < len(cuts) else -1.0
    del cuts[b - 1 if up >= down else b]
  return cuts


@dataclasses.dataclass(frozen=True)
class _Segmentation:
  """What find_lines found, kept for split_lines to hand the ink out by."""

  cuts: list[int]  # the first row of every line but the first
  ink: Ink | None  # None when the image holds no ink (or is too low to hold two lines)
  comps: _Comps | None


def _segment(paper_HxW: np.ndarray, opts: LineOptions) -> _Segmentation:
  if paper_HxW.ndim != 2:
    raise ValueError(f"expected a grey image [H, W], got shape {paper_HxW.shape}")
  threshold = otsu_threshold(paper_HxW) if paper_HxW.size else None
  if threshold is None or paper_HxW.shape[0] < 2:
    return _Segmentation([], None, None)
  ink = find_ink(paper_HxW < threshold)
  comps = _comp_stats(ink, opts)
  letter_R = ~comps.speck_C[ink.comp_R]
  if _drift(ink, letter_R) > opts.max_drift * comps.letter_height:
    return _Segmentation([], ink, comps)  # skewed: every horizontal cut would cross lines
  p_H = np.bincount(ink.row_R[letter_R], ink.length_R[letter_R],
                    minlength=paper_HxW.shape[0]).astype(np.float64)
  sigma = max(opts.smooth * comps.letter_height, 0.5)
  q_H = _smooth(p_H, sigma)
  peaks_P = _deep_peaks(ink, letter_R, q_H, _peaks(q_H, opts.min_gap * comps.letter_height),
                        sigma, opts.max_valley)
  cuts = [_cut_row(p_H, q_H, a, b) for a, b in itertools.pairwise(peaks_P)]
  return _Segmentation(_prune_cuts(ink, comps, cuts, opts), ink, comps)


def find_lines(paper_HxW: np.ndarray, **options: float) -> list[tuple[int, int]]:
  """(top, bottom) half-open row bands of each text line, top to bottom.

  The bands tile the image: the first starts at row 0, the last ends at H, and each cut lies at
  the emptiest rows between two line cores (blank margins stay with the nearest line). The
  image is one band [(0, H)] when it holds one line, no ink, no clear valley, or lines that run
  askew (more than `max_drift` letter heights across the page). A descender crossing a cut is
  not moved here; `split_lines` gives it to its line.

  Args:
    paper_HxW: uint8 [H, W] page in paper convention (any paper and ink grey levels).
    **options: fields of LineOptions (min_gap=..., max_valley=..., ...).
  """
  paper_HxW = as_uint8(paper_HxW)
  edges = [0, *_segment(paper_HxW, LineOptions(**options)).cuts, paper_HxW.shape[0]]
  return [(int(top), int(bottom)) for top, bottom in itertools.pairwise(edges)]


def split_lines(paper_HxW: np.ndarray, **options: float) -> list[np.ndarray]:
  """The page cut into one paper-convention line image per band of `find_lines`, top to bottom.

  Every pixel goes to exactly one line: an ink component (with its anti-aliased fringe) to the
  band holding most of it, a tall one (lines that touch) and any other pixel to the band of its
  row. A line image spans its band and the rows of its components, full width (crop it with
  images.crop_to_ink); pixels that belong to another line are set to the paper's grey, so no
  ink is lost or shown twice. One band gives a copy of the page.
  """
  paper_HxW = as_uint8(paper_HxW)
  seg = _segment(paper_HxW, LineOptions(**options))
  if not seg.cuts or seg.ink is None or seg.comps is None:
    return [paper_HxW.copy()]
  owner_HxW, labels_HxW = _pixel_owners(seg.ink, seg.comps, seg.cuts)
  paper_grey = np.uint8(np.median(paper_HxW[labels_HxW < 0]))
  edges = [0, *seg.cuts, paper_HxW.shape[0]]
  lines = []
  for b, (band_top, band_bottom) in enumerate(itertools.pairwise(edges)):
    rows = np.flatnonzero((owner_HxW == b).any(axis=1))
    top, bottom = band_top, band_bottom
    if rows.size:
      top, bottom = min(top, int(rows[0])), max(bottom, int(rows[-1]) + 1)
    lines.append(np.where(owner_HxW[top:bottom] == b, paper_HxW[top:bottom], paper_grey))
  return lines


def _pixel_owners(ink: Ink, comps: _Comps, cuts: list[int]) -> tuple[np.ndarray, np.ndarray]:
  """int [H, W] band of every pixel, and int [H, W] component labels (-1 on paper)."""
  H, W = ink.shape
  owner_C = _owners(comps, _ink_per_band(ink, cuts))
  labels_HxW = pixel_labels(ink)
  row_band_HxW = np.broadcast_to(np.searchsorted(np.asarray(cuts), np.arange(H),
                                                 side="right")[:, None], (H, W))
  comp_owner_HxW = owner_C[np.maximum(labels_HxW, 0)]
  ink_owner_HxW = np.where(labels_HxW < 0, -1,
                           np.where(comp_owner_HxW < 0, row_band_HxW, comp_owner_HxW))
  ink_owner_HxW = _spread(ink_owner_HxW, FRINGE)
  return np.where(ink_owner_HxW >= 0, ink_owner_HxW, row_band_HxW), labels_HxW


def _spread(owner_HxW: np.ndarray, steps: int) -> np.ndarray:
  """Each unowned (-1) pixel within `steps` 8-neighbour steps of an owned one takes its owner."""
  H, W = owner_HxW.shape
  for _ in range(steps):
    padded = np.pad(owner_HxW, 1, constant_values=-1)
    for dr in (-1, 0, 1):
      for dc in (-1, 0, 1):
        near_HxW = padded[1 + dr:1 + dr + H, 1 + dc:1 + dc + W]
        owner_HxW = np.where(owner_HxW < 0, near_HxW, owner_HxW)
  return owner_HxW
