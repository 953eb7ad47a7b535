"""`handwriting show`: one prepared line as strokes (coloured per pen-down segment) and image."""

from __future__ import annotations

import os

from handwriting.data.prepared import Prepared
from handwriting.data.report import DataError


def show(folder: str | os.PathLike[str], split: str, index: int,
         output: str | os.PathLike[str]) -> str:
  """Plots line `index` of `split` to the PNG `output`; returns its transcription."""
  from handwriting.data.render import render_strokes
  from handwriting.data.strokes import offsets_to_strokes
  from handwriting.draw.plots import plot_strokes_and_image

  data = Prepared(folder)
  strokes = data.raw_strokes(split) if data.has_strokes(split) else None
  images = data.images(split) if data.has_images(split) else None
  n = len(strokes) if strokes is not None else len(images) if images is not None else 0
  if not 0 <= index < n:
    raise DataError(data.folder, f"index {index} out of range: split {split!r} has {n} lines")
  ref = strokes if strokes is not None else images
  text = str(ref.texts[index])
  offsets = strokes[index] if strokes is not None else None
  if images is not None:
    image = data.image(split, index)
  else:
    image = render_strokes(offsets_to_strokes(offsets), height=data.meta.get("image_height", 64))
  plot_strokes_and_image(offsets, image, text, str(output))
  return text
