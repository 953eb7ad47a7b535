"""Pen strokes -> a grey image that looks like a scanned line (training data for real scans).

`render.py` draws clean anti-aliased ink; real scans differ (measured in experiments/
scan_stats.py on the dev scans, figure in RESULTS.md): stroke widths from a fine ballpoint to a
felt-tip, width and ink density that vary along the stroke with the pen's speed, grey ink on
grey or textured paper, blur and scanner noise, uneven slant and baseline, wide and uneven
margins, and pieces of the lines above and below. `render_scanlike` draws all of them, with every
parameter drawn from `ScanJitter`'s ranges, and returns the paper convention of a scan (uint8
[H, W], paper high, ink dark) so that it goes through the same `line_norm.normalize_line` as a
real scan.

Dimension letters: H = image height, W = image width (pixels), N = points of one stroke.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from handwriting.data.render import MAX_ASPECT, RenderError, _check_strokes

SUPERSAMPLE = 2  # the scan is drawn at twice its size and box-filtered: anti-aliased edges
CHUNK = 6  # points per drawn piece of stroke: each piece gets its own width and ink density


@dataclasses.dataclass(frozen=True)
class ScanJitter:
  """Uniform ranges (low, high) of the scan-like rendering; sizes are fractions of the body
  height (the ink's vertical extent in pixels) unless named otherwise."""

  body_px: tuple[float, float] = (48.0, 150.0)  # ink extent in pixels: low-res to 300-dpi scans
  pen_width: tuple[float, float] = (0.012, 0.075)  # fine ballpoint .. broad felt-tip
  speed_thinning: tuple[float, float] = (0.0, 0.6)  # how much a fast stroke is thinner / fainter
  ink_density: tuple[float, float] = (0.55, 1.0)  # darkness of the ink at its densest
  slant: tuple[float, float] = (-0.35, 0.35)  # radians of shear, on top of the writer's own
  rotation: tuple[float, float] = (-0.05, 0.05)  # radians: a line scanned not quite level
  elastic: tuple[float, float] = (0.0, 0.04)  # amplitude of a smooth random warp
  margin_x: tuple[float, float] = (0.02, 0.6)  # empty paper left and right
  margin_y: tuple[float, float] = (0.02, 0.45)  # empty paper above and below
  neighbour_gap: tuple[float, float] = (-0.1, 0.35)  # gap to the lines above/below (if given)
  paper: tuple[float, float] = (185.0, 255.0)  # paper grey level
  ink_grey: tuple[float, float] = (0.0, 110.0)  # grey level of the densest ink
  texture: tuple[float, float] = (0.0, 14.0)  # amplitude (grey levels) of blotchy paper
  noise: tuple[float, float] = (0.0, 9.0)  # standard deviation (grey levels) of scanner noise
  blur_px: tuple[float, float] = (0.0, 1.6)  # Gaussian blur in output pixels


def _draw(rng: np.random.Generator, jitter: ScanJitter) -> dict[str, float]:
  return {f.name: float(rng.uniform(*getattr(jitter, f.name))) for f in dataclasses.fields(jitter)}


def _warp(strokes: list[np.ndarray], p: dict[str, float], rng: np.random.Generator
          ) -> list[np.ndarray]:
  """Slant, rotation and a smooth elastic warp of the points, in units of the ink height."""
  all_Nx2 = np.concatenate(strokes)
  y_lo, y_hi = all_Nx2[:, 1].min(), all_Nx2[:, 1].max()
  h = max(y_hi - y_lo, 1e-6)
  x0 = all_Nx2[:, 0].min()
  # Two sinusoids per axis with wavelengths of 1-4 body heights: letters widen, narrow, bob.
  waves = [(rng.uniform(1, 4) * h, rng.uniform(0, 2 * math.pi)) for _ in range(4)]
  amp = p["elastic"] * h
  shear, rot = math.tan(p["slant"]), p["rotation"]
  c, s = math.cos(rot), math.sin(rot)
  out = []
  for pts in strokes:
    x, y = pts[:, 0] - x0, pts[:, 1] - y_lo
    x = x + amp * (np.sin(2 * math.pi * x / waves[0][0] + waves[0][1])
                   + np.sin(2 * math.pi * y / waves[1][0] + waves[1][1]))
    y = y + amp * (np.sin(2 * math.pi * x / waves[2][0] + waves[2][1])
                   + 0.5 * np.sin(2 * math.pi * x / waves[3][0] + waves[3][1]))
    x = x + shear * y
    out.append(np.stack([c * x - s * y, s * x + c * y], axis=1))
  return out


def _speed_factor(pts_Nx2: np.ndarray, median_step: float, thinning: float) -> np.ndarray:
  """Per point in (0, 1]: 1 where the pen moves slowly, less where fast (points of IAM-OnDB
  are sampled at a fixed rate, so their spacing is the pen's speed)."""
  if len(pts_Nx2) < 2:
    return np.ones(len(pts_Nx2))
  step = np.linalg.norm(np.diff(pts_Nx2, axis=0), axis=1)
  step = np.concatenate([step[:1], (step[1:] + step[:-1]) / 2, step[-1:]])
  rel = np.clip(step / max(median_step, 1e-9), 0.0, 3.0)
  return np.clip(1.0 - thinning * (rel - 1.0) / 2.0, 0.35, 1.0)


def _paint(draw: ImageDraw.ImageDraw, strokes: list[np.ndarray], to_px, pen_px: float,
           p: dict[str, float], rng: np.random.Generator) -> None:
  """Draws strokes piece by piece, each piece with the width and density of its speed."""
  steps = [np.linalg.norm(np.diff(s, axis=0), axis=1) for s in strokes if len(s) > 1]
  median_step = float(np.median(np.concatenate(steps))) if steps else 1.0
  wobble = rng.uniform(0.85, 1.15, size=max(1, sum(len(s) for s in strokes) // CHUNK + 2))
  k = 0
  for pts in strokes:
    xy = to_px(pts)
    speed = _speed_factor(pts, median_step, p["speed_thinning"])
    for start in range(0, len(xy), CHUNK):
      piece = xy[start:start + CHUNK + 1]  # one point of overlap keeps the stroke connected
      f = float(np.mean(speed[start:start + CHUNK + 1])) * wobble[min(k, len(wobble) - 1)]
      k += 1
      w = max(pen_px * SUPERSAMPLE * f, 1.0)
      fill = int(round(255 * min(1.0, p["ink_density"] * (0.75 + 0.25 * f))))
      if len(piece) > 1:
        draw.line(piece, fill=fill, width=max(int(round(w)), 1), joint="curve")
      r = w / 2 - 0.5
      for cx, cy in (piece[0], piece[-1]):
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)


def render_scanlike(strokes: Sequence[np.ndarray], rng: np.random.Generator,
                    jitter: ScanJitter = ScanJitter(),
                    neighbours: Sequence[Sequence[np.ndarray]] = (),
                    max_aspect: float = MAX_ASPECT) -> np.ndarray:
  """A scan-like paper-convention image uint8 [H, W] of one line of pen strokes.

  Args:
    strokes: list of [N, 2] absolute points (x, y), y growing up (as offsets_to_strokes gives).
    rng: the only source of randomness (deterministic for a given state).
    jitter: ranges of every parameter (see ScanJitter).
    neighbours: up to two other lines' strokes; the first is placed above, the second below,
      at a random gap, so that their descenders / ascenders reach into this line's margins as in
      line images cut from a page.
    max_aspect: the largest allowed W / H of the ink; wider lines raise RenderError.
  """
  pts = _check_strokes(strokes)
  p = _draw(rng, jitter)
  pts = _warp(pts, p, rng)
  all_Nx2 = np.concatenate(pts)
  x_lo, y_lo = all_Nx2.min(axis=0)
  x_hi, y_hi = all_Nx2.max(axis=0)
  h_units = max(y_hi - y_lo, 1e-6 * max(1.0, x_hi - x_lo))
  if h_units <= 1e-6 * max(1.0, x_hi - x_lo):
    h_units = max(x_hi - x_lo, 1.0)  # a dash: as tall as it is wide
  body = p["body_px"]
  px = body / h_units
  pen_px = max(p["pen_width"] * body, 0.8)
  mx, top, bottom = p["margin_x"] * body, p["margin_y"] * body, rng.uniform(*jitter.margin_y) * body
  W = int(math.ceil((x_hi - x_lo) * px + 2 * mx + pen_px))
  H = int(math.ceil(body + top + bottom + pen_px))
  if W > max_aspect * body + 2 * mx + pen_px:
    raise RenderError(f"line too wide: aspect {(x_hi - x_lo) / h_units:.0f} > {max_aspect:g}")
  ss = SUPERSAMPLE

  def placer(dy_px: float):
    def to_px(p_Nx2: np.ndarray) -> list[tuple[float, float]]:
      col = (p_Nx2[:, 0] - x_lo) * px + mx + pen_px / 2
      row = top + pen_px / 2 + (y_hi - p_Nx2[:, 1]) * px + dy_px
      return list(zip((col * ss - 0.5).tolist(), (row * ss - 0.5).tolist()))
    return to_px

  canvas = Image.new("L", (W * ss, H * ss), 0)
  draw = ImageDraw.Draw(canvas)
  _paint(draw, pts, placer(0.0), pen_px, p, rng)
  for side, other in zip((-1, 1), neighbours):
    try:
      o = _warp(_check_strokes(other), p, rng)
    except RenderError:
      continue
    o_lo, o_hi = np.concatenate(o).min(axis=0), np.concatenate(o).max(axis=0)
    # Rescale the neighbour to this line's size: same writer, same pen, same line spacing.
    scale = h_units / max(o_hi[1] - o_lo[1], 1e-6)
    dx = x_lo + rng.uniform(-0.3, 0.3) * h_units
    o = [np.stack([(s[:, 0] - o_lo[0]) * scale + dx, (s[:, 1] - o_lo[1]) * scale + y_lo], axis=1)
         for s in o]
    if rng.uniform() < 0.4:
      continue  # many line images are cut cleanly: no neighbour on this side
    # Its ink ends `neighbour_gap` bodies from ours (< 0: its descenders reach past our top).
    shift = side * (body + p["neighbour_gap"] * body)
    _paint(draw, o, placer(shift), pen_px, p, rng)
  ink_HxW = np.asarray(canvas.resize((W, H), Image.Resampling.BOX), np.float32) / 255.0
  if p["blur_px"] > 0.2:
    ink_HxW = ndimage.gaussian_filter(ink_HxW, p["blur_px"])
  return _to_paper(ink_HxW, p, rng)


def _to_paper(ink_HxW: np.ndarray, p: dict[str, float], rng: np.random.Generator) -> np.ndarray:
  """Ink darkness in [0, 1] -> grey paper with textured background and scanner noise."""
  H, W = ink_HxW.shape
  paper = np.full((H, W), p["paper"], np.float32)
  if p["texture"] > 0.5:
    # Smooth blotches: coarse noise (one value per ~H/4 pixels) enlarged bilinearly.
    cell = max(4, H // 4)
    coarse = rng.standard_normal((H // cell + 2, W // cell + 2)).astype(np.float32)
    blotch = np.asarray(Image.fromarray(coarse, mode="F").resize(
      ((W // cell + 2) * cell, (H // cell + 2) * cell), Image.Resampling.BILINEAR))[:H, :W]
    blotch = blotch / max(float(np.abs(blotch).max()), 1e-6)
    paper += p["texture"] * blotch
  ink_level = min(p["ink_grey"], p["paper"] - 60.0)
  grey = paper - ink_HxW * (paper - ink_level)
  if p["noise"] > 0.3:
    grey += p["noise"] * rng.standard_normal((H, W)).astype(np.float32)
  return np.clip(np.floor(grey + 0.5), 0, 255).astype(np.uint8)


def render_for_training(strokes: Sequence[np.ndarray], rng: np.random.Generator, height: int,
                        neighbours: Sequence[Sequence[np.ndarray]] = (),
                        jitter: ScanJitter = ScanJitter()) -> np.ndarray:
  """A scan-like rendering through the one line normalisation: ink uint8 [height, W]."""
  from handwriting.data.line_norm import normalize_line
  paper_HxW = render_scanlike(strokes, rng, jitter, neighbours)
  return normalize_line(paper_HxW, height, seed=int(rng.integers(1 << 31)))
