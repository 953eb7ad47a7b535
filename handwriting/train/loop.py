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

The steps themselves are train/step.py's; what is saved and restored, train/resume.py's.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import ml_collections
from flax import nnx
from jax.sharding import Mesh
from tqdm import tqdm

from handwriting.config import validate as validate_config
from handwriting.train import checkpoint as ckpt
from handwriting.train import distributed, sharding
from handwriting.train import weight_noise as wn
from handwriting.train.distributed import say
from handwriting.train.metrics import Averager, MetricsLog, SumCount, host_values
from handwriting.train.optim import default_optimizer_config
from handwriting.train.resume import (
  best_so_far,
  final_eval,
  model_item,
  resume,
  save_state,
  warm_start,
)
from handwriting.train.step import (
  STREAM_EVAL,
  STREAM_TRAIN,
  TrainState,
  compile_steps,
  complexity_weight,
  ema_decay_of,
  eval_params,
  init_state,
)
from handwriting.train.task import Task


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
  # Exponential moving average of the parameters (Polyak averaging), updated after every step
  # with decay min(ema_decay, (1 + step) / (10 + step)) (train/step.py); evaluation, the best
  # copy and the checkpoints' model item (what inference loads) then use the average, and each
  # evaluation also logs the optimizer's own parameters' metrics as "<metric>_raw" (twice the
  # evaluation time). It smooths the noise of small batches at a constant rate. 0 = off.
  cfg.ema_decay = 0.0
  return cfg


class NonFiniteLossError(FloatingPointError):
  """The loss or gradient became NaN/Inf; the message names the step (the CLI prints it)."""


@dataclasses.dataclass
class TrainResult:
  step: int  # updates done when the call returned
  train: dict[str, float]  # metrics of the last checked train step
  eval: dict[str, float]  # final evaluation ({} when stopped early or the task has no eval set)
  model: nnx.Module  # the trained model (in train mode; with config.ema_decay, the average)


def evaluate(eval_fn: Callable, state: TrainState, task: Task, mesh: Mesh,
             root_key: jax.Array, params: Any = None) -> dict[str, float]:
  """Metrics over the whole eval set: sum(total) / sum(count) across its batches, of `params`
  (default: the run's, the moving average when it keeps one)."""
  params = eval_params(state) if params is None else params
  sums = [eval_fn(params, state.rest, sharding.shard_batch(batch, mesh), root_key, i)
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


def _due(step: int, every: int) -> bool:
  return every > 0 and step % every == 0


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
          say(f"{self.task.name} step {first + 1}: compiling the training step")
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
            say(f"{self.task.name} step {step}/{end}: loss {train_values['loss']:.4g}, "
                f"{steps_per_sec:.3g} steps/s")
          t_log, n_log = now, 0
        t_pause = time.perf_counter()
        if eval_now:
          eval_values = self.evaluate(state, step)
        if save_now:
          save_state(self.manager, state, self.task, cfg, force=step == end)
        t_log += time.perf_counter() - t_pause  # steps/s counts training time only
    return state, train_values, eval_values

  def evaluate(self, state: TrainState, step: int) -> dict[str, float]:
    values = evaluate(self.eval_fn, state, self.task, self.mesh, self.eval_root)
    if values and state.ema is not None:
      # What the average gains is measured, not assumed: the optimizer's own parameters too,
      # as "<metric>_raw" (best_metric still reads the average's).
      raw = evaluate(self.eval_fn, state, self.task, self.mesh, self.eval_root, state.params)
      values = {**values, **{f"{k}_raw": v for k, v in raw.items()}}
    if values:
      self.log.write(step, "eval", values)
      say(f"step {step} eval: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
      self.keep_best(state, step, values)
    return values

  def keep_best(self, state: TrainState, step: int, values: dict[str, float]) -> None:
    value = values.get(self.config.get("best_metric", ""))
    if self.best is None or value is None or not math.isfinite(value) or (
        value >= self.best_value):
      return
    self.best_value = value
    meta = {**ckpt.make_meta(self.task, step, self.config), "eval": values}
    ckpt.save(self.best, step, {"model": model_item(state)}, meta, force=True)


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
                                                complexity_weight(config, task),
                                                ema_decay_of(config)),
             train_root=sharding.replicate(jax.random.fold_in(root, STREAM_TRAIN), mesh),
             eval_root=sharding.replicate(jax.random.fold_in(root, STREAM_EVAL), mesh),
             log=MetricsLog(os.path.join(workdir, "metrics.jsonl"),
                            enabled=distributed.is_primary()),
             manager=ckpt.make_manager(workdir, config.keep_checkpoints, config.checkpoint_every))
  if config.get("best_metric", ""):
    run.best = ckpt.make_manager(Path(workdir) / "best", max_to_keep=1, name="best")
    run.best_value = best_so_far(run.best, config.best_metric)
  end = int(config.num_steps)
  try:
    if run.manager.latest_step() is None and config.get("init_from", ""):
      state = warm_start(state, task, config.init_from, tx, mesh, config)
    state = resume(run.manager, state, task, config)
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
    eval_values = final_eval(run.log.path, end)
  elif int(state.step) < end:  # stopped early: no final evaluation
    eval_values = {}
  model = nnx.merge(graphdef, eval_params(state), state.rest)
  return TrainResult(int(state.step), train_values, eval_values, model)
