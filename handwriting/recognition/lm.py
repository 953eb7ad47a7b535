"""Character n-gram language model with interpolated Witten-Bell smoothing, for beam search.

Vocabulary: the labels of an `Alphabet`, 0..K-1 with K = alphabet.size. Label 0, the CTC blank,
is never a character, so the model uses it as the line boundary: histories are left-padded with
0 (start of line) and predicting 0 means end of line. Every line of n symbols thus gives n + 1
predictions, each an n-gram of `order` labels.

Smoothing (Witten & Bell 1991; Chen & Goodman 1998, sec. 2.5, interpolated form): for history h
with shorter history h' (h without its oldest label),

  P(c | h) = (C(h c) + N(h) P(c | h')) / (C(h) + N(h)),

where C(h c) counts h followed by c, C(h) = sum_c C(h c) and N(h) is the number of distinct c seen
after h; an unseen h gives P(c | h) = P(c | h'), and the recursion ends in the uniform
distribution 1/K. Each level is a convex mix of counts and a distribution, so P(. | h) sums to 1
over the K labels for every history.

Stored as JSON (full-order n-gram counts only: all lower-order counts are their suffix sums).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from handwriting.data.alphabet import Alphabet, OnUnknown
from handwriting.data.report import DataError, SkipReport

BOUNDARY = 0  # start-of-line padding in histories; end of line when predicted
DEFAULT_ORDER = 4
FORMAT = "handwriting-charlm"
VERSION = 1

# (labels seen after a history, their counts, total count C(h), distinct followers N(h))
_Entry = tuple[np.ndarray, np.ndarray, int, int]


class CharLM:
  """Interpolated Witten-Bell character n-gram model; build with `train`, `from_file`, `load`."""

  def __init__(self, alphabet: Alphabet, order: int, ngram_counts: dict[tuple[int, ...], int]):
    if order < 1:
      raise ValueError(f"order must be >= 1, got {order}")
    self.alphabet = alphabet
    self.order = order
    self.ngram_counts = dict(ngram_counts)
    self._tables = _build_tables(self.ngram_counts, order)

  @property
  def size(self) -> int:
    """K: the number of labels predicted (the alphabet's labels, 0 being end of line)."""
    return self.alphabet.size

  @classmethod
  def train(cls, texts: Iterable[str], order: int, alphabet: Alphabet,
            on_unknown: OnUnknown = "error") -> CharLM:
    """Counts the n-grams of `texts` (one line each) encoded with `alphabet`."""
    counts: Counter[tuple[int, ...]] = Counter()
    for text in texts:
      padded = [BOUNDARY] * (order - 1) + alphabet.encode(text, on_unknown).tolist() + [BOUNDARY]
      for i in range(len(padded) - order + 1):
        counts[tuple(padded[i:i + order])] += 1
    return cls(alphabet, order, counts)

  @classmethod
  def from_file(cls, path: str | os.PathLike[str], alphabet: Alphabet, order: int = DEFAULT_ORDER,
                report: SkipReport | None = None) -> CharLM:
    """Trains on a UTF-8 text file of transcriptions, one per line (blank lines are ignored).

    A line with characters outside the alphabet is recorded in `report` and skipped when one is
    given, else it raises DataError naming file:line. An unreadable file or one without any
    usable line raises DataError(path, reason).
    """
    try:
      with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
      raise DataError(path, f"unreadable text file: {e}") from e
    texts = []
    for lineno, line in enumerate(lines, start=1):
      if not line.strip():
        continue
      bad = alphabet.unknown(line)
      if bad:
        err = DataError(f"{path}:{lineno}", "characters not in the alphabet: "
                        + " ".join(repr(c) for c in sorted(bad)))
        if report is None:
          raise err
        report.add(err)
        continue
      texts.append(line)
    if not texts:
      raise DataError(path, "no usable text lines")
    return cls.train(texts, order, alphabet)

  def log_probs(self, history: Sequence[int] | np.ndarray) -> np.ndarray:
    """[K] float64: log P(c | history) for every label c (c = 0: end of line).

    Only the last order - 1 labels of `history` matter; shorter histories are start-padded.
    """
    context = _context(history, self.order)
    p = np.full(self.size, 1.0 / self.size)
    for m in range(self.order):  # context lengths 0 .. order-1, shortest first
      entry = self._tables[m].get(context[len(context) - m:])
      if entry is None:
        break  # every longer context ends with this unseen one, so it is unseen too
      labels, counts, total, types = entry
      p = p * (types / (total + types))
      p[labels] += counts / (total + types)
    return np.log(p)

  def log_prob(self, char_label: int, history: Sequence[int] | np.ndarray) -> float:
    """log P(char_label | history); char_label 0 is the end of line."""
    return float(self.log_probs(history)[char_label])

  def log_likelihood(self, labels: Sequence[int] | np.ndarray) -> float:
    """log P(line) = sum of log P(c_i | c_<i) plus log P(end | line)."""
    seq = [int(c) for c in labels] + [BOUNDARY]
    return sum(self.log_prob(c, seq[:i]) for i, c in enumerate(seq))

  def perplexity(self, texts: Iterable[str]) -> float:
    """exp(-mean log-probability per predicted symbol, end of line included)."""
    total, n = 0.0, 0
    for text in texts:
      labels = self.alphabet.encode(text)
      total += self.log_likelihood(labels)
      n += len(labels) + 1
    return math.exp(-total / max(n, 1))

  def save(self, path: str | os.PathLike[str]) -> None:
    ngrams = [[list(g), c] for g, c in sorted(self.ngram_counts.items())]
    doc = {"format": FORMAT, "version": VERSION, "order": self.order,
           "alphabet": self.alphabet.chars, "ngrams": ngrams}
    with open(path, "w", encoding="utf-8") as f:
      json.dump(doc, f, ensure_ascii=False)

  @classmethod
  def load(cls, path: str | os.PathLike[str], alphabet: Alphabet | None = None) -> CharLM:
    """Reads a model written by `save`; checks it against `alphabet` when one is given."""
    try:
      with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
      raise DataError(path, f"unreadable language model: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
      raise DataError(path, f"not a {FORMAT} file")
    if doc.get("version") != VERSION:
      raise DataError(path, f"unsupported version {doc.get('version')!r}")
    order, chars = doc.get("order"), doc.get("alphabet")
    if not isinstance(order, int) or order < 1 or not isinstance(chars, str):
      raise DataError(path, "bad order or alphabet field")
    try:
      stored = Alphabet(chars)
    except ValueError as e:
      raise DataError(path, str(e)) from e
    if alphabet is not None and alphabet != stored:
      raise DataError(path, f"alphabet differs from the expected one ({len(chars)} vs "
                            f"{len(alphabet.chars)} characters)")
    return cls(stored, order, _parse_ngrams(path, doc.get("ngrams"), order, stored.size))


def _context(history: Sequence[int] | np.ndarray, order: int) -> tuple[int, ...]:
  if order == 1:
    return ()
  tail = [int(c) for c in history[-(order - 1):]]
  return (BOUNDARY,) * (order - 1 - len(tail)) + tuple(tail)


def _build_tables(ngram_counts: dict[tuple[int, ...], int], order: int) -> list[dict]:
  """Per context length m < order: context -> (_Entry) from the full-order n-gram counts."""
  followers: list[dict[tuple[int, ...], Counter[int]]] = [{} for _ in range(order)]
  for gram, count in ngram_counts.items():
    for m in range(order):
      ctx = gram[order - 1 - m:order - 1]
      followers[m].setdefault(ctx, Counter())[gram[-1]] += count
  tables: list[dict[tuple[int, ...], _Entry]] = []
  for level in followers:
    table = {}
    for ctx, nxt in level.items():
      labels = np.fromiter(nxt.keys(), dtype=np.int64, count=len(nxt))
      counts = np.fromiter(nxt.values(), dtype=np.float64, count=len(nxt))
      table[ctx] = (labels, counts, int(counts.sum()), len(nxt))
    tables.append(table)
  return tables


def _parse_ngrams(path: str | os.PathLike[str], ngrams: object, order: int,
                  size: int) -> dict[tuple[int, ...], int]:
  if not isinstance(ngrams, list):
    raise DataError(path, "missing ngrams list")
  counts: dict[tuple[int, ...], int] = {}
  for i, item in enumerate(ngrams):
    ok = (isinstance(item, list) and len(item) == 2 and isinstance(item[0], list)
          and len(item[0]) == order and isinstance(item[1], int) and item[1] > 0
          and all(isinstance(c, int) and 0 <= c < size for c in item[0]))
    if not ok:
      raise DataError(path, f"bad n-gram entry {i}: {str(item)[:60]}")
    counts[tuple(item[0])] = item[1]
  return counts
