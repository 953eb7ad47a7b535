"""Online → offline: rasterising pen strokes into a line image for the recogniser.

An online line (pen points, y growing up) becomes a grey line image in the recogniser's **ink**
convention (uint8 [H, W], background 0, ink 255; see data/images.py), so handwriting that exists
only as strokes (IAM-OnDB, the synthetic Hershey lines, the synthesis network's samples) can
train or be read by the offline MDLSTM recogniser (Graves & Schmidhuber 2009 read pixels).

Geometry, in order: slant (shear in x, top moves right for a positive angle), fit of the ink's
vertical range (or a given `y_range`) into the image height minus margins, `scale` about the
vertical centre, then drawing. Pen width, blur and margin are fractions of the image height so a
rendering looks the same at any height. Lines are drawn with Pillow at `SUPERSAMPLE` times the
resolution and box-filtered down, which anti-aliases the edges.

Dimension letters: H = image height, W = image width (pixels), N = points of one stroke.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# 4x4 supersampling gives 17 grey levels on an edge: smooth enough at the widths we draw.
SUPERSAMPLE = 4
# Real text lines (IAM: about 2000 x 120 pixels) have aspect ratios up to ~30; a much wider
# rendering is almost surely a concatenation of lines or a pen that never lifted, and its image
# would make one MDLSTM batch huge, so it is refused with a clear error instead.
MAX_ASPECT = 64.0


class RenderError(ValueError):
  """The strokes cannot be rendered (no points, or a line far wider than `max_aspect`)."""


def _check_strokes(strokes: Sequence[np.ndarray]) -> list[np.ndarray]:
  """Strokes as float64 [N, 2] arrays; rejects empty input and non-finite points."""
  out = []
  for i, s in enumerate(strokes):
    pts_Nx2 = np.asarray(s, dtype=np.float64)
    if pts_Nx2.ndim != 2 or pts_Nx2.shape[1] != 2:
      raise RenderError(f"stroke {i} has shape {pts_Nx2.shape}, expected [n, 2]")
    if len(pts_Nx2) == 0:
      continue  # a stroke without points draws nothing; the line may still have ink elsewhere
    if not np.all(np.isfinite(pts_Nx2)):
      raise RenderError(f"stroke {i} has non-finite coordinates")
    out.append(pts_Nx2)
  if not out:
    raise RenderError("nothing to render: no stroke has any point")
  return out


def render_strokes(strokes: Sequence[np.ndarray], height: int = 64, pen_width: float = 0.04,
                   blur: float = 0.0, slant: float = 0.0, scale: float = 1.0,
                   margin: float = 0.06, y_range: tuple[float, float] | None = None,
                   max_aspect: float = MAX_ASPECT) -> np.ndarray:
  """Draws pen-down strokes as an ink image uint8 [height, W] (background 0, ink 255).

  Args:
    strokes: list of [N, 2] absolute points (x, y) with y growing up; each is one pen-down
      segment drawn as connected lines with round joins and caps (one point draws a dot).
    height: output height in pixels; the width follows the aspect ratio of the ink.
    pen_width: stroke thickness as a fraction of `height` (0.04 → 2.6 px at height 64).
    blur: standard deviation of a Gaussian blur as a fraction of `height` (0 = none).
    slant: shear angle in radians; x += tan(slant) * y, so positive leans the top right.
    scale: size of the ink relative to the fitted size, about the vertical centre (< 1 leaves
      more empty rows, > 1 may clip ascenders and descenders).
    margin: empty rows kept above and below the fitted ink, as a fraction of `height`.
    y_range: (low, high) data y mapped to the fitted band; default the ink's own y range (as IAM
      line images are cropped to the ink). Ink with no vertical extent (a dot, a dash) falls back
      to a frame as tall as the ink is wide (at least 1 data unit), centred on it.
    max_aspect: the largest allowed W / height; wider lines raise RenderError.

  Returns:
    img_HxW uint8 with H == height.
  """
  pts = _check_strokes(strokes)
  if height < 4:
    raise RenderError(f"height {height} is too small to draw (need >= 4 pixels)")
  shear = math.tan(slant)
  pts = [np.stack([p[:, 0] + shear * p[:, 1], p[:, 1]], axis=1) for p in pts]
  all_Nx2 = np.concatenate(pts, axis=0)
  x_min, x_max = all_Nx2[:, 0].min(), all_Nx2[:, 0].max()
  if y_range is None:
    y_lo, y_hi = all_Nx2[:, 1].min(), all_Nx2[:, 1].max()
    if y_hi - y_lo <= 1e-9 * max(1.0, x_max - x_min):
      half = max(x_max - x_min, 1.0) / 2
      y_lo, y_hi = y_lo - half, y_hi + half
  else:
    y_lo, y_hi = float(min(y_range)), float(max(y_range))
    if y_hi - y_lo <= 0:
      raise RenderError(f"y_range {y_range} has no extent")
  pen_px = max(pen_width * height, 0.5)
  margin_px = margin * height
  # The band leaves half a pen width inside the margins so the thickest ink never clips.
  band = height - 2 * margin_px - pen_px
  if band <= 0:
    raise RenderError(f"margin {margin} and pen_width {pen_width} leave no room at height {height}")
  px_per_unit = scale * band / (y_hi - y_lo)
  width = int(math.ceil((x_max - x_min) * px_per_unit + 2 * margin_px + pen_px))
  if width > max_aspect * height:
    raise RenderError(f"line too wide: {width} pixels at height {height} (aspect "
                      f"{width / height:.0f} > max_aspect {max_aspect:g}); split the line or "
                      "raise max_aspect")
  width = max(width, 1)
  y_mid = (y_lo + y_hi) / 2
  ss = SUPERSAMPLE

  def to_pixels(p_Nx2: np.ndarray) -> list[tuple[float, float]]:
    # Image rows grow down while data y grows up: the highest ink gets the smallest row.
    col = (p_Nx2[:, 0] - x_min) * px_per_unit + margin_px + pen_px / 2
    row = height / 2 - (p_Nx2[:, 1] - y_mid) * px_per_unit
    # Pillow puts integer coordinates on pixel centres: shift by half a supersampled pixel so
    # that continuous position c covers pixel floor(c), as the box filter below assumes.
    return list(zip((col * ss - 0.5).tolist(), (row * ss - 0.5).tolist()))

  canvas = Image.new("L", (width * ss, height * ss), 0)
  draw = ImageDraw.Draw(canvas)
  w = pen_px * ss
  for p_Nx2 in pts:
    xy = to_pixels(p_Nx2)
    if len(xy) > 1:
      draw.line(xy, fill=255, width=max(int(round(w)), 1), joint="curve")
    # Round caps (and the dot of a one-point stroke): Pillow's lines end square. Pillow's
    # ellipse box is inclusive of its last pixel, hence the half pixel in from each side.
    r = w / 2 - 0.5
    for cx, cy in (xy[0], xy[-1]):
      draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
  img = canvas.resize((width, height), Image.Resampling.BOX)
  if blur > 0:
    img = img.filter(ImageFilter.GaussianBlur(radius=blur * height))
  return np.asarray(img, dtype=np.uint8)


@dataclasses.dataclass(frozen=True)
class RenderJitter:
  """Uniform ranges (low, high) of the rendering parameters; units as in `render_strokes`."""

  pen_width: tuple[float, float] = (0.025, 0.06)  # thin ballpoint .. felt pen
  blur: tuple[float, float] = (0.0, 0.015)  # up to ~1 px at height 64: scanner softness
  slant: tuple[float, float] = (-0.15, 0.15)  # radians, on top of the writer's own slant
  scale: tuple[float, float] = (0.85, 1.0)  # never > 1: clipping would lose ink of the label


def render_random(strokes: Sequence[np.ndarray], rng: np.random.Generator,
                  jitter: RenderJitter = RenderJitter(), height: int = 64,
                  **kwargs) -> np.ndarray:
  """One rendering with parameters drawn uniformly from `jitter` (data augmentation).

  Deterministic for a given `rng` state: it draws exactly four numbers, in field order.
  Extra keyword arguments (margin, y_range, max_aspect) go to `render_strokes`.
  """
  params = {f.name: float(rng.uniform(*getattr(jitter, f.name)))
            for f in dataclasses.fields(jitter)}
  return render_strokes(strokes, height=height, **params, **kwargs)
