"""Character and word error rates as recognition papers report them (Graves & Schmidhuber 2009,
sec. 4: label error rate = total edit distance / total target length over the test set).

Rates are corpus level: the edits of all lines are summed and divided by the summed reference
length, not averaged per line (a per-line mean over-weights short lines). `ErrorCounts` keeps the
two sums so that results of several batches add up exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class ErrorCounts:
  """Summed edit distance and summed reference length; add two to aggregate batches."""

  edits: int = 0
  ref_len: int = 0

  def __add__(self, other: ErrorCounts) -> ErrorCounts:
    return ErrorCounts(self.edits + other.edits, self.ref_len + other.ref_len)

  @property
  def rate(self) -> float:
    """edits / ref_len; 0 for no reference and no edits, inf for edits against no reference."""
    if self.ref_len == 0:
      return 0.0 if self.edits == 0 else float("inf")
    return self.edits / self.ref_len


Tokens = Sequence[Hashable] | np.ndarray


def _as_ids(a: Tokens, b: Tokens) -> tuple[np.ndarray, np.ndarray]:
  # Any hashable tokens (characters, words, labels) become small ints so rows are NumPy arrays.
  vocab: dict[Hashable, int] = {}

  def ids(s: Tokens) -> np.ndarray:
    tokens = s.tolist() if isinstance(s, np.ndarray) else s
    return np.array([vocab.setdefault(x, len(vocab)) for x in tokens], dtype=np.int64)

  return ids(a), ids(b)


def edit_distance(a: Tokens, b: Tokens) -> int:
  """Levenshtein distance: fewest insertions, deletions and substitutions turning `a` into `b`.

  Row-by-row dynamic programme, each row vectorised over `b`: deletions and substitutions depend
  on the previous row only; the insertion chain within a row, d[j] = min_k (d'[k] + j - k), is a
  running minimum of d' - j.
  """
  a_ids, b_ids = _as_ids(a, b)
  n = len(b_ids)
  cols = np.arange(n + 1)
  row = cols.copy()  # distance from the empty prefix of a to each prefix of b
  for i, x in enumerate(a_ids, start=1):
    sub = row[:-1] + (b_ids != x)
    best = np.empty_like(row)
    best[0] = i
    best[1:] = np.minimum(row[1:] + 1, sub)
    row = np.minimum.accumulate(best - cols) + cols
  return int(row[-1])


def _counts(refs: Sequence[Tokens], hyps: Sequence[Tokens]) -> ErrorCounts:
  if len(refs) != len(hyps):
    raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
  return ErrorCounts(sum(edit_distance(r, h) for r, h in zip(refs, hyps)),
                     sum(len(r) for r in refs))


def char_errors(refs: Sequence[str], hyps: Sequence[str]) -> ErrorCounts:
  """Character edits and reference characters summed over lines (spaces count as characters)."""
  return _counts(refs, hyps)


def word_errors(refs: Sequence[str], hyps: Sequence[str]) -> ErrorCounts:
  """Word edits and reference words summed over lines; words are split on whitespace."""
  return _counts([r.split() for r in refs], [h.split() for h in hyps])


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
  """Corpus character error rate: total character edits / total reference characters."""
  return char_errors(refs, hyps).rate


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
  """Corpus word error rate: total word edits / total reference words."""
  return word_errors(refs, hyps).rate
