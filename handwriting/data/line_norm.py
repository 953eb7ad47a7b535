"""One normalisation of text-line images, shared by training, evaluation and `read`.

A scan and a rendering must reach the network in the same form, whatever the scanner, pen,
paper or resolution. `normalize_line` takes a paper-convention grey image (uint8 [H, W], white
paper high, ink dark; see data/images.py) and returns the network's ink-convention image
(uint8 [height, W'], background 0, ink 255). In order:

1. **Working resolution**: images much lower than `height` are enlarged first (bilinear) so that
   binarisation sees smooth edges; much higher ones are reduced (box filter) to save time.
2. **Contrast**: paper level = a high percentile of the grey levels, ink level = a low one; the
   darkness (paper - grey) / (paper - ink) lies in [0, 1] for any paper colour or faint ink.
3. **Binarisation** (Otsu's threshold on the darkness): grey ink, paper texture, scanner noise
   and blur all vanish, which is most of what differs between scans and renderings; stroke edges
   are anti-aliased again by the final box-filter reduction.
4. **Clean-up**: specks (components far smaller than a dot) are dropped, and so are fragments of
   the lines above and below: components outside the line's core band that touch the top or
   bottom edge, or lie more than a core height away from it.
5. **Deskew** (the rotation whose horizontal ink profile is sharpest) and **deslant** (the shear
   whose vertical profile is sharpest), both searched over a fixed grid of angles.
6. **Crop to the ink** plus a margin, and **height normalisation** keeping the aspect ratio.

Dimension letters: H = image height, W = image width (pixels), N = ink pixels.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from PIL import Image
from scipy import ndimage

# Levels of a contrast below this (grey levels of 255) are noise, not ink: the image is blank.
MIN_CONTRAST = 24.0
# The slant and skew searches score at most this many ink pixels (a random subset): enough for a
# stable profile, and the search cost stays flat however big the image.
MAX_SCORED_POINTS = 20_000


class BlankImage(ValueError):
  """No ink: nothing darker than the paper by MIN_CONTRAST."""


@dataclasses.dataclass(frozen=True)
class LineNorm:
  """Options of `normalize_line`; the defaults are what the recognizers train and read with."""

  binarize: bool = True  # Otsu binarisation (else the contrast-normalised grey is kept)
  clean: bool = True  # drop specks and fragments of neighbouring lines
  max_skew_deg: float = 8.0  # deskew search range, +- degrees (0 = off)
  max_slant_deg: float = 45.0  # deslant search range, +- degrees (0 = off)
  margin: float = 0.04  # empty border kept around the ink, as a fraction of `height`


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
  """Otsu's threshold of `values` in [0, 1]: maximises the between-class variance."""
  hist, edges = np.histogram(np.clip(values, 0, 1), bins=bins, range=(0.0, 1.0))
  p = hist.astype(np.float64) / max(hist.sum(), 1)
  centres = (edges[:-1] + edges[1:]) / 2
  w0 = np.cumsum(p)
  m0 = np.cumsum(p * centres)
  total = m0[-1]
  w1 = 1.0 - w0
  with np.errstate(divide="ignore", invalid="ignore"):
    between = (total * w0 - m0) ** 2 / (w0 * w1)
  between[~np.isfinite(between)] = -1
  return float(edges[int(np.argmax(between)) + 1])


def darkness(paper_HxW: np.ndarray) -> np.ndarray:
  """float32 [H, W] in [0, 1]: 0 = paper, 1 = the image's own ink level (contrast normalised).

  The paper level is the 90th percentile of grey (a line image is mostly paper), the ink level
  the mean of the darkest 1 % ... 5 % band, so one black speck cannot set it. Raises BlankImage
  when they are closer than MIN_CONTRAST.
  """
  grey = paper_HxW.astype(np.float32)
  paper, dark = np.percentile(grey, 90), np.percentile(grey, 1)
  if paper - dark < MIN_CONTRAST:
    # A line of thin ink may cover under 1 % of the pixels: look at the darkest pixel too.
    dark = float(grey.min())
    if paper - dark < MIN_CONTRAST:
      raise BlankImage(f"blank image: contrast {paper - dark:.0f} grey levels "
                       f"(needs {MIN_CONTRAST:.0f})")
  return np.clip((paper - grey) / (paper - dark), 0.0, 1.0)


def _resize(img_HxW: np.ndarray, H: int, W: int) -> np.ndarray:
  """float32 resize: box filter when shrinking (keeps mean ink), bilinear when enlarging."""
  shrink = H <= img_HxW.shape[0]
  resample = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
  out = Image.fromarray(img_HxW.astype(np.float32), mode="F").resize((W, H), resample=resample)
  return np.asarray(out, dtype=np.float32)


def _clean(mask_HxW: np.ndarray) -> np.ndarray:
  """Drops specks and fragments of neighbouring lines (see the module docstring, step 4)."""
  H = mask_HxW.shape[0]
  labels_HxW, n = ndimage.label(mask_HxW, structure=np.ones((3, 3)))
  if n == 0:
    return mask_HxW
  slices = ndimage.find_objects(labels_HxW)
  areas = ndimage.sum_labels(mask_HxW, labels_HxW, index=np.arange(1, n + 1))
  # A dot of a thin pen at this working height is ~(0.02 H)^2; scanner specks are far smaller.
  keep = areas >= max(3.0, (0.012 * H) ** 2)
  edge = np.array([sl[0].start == 0 or sl[0].stop == H for sl in slices])
  # The core band comes from components inside the image when they hold enough of the ink:
  # fragments of other lines are cut by the edges, and must not pull the band towards them.
  inner = keep & ~edge
  basis = inner if areas[inner].sum() >= 0.3 * areas[keep].sum() else keep
  profile = np.bincount(np.nonzero(np.isin(labels_HxW, np.flatnonzero(basis) + 1))[0],
                        minlength=H).astype(np.float64)
  if profile.max() <= 0:
    return mask_HxW
  smooth = ndimage.uniform_filter1d(profile, size=max(3, H // 12))
  peak = int(np.argmax(smooth))
  strong = smooth >= 0.35 * smooth[peak]
  top = peak
  while top > 0 and strong[top - 1]:
    top -= 1
  bottom = peak + 1
  while bottom < H and strong[bottom]:
    bottom += 1
  core = bottom - top
  for k, sl in enumerate(slices):
    if not keep[k]:
      continue
    r0, r1 = sl[0].start, sl[0].stop
    overlaps = r0 < bottom and r1 > top
    far = r1 < top - core or r0 > bottom + core
    if not overlaps and (edge[k] or far):
      keep[k] = False
  return np.isin(labels_HxW, np.flatnonzero(keep) + 1)


def _best_angle(x_N: np.ndarray, y_N: np.ndarray, degrees: np.ndarray, axis: str) -> float:
  """The angle (degrees) whose projection of the ink points is sharpest (max sum of squares).

  axis "rows": rotation, scoring the horizontal profile (deskew); "cols": shear x + y tan(a),
  scoring the vertical profile (deslant).
  """
  best, best_score = 0.0, -1.0
  for a in degrees:
    t = math.radians(float(a))
    if axis == "rows":
      coord = y_N * math.cos(t) - x_N * math.sin(t)
    else:
      coord = x_N + y_N * math.tan(t)
    hist = np.bincount((coord - coord.min()).astype(np.int64))
    score = float(np.dot(hist, hist))
    # Ties (and near-ties) go to the smaller correction: never distort without a reason.
    if score > best_score * (1 + 1e-6) or (abs(score - best_score) <= 1e-6 * best_score
                                          and abs(a) < abs(best)):
      best, best_score = float(a), score
  return best


def _points(mask_HxW: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """x and y (y up from the bottom row) of the ink pixels, a fixed-size random subset."""
  rows, cols = np.nonzero(mask_HxW)
  if len(rows) > MAX_SCORED_POINTS:
    pick = rng.choice(len(rows), MAX_SCORED_POINTS, replace=False)
    rows, cols = rows[pick], cols[pick]
  return cols.astype(np.float64), (mask_HxW.shape[0] - 1 - rows).astype(np.float64)


def _rotate(ink_HxW: np.ndarray, degrees: float) -> np.ndarray:
  """Rotates counter-clockwise by `degrees` (ink convention: the new corners are empty)."""
  img = Image.fromarray(ink_HxW, mode="F")
  return np.asarray(img.rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True,
                               fillcolor=0.0), dtype=np.float32)


def _shear(ink_HxW: np.ndarray, degrees: float) -> np.ndarray:
  """x' = x + tan(a) * (H - 1 - row): a positive angle moves the top right (undoes a left lean)."""
  H, W = ink_HxW.shape
  t = math.tan(math.radians(degrees))
  extra = int(math.ceil(abs(t) * H))
  new_W = W + extra
  # Forward x' = x + t * (H - 1 - y) + offset, offset keeping x' >= 0; PIL wants the inverse,
  # input x = x' + t * y - t * (H - 1) - offset.
  offset = 0.0 if t >= 0 else float(extra)
  coeffs = (1.0, t, -t * (H - 1) - offset, 0.0, 1.0, 0.0)
  img = Image.fromarray(ink_HxW, mode="F")
  return np.asarray(img.transform((new_W, H), Image.Transform.AFFINE, coeffs,
                                  resample=Image.Resampling.BILINEAR, fillcolor=0.0),
                    dtype=np.float32)


def _working(dark_HxW: np.ndarray, height: int) -> np.ndarray:
  """Scales to a working height between 2 and 4 times `height` (see step 1)."""
  H, W = dark_HxW.shape
  target = min(max(H, 2 * height), 4 * height)
  if target == H:
    return dark_HxW
  return _resize(dark_HxW, target, max(1, round(W * target / H)))


def normalize_line(paper_HxW: np.ndarray, height: int, norm: LineNorm = LineNorm(),
                   seed: int = 0) -> np.ndarray:
  """Paper-convention grey line image -> ink-convention uint8 [height, W'] (module docstring).

  `seed` only picks which ink pixels score the angle searches when there are very many.
  Raises BlankImage when the image holds no ink.
  """
  if height < 4:
    raise ValueError(f"height must be at least 4, got {height}")
  ink_HxW = _working(darkness(np.asarray(paper_HxW)), height)
  # A light blur before thresholding: scanner noise would otherwise become specks of ink.
  smooth_HxW = ndimage.gaussian_filter(ink_HxW, 0.8)
  mask_HxW = smooth_HxW > max(otsu_threshold(smooth_HxW), 0.2)
  if norm.clean:
    mask_HxW = _clean(mask_HxW)
  if not mask_HxW.any():
    raise BlankImage("blank image: no ink left after removing specks")
  ink_HxW = mask_HxW.astype(np.float32) if norm.binarize else ink_HxW * mask_HxW
  rng = np.random.default_rng(seed)
  if norm.max_skew_deg > 0:
    x_N, y_N = _points(mask_HxW, rng)
    angle = _best_angle(x_N, y_N, np.arange(-norm.max_skew_deg, norm.max_skew_deg + 1e-9, 0.5),
                        "rows")
    if angle:
      ink_HxW = _rotate(ink_HxW, -angle)
  if norm.max_slant_deg > 0:
    x_N, y_N = _points(ink_HxW > 0.5, rng)
    coarse = _best_angle(x_N, y_N, np.arange(-norm.max_slant_deg, norm.max_slant_deg + 1e-9, 5.0),
                         "cols")
    fine = _best_angle(x_N, y_N, np.arange(coarse - 4, coarse + 4.01, 1.0), "cols")
    if fine:
      ink_HxW = _shear(ink_HxW, fine)
  return _crop_and_scale(ink_HxW, height, norm.margin)


def _crop_and_scale(ink_HxW: np.ndarray, height: int, margin: float) -> np.ndarray:
  """Crops to the ink plus `margin` * height on each side, then scales to `height` rows."""
  rows = np.flatnonzero((ink_HxW > 0.25).any(axis=1))
  cols = np.flatnonzero((ink_HxW > 0.25).any(axis=0))
  if rows.size == 0:
    raise BlankImage("blank image: no ink left after deskewing")
  crop = ink_HxW[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
  h, w = crop.shape
  # The margin is added at the output scale so that every line gets the same border.
  inner = max(1, height - 2 * round(margin * height))
  new_w = max(1, round(w * inner / h))
  scaled = _resize(crop, inner, new_w)
  pad = (height - inner) // 2
  out = np.zeros((height, new_w + 2 * pad), np.float32)
  out[pad:pad + inner, pad:pad + new_w] = scaled
  return np.clip(np.floor(out * 255 + 0.5), 0, 255).astype(np.uint8)
