"""Handwriting pages as grey images (PNG, PDF): every line drawn at one scale, one row each."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from handwriting.data.render import render_strokes

Strokes = Sequence[np.ndarray]


def page_image(lines: Sequence[Strokes], row: int = 64, gap: int = 20) -> Image.Image:
  """The lines (strokes of [N, 2] points, y up) as one white page with black ink; the tallest
  line fills a row of `row` pixels, so all lines share one scale."""
  ys = [np.concatenate(s)[:, 1] for s in lines if len(s)]
  if not ys:
    raise ValueError("nothing to draw: the page has no ink")
  tallest = max(float(np.ptp(y)) for y in ys) or 1.0
  rows = []
  for strokes in lines:
    if not len(strokes):
      rows.append(np.full((row, 1), 255, np.uint8))
      continue
    y = np.concatenate(strokes)[:, 1]
    mid = float(y.min() + y.max()) / 2
    rows.append(255 - render_strokes(strokes, height=row,
                                     y_range=(mid - tallest / 2, mid + tallest / 2)))
  page = Image.new("L", (max(r.shape[1] for r in rows) + 2 * gap, (row + gap) * len(rows) + gap),
                   255)
  for k, r in enumerate(rows):
    page.paste(Image.fromarray(r), (gap, gap + (row + gap) * k))
  return page
