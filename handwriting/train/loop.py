"""`train_and_evaluate(config, workdir, task)`: the one training loop of every model.

Per step: the task's batch `train_batch(step)`, sharded over the devices; one jitted, pure
`train_step(state, batch, key)` (loss, gradient, optimizer update); every `log_every` steps a
line in `workdir/metrics.jsonl`; every `eval_every` steps the mean metrics over
`task.eval_batches()`; every `checkpoint_every` steps an Orbax checkpoint (and at the end).
Progress goes to a tqdm bar on a terminal and, when there is none, to plain lines (step, loss,
steps/s) at each log step, after one saying that the first step is compiling.

Exact resume: rerunning the same command continues from the latest checkpoint as if the run had
never stopped. Everything a step depends on is a function of the step number or is saved: the
batch is `task.train_batch(step)`, the key is `fold_in(train_root, step)` with the root from
`config.seed`, and the parameters, optimizer state and other model variables are restored.
Log entries past the restored step are dropped, so metrics.jsonl never lists a step twice.
Damaged newer checkpoints are skipped for the newest intact one (see checkpoint.py).

A non-finite loss or gradient stops the run with `NonFiniteLossError` naming the step; the state
it produced is never saved, so the latest checkpoint stays the last good one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx
from jax.sharding import Mesh
from tqdm import tqdm

from handwriting.config import validate as validate_config
from handwriting.train import checkpoint as ckpt
from handwriting.train import distributed, sharding
from handwriting.train import weight_noise as wn
from handwriting.train.metrics import (
  RESERVED,
  Averager,
  MetricsLog,
  SumCount,
  as_sums,
  host_values,
  read_metrics,
)
from handwriting.train.optim import default_optimizer_config, make_optimizer
from handwriting.train.task import Batch, Metrics, Task

PyTree = Any
LossFn = Callable[[nnx.Module, Batch, jax.Array], tuple[jax.Array, Metrics]]
def _say(line: str) -> None:
  """A progress line, from the primary process only (train/distributed.py)."""
  if distributed.is_primary():
    tqdm.write(line)


# Independent PRNG streams folded into the root key of config.seed.
STREAM_INIT, STREAM_TRAIN, STREAM_EVAL = 0, 1, 2
# Folded into a training step's key for its draw of the weights (train/weight_noise.py); the
# step's own key, which the loss sees, stays what it is without weight noise.
STREAM_WEIGHT_NOISE = 3


def default_train_config() -> ml_collections.ConfigDict:
  """The fields the loop reads; a model's config starts from this and adds its own."""
  cfg = ml_collections.ConfigDict()
  cfg.seed = 0  # root of every PRNG stream (init, training, evaluation) and of the data order
  cfg.batch_size = 32  # sequences per step, over all devices (a multiple of the device count)
  cfg.num_steps = 10_000  # total parameter updates; raise it and rerun to train a run further
  cfg.log_every = 100  # steps between train lines in metrics.jsonl (loss of that step, steps/s)
  cfg.eval_every = 1000  # steps between evaluations on the eval set; 0 = only at the end
  cfg.checkpoint_every = 1000  # steps between checkpoints; 0 = only at the end
  cfg.keep_checkpoints = 3  # newest checkpoints kept on disk; 0 = keep all
  # Eval metric (lower is better) whose best value so far keeps a copy of the model (and no
  # optimizer state) in <workdir>/best, itself a workdir that inference commands load; the
  # newest checkpoints above may be past the best one when a run overfits. "" = off.
  cfg.best_metric = "loss"
  # A trained workdir (or shipped model) whose parameters start a new run (fine-tuning, or
  # training a shipped model further); the optimizer starts fresh. Used only when the run's own
  # workdir has no checkpoint yet: a rerun resumes from its own. "" = random initialisation.
  cfg.init_from = ""
  cfg.optimizer = default_optimizer_config()  # handwriting.train.optim.make_optimizer fields
  # Adaptive weight noise (Graves 2011; Graves 2013's best rows), off unless init_std > 0:
  # handwriting.train.weight_noise.
  cfg.weight_noise = wn.default_config()
  return cfg


class TrainState(NamedTuple):
  """Everything that changes during training; params and rest are nnx pure dicts."""
  step: jax.Array  # int32 number of updates done
  params: PyTree  # nnx.Param variables
  opt_state: optax.OptState
  rest: PyTree  # every other model variable (batch stats, nnx.Rngs keys and counts)
  # log sigma of every parameter under adaptive weight noise (train/weight_noise.py; params are
  # then the posterior's means); None without weight noise.
  log_std: PyTree = None


def _trainable(params: PyTree, log_std: PyTree) -> PyTree:
  """What the optimizer updates: the parameters, and their log-sigmas under weight noise."""
  return params if log_std is None else {"params": params, "log_std": log_std}


class NonFiniteLossError(FloatingPointError):
  """The loss or gradient became NaN/Inf; the message names the step (the CLI prints it)."""


@dataclasses.dataclass
class TrainResult:
  step: int  # updates done when the call returned
  train: dict[str, float]  # metrics of the last checked train step
  eval: dict[str, float]  # final evaluation ({} when stopped early or the task has no eval set)
  model: nnx.Module  # the trained model (as constructed, i.e. in train mode)


def train_step(state: TrainState, batch: Batch, root_key: jax.Array, *, graphdef: nnx.GraphDef,
               tx: optax.GradientTransformation, loss_fn: LossFn,
               complexity_weight: float = 0.0
               ) -> tuple[TrainState, dict[str, SumCount], jax.Array]:
  """One update; returns the new state, the step's (total, count) metrics and a finite flag.

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
  sums = as_sums({"loss": loss, "grad_norm": grad_norm, **metrics})
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  return TrainState(state.step + 1, params, opt_state, rest, log_std), sums, finite


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


# Cached: repeated runs of one task in one process (tests, sweeps over seeds) reuse the compiled
# steps. It keeps the last few tasks alive (loss_fn is a bound method), hence the small size.
@functools.lru_cache(maxsize=4)
def compile_steps(graphdef: nnx.GraphDef, eval_graphdef: nnx.GraphDef,
                  tx: optax.GradientTransformation, loss_fn: LossFn, mesh: Mesh,
                  complexity_weight: float = 0.0) -> tuple[Callable, Callable]:
  """jit both steps, with the state replicated and batches split along axis 0."""
  repl, data = sharding.replicated(mesh), sharding.batch_sharding(mesh)
  # The old state is dead after an update: donating it lets XLA update in place (CPU ignores it).
  donate = (0,) if jax.default_backend() != "cpu" else ()
  train_fn = jax.jit(functools.partial(train_step, graphdef=graphdef, tx=tx, loss_fn=loss_fn,
                                       complexity_weight=complexity_weight),
                     in_shardings=(repl, data, repl), out_shardings=repl, donate_argnums=donate)
  eval_fn = jax.jit(functools.partial(eval_step, graphdef=eval_graphdef, loss_fn=loss_fn),
                    in_shardings=(repl, repl, data, repl, repl), out_shardings=repl)
  return train_fn, eval_fn


def evaluate(eval_fn: Callable, state: TrainState, task: Task, mesh: Mesh,
             root_key: jax.Array) -> dict[str, float]:
  """Metrics over the whole eval set: sum(total) / sum(count) across its batches."""
  sums = [eval_fn(state.params, state.rest, sharding.shard_batch(batch, mesh), root_key, i)
          for i, batch in enumerate(task.eval_batches())]
  averager = Averager()
  for s in sums:  # fetched after dispatching every batch, so the device never waits on the host
    averager.add(s)
  return averager.result()


def _check_finite(pending: list[tuple[int, dict[str, SumCount], jax.Array]],
                  manager: Any) -> dict[str, float]:
  """Host values of the newest pending step; raises at the first non-finite one."""
  values: dict[str, float] = {}
  for step, sums, finite in pending:
    values = host_values(sums)
    if not bool(finite):
      last = manager.latest_step()
      saved = f"step {last}" if last is not None else "none yet"
      raise NonFiniteLossError(
        f"non-finite loss or gradient at step {step} (loss {values['loss']}, gradient norm "
        f"{values['grad_norm']}); stopped without saving it. Latest checkpoint: {saved}. "
        "Try a lower --config.optimizer.learning_rate or --config.optimizer.grad_clip_norm.")
  return values


def _config_changes(old: Any, new: Any, prefix: str = "") -> list[str]:
  """Dotted names of config fields that differ between a checkpoint's config and this run's."""
  if isinstance(old, dict) and isinstance(new, dict):
    return [c for k in sorted(set(old) | set(new))
            for c in _config_changes(old.get(k), new.get(k), f"{prefix}{k}.")]
  return [prefix[:-1]] if old != new else []


def _due(step: int, every: int) -> bool:
  return every > 0 and step % every == 0


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
  state = _fresh_state(jnp.asarray(0, jnp.int32), params, nnx.to_pure_dict(rest), tx, config)
  return graphdef, eval_graphdef, tx, sharding.replicate(state, mesh)


def _fresh_state(step: jax.Array, params: PyTree, rest: PyTree, tx: optax.GradientTransformation,
                 config: ml_collections.ConfigDict) -> TrainState:
  """A state with a fresh optimizer (and, under weight noise, every sigma at init_std)."""
  std = float(config.get("weight_noise", {}).get("init_std", 0.0) or 0.0)
  log_std = wn.init_log_std(params, std) if std > 0 else None
  return TrainState(step, params, tx.init(_trainable(params, log_std)), rest, log_std)


def _optimizer_item(state: TrainState) -> dict[str, Any]:
  """The checkpoint's "optimizer" item: step, optimizer state and, under weight noise, sigmas."""
  item = {"step": state.step, "opt_state": state.opt_state}
  if state.log_std is not None:
    item["log_std"] = state.log_std
  return item


def _resume(manager: Any, state: TrainState, task: Task, config: ml_collections.ConfigDict
            ) -> TrainState:
  """The latest intact checkpoint's state, or `state` when there is none."""
  templates = {"model": {"params": state.params, "rest": state.rest},
               "optimizer": _optimizer_item(state)}
  resumed = ckpt.restore_latest(manager, templates, task)
  if resumed is None:
    return state
  step, meta, items, damaged = resumed
  if damaged:  # newer steps were damaged and set aside
    _say(damaged)
  changed = [c for c in _config_changes(meta["config"], json.loads(config.to_json_best_effort()))
             if c != "num_steps"]
  note = f"; config changed since: {', '.join(changed)}" if changed else ""
  _say(f"resuming {task.name} from {manager.directory}/{step} ({meta['data_position']})"
             f"{note}")
  return TrainState(items["optimizer"]["step"], items["model"]["params"],
                    items["optimizer"]["opt_state"], items["model"]["rest"],
                    items["optimizer"].get("log_std"))


def _save(manager: Any, state: TrainState, task: Task, config: ml_collections.ConfigDict,
          force: bool = False) -> None:
  # Orbax copies the arrays to the host before save() returns (its default, SYNCHRONOUS transfer
  # priority) and writes them in the background, so the next step may donate these buffers.
  step = int(state.step)
  items = {"model": {"params": state.params, "rest": state.rest},
           "optimizer": _optimizer_item(state)}
  ckpt.save(manager, step, items, ckpt.make_meta(task, step, config), force=force)


@dataclasses.dataclass
class _Run:
  """What the step loop of one call of train_and_evaluate works with."""
  config: ml_collections.ConfigDict
  task: Task
  mesh: Mesh
  train_fn: Callable
  eval_fn: Callable
  train_root: jax.Array
  eval_root: jax.Array
  log: MetricsLog
  manager: Any
  best: Any = None  # CheckpointManager of <workdir>/best, when config.best_metric is set
  best_value: float = math.inf

  def train(self, state: TrainState, stop: int
            ) -> tuple[TrainState, dict[str, float], dict[str, float]]:
    """Updates from state.step to `stop`; returns the state, last train and eval metrics."""
    cfg, end = self.config, int(self.config.num_steps)
    train_values: dict[str, float] = {}
    eval_values: dict[str, float] = {}
    pending: list[tuple[int, dict[str, SumCount], jax.Array]] = []
    t_log, n_log = time.perf_counter(), 0
    # disable=None: the bar shows only on a terminal. Elsewhere (a log file, CI, nohup) plain
    # lines at each log step take its place, so that a log still shows progress.
    with tqdm(total=end, initial=int(state.step), desc=self.task.name,
              disable=None if distributed.is_primary() else True,
              dynamic_ncols=True) as bar:
      first = int(state.step)
      if first < stop:  # jit compiles on the first call: minutes for a big model
        if bar.disable:
          _say(f"{self.task.name} step {first + 1}: compiling the training step")
        else:
          bar.set_postfix_str("compiling the training step")
      for s in range(first, stop):
        batch = sharding.shard_batch(self.task.train_batch(s), self.mesh)
        state, sums, finite = self.train_fn(state, batch, self.train_root)
        step, n_log = s + 1, n_log + 1
        pending.append((step, sums, finite))
        if s == first and not bar.disable:
          bar.set_postfix_str("")  # compiled once the call returns (the step itself runs async)
        bar.update(1)
        log_now, eval_now, save_now = (_due(step, cfg.log_every) or step == end,
                                       _due(step, cfg.eval_every) or step == end,
                                       _due(step, cfg.checkpoint_every) or step == end)
        # Flags are checked one step late (the device runs ahead of the host), and all of them
        # before anything is logged or saved, so a non-finite state is never written.
        checked, pending = ((pending, []) if log_now or eval_now or save_now or step == stop
                            else (pending[:-1], pending[-1:]))
        if checked:
          train_values = _check_finite(checked, self.manager)
        if log_now:
          now = time.perf_counter()
          steps_per_sec = n_log / (now - t_log)
          self.log.write(step, "train", {**train_values, "steps_per_sec": steps_per_sec})
          bar.set_postfix(loss=f"{train_values['loss']:.4g}")
          if bar.disable:
            _say(f"{self.task.name} step {step}/{end}: loss {train_values['loss']:.4g}, "
                       f"{steps_per_sec:.3g} steps/s")
          t_log, n_log = now, 0
        t_pause = time.perf_counter()
        if eval_now:
          eval_values = self.evaluate(state, step)
        if save_now:
          _save(self.manager, state, self.task, cfg, force=step == end)
        t_log += time.perf_counter() - t_pause  # steps/s counts training time only
    return state, train_values, eval_values

  def evaluate(self, state: TrainState, step: int) -> dict[str, float]:
    values = evaluate(self.eval_fn, state, self.task, self.mesh, self.eval_root)
    if values:
      self.log.write(step, "eval", values)
      _say(f"step {step} eval: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
      self.keep_best(state, step, values)
    return values

  def keep_best(self, state: TrainState, step: int, values: dict[str, float]) -> None:
    value = values.get(self.config.get("best_metric", ""))
    if self.best is None or value is None or not math.isfinite(value) or (
        value >= self.best_value):
      return
    self.best_value = value
    meta = {**ckpt.make_meta(self.task, step, self.config), "eval": values}
    ckpt.save(self.best, step, {"model": {"params": state.params, "rest": state.rest}}, meta,
              force=True)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike[str],
                       task: Task, *, stop_after: int | None = None,
                       mesh: Mesh | None = None) -> TrainResult:
  """Trains `task` to `config.num_steps` updates in `workdir`, resuming from its checkpoints.

  `stop_after` ends the call after that many updates without the final checkpoint or
  evaluation, as a kill would (for tests); `mesh` defaults to all visible devices.
  """
  validate_config(config)  # before anything is built: a bad value is one line, not a traceback
  os.makedirs(workdir, exist_ok=True)
  mesh = mesh if mesh is not None else sharding.make_mesh()
  sharding.check_batch_size(config.batch_size, mesh)
  graphdef, eval_graphdef, tx, state = init_state(task, config, mesh)
  root = jax.random.key(config.seed)
  run = _Run(config, task, mesh, *compile_steps(graphdef, eval_graphdef, tx, task.loss, mesh,
                                                _complexity_weight(config, task)),
             train_root=sharding.replicate(jax.random.fold_in(root, STREAM_TRAIN), mesh),
             eval_root=sharding.replicate(jax.random.fold_in(root, STREAM_EVAL), mesh),
             log=MetricsLog(os.path.join(workdir, "metrics.jsonl"),
                            enabled=distributed.is_primary()),
             manager=ckpt.make_manager(workdir, config.keep_checkpoints, config.checkpoint_every))
  if config.get("best_metric", ""):
    run.best = ckpt.make_manager(Path(workdir) / "best", max_to_keep=1, name="best")
    run.best_value = _best_so_far(run.best, config.best_metric)
  end = int(config.num_steps)
  try:
    if run.manager.latest_step() is None and config.get("init_from", ""):
      state = _warm_start(state, task, config.init_from, tx, mesh, config)
    state = _resume(run.manager, state, task, config)
    start = int(state.step)
    run.log.truncate_after(start)
    state, train_values, eval_values = run.train(state, end if stop_after is None
                                                 else min(end, stop_after))
  finally:
    for manager in (run.manager, run.best):
      if manager is not None:
        manager.wait_until_finished()  # a pending async save of a good state completes
        manager.close()
  if start >= end:  # finished earlier: report its logged final evaluation
    eval_values = _final_eval(run.log.path, end)
  elif int(state.step) < end:  # stopped early: no final evaluation
    eval_values = {}
  model = nnx.merge(graphdef, state.params, state.rest)
  return TrainResult(int(state.step), train_values, eval_values, model)


def _warm_start(state: TrainState, task: Task, source: str, tx: optax.GradientTransformation,
                mesh: Mesh, config: ml_collections.ConfigDict) -> TrainState:
  """Step-0 state with the parameters of `source`'s latest checkpoint and a fresh optimizer."""
  model, meta = ckpt.restore_model(source, task)  # checks the task and every array's shape
  if hasattr(task, "checkpoint_meta"):
    ours = json.loads(json.dumps(task.checkpoint_meta()))
    if meta.get("task_meta") != ours:
      differ = sorted(k for k in ours if meta.get("task_meta", {}).get(k) != ours[k])
      # Fields a task names as free to change (the recognizer's image normalisation: fine-tuning
      # to new inputs is the point) do not stop a warm start.
      differ = [k for k in differ if k not in getattr(task, "warm_start_may_change", ())]
      if differ:
        raise ckpt.CheckpointError(
          f"--config.init_from={source}: its {', '.join(differ)} differ from this data's; start "
          "from a model trained on data prepared the same way")
  params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  _say(f"starting from the parameters of {source} (step {meta['step']})")
  state = _fresh_state(state.step, params, state.rest, tx, config)
  return sharding.replicate(state, mesh)


def _complexity_weight(config: ml_collections.ConfigDict, task: Task) -> float:
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


def _best_so_far(manager: Any, metric: str) -> float:
  """The best kept evaluation of an earlier call (a resumed run keeps improving on it)."""
  step = manager.latest_step()
  if step is None:
    return math.inf
  try:
    ckpt.check_files(manager, step)
    return float(ckpt.read_meta(manager, step).get("eval", {}).get(metric, math.inf))
  except ckpt.DamagedCheckpointError as e:
    # Only a copy for inference: forgetting it costs nothing the next evaluation won't replace.
    moved = ckpt.set_aside(manager, [step])
    _say(f"{e}; moved to {moved[0]}: the next evaluation keeps a new best model")
    return math.inf


def _final_eval(path: str, step: int) -> dict[str, float]:
  """The logged evaluation of a run that had already finished (rerunning it trains nothing)."""
  if not os.path.exists(path):
    return {}
  entries = [e for e in read_metrics(path, "eval") if e["step"] == step]
  return {k: v for k, v in entries[-1].items() if k not in RESERVED} if entries else {}
