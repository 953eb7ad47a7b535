"""Reading a prepared data folder (written by `handwriting prepare ...`, format in store.py).

Pen strokes do not depend on any model: `prepare iam-ondb` stores them in the data's own units
(meta "strokes_units": "raw") and a model normalises them with its own statistics
(`strokes(split, stats)`), those of the split it was trained on, kept in its checkpoint. A folder
without a training split (e.g. the paper's testset_v alone) has no statistics of its own and is
read with a model's. Folders of older versions store strokes normalised with the statistics in
their meta.json; they are read the same way (de-normalised first).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from handwriting.data import store
from handwriting.data.alphabet import Alphabet
from handwriting.data.report import DataError
from handwriting.data.strokes import compute_stats, denormalize, normalize

Stats = tuple[np.ndarray, np.ndarray]  # (mean [2], std [2]) of (dx, dy) in the data's units


class Prepared:
  """One prepared folder: its meta, alphabet, stroke statistics and per-split ragged sets."""

  def __init__(self, folder: str | os.PathLike[str]):
    self.folder = Path(folder)
    self.meta: dict[str, Any] = store.read_meta(self.folder)
    self._loaded: dict[Path, store.Ragged] = {}  # each npz is read once per instance
    self._normalised: dict[tuple, store.Ragged] = {}  # (split, units) -> strokes in those units

  @property
  def source(self) -> str:
    return self.meta.get("source", "unknown")

  @property
  def splits(self) -> list[str]:
    return list(self.meta.get("splits", {}))

  @property
  def alphabet(self) -> Alphabet:
    return Alphabet(self.meta["alphabet"])

  @property
  def raw_units(self) -> bool:
    """True when strokes are stored in the data's own units (not normalised)."""
    return self.meta.get("strokes_units") == "raw"

  @property
  def stroke_stats(self) -> Stats:
    """(mean, std) of the folder's training split's (dx, dy) offsets, in the data's units."""
    if "stroke_mean" not in self.meta:
      why = ("it has no training split: use a model's statistics" if self.raw_units
             else "this folder has no strokes")
      raise DataError(self.folder / "meta.json", f"no stroke statistics: {why}")
    return (np.asarray(self.meta["stroke_mean"], np.float32),
            np.asarray(self.meta["stroke_std"], np.float32))

  def split_stats(self, split: str) -> Stats:
    """(mean, std) of the (dx, dy) offsets of `split`: what a model trained on it keeps."""
    split = self.resolve(split)
    if split == self.meta.get("train_split", "train") and "stroke_mean" in self.meta:
      return self.stroke_stats
    return compute_stats(_items(self.raw_strokes(split)))

  def resolve(self, split: str) -> str:
    """The split's name in this folder: a split or the one split list that makes it up (with
    the "graves" protocol, `testset_v` names the split `valid`)."""
    if split in self.meta.get("splits", {}):
      return split
    for name, lists in self.meta.get("split_lists", {}).items():
      if list(lists) == [split]:
        return name
    self._check_split(split)
    return split

  def has_strokes(self, split: str) -> bool:
    return store.strokes_path(self.folder, self._alias(split)).exists()

  def has_images(self, split: str) -> bool:
    return store.images_path(self.folder, self._alias(split)).exists()

  def _alias(self, split: str) -> str:
    try:
      return self.resolve(split)
    except DataError:
      return split

  def _check_split(self, split: str) -> None:
    if split not in self.meta.get("splits", {}):
      raise DataError(self.folder / "meta.json",
                      f"no split {split!r}; this folder has {', '.join(self.splits) or 'none'}")

  def _load(self, path: Path) -> store.Ragged:
    if path not in self._loaded:
      self._loaded[path] = store.load_ragged(path)
    return self._loaded[path]

  def raw_strokes(self, split: str) -> store.Ragged:
    """Pen offsets [T, 3] (dx, dy, end-of-stroke) per line in the data's own units."""
    split = self.resolve(split)
    stored = self._load(store.strokes_path(self.folder, split))
    if self.raw_units:
      return stored
    key = (split, "raw")
    if key not in self._normalised:
      mean, std = self.stroke_stats
      self._normalised[key] = _mapped(stored, lambda x: denormalize(x, mean, std))
    return self._normalised[key]

  def strokes(self, split: str, stats: Stats | None = None) -> store.Ragged:
    """Pen offsets [T, 3] per line normalised with `stats` (a model's (mean, std), in the data's
    units), or with the folder's own training-split statistics when None."""
    split = self.resolve(split)
    if not self.raw_units and stats is None:  # stored normalised with the folder's own
      return self._load(store.strokes_path(self.folder, split))
    mean, std = (np.asarray(a, np.float32) for a in (stats or self.stroke_stats))
    key = (split, tuple(mean.tolist()), tuple(std.tolist()))
    if key not in self._normalised:
      self._normalised[key] = _mapped(self.raw_strokes(split), lambda x: normalize(x, mean, std))
    return self._normalised[key]

  def images(self, split: str) -> store.Ragged:
    """Line images stored transposed as [W, H] uint8 (ink high) per line; see `image`."""
    split = self.resolve(split)
    if not self.has_images(split) and not self.meta.get("images", True):
      raise DataError(self.folder, "prepared without images (no --images was given)")
    return self._load(store.images_path(self.folder, split))

  def image(self, split: str, i: int) -> np.ndarray:
    """Image i of `split` as [H, W] uint8, background 0 and ink 255."""
    return np.ascontiguousarray(self.images(split)[i].T)

  def denormalized(self, offsets: np.ndarray) -> np.ndarray:
    """Offsets normalised with the folder's own statistics back in the data's units."""
    return denormalize(offsets, *self.stroke_stats)


def _items(r: store.Ragged) -> list[np.ndarray]:
  return [r[i] for i in range(len(r))]


def _mapped(r: store.Ragged, fn) -> store.Ragged:
  """`r` with `fn` applied to its flat data (all lines at once; offsets, texts and ids shared)."""
  if r.data.ndim != 2:  # an empty set (stored as a 1-D empty array): nothing to map
    return r
  return store.Ragged(fn(r.data), r.offsets, r.texts, r.ids, r.extra)
