"""The jitted steps of the shared loop and the state they update (train/loop.py runs them).

`train_step(state, batch, root_key)` is pure: the step's key is `fold_in(root_key, state.step)`,
so a resumed run draws what an unbroken one would. `compile_steps` jits it and `eval_step` once
per (model, optimizer, loss, mesh) and caches them, so repeated runs in one process (tests,
benchmarks, sweeps over seeds) share the compiled functions.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx
from jax.sharding import Mesh

from handwriting.train import sharding
from handwriting.train import weight_noise as wn
from handwriting.train.metrics import SumCount, as_sums
from handwriting.train.optim import make_optimizer
from handwriting.train.task import Batch, Metrics, Task

PyTree = Any
LossFn = Callable[[nnx.Module, Batch, jax.Array], tuple[jax.Array, Metrics]]

# Independent PRNG streams folded into the root key of config.seed.
STREAM_INIT, STREAM_TRAIN, STREAM_EVAL = 0, 1, 2
# Folded into a training step's key for its draw of the weights (train/weight_noise.py); the
# step's own key, which the loss sees, stays what it is without weight noise.
STREAM_WEIGHT_NOISE = 3


class TrainState(NamedTuple):
  """Everything that changes during training; params and rest are nnx pure dicts."""
  step: jax.Array  # int32 number of updates done
  params: PyTree  # nnx.Param variables
  opt_state: optax.OptState
  rest: PyTree  # every other model variable (batch stats, nnx.Rngs keys and counts)
  # log sigma of every parameter under adaptive weight noise (train/weight_noise.py; params are
  # then the posterior's means); None without weight noise.
  log_std: PyTree = None
  # Exponential moving average of params (config.ema_decay > 0), what evaluation, the best copy
  # and the checkpoints' model item use; None when off.
  ema: PyTree = None


def eval_params(state: TrainState) -> PyTree:
  """The parameters a run is evaluated and used with: the moving average when it keeps one."""
  return state.params if state.ema is None else state.ema


def ema_update(ema: PyTree, params: PyTree, step: jax.Array, ema_decay: float) -> PyTree:
  """ema <- d ema + (1 - d) params after update number `step` + 1 (0-based `step`), with
  d = min(ema_decay, (1 + step) / (10 + step)) (TensorFlow's ExponentialMovingAverage with
  num_updates): early in a run the average spans about its last tenth of the steps instead of
  lagging behind at the initial parameters for 1 / (1 - ema_decay) steps."""
  t = step.astype(jnp.float32)
  decay = jnp.minimum(jnp.float32(ema_decay), (1.0 + t) / (10.0 + t))
  return jax.tree.map(lambda e, p: (decay * e + (1.0 - decay) * p).astype(e.dtype), ema, params)


def _trainable(params: PyTree, log_std: PyTree) -> PyTree:
  """What the optimizer updates: the parameters, and their log-sigmas under weight noise."""
  return params if log_std is None else {"params": params, "log_std": log_std}


def train_step(state: TrainState, batch: Batch, root_key: jax.Array, *, graphdef: nnx.GraphDef,
               tx: optax.GradientTransformation, loss_fn: LossFn,
               complexity_weight: float = 0.0, ema_decay: float = 0.0
               ) -> tuple[TrainState, dict[str, SumCount], jax.Array]:
  """One update; returns the new state, the step's (total, count) metrics and a finite flag.

  When the state keeps a moving average (state.ema set), it is updated with the new parameters
  (`ema_update`, decay `ema_decay`).

  Under weight noise (state.log_std set) the loss is evaluated at one draw of the weights and
  `complexity_weight * L_C` (1 / training sequences) is added to what is minimised; the
  reported "loss" stays the data term, comparable with runs without noise and with evaluation.
  """
  key = jax.random.fold_in(root_key, state.step)
  noisy = state.log_std is not None

  def objective(trainable: PyTree) -> tuple[jax.Array, tuple[jax.Array, Metrics, PyTree]]:
    params = trainable["params"] if noisy else trainable
    weights = (wn.sample(params, trainable["log_std"],
                         jax.random.fold_in(key, STREAM_WEIGHT_NOISE)) if noisy else params)
    model = nnx.merge(graphdef, weights, state.rest)
    loss, metrics = loss_fn(model, batch, key)
    _, _, rest = nnx.split(model, nnx.Param, ...)  # variables the forward pass updated
    total = loss
    if noisy:
      complexity = complexity_weight * wn.complexity(params, trainable["log_std"])
      total = loss + complexity
      metrics = {**metrics, "complexity": complexity,
                 "weight_std": wn.mean_std(trainable["log_std"])}
    return total, (loss, metrics, nnx.to_pure_dict(rest))

  trainable = _trainable(state.params, state.log_std)
  (_, (loss, metrics, rest)), grads = jax.value_and_grad(objective, has_aux=True)(trainable)
  grad_norm = optax.tree.norm(grads)
  updates, opt_state = tx.update(grads, state.opt_state, trainable)
  trainable = optax.apply_updates(trainable, updates)
  params, log_std = ((trainable["params"], trainable["log_std"]) if noisy
                     else (trainable, None))
  ema = (None if state.ema is None
         else ema_update(state.ema, params, state.step, ema_decay))
  sums = as_sums({"loss": loss, "grad_norm": grad_norm, **metrics})
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  return TrainState(state.step + 1, params, opt_state, rest, log_std, ema), sums, finite


def eval_step(params: PyTree, rest: PyTree, batch: Batch, root_key: jax.Array, index: jax.Array,
              *, graphdef: nnx.GraphDef, loss_fn: LossFn) -> dict[str, SumCount]:
  """(total, count) metrics of one eval batch; the key depends only on the batch's index."""
  model = nnx.merge(graphdef, params, rest)
  loss, metrics = loss_fn(model, batch, jax.random.fold_in(root_key, index))
  return as_sums({"loss": loss, **metrics})


@functools.lru_cache(maxsize=4)
def optimizer_from_json(optimizer_json: str) -> optax.GradientTransformation:
  """make_optimizer, cached on the optimizer config so that equal configs share one object
  (and so share compiled steps)."""
  return make_optimizer(ml_collections.ConfigDict(json.loads(optimizer_json)))


def compile_steps(graphdef: nnx.GraphDef, eval_graphdef: nnx.GraphDef,
                  tx: optax.GradientTransformation, loss_fn: LossFn, mesh: Mesh,
                  complexity_weight: float = 0.0, ema_decay: float = 0.0
                  ) -> tuple[Callable, Callable]:
  """jit both steps, with the state replicated and batches split along axis 0.

  Cached: repeated runs of one task in one process (tests, sweeps over seeds, a benchmark's
  warm-up before the loop) reuse the compiled steps. The arguments are passed on positionally
  so that a call with the default weight and one naming it hit the same cache entry
  (functools.lru_cache keys `f(a)` and `f(a, 0.0)` apart).
  """
  return _compile_steps(graphdef, eval_graphdef, tx, loss_fn, mesh, float(complexity_weight),
                        float(ema_decay))


# It keeps the last few tasks alive (loss_fn is a bound method), hence the small size.
@functools.lru_cache(maxsize=4)
def _compile_steps(graphdef: nnx.GraphDef, eval_graphdef: nnx.GraphDef,
                   tx: optax.GradientTransformation, loss_fn: LossFn, mesh: Mesh,
                   complexity_weight: float, ema_decay: float) -> tuple[Callable, Callable]:
  repl, data = sharding.replicated(mesh), sharding.batch_sharding(mesh)
  # The old state is dead after an update: donating it lets XLA update in place (CPU ignores it).
  donate = (0,) if jax.default_backend() != "cpu" else ()
  train_fn = jax.jit(functools.partial(train_step, graphdef=graphdef, tx=tx, loss_fn=loss_fn,
                                       complexity_weight=complexity_weight,
                                       ema_decay=ema_decay),
                     in_shardings=(repl, data, repl), out_shardings=repl, donate_argnums=donate)
  eval_fn = jax.jit(functools.partial(eval_step, graphdef=eval_graphdef, loss_fn=loss_fn),
                    in_shardings=(repl, repl, data, repl, repl), out_shardings=repl)
  return train_fn, eval_fn


compile_steps.cache_info = _compile_steps.cache_info  # what experiments/bench_loop.py checks


def init_state(task: Task, config: ml_collections.ConfigDict, mesh: Mesh
               ) -> tuple[nnx.GraphDef, nnx.GraphDef, optax.GradientTransformation, TrainState]:
  """Model (from the init stream of config.seed), optimizer and step-0 state, replicated."""
  root = jax.random.key(config.seed)
  model = task.init_model(nnx.Rngs(jax.random.fold_in(root, STREAM_INIT)))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  model.eval()  # flax convention: deterministic=True etc.; only its graph is used, for eval
  eval_graphdef = nnx.graphdef(model)
  tx = optimizer_from_json(config.optimizer.to_json_best_effort(sort_keys=True))
  params = nnx.to_pure_dict(params)
  state = fresh_state(jnp.asarray(0, jnp.int32), params, nnx.to_pure_dict(rest), tx, config)
  return graphdef, eval_graphdef, tx, sharding.replicate(state, mesh)


def fresh_state(step: jax.Array, params: PyTree, rest: PyTree, tx: optax.GradientTransformation,
                config: ml_collections.ConfigDict) -> TrainState:
  """A state with a fresh optimizer (under weight noise, every sigma at init_std; with a moving
  average, the average at these parameters)."""
  std = float(config.get("weight_noise", {}).get("init_std", 0.0) or 0.0)
  log_std = wn.init_log_std(params, std) if std > 0 else None
  ema = start_average(params) if uses_ema(config) else None
  return TrainState(step, params, tx.init(_trainable(params, log_std)), rest, log_std, ema)


def start_average(params: PyTree) -> PyTree:
  """A moving average that starts at `params`: a copy, not an alias of their buffers."""
  return jax.tree.map(jnp.array, params)


def ema_decay_of(config: ml_collections.ConfigDict) -> float:
  """config.ema_decay; 0 (off) when unset, as in the configs of runs from before the option."""
  return float(config.get("ema_decay", 0.0) or 0.0)


def uses_ema(config: ml_collections.ConfigDict) -> bool:
  return ema_decay_of(config) > 0


def complexity_weight(config: ml_collections.ConfigDict, task: Task) -> float:
  """1 / N for L_C / N under weight noise (N: config, or the training split's lines, or its
  points under a per-point objective); 0 without weight noise."""
  noise = config.get("weight_noise", {})
  if not float(noise.get("init_std", 0.0) or 0.0) > 0:
    return 0.0
  n = int(noise.get("num_sequences", 0) or 0)
  if n <= 0:
    train = getattr(task, "train", None)
    sizes = train["sizes"] if train else []
    # L_C is spread over the units the loss averages: lines, or points under the synthesis
    # network's per-point mean (objective "point"; sizes are then pen points per line).
    n = int(sum(sizes)) if config.get("objective", "sequence") == "point" else len(sizes)
  if n <= 0:
    raise ValueError("weight noise needs the number of training sequences: this task has no "
                     "training split to count; set --config.weight_noise.num_sequences")
  return 1.0 / n
