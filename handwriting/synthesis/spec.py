"""What rebuilds a trained prediction / synthesis network: its config, alphabet and the stroke
statistics of its data (`ModelSpec`), and the network a config describes (`build_model`).

A checkpoint's meta holds all of it, so inference needs no prepared data folder.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections
import numpy as np
from flax import nnx

from handwriting.data.alphabet import Alphabet
from handwriting.synthesis.model import HandwritingNet


def build_model(config: ml_collections.ConfigDict, alphabet_size: int, rngs: nnx.Rngs
                ) -> HandwritingNet:
  m = config.model
  return HandwritingNet(
    num_layers=m.num_layers, hidden_size=m.hidden_size, num_mixtures=m.num_mixtures,
    alphabet_size=alphabet_size if config.model_type == "synthesis" else 0,
    window_size=m.window_size, peephole=m.peephole, lstm_clip=m.lstm_clip or None,
    output_clip=m.output_clip or None, kappa_scale=m.kappa_scale, rngs=rngs)


@dataclasses.dataclass
class ModelSpec:
  """What inference needs to rebuild a trained network: no data folder required."""

  config: ml_collections.ConfigDict
  alphabet: Alphabet
  stroke_mean: np.ndarray
  stroke_std: np.ndarray

  @property
  def name(self) -> str:
    return self.config.model_type

  def init_model(self, rngs: nnx.Rngs) -> HandwritingNet:
    return build_model(self.config, self.alphabet.size, rngs)

  def checkpoint_meta(self) -> dict[str, Any]:
    return {"alphabet": self.alphabet.chars, "stroke_mean": self.stroke_mean.tolist(),
            "stroke_std": self.stroke_std.tolist()}

  @classmethod
  def from_meta(cls, meta: dict[str, Any]) -> ModelSpec:
    info = meta["task_meta"]
    return cls(ml_collections.ConfigDict(meta["config"]), Alphabet(info["alphabet"]),
               np.asarray(info["stroke_mean"], np.float32),
               np.asarray(info["stroke_std"], np.float32))

  def start_row(self) -> np.ndarray:
    """Row 0 of every line (offset 0, pen down) in normalised units."""
    return np.array([*(-self.stroke_mean / self.stroke_std), 0.0], np.float32)
