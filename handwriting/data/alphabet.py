"""Text encoding shared by synthesis (one-hot window input) and recognition (CTC labels).

Index 0 is reserved: it is the CTC blank for recognition and the padding symbol for synthesis, so
real characters are 1..len(chars). Characters outside the alphabet are an error that lists them,
unless the caller asks for the documented mapping (`on_unknown="replace"`, to `UNKNOWN_CHAR` when
the alphabet has it) or for dropping them (`on_unknown="drop"`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Literal

import numpy as np

BLANK = 0
UNKNOWN_CHAR = "?"
# Typographic characters mapped to the ASCII ones that IAM transcriptions use, applied before
# encoding so a user's text typed with smart quotes or long dashes still writes.
NORMALIZE = {
  "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
  "\u00a0": " ", "\t": " ",
}

OnUnknown = Literal["error", "drop", "replace"]


class UnknownCharacterError(ValueError):
  """Text holds characters that the alphabet has no symbol for."""

  def __init__(self, chars: Iterable[str], text: str):
    self.chars = sorted(set(chars))
    shown = " ".join(repr(c) for c in self.chars)
    super().__init__(
      f"characters not in the alphabet: {shown} (in {text[:60]!r}); "
      "remove them or pass on_unknown='drop'/'replace'")


def normalize(text: str) -> str:
  return "".join(NORMALIZE.get(c, c) for c in text)


@dataclasses.dataclass(frozen=True)
class Alphabet:
  """An ordered set of characters; `chars[i]` has label i + 1."""

  chars: str

  def __post_init__(self):
    if len(set(self.chars)) != len(self.chars):
      raise ValueError(f"alphabet has repeated characters: {self.chars!r}")

  @classmethod
  def from_texts(cls, texts: Iterable[str], min_count: int = 1) -> Alphabet:
    """The sorted characters occurring at least `min_count` times in `texts`."""
    counts: dict[str, int] = {}
    for t in texts:
      for c in normalize(t):
        counts[c] = counts.get(c, 0) + 1
    return cls("".join(sorted(c for c, n in counts.items() if n >= min_count)))

  @property
  def size(self) -> int:
    """Number of labels including the reserved index 0."""
    return len(self.chars) + 1

  def unknown(self, text: str) -> set[str]:
    return {c for c in normalize(text) if c not in self._index}

  def encode(self, text: str, on_unknown: OnUnknown = "error") -> np.ndarray:
    """Labels (int32, values in 1..size-1) of `text`."""
    text = normalize(text)
    bad = self.unknown(text)
    if bad:
      if on_unknown == "error":
        raise UnknownCharacterError(bad, text)
      if on_unknown == "replace" and UNKNOWN_CHAR in self._index:
        text = "".join(UNKNOWN_CHAR if c in bad else c for c in text)
      else:
        text = "".join(c for c in text if c not in bad)
    return np.array([self._index[c] for c in text], dtype=np.int32)

  def decode(self, labels: Iterable[int]) -> str:
    """Inverse of `encode`; label 0 (blank/padding) is skipped."""
    return "".join(self.chars[i - 1] for i in labels if i > 0)

  @property
  def _index(self) -> dict[str, int]:
    # Cached on the frozen instance: built once per alphabet.
    cache = self.__dict__.get("_index_cache")
    if cache is None:
      cache = {c: i + 1 for i, c in enumerate(self.chars)}
      object.__setattr__(self, "_index_cache", cache)
    return cache
