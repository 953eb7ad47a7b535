"""What a writer returns: a `Page` of written lines, each its pen points and attention weights.

Points layout (shared by `Page.strokes`, `Style.from_strokes` and the online `Reader`): one
float32 array [N, 3] per line, rows (x, y, pen_up) in drawing order; x grows right and y grows UP
(the data convention; SVG and images flip it when drawing); pen_up is 1 on the last point of each
stroke (the pen lifts after it) and 0 elsewhere. Units are those of the writer's training data
(IAM-OnDB: whiteboard units, a line about 1,000-2,000 tall; the synthetic set: x-heights), with
the line's first point at the origin.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PAGE_SUFFIXES = (".svg", ".png", ".pdf")


def points_to_strokes(points_Nx3: np.ndarray) -> list[np.ndarray]:
  """[N, 3] points -> list of [n, 2] pen-down strokes (split after each pen_up point)."""
  p = np.asarray(points_Nx3, np.float32)
  ends = np.nonzero(p[:, 2] > 0.5)[0] + 1
  return [s[:, :2] for s in np.split(p, ends) if len(s)]


def strokes_to_points(strokes: Sequence[np.ndarray]) -> np.ndarray:
  """Inverse of `points_to_strokes`: strokes of [n, 2] points -> [N, 3] with pen_up marks."""
  parts = []
  for s in strokes:
    s = np.asarray(s, np.float32).reshape(-1, 2)
    if len(s):
      up = np.zeros((len(s), 1), np.float32)
      up[-1] = 1.0
      parts.append(np.concatenate([s, up], axis=1))
  return np.concatenate(parts) if parts else np.zeros((0, 3), np.float32)


def points_to_offsets(points_Nx3: np.ndarray) -> np.ndarray:
  """[N, 3] points -> offsets [N, 3] (dx, dy up, eos) with row 0 = (0, 0, pen_up_0): the
  networks' input form before normalisation (data/strokes.py)."""
  p = np.asarray(points_Nx3, np.float32)
  out = np.zeros_like(p)
  out[1:, :2] = np.diff(p[:, :2], axis=0)
  out[:, 2] = p[:, 2]
  return out


@dataclasses.dataclass
class Line:
  """One written line: its text, points [N, 3] (see the module docstring), the attention
  weights phi [N-1, U+1] of each step over the text's characters (last column: past the end),
  and whether end-of-text was detected before the step cap without a stall."""

  text: str
  points: np.ndarray
  phi: np.ndarray | None = None
  finished: bool = True

  @property
  def strokes(self) -> list[np.ndarray]:
    return points_to_strokes(self.points)


@dataclasses.dataclass
class Page:
  """Written lines, top to bottom. In a notebook a page shows itself as SVG."""

  lines: list[Line]
  stroke_width: float = 2.0
  colour: str = "black"

  @property
  def text(self) -> str:
    return "\n".join(line.text for line in self.lines)

  @property
  def strokes(self) -> list[np.ndarray]:
    """Per line, its points [N, 3] (x, y up, pen_up) in the writer's data units."""
    return [line.points for line in self.lines]

  @property
  def attention(self) -> list[np.ndarray | None]:
    """Per line, the window weights phi [N-1, U+1] (None for unconditional samples)."""
    return [line.phi for line in self.lines]

  @property
  def finished(self) -> bool:
    return all(line.finished for line in self.lines)

  def svg(self) -> str:
    from handwriting.draw.svg import svg_text
    return svg_text([line.strokes for line in self.lines], stroke_width=self.stroke_width,
                    colour=self.colour)

  def _repr_svg_(self) -> str:
    return self.svg()

  def image(self, row: int = 64):
    """The page as a grey PIL image, each line `row` pixels tall."""
    from handwriting.draw.raster import page_image
    return page_image([line.strokes for line in self.lines], row=row)

  def save(self, path: str | os.PathLike[str]) -> Path:
    """Writes the page as SVG, PNG or PDF (by the suffix of `path`), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PAGE_SUFFIXES:
      raise ValueError(f"{path}: cannot write {suffix or 'a file without suffix'!r}; "
                       f"use one of {', '.join(PAGE_SUFFIXES)}")
    tmp = path.with_name(path.name + ".tmp")
    if suffix == ".svg":
      tmp.write_text(self.svg(), encoding="utf-8")
    else:
      self.image().save(tmp, format=suffix[1:].upper())
    os.replace(tmp, path)
    return path
