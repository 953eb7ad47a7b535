"""Orbax checkpoints of a training run, and `restore_model` for inference commands.

Layout: `<workdir>/checkpoints/<step>/` with three items, written by one `CheckpointManager.save`:
  model      {"params", "rest"}: the nnx model state (parameters; other variables such as batch
             statistics and the counters and keys of `nnx.Rngs` kept in the model)
  optimizer  {"step", "opt_state"}: what only training needs (inference never reads it)
  meta       JSON: task name, step, data position, the run's config, a format version, and
             `task_meta` (what the task's optional `checkpoint_meta()` returns)

Saves are atomic: on a local filesystem Orbax writes into `<step>.orbax-checkpoint-tmp*` and
renames it to `<step>` once every item is written (`AtomicRenameTemporaryPath`); `latest_step()`
never sees a half-written step, so a run killed mid-save resumes from the previous checkpoint.
Nothing is pickled: arrays go to TensorStore/OCDBT, meta to JSON. Typed PRNG keys (which Orbax
cannot store) are saved as their raw `key_data` and wrapped back using the template's key impl.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from flax import nnx

from handwriting.train.task import Task

FORMAT_VERSION = 1
PyTree = Any


class CheckpointError(RuntimeError):
  """A checkpoint that is missing or does not fit; the message says what to do (no traceback)."""


def checkpoint_dir(workdir: str | os.PathLike[str]) -> Path:
  return Path(workdir).absolute() / "checkpoints"


def make_manager(workdir: str | os.PathLike[str], max_to_keep: int | None = None,
                 save_interval_steps: int = 1, read_only: bool = False) -> ocp.CheckpointManager:
  """The run's CheckpointManager (current Orbax API: options, item args at save time).

  `read_only` (for restoring only): creates, cleans and deletes nothing. Orbax's own read_only
  option would do the same but logs warnings on every inference command, so it is not used.
  """
  options = ocp.CheckpointManagerOptions(
    max_to_keep=None if read_only else (max_to_keep or None),
    save_interval_steps=max(1, save_interval_steps),
    # Leftovers of a save that a kill interrupted are deleted (in the background); they never
    # count as checkpoints either way.
    cleanup_tmp_directories=not read_only, create=not read_only)
  handlers = {"model": ocp.StandardCheckpointHandler(),
              "optimizer": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}
  return ocp.CheckpointManager(checkpoint_dir(workdir), options=options, item_handlers=handlers)


def make_meta(task: Task, step: int, config: ml_collections.ConfigDict) -> dict[str, Any]:
  """What a checkpoint says about itself; `data_position` is that of the next batch, `step`'s."""
  meta = {"format_version": FORMAT_VERSION, "task": task.name, "step": int(step),
          "data_position": {k: int(v) for k, v in task.data_position(int(step)).items()},
          "config": json.loads(config.to_json_best_effort())}
  if hasattr(task, "checkpoint_meta"):  # optional hook, see handwriting.train.task
    meta["task_meta"] = task.checkpoint_meta()
  return meta


def _is_key(x: Any) -> bool:
  return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def to_saveable(tree: PyTree) -> PyTree:
  """Replaces typed PRNG keys by their uint32 key data (Orbax stores plain arrays only)."""
  return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def from_saveable(tree: PyTree, template: PyTree) -> PyTree:
  """Inverse of `to_saveable`: wraps key data back where `template` holds a typed key."""
  return jax.tree.map(
    lambda x, t: jax.random.wrap_key_data(x, impl=jax.random.key_impl(t)) if _is_key(t) else x,
    tree, template)


def _abstract(tree: PyTree) -> PyTree:
  """Shapes, dtypes and shardings of a concrete template: restored arrays land where it lives."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                      to_saveable(tree))


def save(manager: ocp.CheckpointManager, step: int, items: dict[str, PyTree],
         meta: dict[str, Any], force: bool = False) -> bool:
  """Saves the pytrees `items` (e.g. model, optimizer) and `meta` as step `step`."""
  args = {name: ocp.args.StandardSave(to_saveable(tree)) for name, tree in items.items()}
  return manager.save(step, args=ocp.args.Composite(meta=ocp.args.JsonSave(meta), **args),
                      force=force)


def read_meta(manager: ocp.CheckpointManager, step: int) -> dict[str, Any]:
  return manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta


def check_task(meta: dict[str, Any], task: Task, directory: Path) -> None:
  """Refuses a checkpoint written by another kind of model."""
  if meta.get("task") != task.name:
    raise CheckpointError(
      f"{directory} holds a checkpoint of task {meta.get('task')!r} (step {meta.get('step')}), "
      f"not {task.name!r}: use another --workdir or the command for {meta.get('task')!r}")


def _shapes(tree: PyTree) -> dict[str, tuple[int, ...]]:
  """{"params/out/kernel": shape} for every array (namedtuple fields and dict keys alike)."""
  def name(path: tuple) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))))
                    for k in path)
  return {name(p): tuple(x.shape) for p, x in jax.tree_util.tree_leaves_with_path(tree)}


def _mismatches(saved: PyTree, template: PyTree, limit: int = 5) -> list[str]:
  """How the arrays on disk differ from the ones the model needs (names and shapes)."""
  have, want = _shapes(saved), _shapes(to_saveable(template))
  lines = [f"{k}: checkpoint {have[k]}, model {want[k]}"
           for k in sorted(have.keys() & want.keys()) if have[k] != want[k]]
  lines += [f"{k}: not in the checkpoint" for k in sorted(want.keys() - have.keys())]
  lines += [f"{k}: not in the model" for k in sorted(have.keys() - want.keys())]
  return lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else [])


def restore(manager: ocp.CheckpointManager, step: int, templates: dict[str, PyTree],
            task: Task) -> dict[str, PyTree]:
  """Restores the named items of step `step` into the structure, dtypes and shardings of
  `templates` (concrete pytrees, e.g. a freshly initialised state)."""
  where = f"checkpoint {manager.directory}/{step}"
  metadata = manager.item_metadata(step)
  for name, template in templates.items():
    # Checked before reading any array: Orbax's own errors for this are long and noisy.
    if problems := _mismatches(metadata[name], template):
      raise CheckpointError(
        f"{where} does not fit the {task.name!r} model as configured now (was the model or the "
        f"optimizer changed?); {name}: " + "; ".join(problems))
  args = {name: ocp.args.StandardRestore(_abstract(t)) for name, t in templates.items()}
  try:
    restored = manager.restore(step, args=ocp.args.Composite(**args))
  except (ValueError, KeyError, TypeError) as e:
    raise CheckpointError(f"{where} does not fit the {task.name!r} model: {e}") from e
  return {name: from_saveable(restored[name], t) for name, t in templates.items()}


def _open(workdir: str | os.PathLike[str], step: int | None
          ) -> tuple[ocp.CheckpointManager, int, Path]:
  """A reading manager and the step to read (latest unless given); clear errors otherwise."""
  directory = checkpoint_dir(workdir)
  if not directory.is_dir():
    raise CheckpointError(f"no checkpoint in {directory}: train a model there first")
  manager = make_manager(workdir, read_only=True)
  steps = sorted(manager.all_steps())
  if not steps or (step is not None and step not in steps):
    manager.close()
    if not steps:
      raise CheckpointError(f"no checkpoint in {directory}: train a model there first")
    raise CheckpointError(f"no checkpoint of step {step} in {directory}; steps there: {steps}")
  return manager, steps[-1] if step is None else step, directory


def read_checkpoint_meta(workdir: str | os.PathLike[str], step: int | None = None
                         ) -> dict[str, Any]:
  """The meta of `workdir`'s latest checkpoint (or of `step`), without building any model:
  an inference command reads the task name, config and `task_meta` here to rebuild its task."""
  manager, step, _ = _open(workdir, step)
  try:
    return read_meta(manager, step)
  finally:
    manager.close()


def restore_model(workdir: str | os.PathLike[str], task: Task,
                  step: int | None = None) -> tuple[nnx.Module, dict[str, Any]]:
  """The trained model of `workdir` (latest step unless `step`), in eval mode, and its meta.

  `task` only needs `name` and `init_model` (e.g. a model spec rebuilt from
  `read_checkpoint_meta`, without any data). Raises CheckpointError (a one-line message for the
  CLI) when the workdir has no checkpoint, or holds one of another task or another model size.
  """
  manager, step, directory = _open(workdir, step)
  try:
    meta = read_meta(manager, step)
    check_task(meta, task, directory)
    model = task.init_model(nnx.Rngs(0))  # values are overwritten; only the structure matters
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    template = {"params": nnx.to_pure_dict(params), "rest": nnx.to_pure_dict(rest)}
    state = restore(manager, step, {"model": template}, task)["model"]
  finally:
    manager.close()
  model = nnx.merge(graphdef, state["params"], state["rest"])
  model.eval()
  return model, meta
