"""The protocol every model implements so that one generic loop can train it.

A task owns its model, its loss and its data; the loop (`handwriting.train.loop`) owns the
optimizer, the PRNG keys, jit and sharding, logging, evaluation and checkpoints.

Contract (what makes exact resume possible):
  * `train_batch(step)` is a pure function of `step` (e.g. through `data.batching.EpochBatcher`),
    so the data position of a run is its step number and a resumed run replays the same batches.
  * `loss(model, batch, key)` is a pure, jittable function of its arguments; all randomness comes
    from `key` (which the loop derives as `fold_in(train_root, step)`) or from `nnx.Rngs` kept
    inside the model (their counters are part of the saved state).
  * every array of a batch has the batch on axis 0 (the loop shards axis 0 over devices), and
    the eval batches have a batch size divisible by the number of devices.

Metrics: `loss` returns `(loss, metrics)`. A metric value is either a scalar (a per-batch mean;
batches weigh equally when the loop averages them) or a pair `(total, count)` of scalars, and the
loop reports `sum(total) / sum(count)` over the batches of a log step or of the evaluation set.
Use pairs for anything whose denominator varies between batches (per-character, per-frame,
per-sequence quantities with masks): a mean of batch means would weigh short batches wrongly.
A metric named "loss" replaces the loop's own (the scalar loss, weight 1 per batch) in reports.

Optional hook: a task may define `checkpoint_meta() -> dict` (JSON-able): what inference needs
besides the weights (alphabet, normalisation statistics). Every checkpoint stores it under
meta["task_meta"]; `checkpoint.read_checkpoint_meta(workdir)` reads it back without any data, so
an inference command can rebuild its task (name + init_model) and call `restore_model`.

Train and eval mode: the loop evaluates a copy of the model's graph on which `Module.eval()` was
called (flax's convention: attributes named `deterministic` / `use_running_average` are set to
True), so dropout or weight noise written against those attributes switches off in evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

import jax
import numpy as np
from flax import nnx

Batch = dict[str, jax.Array]
HostBatch = dict[str, np.ndarray]
# A metric: a per-batch mean, or a (total, count) pair summed over batches before dividing.
MetricValue = jax.Array | tuple[jax.Array, jax.Array]
Metrics = dict[str, MetricValue]


@runtime_checkable
class Task(Protocol):
  """A trainable model with its data; see the module docstring for the contract."""

  name: str  # e.g. "synthesis"; saved in checkpoints so that a wrong model type is detected

  def init_model(self, rngs: nnx.Rngs) -> nnx.Module:
    """A freshly initialised model (parameters drawn from `rngs`)."""
    ...

  def loss(self, model: nnx.Module, batch: Batch, key: jax.Array) -> tuple[jax.Array, Metrics]:
    """Scalar loss to minimise and metrics, for one (device-sharded) batch. Jittable."""
    ...

  def train_batch(self, step: int) -> HostBatch:
    """The batch of training step `step` (0-based); a pure function of `step`."""
    ...

  def eval_batches(self) -> Iterable[HostBatch]:
    """The fixed evaluation set, in batches (may be empty: no evaluation)."""
    ...

  def data_position(self, step: int) -> dict[str, int]:
    """Human-readable position of `train_batch(step)` (e.g. {"epoch": 3, "batch": 17})."""
    ...


def load_splits(config: Any, load: Callable[[str], dict[str, list]]
                ) -> tuple[dict[str, list] | None, dict[str, list] | None]:
  """The (train, eval) items of a task: `load(split)` for config.train_split and
  config.eval_split (an empty name gives None: an evaluation-only or training-only task), the
  eval items cut to config.eval_max_lines when that is set."""
  train = load(config.train_split) if config.train_split else None
  evaluation = load(config.eval_split) if config.eval_split else None
  if evaluation is not None and config.eval_max_lines:
    evaluation = {k: v[:config.eval_max_lines] for k, v in evaluation.items()}
  return train, evaluation
