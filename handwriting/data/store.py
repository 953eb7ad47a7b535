"""The prepared-data format: one folder of npz files plus meta.json. No pickle anywhere.

Layout of a prepared folder::

  meta.json              # {"format", "source", "alphabet", "splits": {name: count}, ...}
  strokes_<split>.npz    # pen offsets (dx, dy, end-of-stroke), normalised, see data/strokes.py
  images_<split>.npz     # grey-scale line images, all of one height, see data/images.py
  skipped.txt            # every item the prepare run skipped, with its reason

Each npz holds a ragged set: `data` (all items concatenated on axis 0), `offsets` (n + 1 int64,
item i is data[offsets[i]:offsets[i + 1]]), `texts` and `ids` (unicode arrays), plus extra
per-set arrays (e.g. image height).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handwriting.data.report import DataError

FORMAT = "handwriting-prepared/1"


@dataclasses.dataclass
class Ragged:
  """A list of variable-length arrays stored flat, with transcriptions and ids."""

  data: np.ndarray
  offsets: np.ndarray
  texts: np.ndarray
  ids: np.ndarray
  extra: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

  @classmethod
  def from_items(cls, items: Sequence[np.ndarray], texts: Sequence[str], ids: Sequence[str],
                 **extra: np.ndarray) -> Ragged:
    if not (len(items) == len(texts) == len(ids)):
      raise ValueError("items, texts and ids differ in length")
    lengths = np.array([len(x) for x in items], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    if items:
      data = np.concatenate(items, axis=0)
    else:
      data = np.zeros((0,), np.float32)
    return cls(data, offsets, np.array(list(texts), dtype=str), np.array(list(ids), dtype=str),
               dict(extra))

  def __len__(self) -> int:
    return len(self.offsets) - 1

  def __getitem__(self, i: int) -> np.ndarray:
    return self.data[self.offsets[i]:self.offsets[i + 1]]

  @property
  def lengths(self) -> np.ndarray:
    return np.diff(self.offsets)

  def subset(self, idx: Sequence[int] | np.ndarray) -> Ragged:
    idx = np.asarray(idx, dtype=np.int64)
    return Ragged.from_items([self[int(i)] for i in idx], list(self.texts[idx]),
                             list(self.ids[idx]), **self.extra)


def _atomic_replace(tmp: Path, final: Path) -> None:
  os.replace(tmp, final)


def save_ragged(path: str | os.PathLike[str], r: Ragged) -> None:
  """Writes `r` to `path` (an .npz) atomically: a crash leaves the old file or none."""
  path = Path(path)
  tmp = path.with_name(path.name + ".tmp.npz")
  np.savez_compressed(tmp, data=r.data, offsets=r.offsets, texts=r.texts, ids=r.ids,
           **{f"extra_{k}": v for k, v in r.extra.items()})
  _atomic_replace(tmp, path)


def load_ragged(path: str | os.PathLike[str]) -> Ragged:
  try:
    with np.load(path, allow_pickle=False) as z:
      extra = {k[len("extra_"):]: z[k] for k in z.files if k.startswith("extra_")}
      return Ragged(z["data"], z["offsets"], z["texts"], z["ids"], extra)
  except FileNotFoundError:
    raise DataError(path, "no such file: run `handwriting prepare ...` first") from None
  except (ValueError, KeyError, OSError) as e:
    raise DataError(path, f"not a prepared npz file ({e})") from None


def write_meta(folder: str | os.PathLike[str], meta: dict[str, Any]) -> None:
  folder = Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  tmp = folder / "meta.json.tmp"
  tmp.write_text(json.dumps({"format": FORMAT, **meta}, indent=2, sort_keys=True))
  _atomic_replace(tmp, folder / "meta.json")


def read_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
  path = Path(folder) / "meta.json"
  if not path.exists():
    raise DataError(path, "missing: this is not a prepared data folder "
                          "(make one with `handwriting prepare ...`)")
  try:
    meta = json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise DataError(path, f"corrupt JSON ({e})") from None
  if meta.get("format") != FORMAT:
    raise DataError(path, f"unknown format {meta.get('format')!r}, expected {FORMAT!r}")
  return meta


def strokes_path(folder: str | os.PathLike[str], split: str) -> Path:
  return Path(folder) / f"strokes_{split}.npz"


def images_path(folder: str | os.PathLike[str], split: str) -> Path:
  return Path(folder) / f"images_{split}.npz"
