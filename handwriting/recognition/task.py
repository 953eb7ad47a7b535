"""The recognizers (MDLSTM on line images, BLSTM on pen strokes) as a `Task` of the shared loop.

Dimension letters: B batch, H image height, W image width (padded), T input steps / output
frames, L label length, K classes (alphabet size, 0 = CTC blank).

Both readers share this task: the input kind ("images" or "strokes") picks the prepared arrays,
and each model maps (inputs, mask) to (logits_BxTxK, frame_mask_BxT) for the one CTC head.
Lines whose labels cannot fit in the frames the model leaves them (T < L + repeats) are reported
at loading with their ids and skipped, never trained on with a meaningless loss.
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
from handwriting.recognition.ctc import ctc_loss
from handwriting.recognition.model import build_model, frames_for_width, width_reduction
from handwriting.train.task import load_splits

Array = jax.Array


def recognition_loss(model: nnx.Module, batch: dict[str, Array], key: Array
                     ) -> tuple[Array, dict[str, Any]]:
  """Mean CTC loss per line (feasible lines only) and metrics; `weight` 0 marks padding lines."""
  del key
  logits, frame_mask = model(batch["inputs"], batch["mask"])
  loss_B, feasible_B = ctc_loss(logits, frame_mask, batch["labels"], batch["label_mask"])
  w_B = batch["weight"] * feasible_B
  lines = jnp.sum(w_B)
  chars = jnp.sum(batch["label_mask"] * w_B[:, None])
  total = jnp.sum(loss_B * w_B)
  return total / jnp.maximum(lines, 1.0), {
    "loss": (total, lines), "ctc_per_char": (total, chars),
    "infeasible": (jnp.sum(batch["weight"] * (1.0 - feasible_B)), jnp.sum(batch["weight"]))}


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
  # A reader may be fine-tuned from one trained with another image normalisation (loop.py).
  warm_start_may_change = ("image_norm",)

  @property
  def input_kind(self) -> str:
    return "strokes" if self.config.model_type == "online" else "images"

  def init_model(self, rngs: nnx.Rngs) -> nnx.Module:
    return build_model(self.config, self.alphabet.size, rngs=rngs)

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
    """Pads a list of inputs (images [H, W] uint8 or strokes [T, 3]) and labels into a batch;
    labels to `label_length` when given (one shape for a whole run), else to a multiple of 8."""
    multiple = self.config.pad_multiple
    growth = self.config.get("pad_growth", 1.0)  # absent in checkpoints older than the field
    if self.input_kind == "images":
      # Images are stored transposed [W, H] so that pad_batch pads the width.
      cols, mask_BxW = pad_batch([np.asarray(x).T for x in inputs], multiple, growth=growth)
      img_BxHxW = np.swapaxes(cols, 1, 2).astype(np.float32) / 255.0
      H = img_BxHxW.shape[1]
      x, mask = img_BxHxW[..., None], np.repeat(mask_BxW[:, None, :], H, axis=1)
    else:
      x, mask = pad_batch(inputs, multiple, growth=growth)
    y, label_mask = pad_batch([lab if len(lab) else np.zeros(0, np.int32) for lab in labels], 8,
                              length=label_length)
    return {"inputs": x, "mask": mask, "labels": y.astype(np.int32),
            "label_mask": label_mask, "weight": weight.astype(np.float32)}


class RecognitionTask(RecognizerSpec):
  """Training task: the spec plus the prepared data's train and eval splits."""

  def __init__(self, config: ml_collections.ConfigDict):
    if not config.data:
      raise DataError("--data", "no prepared data folder given")
    data = Prepared(config.data)
    mean = std = None
    if config.model_type == "online":
      mean, std = data.stroke_stats
    super().__init__(config, data.alphabet, mean, std,
                     image_norm=data.meta.get("image_norm", "legacy"))
    self.report = SkipReport()
    self.train, self.eval = load_splits(config, lambda split: self.load(data, split))
    if self.train is not None:
      self.batcher = EpochBatcher(self.train["sizes"], config.batch_size, config.seed)
    self.label_length = fixed_label_length(*(s["labels"] for s in (self.train, self.eval) if s))
    if len(self.report):
      self.report.print()

  def load(self, data: Prepared, split: str) -> dict[str, list]:
    """Inputs (images as stored [W, H], or strokes [T, 3]), labels and texts of a split; lines
    with unknown characters or too few output frames for their labels are skipped and counted."""
    ragged = data.images(split) if self.input_kind == "images" else data.strokes(split)
    reduction = width_reduction(self.config)
    longest = self.config.max_width if self.input_kind == "images" else self.config.max_points
    out: dict[str, list] = {"inputs": [], "sizes": [], "labels": [], "texts": [], "ids": []}
    for i in range(len(ragged)):
      name = f"{data.folder}/{split}/{ragged.ids[i]}"
      item, text = ragged[i], str(ragged.texts[i])  # images are stored [W, H]; strokes [T, 3]
      if len(item) > longest:
        self.report.skip(name, f"too long: {len(item)} > {longest} (max_width / max_points)")
        continue
      bad = self.alphabet.unknown(text)
      if bad and self.config.on_unknown == "error":
        raise DataError(name, f"characters not in the alphabet: {''.join(sorted(bad))!r}")
      if bad and self.config.on_unknown != "score":
        self.report.skip(name, f"characters not in the alphabet: {''.join(sorted(bad))!r}")
        continue
      labels = self.alphabet.encode(text, on_unknown="drop")
      repeats = int(np.sum(labels[1:] == labels[:-1])) if len(labels) > 1 else 0
      frames = frames_for_width(len(item), reduction)
      if frames < len(labels) + repeats:
        self.report.skip(name, f"infeasible: {frames} output frames for {len(labels)} labels "
                               f"+ {repeats} repeats")
        continue
      out["inputs"].append(item.T if self.input_kind == "images" else item)
      out["sizes"].append(len(item))  # width of an image (stored [W, H]), points of strokes
      out["labels"].append(labels)
      out["texts"].append(text)
      out["ids"].append(str(ragged.ids[i]))
    return out

  def train_batch(self, step: int) -> dict[str, np.ndarray]:
    idx = self.batcher.indices(step)
    return self.batch([self.train["inputs"][i] for i in idx],
                      [self.train["labels"][i] for i in idx], np.ones(len(idx)), self.label_length)

  def eval_batches(self) -> Iterator[dict[str, np.ndarray]]:
    if not self.eval:
      return
    for idx, weight in fixed_batches(self.eval["sizes"], self.config.batch_size):
      yield self.batch([self.eval["inputs"][i] for i in idx], [self.eval["labels"][i] for i in idx],
                       weight, self.label_length)

  def data_position(self, step: int) -> dict[str, int]:
    return self.batcher.data_position(step)

  loss = staticmethod(recognition_loss)
