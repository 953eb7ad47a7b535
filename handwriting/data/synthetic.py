"""Built-in synthetic handwriting: text lines written with the Hershey script stroke fonts.

The default data set needs no download: English-like lines from a small built-in corpus (the
word lists and sentence patterns below) are laid out glyph by glyph with the font's advance
widths, varied per line (font, slant, size, letter and word gaps, a slow baseline wobble, point
noise) and resampled to evenly spaced pen samples, so a line looks like tablet data in the
offsets format of Graves (2013) §4: rows (dx, dy, end-of-stroke), y growing up. The letters of a
Hershey script word are separate glyph strokes; they stay separate strokes (pen lifts), which is
honest about what the font holds.

`prepare` writes these lines as a prepared folder (data/store.py): normalised offsets for the
synthesis network and renderings (data/render.py) for the offline recogniser.

Dimension letters: N = points of one stroke, T = points of a line, H/W = image height/width.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import sys
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from HersheyFonts import HersheyFonts

from handwriting.data import store
from handwriting.data.alphabet import Alphabet
from handwriting.data.render import RenderError, RenderJitter, render_random
from handwriting.data.report import DataError, SkipReport
from handwriting.data.strokes import compute_stats, normalize, points_to_offsets

FONTS = ("scripts", "scriptc", "cursive")
# Hershey glyph coordinates: y grows down, the baseline is at y = 9 and the top of an "x" at 0,
# so the x-height is 9 font units. We flip y and put the baseline at 0.
BASELINE = 9.0
X_HEIGHT = 9.0
SPLITS = ("train", "valid", "test")


@dataclasses.dataclass(frozen=True)
class Glyph:
  strokes: tuple[np.ndarray, ...]  # [N, 2] points, y up, x from the glyph's left side
  advance: float  # the font's advance width


@dataclasses.dataclass(frozen=True)
class SyntheticLine:
  """One written line: `strokes` are [N, 2] absolute points (y up, baseline near 0)."""

  index: int  # line i of make_synthetic (its random stream is (seed, i))
  text: str
  strokes: list[np.ndarray]
  offsets: np.ndarray  # [T, 3] float32 (dx, dy, eos), data/strokes.py (row 0 is (0, 0))
  font: str
  params: dict[str, float]

  @property
  def id(self) -> str:
    return line_id(self.index)


# Distance between pen samples in x-heights. 0.5 gives ~12 points per character (~260 per line),
# half IAM-OnDB's density (~25 per character, Graves 2013 section 4): sequences half as long make
# the built-in data train twice as fast on a CPU, and the letters are still smooth. 0.25 matches
# IAM-OnDB's density.
DEFAULT_SPACING = 0.5

def line_id(index: int) -> str:
  return f"synthetic-{index:06d}"


@functools.cache
def font_glyphs(name: str) -> dict[str, Glyph]:
  """The glyphs of a built-in Hershey font, y flipped to grow up and baseline at 0."""
  f = HersheyFonts()
  f.load_default_font(name)
  glyphs = {}
  for char, g in f.all_glyphs.items():
    strokes = tuple(np.array([(x - g.left_offset, BASELINE - y) for x, y in s], np.float64)
                    for s in g.strokes if len(s))
    for s in strokes:
      s.setflags(write=False)  # shared by every line through the cache
    glyphs[char] = Glyph(strokes, float(g.char_width))
  return glyphs

# The built-in corpus: our own word lists and sentence patterns (no downloaded or copyrighted
# text). Patterns fill slots with random words, so a few dozen patterns give many thousands of
# distinct sentences; together the lists cover a-z, A-Z, digits and common punctuation.
_WORDS = {
  "A": "old new small big quiet busy lazy quick green red dark bright warm cold empty full "
       "long short strange happy tired young heavy light soft sharp wild calm late early "
       "narrow wide clever brave gentle proud rough smooth simple famous grey yellow blue",
  "N": "house river garden letter window table horse dog fox cat bird tree road city train "
       "boat book jacket box lamp door hill field story friend teacher doctor chair farmer "
       "king queen market bridge clock winter summer morning evening picture song voice "
       "paper kitchen village puzzle zebra jar question answer machine island forest",
  "V": "found saw kept moved carried painted watched followed opened closed lifted left "
       "brought sold bought read wrote built held met passed pulled pushed liked missed "
       "visited cleaned reached turned jumped fixed asked explained quoted mixed",
  "R": "slowly quickly quietly gladly often never always again together later soon today "
       "carefully nearly simply badly",
  "P": "near under over behind beside across into from with without towards past inside",
  "M": "Anna Ben Clara David Emma Felix Grace Henry Iris Jack Kate Leo Maria Noah Olga Peter "
       "Quinn Rosa Sam Tom Una Victor Wendy Xavier Yuri Zoe",
  "L": "London Paris Oslo Cairo Lima Rome Dublin Vienna York Kyoto Boston Geneva Utrecht "
       "Hamburg Quebec Zurich",
  "W": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
}
_PATTERNS = (
  "the {A} {N} {V} {P} the {N}.", "{M} {V} the {A} {N} {R}.", "{M} and {M} went to {L} on {W}.",
  "{K} {Ns} {V} {P} the {A} {N}.", "did the {N} go {P} the {N}?", '"{A} {N}!" said {M}.',
  "in {Y}, {M} {V} a {A} {N}.", "{M} wrote {K} letters to {M}; all were {A}.",
  "it was {A} and {A} {P} the {N}.", "why is the {N} so {A}?", "{M}'s {N} is {A}, not {A}.",
  "we {V} the {N} ({A}) at {H}:{MM}.", "the {N}, the {N} and the {N} {V} {R}.",
  "a {A} {N} is a {A} {N}.", "{M} {R} {V} {K} {Ns} in {L}.", "no {N} {V} the {A} {N} - {M} did.",
  "on {W} the {N} was {A}.", "how many {Ns} are {P} the {N}? {K}!", "{M} came from {L} in {Y}.",
  "the {N} of {L} is {A} and {A}.", "{M}, {M} and {M} {V} a {N}.",
)
# Number slots: [low, high) ranges of counts, years, hours and two-digit minutes.
_NUMBERS = {"K": (2, 100), "Y": (1850, 2030), "H": (1, 13), "MM": (0, 60)}
_SLOT = re.compile(r"\{(\w+)\}")
_AN = re.compile(r"\b([Aa]) ([aeiou])")  # "a old" -> "an old"


def random_sentence(rng: np.random.Generator) -> str:
  """One sentence from a random pattern with random words, first letter capitalised."""
  pattern = _PATTERNS[int(rng.integers(len(_PATTERNS)))]

  def fill(m: re.Match[str]) -> str:
    slot = m.group(1)
    if slot in _NUMBERS:
      return f"{int(rng.integers(*_NUMBERS[slot])):0{len(slot)}d}"
    words = _WORDS[slot.rstrip("s")].split()
    word = words[int(rng.integers(len(words)))]
    return _plural(word) if slot == "Ns" else word

  s = _AN.sub(r"\1n \2", _SLOT.sub(fill, pattern))
  first = 1 if s.startswith('"') else 0  # "99 cats", but '"Old dog!" said Ben.'
  return s[:first] + s[first].upper() + s[first + 1:]


def _plural(noun: str) -> str:
  if noun.endswith(("s", "x", "ch", "sh")):
    return noun + "es"
  if noun.endswith("y") and noun[-2] not in "aeiou":
    return noun[:-1] + "ies"
  return noun + "s"


def random_line(rng: np.random.Generator, max_words: int = 8, max_chars: int = 40) -> str:
  """1..max_words consecutive words of running text, cut like a line of a page (it may start or
  end mid-sentence), shortened to at most max_chars characters (one word is always kept)."""
  words = " ".join(random_sentence(rng) for _ in range(3)).split()
  n = int(rng.integers(1, max_words + 1))
  start = int(rng.integers(len(words) - n + 1))
  line = words[start:start + n]
  while len(line) > 1 and len(" ".join(line)) > max_chars:
    line.pop()
  return " ".join(line)


def resample(stroke_Nx2: np.ndarray, step: float) -> np.ndarray:
  """Points evenly spaced by about `step` along the polyline, keeping both ends.

  A pen tablet samples at a fixed rate, so samples are near-evenly spaced along the trace;
  the font's vertices are not (long straight runs have two points, tight curves many).
  """
  seg = np.linalg.norm(np.diff(stroke_Nx2, axis=0), axis=1)
  length = float(seg.sum())
  if length <= 0:
    return stroke_Nx2[:1].copy()
  arc = np.concatenate([[0.0], np.cumsum(seg)])
  n = max(1, int(round(length / step)))
  at = np.linspace(0.0, length, n + 1)
  return np.stack([np.interp(at, arc, stroke_Nx2[:, 0]), np.interp(at, arc, stroke_Nx2[:, 1])],
                  axis=1)


def _draw_params(rng: np.random.Generator, fonts: Sequence[str]) -> tuple[str, dict[str, float]]:
  """One writer's style for one line (lengths in x-heights, angles in radians)."""
  font = str(fonts[int(rng.integers(len(fonts)))])
  params = {
    "slant": float(rng.uniform(-0.15, 0.25)),  # the script fonts already lean right
    "scale": float(rng.uniform(0.8, 1.25)),  # data units per font unit
    "tracking": float(rng.uniform(-0.1, 0.15)),  # extra gap after every letter
    "letter_gap_sd": float(rng.uniform(0.0, 0.06)),  # its letter-to-letter variation
    "word_gap": float(rng.uniform(0.45, 0.9)),  # multiplies the font's (wide) space
    "wobble": float(rng.uniform(0.0, 0.15)),  # baseline sinusoid amplitude
    "wobble_period": float(rng.uniform(8.0, 30.0)),
    "wobble_phase": float(rng.uniform(0.0, 2 * math.pi)),
    "noise": float(rng.uniform(0.005, 0.025)),  # point noise sd
  }
  return font, params


def layout_text(text: str, font: str, gaps: np.ndarray | None = None,
                name: str = "synthetic") -> list[np.ndarray]:
  """The glyph strokes of `text` placed one after another with the font's advance widths.

  Points are in font units, y up, baseline at 0, x from the first glyph's left side; `gaps`
  (one per character, font units) widens the advance after each character. Raises DataError
  when a character has no glyph in the font or the text has no ink.
  """
  glyphs = font_glyphs(font)
  missing = sorted({c for c in text if c not in glyphs})
  if missing:
    raise DataError(name, f"no glyph in font {font}: {' '.join(repr(c) for c in missing)}")
  strokes, x = [], 0.0
  for i, c in enumerate(text):
    strokes.extend(s + np.array([x, 0.0]) for s in glyphs[c].strokes)
    x += glyphs[c].advance + (0.0 if gaps is None else float(gaps[i]))
  if not strokes:
    raise DataError(name, f"no ink: {text!r} has no character with strokes")
  return strokes


def write_text(text: str, rng: np.random.Generator, fonts: Sequence[str] = FONTS,
               spacing: float = DEFAULT_SPACING, index: int = 0) -> SyntheticLine:
  """Writes `text` in a random style drawn from `rng`.

  Args:
    text: the line; every non-space character needs a glyph in the chosen font.
    rng: the only source of randomness (same state → byte-identical output).
    fonts: Hershey font names to choose from.
    spacing: distance between consecutive pen samples, in x-heights (see DEFAULT_SPACING).
    index: the line's number, which names it (`SyntheticLine.id`, also in a DataError).

  Raises:
    DataError: a character has no glyph in the font, or the text has no ink.
  """
  name = line_id(index)
  font, params = _draw_params(rng, fonts)
  glyphs = font_glyphs(font)
  advance = np.array([glyphs[c].advance if c in glyphs else 0.0 for c in text])
  # Extra gap after each character: word spaces shrink or widen the font's space, letters get
  # the line's tracking plus a per-letter wobble.
  gaps = np.where(np.array([c == " " for c in text], bool),
                  advance * (params["word_gap"] - 1.0),
                  X_HEIGHT * (params["tracking"]
                              + params["letter_gap_sd"] * rng.standard_normal(len(text))))
  shear = math.tan(params["slant"])
  step = spacing * X_HEIGHT * params["scale"]
  strokes = []
  for s in layout_text(text, font, gaps, name):
    s[:, 0] += shear * s[:, 1]
    strokes.append(resample(s * params["scale"], step))
  h = X_HEIGHT * params["scale"]
  period = params["wobble_period"] * h
  for s in strokes:
    s[:, 1] += params["wobble"] * h * np.sin(2 * math.pi * s[:, 0] / period
                                             + params["wobble_phase"])
    s += params["noise"] * h * rng.standard_normal(s.shape)
  # points_to_offsets takes strokes in the recorded y-down frame and flips them; ours are y-up.
  offsets_Tx3 = points_to_offsets([s * np.array([1.0, -1.0]) for s in strokes], name=name)
  return SyntheticLine(index, text, strokes, offsets_Tx3, font, params)


def make_synthetic(n_lines: int, seed: int, texts: Sequence[str] | None = None,
                   fonts: Sequence[str] = FONTS, spacing: float = DEFAULT_SPACING,
                   max_chars: int = 40,
                   max_words: int = 8, report: SkipReport | None = None) -> list[SyntheticLine]:
  """`n_lines` lines written in random styles; line i depends only on (seed, i).

  Texts are drawn from the built-in corpus (1..max_words words, at most max_chars characters)
  unless `texts` is given (line i writes texts[i % len(texts)]). A line that cannot be written
  raises DataError, or, with a `report`, is recorded there and left out.
  """
  lines = []
  for i in range(n_lines):
    rng = np.random.default_rng([seed, i])
    text = texts[i % len(texts)] if texts else random_line(rng, max_words, max_chars)
    try:
      lines.append(write_text(text, rng, fonts, spacing, index=i))
    except DataError as e:
      if report is None:
        raise
      report.add(e)
  return lines


def split_of(text: str, valid_fraction: float, test_fraction: float) -> str:
  """train / valid / test by a hash of the text, so a repeated text never crosses splits."""
  u = zlib.crc32(text.encode("utf-8")) / 2**32
  return "valid" if u < valid_fraction else "test" if u < valid_fraction + test_fraction \
    else "train"


def prepare(out: str | os.PathLike[str], lines: int = 2000, seed: int = 0, height: int = 64,
            valid_fraction: float = 0.1, test_fraction: float = 0.1,
            spacing: float = DEFAULT_SPACING) -> dict[str, Any]:
  """Writes a prepared folder of synthetic lines (strokes and images); returns its meta.

  Offsets are normalised with the mean / std of the training split's (dx, dy) (eos untouched);
  images are renderings with random jitter, stored transposed [W, H] (see data/prepared.py).
  Splits go by a hash of the text (`split_of`), so the counts follow the fractions only roughly.
  """
  os.makedirs(out, exist_ok=True)
  report = SkipReport()
  written = make_synthetic(lines, seed, spacing=spacing, report=report)
  by_split: dict[str, list[SyntheticLine]] = {s: [] for s in SPLITS}
  for line in written:
    by_split[split_of(line.text, valid_fraction, test_fraction)].append(line)
  if not by_split["train"]:
    raise ValueError(f"no training lines among {len(written)}: raise `lines`")
  alphabet = Alphabet.from_texts(line.text for line in by_split["train"])
  mean, std = compute_stats([line.offsets for line in by_split["train"]])
  counts = {split: _write_split(out, split, by_split[split], alphabet, (mean, std), seed, height,
                                report) for split in SPLITS}
  meta = {
    "source": "synthetic", "alphabet": alphabet.chars, "seed": seed, "splits": counts,
    "stroke_mean": mean.tolist(), "stroke_std": std.tolist(), "image_height": height,
    "synthetic": {"fonts": list(FONTS), "spacing": spacing, "lines": lines},
  }
  store.write_meta(out, meta)
  report.write(os.path.join(out, "skipped.txt"))
  print(f"synthetic -> {out}: " + ", ".join(f"{s} {n}" for s, n in counts.items()))
  report.print(file=sys.stdout, saved_to=os.path.join(out, "skipped.txt"))
  return store.read_meta(out)


def _write_split(out: str | os.PathLike[str], split: str, lines: Sequence[SyntheticLine],
                 alphabet: Alphabet, stats: tuple[np.ndarray, np.ndarray], seed: int, height: int,
                 report: SkipReport) -> int:
  """Writes strokes_<split>.npz and images_<split>.npz; returns how many lines they hold."""
  offsets, images, texts, ids = [], [], [], []
  for line in lines:
    unknown = alphabet.unknown(line.text)
    if unknown:
      report.skip(line.id, "character not in the training alphabet: "
                           + " ".join(repr(c) for c in sorted(unknown)))
      continue
    try:
      # Its own stream (seed, i, 1): the rendering never shifts the writing's random draws.
      img_HxW = render_random(line.strokes, np.random.default_rng([seed, line.index, 1]),
                              RenderJitter(), height)
    except RenderError as e:
      report.skip(line.id, f"cannot render: {e}")
      continue
    offsets.append(normalize(line.offsets, *stats))
    images.append(np.ascontiguousarray(img_HxW.T))
    texts.append(line.text)
    ids.append(line.id)
  store.save_ragged(store.strokes_path(out, split), store.Ragged.from_items(offsets, texts, ids))
  store.save_ragged(store.images_path(out, split),
                    store.Ragged.from_items(images, texts, ids, height=np.array(height)))
  return len(ids)
