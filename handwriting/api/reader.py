"""`Reader`: a trained recognizer, loaded once, reading images (offline MDLSTM reader) or pen
strokes (online BLSTM reader) to text.

  reader = Reader.load()                   # the shipped default offline reader
  texts = reader.read(["line.png", pil_image, array_HxW])
  texts = reader.read(["page.png"], beam=10, lm="texts.txt")  # a page: one text line per line

Images go through the reader's own normalisation (data/line_norm.py); an image of several text
lines is cut into its lines first (data/segment.py) unless `pages=False`. An online reader reads
point arrays [N, 3] (x, y up, pen_up: the layout of `Page.strokes`, in the units of the reader's
training data) or whole `Page`s.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from handwriting import pretrained
from handwriting.api.page import Page, points_to_offsets
from handwriting.data import strokes as strokes_lib
from handwriting.data.report import DataError, SkipReport
from handwriting.recognition import files
from handwriting.recognition.inference import Decoder, load_lm
from handwriting.recognition.lm import CharLM


@dataclasses.dataclass
class Reading:
  """What `read(..., posteriors=True)` returns per input: the text (one line per text line),
  and per text line the network's input and its CTC log-posteriors [T, K] (0 = blank)."""

  text: str
  inputs: list[np.ndarray]
  log_probs: list[np.ndarray]


class Reader:
  """An offline (`kind` "images") or online ("strokes") reader."""

  def __init__(self, workdir: str, norm: str | None = None):
    self._core = files.Reader(workdir, norm)
    self.workdir = workdir
    self._lms: dict[str, CharLM] = {}
    self.notes: list[str] = []  # what loading a language model said (for a caller to show)

  @classmethod
  def load(cls, name_or_workdir: str | os.PathLike[str] | None = None,
           norm: str | None = None) -> Reader:
    """A workdir, a shipped model's name, or None for the shipped default offline reader;
    `norm` ("scan" | "legacy") overrides the image normalisation it was trained with."""
    return cls(pretrained.resolve(str(name_or_workdir) if name_or_workdir else None,
                                  "recognizer"), norm)

  @property
  def kind(self) -> str:
    return self._core.spec.input_kind

  @property
  def name(self) -> str:
    return Path(self.workdir).name

  @property
  def step(self) -> int:
    return self._core.step

  @property
  def norm(self) -> str:
    return self._core.norm

  @property
  def alphabet(self) -> str:
    return self._core.spec.alphabet.chars

  @property
  def core(self) -> files.Reader:
    """The loaded model, spec and normalisation (recognition/files.py)."""
    return self._core

  def decoder(self, beam: int = 1, lm: CharLM | str | os.PathLike[str] | None = None,
              lm_weight: float = 0.5, insertion_bonus: float = 0.0) -> Decoder:
    """Greedy (beam 1, no LM) or prefix beam search; `lm` a CharLM, a saved .json LM, a text
    file of transcriptions or a prepared folder to train a 4-gram on (trained once per path)."""
    if beam < 1:
      raise ValueError(f"beam must be >= 1, got {beam}")
    if lm is not None and not isinstance(lm, CharLM):
      key = str(lm)
      if key not in self._lms:
        self._lms[key] = load_lm(key, self._core.spec.alphabet, notes=self.notes)
      lm = self._lms[key]
    return Decoder(beam, lm, lm_weight if lm is not None else 0.0, insertion_bonus)

  def prepare(self, item: object, pages: bool = True) -> tuple[str, list[np.ndarray]]:
    """(name, network inputs per text line) of one input; DataError naming it when unusable."""
    if self.kind == "images":
      if isinstance(item, Page):
        raise DataError("page", "an offline reader reads images: pass page.image()")
      paper_HxW, name = files.paper_image(item)
      return name, files.line_inputs(self._core, paper_HxW, name, pages)
    spec = self._core.spec
    lines = item.strokes if isinstance(item, Page) else [item]
    out = []
    for points in lines:
      p = np.asarray(points, np.float32)
      if p.ndim != 2 or p.shape[1] != 3 or len(p) < 2 or not np.isfinite(p).all():
        raise DataError("points", f"an online reader reads [N, 3] point arrays (x, y, pen_up), "
                                  f"N >= 2, finite; got shape {p.shape}")
      out.append(strokes_lib.normalize(points_to_offsets(p), spec.stroke_mean, spec.stroke_std))
    return ("page" if isinstance(item, Page) else "points"), out

  def read(self, inputs: object | Sequence[object], *, beam: int = 1,
           lm: CharLM | str | os.PathLike[str] | None = None, lm_weight: float = 0.5,
           insertion_bonus: float = 0.0, pages: bool = True, posteriors: bool = False,
           skipped: SkipReport | None = None) -> list:
    """Per input, its text (or a `Reading` with `posteriors`). A path, a PIL image or an array
    alone is one input. Unusable inputs raise DataError naming them, or, with `skipped`, are
    recorded there and give None; every input is checked before the model loads."""
    items = [inputs] if _single(inputs) else list(inputs)
    decoder = self.decoder(beam, lm, lm_weight, insertion_bonus)
    prepared: list[list[np.ndarray] | None] = []
    for item in items:
      try:
        prepared.append(self.prepare(item, pages)[1])
      except DataError as e:
        if skipped is None:
          raise
        skipped.add(e)
        prepared.append(None)
    flat = [x for lines in prepared if lines for x in lines]
    log_probs = self._core.posteriors(flat) if flat else []
    texts = [self._core.spec.alphabet.decode(decoder(lp)) for lp in log_probs]
    out: list = []
    at = 0
    for lines in prepared:
      if lines is None:
        out.append(None)
        continue
      n = len(lines)
      text = "\n".join(texts[at:at + n])
      out.append(Reading(text, lines, log_probs[at:at + n]) if posteriors else text)
      at += n
    return out


def _single(inputs: object) -> bool:
  return isinstance(inputs, (str, os.PathLike, np.ndarray, Page)) or files.is_pil_image(inputs)
