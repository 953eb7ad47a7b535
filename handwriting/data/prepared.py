"""Reading a prepared data folder (written by `handwriting prepare ...`, format in store.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from handwriting.data import store
from handwriting.data.alphabet import Alphabet
from handwriting.data.report import DataError


class Prepared:
  """One prepared folder: its meta, alphabet, stroke statistics and per-split ragged sets."""

  def __init__(self, folder: str | os.PathLike[str]):
    self.folder = Path(folder)
    self.meta: dict[str, Any] = store.read_meta(self.folder)
    self._loaded: dict[Path, store.Ragged] = {}  # each npz is read once per instance

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
  def stroke_stats(self) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the training split's (dx, dy) offsets, used to (de)normalise."""
    if "stroke_mean" not in self.meta:
      raise DataError(self.folder / "meta.json", "no stroke statistics: this folder has no strokes")
    return (np.asarray(self.meta["stroke_mean"], np.float32),
            np.asarray(self.meta["stroke_std"], np.float32))

  def has_strokes(self, split: str) -> bool:
    return store.strokes_path(self.folder, split).exists()

  def has_images(self, split: str) -> bool:
    return store.images_path(self.folder, split).exists()

  def _check_split(self, split: str) -> None:
    if split not in self.meta.get("splits", {}):
      raise DataError(self.folder / "meta.json",
                      f"no split {split!r}; this folder has {', '.join(self.splits) or 'none'}")

  def _load(self, path: Path) -> store.Ragged:
    if path not in self._loaded:
      self._loaded[path] = store.load_ragged(path)
    return self._loaded[path]

  def strokes(self, split: str) -> store.Ragged:
    """Normalised pen offsets [T, 3] (dx, dy, end-of-stroke) per line."""
    self._check_split(split)
    return self._load(store.strokes_path(self.folder, split))

  def images(self, split: str) -> store.Ragged:
    """Line images stored transposed as [W, H] uint8 (ink high) per line; see `image`."""
    self._check_split(split)
    if not self.has_images(split) and not self.meta.get("images", True):
      raise DataError(self.folder, "prepared without images (no --images was given)")
    return self._load(store.images_path(self.folder, split))

  def image(self, split: str, i: int) -> np.ndarray:
    """Image i of `split` as [H, W] uint8, background 0 and ink 255."""
    return np.ascontiguousarray(self.images(split)[i].T)

  def denormalized(self, offsets: np.ndarray) -> np.ndarray:
    """Offsets back in the data's own units (eos untouched)."""
    mean, std = self.stroke_stats
    out = np.array(offsets, np.float32, copy=True)
    out[:, :2] = out[:, :2] * std + mean
    return out
