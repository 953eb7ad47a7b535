"""What rebuilds a trained reader without its data folder: config, alphabet, the stroke
statistics of an online reader and the image normalisation of an offline one (`RecognizerSpec`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections
import numpy as np
from flax import nnx

from handwriting.data.alphabet import Alphabet
from handwriting.recognition.input_pipeline import input_kind, pad_lines, padding
from handwriting.recognition.model import build_model


@dataclasses.dataclass
class RecognizerSpec:
  """What inference needs to rebuild a trained reader without its data folder."""

  config: ml_collections.ConfigDict
  alphabet: Alphabet
  stroke_mean: np.ndarray | None = None
  stroke_std: np.ndarray | None = None
  # How an image file becomes the network's input (data/images.py `line_input`): "scan" (the
  # one normalisation of data/line_norm.py) for readers trained on `prepare render` folders,
  # "legacy" (crop at a fixed threshold, resize) for those trained before it existed.
  image_norm: str = "legacy"

  name = "recognizer"
  # A reader may be fine-tuned from one trained with another image normalisation (train/resume.py).
  warm_start_may_change = ("image_norm",)

  @property
  def input_kind(self) -> str:
    return input_kind(self.config)

  def init_model(self, rngs: nnx.Rngs) -> nnx.Module:
    return build_model(self.config, self.alphabet.size, rngs=rngs)

  @property
  def stats(self) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) the strokes of an online reader are normalised with; None for images."""
    return None if self.stroke_mean is None else (self.stroke_mean, self.stroke_std)

  def checkpoint_meta(self) -> dict[str, Any]:
    meta: dict[str, Any] = {"alphabet": self.alphabet.chars, "input_kind": self.input_kind}
    if self.input_kind == "images":
      meta["image_norm"] = self.image_norm
    if self.stroke_mean is not None:
      meta.update(stroke_mean=self.stroke_mean.tolist(), stroke_std=self.stroke_std.tolist())
    return meta

  @classmethod
  def from_meta(cls, meta: dict[str, Any]) -> RecognizerSpec:
    info = meta["task_meta"]
    stats = [np.asarray(info[k], np.float32) if k in info else None
             for k in ("stroke_mean", "stroke_std")]
    return cls(ml_collections.ConfigDict(meta["config"]), Alphabet(info["alphabet"]), *stats,
               image_norm=info.get("image_norm", "legacy"))

  def batch(self, inputs: list[np.ndarray], labels: list[np.ndarray], weight: np.ndarray,
            label_length: int | None = None) -> dict[str, np.ndarray]:
    """The network's padded batch of `inputs` (see `input_pipeline.pad_lines`)."""
    return pad_lines(inputs, labels, weight, **padding(self.config), label_length=label_length)

