"""Handwriting pages as SVG (svgwrite): smooth pen-down paths, one text row per line.

Input lines are lists of strokes, each an [N, 2] array of absolute pen positions with y growing
UP (the data convention); SVG's y grows down, so rows are flipped here and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import svgwrite

Strokes = Sequence[np.ndarray]


def smooth_path(points_Nx2: np.ndarray) -> str:
  """SVG path data through the points: quadratic Beziers with the samples as control points and
  the midpoints between samples as anchors, so the curve is smooth (C1) and stays within the
  polyline's hull. One point draws a dot (a zero-length line with round caps)."""
  p = np.asarray(points_Nx2, np.float64)
  if len(p) == 1:
    return f"M{p[0, 0]:.2f},{p[0, 1]:.2f} l0.01,0"
  if len(p) == 2:
    return f"M{p[0, 0]:.2f},{p[0, 1]:.2f} L{p[1, 0]:.2f},{p[1, 1]:.2f}"
  mid = (p[1:] + p[:-1]) / 2
  parts = [f"M{p[0, 0]:.2f},{p[0, 1]:.2f}", f"L{mid[0, 0]:.2f},{mid[0, 1]:.2f}"]
  for ctrl, end in zip(p[1:-1], mid[1:]):
    parts.append(f"Q{ctrl[0]:.2f},{ctrl[1]:.2f} {end[0]:.2f},{end[1]:.2f}")
  parts.append(f"L{p[-1, 0]:.2f},{p[-1, 1]:.2f}")
  return " ".join(parts)


def layout(lines: Sequence[Strokes], line_height: float, margin: float
           ) -> tuple[list[list[np.ndarray]], float, float]:
  """Scales all lines by one factor (so handwriting size is uniform), flips y, and stacks them
  `line_height` apart. Returns (lines in SVG coordinates, page width, page height)."""
  heights = [np.ptp(np.concatenate(s)[:, 1]) for s in lines if len(s)]
  # The median line's ink height fills 60% of a row: ascenders and descenders get the rest.
  scale = 0.6 * line_height / max(float(np.median(heights)) if heights else 1.0, 1e-6)
  placed, width = [], 0.0
  for row, strokes in enumerate(lines):
    if not len(strokes):
      placed.append([])
      continue
    pts = np.concatenate(strokes)
    x0, y_mid = pts[:, 0].min(), (pts[:, 1].min() + pts[:, 1].max()) / 2
    baseline = margin + (row + 0.5) * line_height
    out = []
    for s in strokes:
      q = np.empty_like(np.asarray(s, np.float64))
      q[:, 0] = margin + (s[:, 0] - x0) * scale
      q[:, 1] = baseline - (s[:, 1] - y_mid) * scale
      out.append(q)
    width = max(width, max(q[:, 0].max() for q in out) + margin)
    placed.append(out)
  return placed, max(width, 2 * margin + 1), 2 * margin + len(lines) * line_height


def svg_drawing(lines: Sequence[Strokes], *, line_height: float = 60.0, margin: float = 20.0,
                stroke_width: float = 2.0, colour: str | Sequence[str] = "black",
                background: str | None = "white") -> svgwrite.Drawing:
  """The lines as one page; `colour` is one colour or one per line."""
  placed, width, height = layout(lines, line_height, margin)
  dwg = svgwrite.Drawing(size=(f"{width:.0f}px", f"{height:.0f}px"),
                         viewBox=f"0 0 {width:.1f} {height:.1f}")
  if background:
    dwg.add(dwg.rect((0, 0), (width, height), fill=background))
  colours = [colour] * len(lines) if isinstance(colour, str) else list(colour)
  if len(colours) != len(lines):
    raise ValueError(f"{len(colours)} colours for {len(lines)} lines")
  for strokes, c in zip(placed, colours):
    group = dwg.g(stroke=c, fill="none", stroke_width=stroke_width, stroke_linecap="round",
                  stroke_linejoin="round")
    for s in strokes:
      group.add(dwg.path(d=smooth_path(s)))
    dwg.add(group)
  return dwg


def svg_text(lines: Sequence[Strokes], **kwargs) -> str:
  """The page as SVG markup (options as `svg_drawing`)."""
  return svg_drawing(lines, **kwargs).tostring()


def write_svg(path: str | os.PathLike[str], lines: Sequence[Strokes], **kwargs) -> None:
  """Writes the page to `path` (options as `svg_drawing`), atomically."""
  path = Path(path)
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text(svg_text(lines, **kwargs), encoding="utf-8")
  os.replace(tmp, path)
