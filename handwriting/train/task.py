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

Optional hook: a warm start (`config.init_from`) from a smaller network of the same kind: the
task sets `init_source` to that network's spec (name + init_model; None otherwise) and defines
`grow(source_params, fresh_params) -> params`, the source's parameters placed in this task's
freshly initialised ones (pure dicts). The synthesis task widens a narrower network so.

Composition: both models build their Task as a `TrainingTask` of three parts, each in its own
module: the model spec (what inference needs too: name, init_model, checkpoint_meta), the input
pipeline (`handwriting.data.pipeline.SplitPipeline`: train_batch, eval_batches, data_position)
and the loss function. Evaluation builds a spec and a pipeline the same way, without a task.

Train and eval mode: the loop evaluates a copy of the model's graph on which `Module.eval()` was
called (flax's convention: attributes named `deterministic` / `use_running_average` are set to
True), so dropout or weight noise written against those attributes switches off in evaluation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

import jax
import ml_collections
from flax import nnx

from handwriting.data.alphabet import Alphabet
from handwriting.data.batching import EpochBatcher
from handwriting.data.pipeline import HostBatch, Items, SplitPipeline
from handwriting.data.report import SkipReport

Batch = dict[str, jax.Array]
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


LossFn = Callable[[nnx.Module, Batch, jax.Array], tuple[jax.Array, Metrics]]


class Spec(Protocol):
  """What rebuilds a model without its data: a checkpoint's meta holds `checkpoint_meta()`, from
  which inference makes the spec again (`from_meta`) to call `restore_model`."""

  config: ml_collections.ConfigDict
  alphabet: Alphabet

  @property
  def name(self) -> str: ...

  def init_model(self, rngs: nnx.Rngs) -> nnx.Module: ...

  def checkpoint_meta(self) -> dict[str, Any]: ...


@dataclasses.dataclass
class TrainingTask:
  """A `Task` composed of a model spec, an input pipeline and a loss function."""

  spec: Spec
  pipeline: SplitPipeline
  loss: LossFn

  @property
  def name(self) -> str:
    return self.spec.name

  def init_model(self, rngs: nnx.Rngs) -> nnx.Module:
    return self.spec.init_model(rngs)

  def checkpoint_meta(self) -> dict[str, Any]:
    return self.spec.checkpoint_meta()

  @property
  def warm_start_may_change(self) -> tuple[str, ...]:
    """checkpoint_meta fields a warm start may change (see resume.warm_start)."""
    return tuple(getattr(self.spec, "warm_start_may_change", ()))

  def train_batch(self, step: int) -> HostBatch:
    return self.pipeline.train_batch(step)

  def eval_batches(self) -> Iterable[HostBatch]:
    return self.pipeline.eval_batches()

  def data_position(self, step: int) -> dict[str, int]:
    return self.pipeline.data_position(step)

  # Shortcuts to the parts, for callers that inspect a built task (tests, notebooks).
  @property
  def config(self) -> ml_collections.ConfigDict:
    return self.spec.config

  @property
  def alphabet(self) -> Alphabet:
    return self.spec.alphabet

  @alphabet.setter
  def alphabet(self, alphabet: Alphabet) -> None:
    self.spec.alphabet = alphabet

  @property
  def train(self) -> Items | None:
    return self.pipeline.train

  @property
  def eval(self) -> Items | None:
    return self.pipeline.eval

  @property
  def batcher(self) -> EpochBatcher | None:
    return self.pipeline.batcher

  @property
  def report(self) -> SkipReport:
    return self.pipeline.report
