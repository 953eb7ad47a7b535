"""The lines a reader trains or is scored on, and their padded batches.

Dimension letters: B batch, H image height, W image width (padded), T input steps (pen points),
L label length.

The input kind ("images" or "strokes", from the config's model_type) picks the prepared arrays.
A line is skipped (and named in the pipeline's `SkipReport`) when it is longer than max_width /
max_points (never cut), when it has characters outside the alphabet (unless on_unknown is
"score": evaluation keeps them, as errors), or when its labels cannot fit in the frames the model
leaves it (T < L + repeats): never trained on with a meaningless loss. Training
(`task.RecognitionTask`) and evaluation (`inference.evaluate`) build this same pipeline.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import ml_collections
import numpy as np

from handwriting.data.alphabet import Alphabet
from handwriting.data.batching import fixed_label_length, pad_batch
from handwriting.data.pipeline import (
  SIZES,
  Collate,
  HostBatch,
  Items,
  SplitPipeline,
  Splits,
  build_pipeline,
)
from handwriting.data.prepared import Prepared, Stats
from handwriting.data.report import DataError, SkipReport
from handwriting.recognition.model import frames_for_width, width_reduction

LABELS_MULTIPLE = 8  # labels padded to a multiple of 8 when no run-wide length is given


def input_kind(config: ml_collections.ConfigDict) -> str:
  """"strokes" for the online reader, "images" for the MDLSTM reader."""
  return "strokes" if config.model_type == "online" else "images"


def padding(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """`pad_lines`' options for the reader of `config`."""
  # pad_growth is absent in checkpoints older than the field.
  return {"kind": input_kind(config), "multiple": config.pad_multiple,
          "growth": config.get("pad_growth", 1.0)}


def pad_lines(inputs: list[np.ndarray], labels: list[np.ndarray], weight: np.ndarray, *,
              kind: str, multiple: int, growth: float, label_length: int | None = None
              ) -> HostBatch:
  """Pads a list of inputs (images [H, W] uint8 or strokes [T, 3]) and labels into a batch;
  labels to `label_length` when given (one shape for a whole run), else to a multiple of 8."""
  if kind == "images":
    # Images are stored transposed [W, H] so that pad_batch pads the width.
    cols, mask_BxW = pad_batch([np.asarray(x).T for x in inputs], multiple, growth=growth)
    img_BxHxW = np.swapaxes(cols, 1, 2).astype(np.float32) / 255.0
    H = img_BxHxW.shape[1]
    x, mask = img_BxHxW[..., None], np.repeat(mask_BxW[:, None, :], H, axis=1)
  else:
    x, mask = pad_batch(inputs, multiple, growth=growth)
  y, label_mask = pad_batch([lab if len(lab) else np.zeros(0, np.int32) for lab in labels],
                            LABELS_MULTIPLE, length=label_length)
  return {"inputs": x, "mask": mask, "labels": y.astype(np.int32),
          "label_mask": label_mask, "weight": weight.astype(np.float32)}


@dataclasses.dataclass(frozen=True)
class LineRules:
  """Which lines of a split are kept."""

  kind: str  # "images" or "strokes"
  longest: int  # max_width (pixels) or max_points (pen points): longer lines are skipped
  reduction: int  # input columns / points per output frame: lines with too few are skipped
  on_unknown: str  # characters outside the alphabet: "drop", "error" or "score" (kept)

  @classmethod
  def of(cls, config: ml_collections.ConfigDict, on_unknown: str | None = None) -> LineRules:
    """The rules of `config`; `on_unknown` overrides config.on_unknown."""
    kind = input_kind(config)
    longest = config.max_width if kind == "images" else config.max_points
    return cls(kind, longest, width_reduction(config), on_unknown or config.on_unknown)


def load_lines(data: Prepared, split: str, alphabet: Alphabet, rules: LineRules,
               report: SkipReport, stats: Stats | None = None) -> Items:
  """Inputs (images as stored [W, H], or strokes [T, 3]), labels and texts of a split; lines
  with unknown characters or too few output frames for their labels are skipped and counted."""
  # Strokes are normalised with `stats`, the reader's own (None: the folder's).
  ragged = data.images(split) if rules.kind == "images" else data.strokes(split, stats)
  out: Items = {"inputs": [], SIZES: [], "labels": [], "texts": [], "ids": []}
  for i in range(len(ragged)):
    name = f"{data.folder}/{split}/{ragged.ids[i]}"
    item, text = ragged[i], str(ragged.texts[i])  # images are stored [W, H]; strokes [T, 3]
    if len(item) > rules.longest:
      report.skip(name, f"too long: {len(item)} > {rules.longest} (max_width / max_points)")
      continue
    bad = alphabet.unknown(text)
    if bad and rules.on_unknown == "error":
      raise DataError(name, f"characters not in the alphabet: {''.join(sorted(bad))!r}")
    if bad and rules.on_unknown != "score":
      report.skip(name, f"characters not in the alphabet: {''.join(sorted(bad))!r}")
      continue
    labels = alphabet.encode(text, on_unknown="drop")
    repeats = int(np.sum(labels[1:] == labels[:-1])) if len(labels) > 1 else 0
    frames = frames_for_width(len(item), rules.reduction)
    if frames < len(labels) + repeats:
      report.skip(name, f"infeasible: {frames} output frames for {len(labels)} labels "
                        f"+ {repeats} repeats")
      continue
    out["inputs"].append(item.T if rules.kind == "images" else item)
    out[SIZES].append(len(item))  # width of an image (stored [W, H]), points of strokes
    out["labels"].append(labels)
    out["texts"].append(text)
    out["ids"].append(str(ragged.ids[i]))
  return out


def _collate(rows: Items, weight: np.ndarray, **options: Any) -> HostBatch:
  return pad_lines(rows["inputs"], rows["labels"], weight, **options)


def input_pipeline(config: ml_collections.ConfigDict, data: Prepared, splits: Splits,
                   rules: LineRules | None = None, *, alphabet: Alphabet | None = None,
                   stats: Stats | None = None) -> SplitPipeline:
  """The batches of `splits` for the reader `config` describes; `config` is only read (line
  rules, padding, batch size, seed). The lines are encoded with the folder's own alphabet."""
  rules = rules or LineRules.of(config)

  def collate_for(train: Items | None, evaluation: Items | None) -> Collate:
    label_length = fixed_label_length(*(s["labels"] for s in (train, evaluation) if s))
    return functools.partial(_collate, **padding(config), label_length=label_length)

  augment = None
  if rules.kind == "strokes" and config.get("augment", False):
    augment = _stroke_augment(stats or data.stroke_stats, config.seed)
  return build_pipeline(
    splits, lambda split, report: load_lines(data, split, alphabet or data.alphabet, rules,
                                             report, stats),
    collate_for, batch_size=config.batch_size, seed=config.seed, augment=augment)


def _stroke_augment(stats: Stats, seed: int):
  """Training lines distorted (data/stroke_augment.py), the draws fixed by (seed, step) so a
  resumed run sees the batches it would have seen."""
  from handwriting.data.stroke_augment import distort
  mean, std = stats

  def augment(rows: Items, step: int) -> Items:
    rng = np.random.default_rng([seed, step, 0xA06])
    inputs = [distort(x, mean, std, rng) for x in rows["inputs"]]
    return {**rows, "inputs": inputs, SIZES: [len(x) for x in inputs]}
  return augment
