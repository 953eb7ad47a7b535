"""Reading image files with a trained offline reader: single lines, pages of several lines, and
manifests of line images with their transcriptions (`evaluate recognizer --images`).

Every image goes through the reader's own normalisation (`spec.image_norm`, data/images.py
`line_input`), the one it was trained with, unless the caller asks for another. A bad file is
reported by name with its reason and skipped; the other files are still read.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from flax import nnx

from handwriting.data.images import line_input, load_image, pil_to_paper
from handwriting.data.report import DataError, SkipReport
from handwriting.recognition.inference import Decoder, posteriors, read_spec, transcribe
from handwriting.recognition.metrics import char_errors, word_errors
from handwriting.train.checkpoint import CheckpointError, restore_model

ImageLike = str | os.PathLike[str] | np.ndarray


class Reader:
  """A trained reader: its spec from the checkpoint's meta at once, its weights restored at the
  first transcription (so bad inputs are reported before the model loads), and, for an offline
  reader, how it normalises images."""

  def __init__(self, workdir: str | os.PathLike[str], norm: str | None = None):
    meta, self.spec = read_spec(workdir)
    self.workdir = str(workdir)
    self.step = int(meta["step"])
    self.norm = norm or self.spec.image_norm
    self._model: nnx.Module | None = None

  @classmethod
  def load(cls, workdir: str | os.PathLike[str], norm: str | None = None) -> Reader:
    """An offline (image) reader; `norm` None: the normalisation it was trained with."""
    reader = cls(workdir, norm)
    if reader.spec.input_kind != "images":
      raise CheckpointError(f"{workdir} holds an online (pen stroke) reader: it cannot read "
                            "images")
    return reader

  @property
  def model(self) -> nnx.Module:
    if self._model is None:
      self._model, _ = restore_model(self.workdir, self.spec)
    return self._model

  def inputs(self, paper_HxW: np.ndarray, name: str | os.PathLike[str]) -> np.ndarray:
    return line_input(paper_HxW, self.spec.config.image_height, self.norm, name)

  def posteriors(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return posteriors(self.model, self.spec, inputs)

  def transcribe(self, inputs: Sequence[np.ndarray], decoder: Decoder) -> list[str]:
    return transcribe(self.model, self.spec, inputs, decoder)


def is_pil_image(image: object) -> bool:
  return hasattr(image, "convert") and hasattr(image, "size")


def paper_image(image: ImageLike) -> tuple[np.ndarray, str]:
  """(paper-convention uint8 [H, W], a name for messages) of a path, a PIL image or an array."""
  if is_pil_image(image):
    return pil_to_paper(image), "image"
  if isinstance(image, np.ndarray):
    a = np.asarray(image)
    if a.ndim == 3:  # colour: ITU-R 601-2 luma, as Pillow converts
      a = a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if a.ndim != 2 or min(a.shape) < 2:
      raise DataError("array", f"not a line image: shape {np.shape(image)}")
    if a.dtype != np.uint8:
      a = np.clip(a * (255.0 if a.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return a, "array"
  return load_image(image), str(image)


def line_inputs(reader: Reader, paper_HxW: np.ndarray, name: str, pages: bool = True
                ) -> list[np.ndarray]:
  """The network inputs of an image: one per text line found (`pages`, data/segment.py) or the
  whole image as one line. A line left blank by normalisation is dropped from a page of several
  lines; DataError when nothing readable is left."""
  from handwriting.data.segment import split_lines
  lines = split_lines(paper_HxW) if pages else [paper_HxW]
  ready = []
  for line_HxW in lines:
    try:
      ready.append(reader.inputs(line_HxW, name))
    except DataError:
      if len(lines) == 1:
        raise
  if not ready:
    raise DataError(name, "no readable line found")
  return ready


def read_images(reader: Reader, images: Sequence[ImageLike], decoder: Decoder,
                pages: bool = True) -> tuple[list[tuple[str, str]], SkipReport]:
  """(name, text) per readable image and a report of the unreadable ones.

  With `pages`, an image holding several text lines is cut into its lines (data/segment.py)
  and the text has one line per text line, top to bottom; a single line stays one line.
  """
  report, names, line_counts, inputs = SkipReport(), [], [], []
  for image in images:
    try:
      paper_HxW, name = paper_image(image)
      ready = line_inputs(reader, paper_HxW, name, pages)
    except DataError as e:
      report.add(e)
      continue
    names.append(name)
    line_counts.append(len(ready))
    inputs.extend(ready)
  texts = reader.transcribe(inputs, decoder) if inputs else []
  out, at = [], 0
  for name, n in zip(names, line_counts):
    out.append((name, "\n".join(texts[at:at + n])))
    at += n
  return out, report


@dataclasses.dataclass
class ImageEvaluation:
  """Figures of `evaluate_images`; rates are corpus level (total edits / total length)."""

  cer: float
  wer: float
  lines: int
  skipped: int
  chars: int
  char_edits: int
  step: int
  norm: str
  rows: list[tuple[str, str, str, float]]  # image, reference, hypothesis, line CER


def evaluate_images(reader: Reader, manifest: str | os.PathLike[str], decoder: Decoder,
                    report: SkipReport | None = None,
                    hypotheses: str | os.PathLike[str] | None = None) -> ImageEvaluation:
  """CER / WER of `reader` on the line images of a manifest (data/manifest.py), each image one
  line (no page segmentation). Texts are compared in `comparison_form` (data/text.py): natural
  text, spaces before punctuation ignored. Writes image, reference, hypothesis and line CER as
  TSV to `hypotheses` when given. Unreadable rows are reported in `report` and skipped."""
  from handwriting.data.manifest import read_manifest
  from handwriting.data.text import comparison_form
  rows, manifest_report = read_manifest(manifest)
  report = SkipReport() if report is None else report
  report.items.extend(manifest_report.items)
  refs, inputs, names = [], [], []
  for row in rows:
    try:
      paper_HxW, name = paper_image(row.image)
      inputs.append(reader.inputs(paper_HxW, name))
    except DataError as e:
      report.add(e)
      continue
    refs.append(comparison_form(row.text))
    names.append(str(row.image))
  if not refs:
    raise DataError(manifest, "no readable line image")
  hyps = [comparison_form(h) for h in reader.transcribe(inputs, decoder)]
  c, w = char_errors(refs, hyps), word_errors(refs, hyps)
  per_line = [(n, r, h, char_errors([r], [h]).rate) for n, r, h in zip(names, refs, hyps)]
  if hypotheses is not None:
    _write_tsv(Path(hypotheses), per_line)
  return ImageEvaluation(c.rate, w.rate, len(refs), len(report), c.ref_len, c.edits,
                         reader.step, reader.norm, per_line)


def _write_tsv(path: Path, rows: list[tuple[str, str, str, float]]) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp")
  with open(tmp, "w", encoding="utf-8") as f:
    f.write("# image\treference\thypothesis\tline CER\n")
    f.writelines(f"{name}\t{ref}\t{hyp}\t{cer:.4f}\n" for name, ref, hyp, cer in rows)
  os.replace(tmp, path)
