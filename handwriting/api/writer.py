"""`Writer`: a trained synthesis (or prediction) network, loaded once, writing text as pages.

  writer = Writer.load()                      # the shipped default; or a workdir / shipped name
  page, = writer.write("hello world", bias=1.0, seed=0)
  page.save("hello.svg")                      # or .png / .pdf; a notebook shows `page` itself

The checkpoint's meta (alphabet, stroke statistics, config) is read at `load`; the weights are
restored at the first write, so bad input (unknown characters, an empty text, a broken style
file) is reported at once, before any model is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from handwriting import pretrained
from handwriting.api.page import Line, Page, points_to_offsets, strokes_to_points
from handwriting.api.style import Style
from handwriting.data import strokes as strokes_lib
from handwriting.data.report import DataError
from handwriting.synthesis import inference
from handwriting.train.checkpoint import restore_model

# Default sampling bias (Graves 2013, eqs 61-62): at 0 the default writer is untidy (read-back
# CER 17 %), from 0.5 up it is legible (5.7 % at 0.5, 2.4 % at 1, 2.1 % at 2, experiments/
# RESULTS.md "Legibility"), and still varied in shape at 1.
DEFAULT_BIAS = 1.0
DEFAULT_WIDTH = inference.DEFAULT_WIDTH
# A line whose window stalls (no new character for synthesis/sample.py's STALL_STEPS, or end of
# text not detected before the step cap) is written again with fresh noise this many times. With
# the default writer (synthesis-iam-ondb-large), 8.9 % of first tries stall at bias 1 and 13.3 %
# at bias 2; after 2 retries 0 % and 3.3 %, after 4 0 % and 1.1 % (the medium writer: 13 % and
# 19 %, then 0 % and 3.3 %, 0 % and 1.1 %; experiments/stall_rate.py, 90 lines; RESULTS.md
# "Stalls").
DEFAULT_RETRIES = 4
STYLES_DIR = "styles"  # shipped styles of a model: <workdir>/styles/<name>.json


class Writer:
  """A synthesis network (`kind` "synthesis": writes given text) or a prediction network
  ("prediction": free handwriting, `sample`)."""

  def __init__(self, workdir: str, kind: str):
    meta, self.spec = inference.read_spec(workdir, kind)
    self.workdir, self.kind, self.step = workdir, meta["task"], int(meta["step"])
    self._model = None

  @classmethod
  def load(cls, name_or_workdir: str | os.PathLike[str] | None = None,
           kind: str = "synthesis") -> Writer:
    """A workdir, a shipped model's name, or None for the shipped default of `kind`."""
    return cls(pretrained.resolve(str(name_or_workdir) if name_or_workdir else None, kind), kind)

  @property
  def model(self):
    if self._model is None:
      self._model, _ = restore_model(self.workdir, self.spec)
    return self._model

  @property
  def name(self) -> str:
    return Path(self.workdir).name

  @property
  def alphabet(self) -> str:
    """The characters this writer can write."""
    return self.spec.alphabet.chars

  # -- styles ------------------------------------------------------------------------------

  @property
  def styles(self) -> list[str]:
    """Names of the styles shipped with this writer (`write(style=NAME)`)."""
    folder = Path(self.workdir) / STYLES_DIR
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

  def style(self, style: Style | str | os.PathLike[str]) -> Style:
    """A Style object as is; a shipped style's name; a style file (.json)."""
    if isinstance(style, Style):
      return style
    name = str(style)
    if name in self.styles:
      return Style.load(Path(self.workdir) / STYLES_DIR / f"{name}.json")
    if name.endswith(".json") or Path(name).is_file():
      return Style.load(name)
    shipped = ", ".join(self.styles) or "none"
    raise DataError(name, f"no such style file, and not a style of {self.name} (shipped: "
                          f"{shipped})")

  def _primer(self, style: Style) -> tuple[np.ndarray, str]:
    """(normalised offsets [P, 3], text + " ") for `inference.write`."""
    raw = style.offsets()
    if style.rescale:  # unknown units: match the spread of the writer's training offsets
      spread = raw[1:, :2].std(axis=0)
      raw[:, :2] *= float(np.mean(self.spec.stroke_std) / max(float(np.mean(spread)), 1e-6))
    self.spec.alphabet.encode(style.text)  # unknown characters: a clear error now
    norm = strokes_lib.normalize(raw, self.spec.stroke_mean, self.spec.stroke_std)
    return norm.astype(np.float32), style.text + " "

  # -- writing -----------------------------------------------------------------------------

  def lines(self, text: str, width: int = DEFAULT_WIDTH, on_unknown: str = "error"
            ) -> list[str]:
    """The lines `text` is written as (wrapped at `width`, newlines kept). Unknown characters
    raise UnknownCharacterError, or are dropped with `on_unknown="drop"`."""
    lines = inference.wrap(text, width)
    if on_unknown == "drop":
      bad = set().union(*(self.spec.alphabet.unknown(t) for t in lines))
      lines = [" ".join("".join(c for c in t if c not in bad).split()) for t in lines]
      lines = [t for t in lines if t]
      if not lines:
        raise ValueError("nothing to write: no character of the text is in the alphabet")
    inference.encode(self.spec.alphabet, lines)
    return lines

  def write(self, texts: str | Sequence[str], *, bias: float = DEFAULT_BIAS, seed: int = 0,
            style: Style | str | None = None, width: int = DEFAULT_WIDTH,
            on_unknown: str = "error", max_steps: int | None = None,
            retries: int = DEFAULT_RETRIES) -> list[Page]:
    """One page per text (a single str is one text); each text is wrapped into lines of at
    most `width` characters and all lines of all texts are written in one batch, in one style
    (`style`: a Style, a shipped style's name or a style file; None: the network's own).
    A line whose window stalls or that hits the step cap is rewritten up to `retries` times
    (inference.write); if it never finishes, its Line says so (`finished` False)."""
    if self.kind != "synthesis":
      raise ValueError(f"{self.name} is a prediction network: it cannot write given text "
                       "(use sample)")
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
      raise ValueError("nothing to write: no texts")
    per_text = [self.lines(t, width, on_unknown) for t in texts]
    primer = self._primer(self.style(style)) if style is not None else None
    flat = [line for lines in per_text for line in lines]
    written = inference.write(self.model, self.spec, flat, key=jax.random.key(seed), bias=bias,
                              style=primer, max_steps=max_steps, retries=retries)
    pages, at = [], 0
    for lines in per_text:
      pages.append(Page([Line(w.text, strokes_to_points(w.strokes), w.phi_NxU, w.finished)
                         for w in written[at:at + len(lines)]]))
      at += len(lines)
    return pages

  def sample(self, lines: int = 1, steps: int = 700, *, bias: float = 0.0, seed: int = 0
             ) -> Page:
    """Free handwriting from a prediction network (section 4): `lines` lines of `steps`
    points each."""
    if self.kind != "prediction":
      raise ValueError(f"{self.name} is a synthesis network: use write with a text")
    drawn = inference.sample_unconditional(self.model, self.spec, key=jax.random.key(seed),
                                           steps=steps, lines=lines, bias=bias)
    return Page([Line("", strokes_to_points(s)) for s in drawn])

  # -- what the plots need -----------------------------------------------------------------

  def normalised(self, line: Line) -> np.ndarray:
    """A line's points as the network's input rows [N, 3] (normalised offsets, row 0 the
    start row)."""
    raw = points_to_offsets(line.points)
    ink = strokes_lib.normalize(raw, self.spec.stroke_mean, self.spec.stroke_std)
    ink[0] = self.spec.start_row()
    return ink

  def density(self, line: Line) -> np.ndarray:
    """Mixture outputs y [N-1, 1+6M] of the network along a written line (Fig. 10)."""
    return inference.teacher_forced_outputs(self.model, self.spec, line.text,
                                            self.normalised(line))
