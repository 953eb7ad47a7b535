"""The prediction / synthesis networks as a `Task` of the shared training loop.

Dimension letters: B batch, T pen steps (padded), U characters (padded).

A line's rows are normalised offsets (dx, dy, eos) whose row 0 is the start (offset 0); the
network reads rows 0..T-2 and predicts rows 1..T-1 (Graves 2013 eq 26: Pr(x_{t+1} | y_t)).
The loss minimised is the summed negative log-likelihood divided by the number of predicted
points in the batch; the reported figures are those of Tables 3-4: nats per sequence (`nll`)
and the squared error per point of the mixture mean (`sse`), in the units of the normalised
data (offsets divided by the training split's std, as stored with the prepared data).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from handwriting.data.alphabet import Alphabet
from handwriting.data.batching import EpochBatcher, fixed_batches, fixed_label_length, pad_batch
from handwriting.data.prepared import Prepared
from handwriting.data.report import DataError, SkipReport
from handwriting.synthesis import mdn
from handwriting.synthesis.model import HandwritingNet
from handwriting.train.task import load_splits

Array = jax.Array


def build_model(config: ml_collections.ConfigDict, alphabet_size: int, rngs: nnx.Rngs
                ) -> HandwritingNet:
  m = config.model
  return HandwritingNet(
    num_layers=m.num_layers, hidden_size=m.hidden_size, num_mixtures=m.num_mixtures,
    alphabet_size=alphabet_size if config.model_type == "synthesis" else 0,
    window_size=m.window_size, peephole=m.peephole, lstm_clip=m.lstm_clip or None,
    output_clip=m.output_clip or None, kappa_scale=m.kappa_scale, rngs=rngs)


def sequence_loss(model: HandwritingNet, batch: dict[str, Array], key: Array
                  ) -> tuple[Array, dict[str, Any]]:
  """Loss and Table 3-4 metrics of one batch; `weight_B` is 0 for padding lines in eval."""
  del key  # deterministic (no weight noise)
  ink_BxTx3, mask_BxT = batch["ink"], batch["mask"]
  y_hat, _, _ = model(ink_BxTx3[:, :-1], batch.get("chars"))
  target, mask = ink_BxTx3[:, 1:], mask_BxT[:, 1:]
  nll_B = mdn.sequence_nll(y_hat, target, mask) * batch["weight"]
  sse_B = mdn.sequence_sse(y_hat, target, mask) * batch["weight"]
  points = jnp.sum(mask * batch["weight"][:, None])
  loss = jnp.sum(nll_B) / jnp.maximum(points, 1.0)
  return loss, {"loss": (jnp.sum(nll_B), points), "nll": (jnp.sum(nll_B), jnp.sum(batch["weight"])),
                "sse": (jnp.sum(sse_B), points)}


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


class SequenceTask(ModelSpec):
  """Training task: the model spec plus the prepared data's train and eval splits."""

  def __init__(self, config: ml_collections.ConfigDict):
    if not config.data:
      raise DataError("--data", "no prepared data folder given")
    data = Prepared(config.data)
    mean, std = data.stroke_stats
    super().__init__(config, data.alphabet, mean, std)
    self.report = SkipReport()
    self.train, self.eval = load_splits(config, lambda split: self._load(data, split))
    if self.train is not None:
      self.batcher = EpochBatcher([len(x) for x in self.train["ink"]], config.batch_size,
                                  config.seed)
    self.chars_length = fixed_label_length(*(s["chars"] for s in (self.train, self.eval) if s))
    if len(self.report):
      self.report.print()

  def _load(self, data: Prepared, split: str) -> dict[str, list]:
    ragged = data.strokes(split)
    out: dict[str, list] = {"ink": [], "chars": []}
    for i in range(len(ragged)):
      name = f"{data.folder}/{split}/{ragged.ids[i]}"
      ink, text = ragged[i], str(ragged.texts[i])
      if len(ink) > self.config.max_points:
        self.report.skip(name, f"too long: {len(ink)} points > max_points "
                               f"{self.config.max_points}")
        continue
      bad = self.alphabet.unknown(text)
      if bad:
        if self.config.on_unknown == "error":
          raise DataError(name, f"characters not in the alphabet: {sorted(bad)}")
        self.report.skip(name, f"characters dropped from text: {''.join(sorted(bad))!r}")
      chars = self.alphabet.encode(text, on_unknown="drop")
      if len(chars) == 0 and self.config.model_type == "synthesis":
        self.report.skip(name, "empty text")
        continue
      out["ink"].append(ink)
      out["chars"].append(chars)
    return out

  def _batch(self, inks: list[np.ndarray], chars: list[np.ndarray], weight: np.ndarray
             ) -> dict[str, np.ndarray]:
    ink, mask = pad_batch(inks, self.config.pad_multiple, growth=self.config.get("pad_growth", 1.0))
    batch = {"ink": ink, "mask": mask, "weight": weight.astype(np.float32)}
    if self.config.model_type == "synthesis":
      batch["chars"], _ = pad_batch(chars, 8, length=self.chars_length)
    return batch

  def train_batch(self, step: int) -> dict[str, np.ndarray]:
    idx = self.batcher.indices(step)
    return self._batch([self.train["ink"][i] for i in idx], [self.train["chars"][i] for i in idx],
                       np.ones(len(idx)))

  def eval_batches(self) -> Iterator[dict[str, np.ndarray]]:
    if not self.eval:
      return
    sizes = [len(x) for x in self.eval["ink"]]
    for idx, weight in fixed_batches(sizes, self.config.batch_size):
      yield self._batch([self.eval["ink"][i] for i in idx], [self.eval["chars"][i] for i in idx],
                        weight)

  def data_position(self, step: int) -> dict[str, int]:
    return self.batcher.data_position(step)

  loss = staticmethod(sequence_loss)
