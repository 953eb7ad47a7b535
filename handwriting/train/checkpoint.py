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

Damaged steps: a committed step can still lose data afterwards (a power cut before the disk
flushed it leaves empty files, a copy cut short truncated ones). Reading a step checks its JSON
metadata files and turns a failed array read into `DamagedCheckpointError`, which names the file.
Restoring the latest step (`restore_model`, `read_checkpoint_meta`, the loop's resume) then falls
back to the newest intact older step through `newest_intact`, and says so: a `CheckpointWarning`
here, a printed line in the loop. An explicitly requested step never falls back.
"""

from __future__ import annotations

import functools
import json
import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import jax
import ml_collections
import orbax.checkpoint as ocp
import tensorstore as ts
from flax import nnx

from handwriting.train.task import Task

FORMAT_VERSION = 1
PyTree = Any
T = TypeVar("T")
# Orbax's small JSON files in a step (step metadata; each item's tree metadata, shardings and
# per-array metadata) and our meta item. Array data is checked when it is read.
JSON_FILES = ("_CHECKPOINT_METADATA", "*/_METADATA", "*/_sharding", "*/array_metadatas/*",
              "meta/metadata")


class CheckpointError(RuntimeError):
  """A checkpoint that is missing or does not fit; the message says what to do (no traceback)."""


class DamagedCheckpointError(CheckpointError):
  """A step with an empty, truncated or unreadable file; `step` and `path` name them."""

  def __init__(self, step: int, path: Path, why: str):
    super().__init__(f"checkpoint step {step} is damaged: {path} {why}")
    self.step, self.path = step, path


class CheckpointWarning(UserWarning):
  """A damaged newest step was skipped for an older intact one; the message says which."""


def checkpoint_dir(workdir: str | os.PathLike[str]) -> Path:
  return Path(workdir).absolute() / "checkpoints"


def make_manager(workdir: str | os.PathLike[str], max_to_keep: int | None = None,
                 save_interval_steps: int = 1, read_only: bool = False,
                 name: str = "checkpoints") -> ocp.CheckpointManager:
  """The run's CheckpointManager (current Orbax API: options, item args at save time).

  `read_only` (for restoring only): creates, cleans and deletes nothing. Orbax's own read_only
  option would do the same but logs warnings on every inference command, so it is not used.
  """
  options = ocp.CheckpointManagerOptions(
    max_to_keep=None if read_only else (max_to_keep or None),
    save_interval_steps=max(1, save_interval_steps),
    # Leftovers of a save that a kill interrupted are deleted (in the background); they never
    # count as checkpoints either way.
    cleanup_tmp_directories=not read_only, create=not read_only,
    # Several processes (train/distributed.py) meet at barriers named after the step; two
    # managers saving one step (the run's and the best model's) need their own names.
    multiprocessing_options=ocp.options.MultiprocessingOptions(
      barrier_sync_key_prefix=name))
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


def step_dir(manager: ocp.CheckpointManager, step: int) -> Path:
  return Path(str(manager.directory)) / str(step)


def check_files(manager: ocp.CheckpointManager, step: int) -> None:
  """Raises DamagedCheckpointError naming the first JSON file of `step` that is empty or cut
  short. Orbax itself only logs an unreadable `_CHECKPOINT_METADATA`, but a step that lost one
  file to a crash may have lost others: the whole step counts as damaged."""
  directory = step_dir(manager, step)
  for pattern in JSON_FILES:
    for path in sorted(directory.glob(pattern)):
      text = path.read_bytes()
      if not text.strip():
        raise DamagedCheckpointError(step, path, "is empty")
      try:
        json.loads(text)
      except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise DamagedCheckpointError(step, path, f"is truncated or not JSON ({e})") from None


def check_arrays(manager: ocp.CheckpointManager, step: int, items: Sequence[str]) -> None:
  """Reads every stored byte of the array items `items` of `step` (OCDBT key-value stores) and
  raises DamagedCheckpointError naming the first truncated or missing file.

  Read here, synchronously, rather than left to Orbax's restore: its asyncio reads of a damaged
  file fail with tracebacks printed from TensorStore's threads long after the error itself. The
  cost is a second read of the checkpoint, from the page cache, once per restore.
  """
  for item in items:
    directory = step_dir(manager, step) / item
    if (directory / "manifest.ocdbt").exists():  # else not OCDBT: Orbax's own read checks it
      _reading(step, functools.partial(_read_store, directory))


def _read_store(directory: Path) -> None:
  store = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{directory}/"}).result()
  for read in [store.read(key) for key in store.list().result()]:  # issued at once, then awaited
    read.result()


def read_meta(manager: ocp.CheckpointManager, step: int) -> dict[str, Any]:
  try:
    return manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
  except json.JSONDecodeError as e:
    raise DamagedCheckpointError(step, step_dir(manager, step) / "meta" / "metadata",
                                 f"is truncated or not JSON ({e})") from None


def _unreadable_file(message: str) -> tuple[Path, str] | None:
  """The file that a TensorStore read error names (its last `local file "..."` that is not a
  directory) and the reason given after it, without the long spec that follows."""
  files = re.findall(r'local file "([^"]*[^/"])"', message)
  if not files:
    return None
  why = message.rsplit(f'"{files[-1]}"', 1)[1].split(" [tensorstore_spec", 1)[0]
  return Path(files[-1]), why.lstrip(": ")[:160]


def _reading(step: int, read: Callable[[], T]) -> T:
  """`read()`, an Orbax read of `step`; a TensorStore error naming a file (a truncated or
  missing array file) becomes DamagedCheckpointError."""
  try:
    return read()
  except (ValueError, OSError) as e:
    if unreadable := _unreadable_file(str(e)):
      path, why = unreadable
      raise DamagedCheckpointError(step, path, f"cannot be read ({why})") from None
    raise


def newest_intact(read: Callable[[int], T], steps: Sequence[int]
                  ) -> tuple[int, T, list[DamagedCheckpointError]]:
  """`read(step)` of the newest of `steps` that is not damaged: (that step, what `read`
  returned, the errors of the newer damaged steps it skipped, newest first).

  Only damage falls back; any other error (another task, another model size) would be the same
  for every step and is raised at once. All damaged: the newest step's error is raised.
  """
  skipped: list[DamagedCheckpointError] = []
  for step in sorted(steps, reverse=True):
    try:
      return step, read(step), skipped
    except DamagedCheckpointError as e:
      skipped.append(e)
  if not skipped:
    raise ValueError("newest_intact needs at least one step")
  raise skipped[0]


def fallback_note(skipped: Sequence[DamagedCheckpointError], step: int) -> str:
  """One line saying which damaged steps were skipped for `step`."""
  return "; ".join(str(e) for e in skipped) + f"; using step {step} instead"


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
  check_files(manager, step)  # before Orbax parses them (its errors name no file)
  check_arrays(manager, step, list(templates))
  metadata = _reading(step, lambda: manager.item_metadata(step))
  for name, template in templates.items():
    # Checked before reading any array: Orbax's own errors for this are long and noisy.
    if problems := _mismatches(metadata[name], template):
      raise CheckpointError(
        f"{where} does not fit the {task.name!r} model as configured now (was the model or the "
        f"optimizer changed?); {name}: " + "; ".join(problems))
  args = {name: ocp.args.StandardRestore(_abstract(t)) for name, t in templates.items()}
  try:
    restored = _reading(step, lambda: manager.restore(step, args=ocp.args.Composite(**args)))
  except (ValueError, KeyError, TypeError) as e:
    raise CheckpointError(f"{where} does not fit the {task.name!r} model: {e}") from e
  return {name: from_saveable(restored[name], t) for name, t in templates.items()}


def _open(workdir: str | os.PathLike[str], step: int | None
          ) -> tuple[ocp.CheckpointManager, list[int], Path]:
  """A reading manager and the steps to try, newest first (every step unless `step` is given:
  then only that one); clear errors when there are none."""
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
  return manager, steps if step is None else [step], directory


def _warn_fallback(skipped: Sequence[DamagedCheckpointError], step: int) -> None:
  if skipped:
    # stacklevel 3: the warning points at the caller of restore_model / read_checkpoint_meta.
    warnings.warn(fallback_note(skipped, step), CheckpointWarning, stacklevel=3)


def read_checkpoint_meta(workdir: str | os.PathLike[str], step: int | None = None
                         ) -> dict[str, Any]:
  """The meta of `workdir`'s latest intact checkpoint (or of `step`), without building any
  model: an inference command reads the task name, config and `task_meta` here to rebuild its
  task. Skipping a damaged newer step issues a CheckpointWarning; only the step's JSON files are
  checked here (restore_model also reads the arrays, and its meta is the one to trust)."""
  manager, steps, _ = _open(workdir, step)

  def read(s: int) -> dict[str, Any]:
    check_files(manager, s)
    return read_meta(manager, s)

  try:
    step, meta, skipped = newest_intact(read, steps)
  finally:
    manager.close()
  _warn_fallback(skipped, step)
  return meta


def restore_model(workdir: str | os.PathLike[str], task: Task,
                  step: int | None = None) -> tuple[nnx.Module, dict[str, Any]]:
  """The trained model of `workdir` (latest intact step unless `step`), in eval mode, and its
  meta.

  `task` only needs `name` and `init_model` (e.g. a model spec rebuilt from
  `read_checkpoint_meta`, without any data). Raises CheckpointError (a one-line message for the
  CLI) when the workdir has no checkpoint, holds one of another task or another model size, or
  only damaged ones (DamagedCheckpointError names the file). A damaged newest step is skipped for
  the newest intact one with a CheckpointWarning.
  """
  manager, steps, directory = _open(workdir, step)

  def read(s: int) -> tuple[dict[str, Any], PyTree]:
    meta = read_meta(manager, s)
    check_task(meta, task, directory)
    return meta, restore(manager, s, {"model": template}, task)["model"]

  try:
    model = task.init_model(nnx.Rngs(0))  # values are overwritten; only the structure matters
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    template = {"params": nnx.to_pure_dict(params), "rest": nnx.to_pure_dict(rest)}
    step, (meta, state), skipped = newest_intact(read, steps)
  finally:
    manager.close()
  _warn_fallback(skipped, step)
  model = nnx.merge(graphdef, state["params"], state["rest"])
  model.eval()
  return model, meta


def restore_latest(manager: ocp.CheckpointManager, templates: dict[str, PyTree], task: Task
                   ) -> tuple[int, dict[str, Any], dict[str, PyTree], str] | None:
  """For resuming training: (step, meta, restored items, note) of the newest intact step, or
  None when there is no step.

  Damaged newer steps are set aside (see `set_aside`), so that the resumed run saves those steps
  again, and described in `note` ("" when there were none) for the caller to show. When every
  step is damaged, nothing is moved and CheckpointError says so rather than starting over.
  """
  steps = manager.all_steps()
  if not steps:
    return None
  directory = Path(str(manager.directory))

  def read(step: int) -> tuple[dict[str, Any], dict[str, PyTree]]:
    meta = read_meta(manager, step)
    check_task(meta, task, directory)
    return meta, restore(manager, step, templates, task)

  try:
    step, (meta, items), skipped = newest_intact(read, steps)
  except DamagedCheckpointError as e:
    older = sorted(steps)[:-1]
    others = f"; so are the older steps {', '.join(map(str, older))}" if older else ""
    raise CheckpointError(f"cannot resume: {e}{others}; delete {directory} (or use another "
                          "--workdir) to train from scratch") from None
  note = ""
  if skipped:
    moved = set_aside(manager, [e.step for e in skipped])
    note = f"{fallback_note(skipped, step)} (moved to {', '.join(map(str, moved))})"
  return step, meta, items, note


def set_aside(manager: ocp.CheckpointManager, steps: Sequence[int]) -> list[Path]:
  """Renames damaged steps to `<step>.damaged` (kept for inspection; not a step name to Orbax,
  so a resumed run saves those steps afresh) and reloads the manager; returns the new paths."""
  moved = []
  for step in steps:
    source = step_dir(manager, step)
    target = source.with_name(f"{step}.damaged")
    n = 1
    while target.exists():  # damaged again after an earlier resume
      target, n = source.with_name(f"{step}.damaged{n}"), n + 1
    source.rename(target)
    moved.append(target)
  manager.reload()
  return moved
