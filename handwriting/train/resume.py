"""A run's checkpoints as the loop uses them: save, resume, warm start and the best copy.

The files themselves (atomic writes, integrity checks, damaged steps set aside) are
train/checkpoint.py's; this module maps a `TrainState` onto its items: "model" (parameters and
other variables, all an inference command needs) and "optimizer" (step, optimizer state and,
under weight noise, the log-sigmas).

With a moving average of the parameters (config.ema_decay > 0) the model item holds the average,
which is what the run is evaluated with, so every inference command uses it unchanged; the
parameters the optimizer updates go into the optimizer item. A run can be resumed with the
average turned on (it starts at the restored parameters) or off (the run goes on from the
optimizer's parameters).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import ml_collections
import optax
from flax import nnx
from jax.sharding import Mesh

from handwriting.train import checkpoint as ckpt
from handwriting.train import sharding
from handwriting.train.distributed import say
from handwriting.train.metrics import RESERVED, read_metrics
from handwriting.train.step import (
  TrainState,
  eval_params,
  fresh_state,
  start_average,
  uses_ema,
)
from handwriting.train.task import Task


def _config_changes(old: Any, new: Any, prefix: str = "") -> list[str]:
  """Dotted names of config fields that differ between a checkpoint's config and this run's."""
  if isinstance(old, dict) and isinstance(new, dict):
    return [c for k in sorted(set(old) | set(new))
            for c in _config_changes(old.get(k), new.get(k), f"{prefix}{k}.")]
  return [prefix[:-1]] if old != new else []


def model_item(state: TrainState) -> dict[str, Any]:
  """The checkpoint's "model" item: all an inference command loads (with a moving average, the
  average)."""
  return {"params": eval_params(state), "rest": state.rest}


def _items(state: TrainState) -> dict[str, Any]:
  """Both items of a training checkpoint; "optimizer" holds the step, the optimizer state,
  under weight noise the sigmas, and with a moving average the optimizer's own parameters."""
  optimizer = {"step": state.step, "opt_state": state.opt_state}
  if state.log_std is not None:
    optimizer["log_std"] = state.log_std
  if state.ema is not None:
    optimizer["params"] = state.params
  return {"model": model_item(state), "optimizer": optimizer}


def _saved_with_ema(manager: Any, state: TrainState) -> bool:
  """Whether the newest checkpoint keeps a moving average (read from its config; this run's
  setting when its metadata cannot be read, which restoring then reports)."""
  try:
    config = ckpt.read_meta(manager, manager.latest_step())["config"]
  except (ckpt.CheckpointError, OSError, ValueError, KeyError, TypeError):
    return state.ema is not None
  return uses_ema(ml_collections.ConfigDict(config))


def resume(manager: Any, state: TrainState, task: Task, config: ml_collections.ConfigDict
           ) -> TrainState:
  """The latest intact checkpoint's state, or `state` when there is none."""
  if not manager.all_steps():
    return state
  saved_ema = _saved_with_ema(manager, state)
  # The checkpoint's own layout (with or without the average), whatever this run's setting.
  template = state._replace(ema=state.params if saved_ema else None)
  resumed = ckpt.restore_latest(manager, _items(template), task)
  if resumed is None:
    return state
  step, meta, items, damaged = resumed
  if damaged:  # newer steps were damaged and set aside
    say(damaged)
  changed = [c for c in _config_changes(meta["config"], json.loads(config.to_json_best_effort()))
             if c != "num_steps"]
  note = f"; config changed since: {', '.join(changed)}" if changed else ""
  params = items["optimizer"]["params"] if saved_ema else items["model"]["params"]
  ema = None
  if state.ema is not None:  # this run keeps an average: the saved one, or a fresh one
    ema = items["model"]["params"] if saved_ema else start_average(params)
    if not saved_ema:
      note += "; the moving average of the parameters starts at the restored ones"
  elif saved_ema:
    note += "; the moving average is dropped: training goes on from the optimizer's parameters"
  say(f"resuming {task.name} from {manager.directory}/{step} ({meta['data_position']}){note}")
  return TrainState(items["optimizer"]["step"], params, items["optimizer"]["opt_state"],
                    items["model"]["rest"], items["optimizer"].get("log_std"), ema)


def save_state(manager: Any, state: TrainState, task: Task, config: ml_collections.ConfigDict,
               force: bool = False) -> None:
  # Orbax copies the arrays to the host before save() returns (its default, SYNCHRONOUS transfer
  # priority) and writes them in the background, so the next step may donate these buffers.
  step = int(state.step)
  ckpt.save(manager, step, _items(state), ckpt.make_meta(task, step, config), force=force)


def warm_start(state: TrainState, task: Task, source: str, tx: optax.GradientTransformation,
               mesh: Mesh, config: ml_collections.ConfigDict) -> TrainState:
  """Step-0 state with the parameters of `source`'s latest checkpoint and a fresh optimizer."""
  # A task may start from a narrower network of its kind (`init_source`, its spec) and `grow` it.
  narrower = getattr(task, "init_source", None)
  # Checks the task and every array's shape.
  model, meta = ckpt.restore_model(source, narrower if narrower is not None else task)
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
  how = ""
  if narrower is not None:
    params = task.grow(params, state.params)
    how = f", placed in this run's larger network (which computes what {source} did)"
  say(f"starting from the parameters of {source} (step {meta['step']}){how}")
  state = fresh_state(state.step, params, state.rest, tx, config)
  return sharding.replicate(state, mesh)


def best_so_far(manager: Any, metric: str) -> float:
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
    say(f"{e}; moved to {moved[0]}: the next evaluation keeps a new best model")
    return math.inf


def final_eval(path: str, step: int) -> dict[str, float]:
  """The logged evaluation of a run that had already finished (rerunning it trains nothing)."""
  if not os.path.exists(path):
    return {}
  entries = [e for e in read_metrics(path, "eval") if e["step"] == step]
  return {k: v for k, v in entries[-1].items() if k not in RESERVED} if entries else {}
