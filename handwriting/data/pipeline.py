"""The input pipeline both models share: which splits of a prepared folder are read, and the
batches the training loop asks a Task for (handwriting/train/task.py).

What differs per model is how a split's lines are read and filtered (each model's
`input_pipeline.load_lines`, which names every line it skips in a `SkipReport`) and how the lines
of a batch are padded into arrays (its `Collate`). The rest is the same for both and lives here:
the training split served by step through `EpochBatcher` (a batch is a pure function of the step,
so a resumed run replays the same batches) and the evaluation split in fixed, weighted batches
(`fixed_batches`: every batch the same size, padding lines weigh 0).

Training and evaluation build the same pipeline; evaluation only names other splits (`Splits`),
so nothing is written into the config a checkpoint was trained with.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from handwriting.data.batching import EpochBatcher, fixed_batches
from handwriting.data.report import DataError, SkipReport

# A split's kept lines: one list per field, all in the same line order. Every split has SIZES.
Items = dict[str, list]
SIZES = "sizes"  # a line's length (pen points, image width): what batches are bucketed by
HostBatch = dict[str, np.ndarray]
# The lines of one batch (Items picked by index) and their weights -> the padded arrays.
Collate = Callable[[Items, np.ndarray], HostBatch]


@dataclasses.dataclass(frozen=True)
class Splits:
  """The splits of a prepared folder a pipeline reads. An empty name reads none: a pipeline for
  evaluation only (no `train`) or for training only (no `eval`). `eval_max_lines` keeps the
  first lines of the evaluation split (0 keeps all)."""

  folder: str | os.PathLike[str]
  train: str = ""
  eval: str = ""
  eval_max_lines: int = 0

  def __post_init__(self) -> None:
    if not self.folder:
      raise DataError("--data", "no prepared data folder given")

  @classmethod
  def of(cls, config: Any) -> Splits:
    """The splits a training config names: data, train_split, eval_split, eval_max_lines."""
    return cls(config.data, config.train_split, config.eval_split, config.eval_max_lines)

  def load(self, load_split: Callable[[str], Items]) -> tuple[Items | None, Items | None]:
    """(train, eval) items: `load_split(name)` of each named split, None for an unnamed one."""
    train = load_split(self.train) if self.train else None
    evaluation = load_split(self.eval) if self.eval else None
    if evaluation is not None and self.eval_max_lines:
      evaluation = {k: v[:self.eval_max_lines] for k, v in evaluation.items()}
    return train, evaluation


def pick(items: Items, idx: Sequence[int] | np.ndarray) -> Items:
  """The lines `idx` of every field, in that order."""
  return {k: [v[i] for i in idx] for k, v in items.items()}


class SplitPipeline:
  """The data half of a Task: `train_batch(step)`, `eval_batches()`, `data_position(step)`.

  `train` / `eval` are the loaded items (None: that split is not read), `report` names the
  lines skipped while loading them.
  """

  def __init__(self, train: Items | None, evaluation: Items | None, collate: Collate, *,
               batch_size: int, seed: int, report: SkipReport,
               augment: Callable[[Items, int], Items] | None = None):
    self.train, self.eval, self.report = train, evaluation, report
    self.augment = augment  # training batches only: (rows, step) -> distorted rows
    self.collate = collate
    self.batch_size = batch_size
    self.batcher = EpochBatcher(train[SIZES], batch_size, seed) if train is not None else None

  def train_batch(self, step: int) -> HostBatch:
    idx = self.batcher.indices(step)
    rows = pick(self.train, idx)
    if self.augment is not None:
      rows = self.augment(rows, step)
    return self.collate(rows, np.ones(len(idx)))

  def eval_batches(self) -> Iterator[HostBatch]:
    if not self.eval:
      return
    for idx, weight in fixed_batches(self.eval[SIZES], self.batch_size):
      yield self.collate(pick(self.eval, idx), weight)

  def data_position(self, step: int) -> dict[str, int]:
    return self.batcher.data_position(step)


def build_pipeline(splits: Splits, load: Callable[[str, SkipReport], Items],
                   collate_for: Callable[[Items | None, Items | None], Collate], *,
                   batch_size: int, seed: int,
                   augment: Callable[[Items, int], Items] | None = None) -> SplitPipeline:
  """Loads `splits` with `load(split, report)` (skips recorded in one report, printed once),
  then batches them with the collate function `collate_for(train, eval)` picks (it may look at
  both, e.g. for one label length across the run)."""
  report = SkipReport()
  train, evaluation = splits.load(lambda split: load(split, report))
  pipeline = SplitPipeline(train, evaluation, collate_for(train, evaluation),
                           batch_size=batch_size, seed=seed, report=report, augment=augment)
  if len(report):
    report.print()
  return pipeline
