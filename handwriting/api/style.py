"""A handwriting style: a line of pen points and its text, to prime a writer with (Graves 2013,
section 5.5: the network is shown the line first, then continues in that hand).

A style comes from an IAM-OnDB stroke file (`from_xml`), from points a user drew (`from_strokes`),
from a page a writer produced (`from_page`) or from a prepared folder's line (`from_prepared`),
and is kept as a small JSON file (`save` / `load`, nothing pickled):

  {"format": "handwriting-style", "version": 1, "text": "...", "rescale": false,
   "points": [[x, y, pen_up], ...]}

with points in the layout of `Page.strokes` (api/page.py: y up, pen_up 1 on each stroke's last
point). `rescale` true (a drawing in unknown units, e.g. screen pixels) scales the offsets to the
writer's own spread before priming; false means the points are in the writer's data units.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from handwriting.api.page import Page, points_to_offsets, strokes_to_points
from handwriting.data.report import DataError, read_bytes

FORMAT = "handwriting-style"
VERSION = 1
MAX_POINTS = 20_000  # a few lines of handwriting; beyond is not a style but a page


def _check_points(points: object, name: str) -> np.ndarray:
  try:
    p = np.asarray(points, np.float32)
  except (TypeError, ValueError) as e:
    raise DataError(name, f"points are not numbers: {e}") from None
  if p.ndim != 2 or p.shape[1] != 3:
    raise DataError(name, f"points must be an [N, 3] array of (x, y, pen_up), got shape "
                          f"{p.shape}")
  if len(p) < 2:
    raise DataError(name, f"a style needs at least 2 points, got {len(p)}")
  if len(p) > MAX_POINTS:
    raise DataError(name, f"too many points: {len(p)} > {MAX_POINTS}")
  if not np.isfinite(p).all():
    raise DataError(name, "points hold NaN or infinite values")
  p = p.copy()
  p[:, 2] = (p[:, 2] > 0.5).astype(np.float32)
  p[-1, 2] = 1.0  # the pen lifts at the end of the line
  p[:, :2] -= p[0, :2]
  return p


@dataclasses.dataclass(frozen=True)
class Style:
  """Points [N, 3] (x, y up, pen_up) of a line, its text, and whether to rescale it."""

  points: np.ndarray
  text: str
  rescale: bool = False

  def __post_init__(self):
    if not self.text.strip():
      raise DataError("style", "a style needs the text that its points write")

  @classmethod
  def from_strokes(cls, points: np.ndarray, text: str, rescale: bool = True) -> Style:
    """From an [N, 3] array (x, y up, pen_up) a user drew; `rescale` (default) because its
    units (pixels, millimetres) are not the writer's."""
    return cls(_check_points(points, "points"), text, rescale)

  @classmethod
  def from_page(cls, page: Page, line: int = 0) -> Style:
    """From a line a writer produced (already in that writer's units)."""
    if not 0 <= line < len(page.lines):
      raise IndexError(f"line {line} of a page of {len(page.lines)} lines")
    return cls(_check_points(page.lines[line].points, "page"), page.lines[line].text, False)

  @classmethod
  def from_xml(cls, path: str | os.PathLike[str], text: str) -> Style:
    """From an IAM-OnDB lineStrokes XML file and its transcription, preprocessed as
    `prepare iam-ondb` prepares training lines (`strokes.preprocess`: recording gaps filled,
    over-long steps removed), in IAM-OnDB units."""
    from handwriting.data import strokes as strokes_lib
    from handwriting.data.iam_ondb import read_stroke_xml
    name = str(path)
    strokes = read_stroke_xml(read_bytes(path), name)
    offsets = strokes_lib.preprocess(strokes, name=name)
    return cls(_check_points(offsets_to_points(offsets), name), text, False)

  @classmethod
  def from_prepared(cls, folder: str | os.PathLike[str], index: int, split: str = "valid"
                    ) -> Style:
    """Line `index` of a prepared folder's `split` (its last split if it has no `split`)."""
    from handwriting.data.prepared import Prepared
    prepared = Prepared(folder)
    if split not in prepared.splits:
      split = prepared.splits[-1]
    lines = prepared.raw_strokes(split)
    if not 0 <= index < len(lines):
      raise DataError(folder, f"style index {index} out of range: split {split!r} has "
                              f"{len(lines)} lines")
    raw = np.asarray(lines[index])
    return cls(_check_points(offsets_to_points(raw), f"{folder}:{split}:{index}"),
               str(lines.texts[index]), False)

  def offsets(self) -> np.ndarray:
    """Offsets [N, 3] (dx, dy up, eos), row 0 = (0, 0): the networks' input form, unnormalised."""
    return points_to_offsets(self.points)

  def to_json(self) -> dict:
    return {"format": FORMAT, "version": VERSION, "text": self.text, "rescale": self.rescale,
            "points": np.round(self.points.astype(np.float64), 3).tolist()}

  def save(self, path: str | os.PathLike[str]) -> Path:
    """Writes the style as JSON (the module docstring's format), atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)
    return path

  @classmethod
  def from_json(cls, data: object, name: str = "style") -> Style:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
      raise DataError(name, f"not a style file (no \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
      raise DataError(name, f"style format version {data.get('version')!r} is not {VERSION}")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
      raise DataError(name, "the style has no text")
    return cls(_check_points(data.get("points"), name), text, bool(data.get("rescale", False)))

  @classmethod
  def load(cls, path: str | os.PathLike[str]) -> Style:
    raw = read_bytes(path)
    try:
      data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
      raise DataError(path, f"not a JSON style file: {e}") from None
    return cls.from_json(data, str(path))


def offsets_to_points(offsets_Nx3: np.ndarray) -> np.ndarray:
  """Offsets [N, 3] (row 0 = start) -> points [N, 3] (x, y up, pen_up)."""
  from handwriting.data.strokes import offsets_to_strokes
  return strokes_to_points(offsets_to_strokes(np.asarray(offsets_Nx3, np.float32)))
