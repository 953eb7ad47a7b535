"""A tiny regression task implementing `handwriting.train.task.Task`, for the loop's tests.

Model: Linear(4->8), tanh, Dropout (with its own nnx.Rngs, so the model carries a typed PRNG key
and a counter that a checkpoint must keep), Linear(8->1). Targets y = x.w + 0.5. The loss adds
input noise drawn from the loop's key in train mode, so both PRNG paths affect the trajectory.
`nan_at` poisons the batch of one training step (0-based) so the loss turns NaN there.

Dimensions: B batch, F features (4), H hidden units (8).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from handwriting.data.batching import EpochBatcher
from handwriting.train.loop import default_train_config

F, H = 4, 8


class ToyModel(nnx.Module):

  def __init__(self, rngs: nnx.Rngs):
    self.hidden = nnx.Linear(F, H, rngs=rngs)
    self.dropout = nnx.Dropout(0.1, rngs=rngs)
    self.out = nnx.Linear(H, 1, rngs=rngs)

  def __call__(self, x_BxF: jax.Array) -> jax.Array:
    return self.out(self.dropout(jnp.tanh(self.hidden(x_BxF))))[:, 0]


class ToyTask:
  """Deterministic synthetic data; batches are a pure function of the step (EpochBatcher)."""

  def __init__(self, batch_size: int = 8, num_items: int = 64, nan_at: int | None = None,
               eval_sizes: Sequence[int] = (8, 4), name: str = "toy", seed: int = 0):
    self.name = name
    self.nan_at = nan_at
    rng = np.random.default_rng(1234)
    w_F = rng.normal(size=F).astype(np.float32)
    self.x_NxF = rng.normal(size=(num_items, F)).astype(np.float32)
    self.y_N = self.x_NxF @ w_F + 0.5
    self.eval_x_MxF = rng.normal(size=(sum(eval_sizes), F)).astype(np.float32)
    self.eval_y_M = self.eval_x_MxF @ w_F + 0.5
    self.eval_sizes = tuple(eval_sizes)
    self.batcher = EpochBatcher(np.ones(num_items, int), batch_size, seed=seed)

  def init_model(self, rngs: nnx.Rngs) -> nnx.Module:
    return ToyModel(rngs)

  def loss(self, model: nnx.Module, batch: dict[str, jax.Array], key: jax.Array
           ) -> tuple[jax.Array, dict]:
    x_BxF = batch["x"]
    if not model.dropout.deterministic:  # train mode only: eval is a pure function of params
      x_BxF = x_BxF + 0.01 * jax.random.normal(key, x_BxF.shape)
    err_B = (model(x_BxF) - batch["y"]) ** 2
    return jnp.mean(err_B), {"mse": (jnp.sum(err_B), jnp.asarray(err_B.shape[0], jnp.float32)),
                             "max_err": jnp.max(err_B)}

  def train_batch(self, step: int) -> dict[str, np.ndarray]:
    idx = self.batcher.indices(step)
    x = self.x_NxF[idx]
    if step == self.nan_at:
      x = x * np.nan
    return {"x": x, "y": self.y_N[idx]}

  def eval_batches(self) -> Iterable[dict[str, np.ndarray]]:
    start = 0
    for n in self.eval_sizes:
      yield {"x": self.eval_x_MxF[start:start + n], "y": self.eval_y_M[start:start + n]}
      start += n

  def data_position(self, step: int) -> dict[str, int]:
    epoch, batch = self.batcher.position(step)
    return {"epoch": epoch, "batch": batch}


@functools.cache
def shared_task() -> ToyTask:
  """One instance for every test: runs of the same task object share compiled steps."""
  return ToyTask()


def toy_config(**overrides) -> ml_collections.ConfigDict:
  """A fast config for the toy task: Adam, a handful of steps, log every step."""
  cfg = default_train_config()
  cfg.batch_size = 8
  cfg.num_steps = 10
  cfg.log_every = 1
  cfg.eval_every = 5
  cfg.checkpoint_every = 5
  cfg.keep_checkpoints = 2
  cfg.optimizer.name = "adam"
  cfg.optimizer.learning_rate = 0.05
  for k, v in overrides.items():
    cfg[k] = v
  return cfg
