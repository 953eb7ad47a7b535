"""Bad-input reporting shared by every reader.

A reader raises `DataError(path, reason)` for one bad item. A dataset run catches it, records it
in a `SkipReport` and goes on, so a corrupt file costs one item and is always counted and named.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

MAX_PRINTED = 50  # beyond this many skipped items the console shows a summary; the file has all


class DataError(ValueError):
  """One bad input item: `path` names the file (or file:line), `reason` says what is wrong."""

  def __init__(self, path: str | os.PathLike[str], reason: str):
    self.path = str(path)
    self.reason = reason
    super().__init__(f"{self.path}: {reason}")


@dataclasses.dataclass
class SkipReport:
  """Collects skipped items (name, reason) of one dataset run."""

  items: list[tuple[str, str]] = dataclasses.field(default_factory=list)

  def skip(self, name: str | os.PathLike[str], reason: str) -> None:
    self.items.append((str(name), reason))

  def add(self, err: DataError) -> None:
    self.skip(err.path, err.reason)

  def __len__(self) -> int:
    return len(self.items)

  def reasons(self) -> Counter[str]:
    """Counts per reason category (the reason text up to its first ':')."""
    return Counter(r.split(":")[0] for _, r in self.items)

  def write(self, path: str | os.PathLike[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
      f.writelines(f"{name}\t{reason}\n" for name, reason in self.items)

  def print(self, file: TextIO | None = None, saved_to: str | None = None) -> None:
    """Prints every skipped item (or the first MAX_PRINTED and where the rest are) and counts."""
    file = file if file is not None else sys.stdout
    if not self.items:
      print("skipped: 0", file=file)
      return
    shown = self.items if len(self.items) <= MAX_PRINTED else self.items[:MAX_PRINTED]
    for name, reason in shown:
      print(f"  skipped {name}: {reason}", file=file)
    if len(shown) < len(self.items):
      where = f" (all listed in {saved_to})" if saved_to else ""
      print(f"  ... and {len(self.items) - len(shown)} more{where}", file=file)
    counts = ", ".join(f"{k}: {v}" for k, v in self.reasons().most_common())
    print(f"skipped: {len(self.items)} ({counts})", file=file)


def count(n: int, noun: str) -> str:
  """"1 form", "2 forms": a count with its noun in the right number."""
  return f"{n} {noun}" + ("" if n == 1 else "s")


def read_bytes(path: str | os.PathLike[str]) -> bytes:
  """The file's bytes; DataError(path, "missing file" | "cannot read: ...") when it cannot be."""
  try:
    return Path(path).read_bytes()
  except FileNotFoundError:
    raise DataError(path, "missing file") from None
  except OSError as e:
    raise DataError(path, f"cannot read: {e}") from None
