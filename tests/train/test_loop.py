"""train_and_evaluate on the toy task: learning, log format, eval averaging, exact resume, NaN stop.

All runs use one task instance (shared_task) so that they share the compiled steps.
"""

import json
import re
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from handwriting.config import ConfigError
from handwriting.train import checkpoint as ckpt
from handwriting.train.loop import NonFiniteLossError, TrainResult, train_and_evaluate
from handwriting.train.metrics import Averager, MetricsLog, as_sums, read_metrics
from handwriting.train.task import Task

from .toy_task import shared_task, toy_config


def _values(entries: list[dict]) -> list[dict]:
  """Log entries without the wall-clock fields (which no two runs share)."""
  return [{k: v for k, v in e.items() if k not in ("time", "steps_per_sec")} for e in entries]


def _assert_same_model(a: nnx.Module, b: nnx.Module) -> None:
  sa, sb = nnx.state(a), nnx.state(b)
  assert jax.tree.structure(sa) == jax.tree.structure(sb)
  for x, y in zip(jax.tree.leaves(sa), jax.tree.leaves(sb)):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[str, TrainResult]:
  """10 uninterrupted steps: log every step, eval and checkpoint every 4 (and at the end)."""
  workdir = str(tmp_path_factory.mktemp("full"))
  cfg = toy_config(num_steps=10, eval_every=4, checkpoint_every=4, keep_checkpoints=0)
  return workdir, train_and_evaluate(cfg, workdir, shared_task())


def test_a_few_steps_reduce_the_loss(full_run):
  workdir, result = full_run
  train = read_metrics(f"{workdir}/metrics.jsonl", "train")
  evals = read_metrics(f"{workdir}/metrics.jsonl", "eval")
  assert np.mean([e["loss"] for e in train[-3:]]) < 0.5 * np.mean([e["loss"] for e in train[:3]])
  assert evals[-1]["loss"] < 0.5 * evals[0]["loss"]
  assert result.step == 10 and result.eval == {k: evals[-1][k] for k in result.eval}


def test_metrics_file_format(full_run):
  workdir, _ = full_run
  with open(f"{workdir}/metrics.jsonl") as f:
    entries = [json.loads(line) for line in f]  # every line is one whole JSON object
  train = [e for e in entries if e["split"] == "train"]
  evals = [e for e in entries if e["split"] == "eval"]
  assert [e["step"] for e in train] == list(range(1, 11))
  assert [e["step"] for e in evals] == [4, 8, 10]  # every eval_every steps, and at the end
  assert len(train) + len(evals) == len(entries)
  for e in train:
    assert set(e) == {"step", "split", "time", "loss", "grad_norm", "mse", "max_err",
                      "steps_per_sec"}
    assert all(np.isfinite(v) for k, v in e.items() if k != "split")
  assert set(evals[0]) == {"step", "split", "time", "loss", "mse", "max_err"}
  times = [e["time"] for e in entries]
  assert times == sorted(times)


def test_eval_averages_totals_over_counts(full_run):
  """mse is sent as (sum, count): the eval value is over all 12 items, not a mean of the two
  batch means (batches of 8 and 4); the plain loss counts each batch once."""
  workdir, result = full_run
  task = shared_task()
  model, _ = ckpt.restore_model(workdir, task)
  err = [np.asarray((model(b["x"]) - b["y"]) ** 2) for b in task.eval_batches()]
  assert [len(e) for e in err] == [8, 4]
  np.testing.assert_allclose(result.eval["mse"], np.concatenate(err).mean(), rtol=1e-5)
  np.testing.assert_allclose(result.eval["loss"], np.mean([e.mean() for e in err]), rtol=1e-5)
  assert abs(result.eval["mse"] - result.eval["loss"]) > 1e-4  # the two averages differ here
  np.testing.assert_allclose(result.eval["max_err"], np.mean([e.max() for e in err]), rtol=1e-5)


def test_train_log_is_the_loss_of_that_step(full_run):
  """The first train entry is the loss of the initial model (same init stream) on batch 0."""
  workdir, _ = full_run
  task = shared_task()
  first = read_metrics(f"{workdir}/metrics.jsonl", "train")[0]
  root = jax.random.key(toy_config().seed)
  model = task.init_model(nnx.Rngs(jax.random.fold_in(root, 0)))
  batch = task.train_batch(0)
  key = jax.random.fold_in(jax.random.fold_in(root, 1), 0)
  loss, _ = task.loss(model, batch, key)
  np.testing.assert_allclose(first["loss"], float(loss), rtol=1e-5)


def test_exact_resume_after_a_kill(full_run, tmp_path):
  """Killed after step 7 (last checkpoint: step 4), rerun to 10: same log, same parameters,
  same dropout key counter; no step logged twice."""
  full_dir, full = full_run
  workdir = str(tmp_path)
  cfg = toy_config(num_steps=10, eval_every=4, checkpoint_every=4, keep_checkpoints=0)
  stopped = train_and_evaluate(cfg, workdir, shared_task(), stop_after=7)
  assert stopped.step == 7 and stopped.eval == {}
  assert [e["step"] for e in read_metrics(f"{workdir}/metrics.jsonl", "train")] == list(range(1, 8))
  manager = ckpt.make_manager(workdir, read_only=True)
  assert manager.latest_step() == 4
  manager.close()

  resumed = train_and_evaluate(cfg, workdir, shared_task())
  assert _values(read_metrics(f"{workdir}/metrics.jsonl")) == _values(
    read_metrics(f"{full_dir}/metrics.jsonl"))
  _assert_same_model(resumed.model, full.model)
  assert resumed.eval == full.eval
  counts = jax.tree.leaves(nnx.state(resumed.model, nnx.RngCount))
  assert [int(c) for c in counts] == [10]  # dropout drew once per step, across the resume


def test_rerunning_a_finished_run_changes_nothing(full_run):
  workdir, full = full_run
  before = Path(workdir, "metrics.jsonl").read_text()
  again = train_and_evaluate(toy_config(num_steps=10, eval_every=4, checkpoint_every=4,
                                        keep_checkpoints=0), workdir, shared_task())
  assert Path(workdir, "metrics.jsonl").read_text() == before
  assert again.step == 10 and again.eval == full.eval
  _assert_same_model(again.model, full.model)


@pytest.mark.parametrize("checkpoint_every, last_good", [(3, 3), (4, 4)])
def test_nan_loss_stops_and_saves_nothing_bad(tmp_path, monkeypatch, checkpoint_every,
                                              last_good):
  """Batch 5 is poisoned, so update 6 is non-finite. With checkpoints every 3, step 6 is a
  checkpoint step (its state must not be saved); with every 4, it is caught one step late."""
  task = shared_task()
  monkeypatch.setattr(task, "nan_at", 5)
  cfg = toy_config(num_steps=10, log_every=100, eval_every=0, checkpoint_every=checkpoint_every)
  with pytest.raises(NonFiniteLossError, match=r"non-finite loss or gradient at step 6 .*"
                     rf"Latest checkpoint: step {last_good}\."):
    train_and_evaluate(cfg, str(tmp_path), task)
  manager = ckpt.make_manager(str(tmp_path), read_only=True)
  assert manager.all_steps() == [checkpoint_every] and manager.latest_step() == last_good
  manager.close()
  model, meta = ckpt.restore_model(str(tmp_path), task)
  assert meta["step"] == last_good
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
  assert not (tmp_path / "metrics.jsonl").exists() or all(
    np.isfinite(e["loss"]) for e in read_metrics(tmp_path / "metrics.jsonl"))
  assert issubclass(NonFiniteLossError, FloatingPointError)


def test_metric_pairs_average_as_total_over_count():
  sums = as_sums({"loss": jax.numpy.float32(2.0), "cer": (jax.numpy.float32(3.0), 4)})
  averager = Averager()
  averager.add(sums)
  averager.add(as_sums({"loss": 4.0, "cer": (1.0, 12)}))
  assert averager.result() == pytest.approx({"loss": 3.0, "cer": 4.0 / 16})
  with pytest.raises(ValueError, match="reserved"):
    as_sums({"step": 1.0})


def test_truncating_the_log_drops_later_steps_and_a_torn_line(tmp_path):
  log = MetricsLog(tmp_path / "metrics.jsonl")
  for step in (1, 2, 3):
    log.write(step, "train", {"loss": float(step)})
  log.write(2, "eval", {"loss": 0.5})
  with open(log.path, "a") as f:
    f.write('{"step": 4, "split": "tr')  # a kill in the middle of a line
  log.truncate_after(2)
  assert [(e["step"], e["split"]) for e in read_metrics(log.path)] == [
    (1, "train"), (2, "train"), (2, "eval")]
  assert [e["loss"] for e in read_metrics(log.path, "eval")] == [0.5]


def test_the_toy_task_implements_the_protocol():
  assert isinstance(shared_task(), Task)


def _best_steps(workdir: str) -> list[int]:
  manager = ckpt.make_manager(f"{workdir}/best", read_only=True)
  steps = list(manager.all_steps())
  manager.close()
  return steps


def test_best_checkpoint_is_the_lowest_evaluation(full_run):
  workdir, _ = full_run
  evals = read_metrics(f"{workdir}/metrics.jsonl", "eval")
  best = min(evals, key=lambda e: e["loss"])
  assert _best_steps(workdir) == [best["step"]]
  manager = ckpt.make_manager(f"{workdir}/best", read_only=True)
  meta = ckpt.read_meta(manager, best["step"])
  manager.close()
  assert meta["eval"]["loss"] == best["loss"] and meta["step"] == best["step"]
  assert not (Path(workdir) / "best" / "checkpoints" / str(best["step"]) / "optimizer").exists()


def test_a_worse_evaluation_keeps_the_earlier_best(tmp_path, monkeypatch):
  from handwriting.train import loop
  scripted = iter([3.0, 1.0, 2.0, 0.5])  # evals at steps 4, 8, 10; then 0.5 after a resume
  monkeypatch.setattr(loop, "evaluate", lambda *a, **k: {"loss": next(scripted)})
  cfg = toy_config(num_steps=10, eval_every=4, checkpoint_every=4, keep_checkpoints=0)
  train_and_evaluate(cfg, str(tmp_path), shared_task())
  assert _best_steps(str(tmp_path)) == [8]
  cfg.num_steps = 12  # rerun further: the resumed run compares with the kept best (1.0)
  train_and_evaluate(cfg, str(tmp_path), shared_task())
  assert _best_steps(str(tmp_path)) == [12]


def test_init_from_starts_with_the_source_parameters(full_run, tmp_path):
  source_dir, source = full_run
  cfg = toy_config(num_steps=10, eval_every=4, checkpoint_every=4, keep_checkpoints=0)
  cfg.init_from = source_dir
  started = train_and_evaluate(cfg, str(tmp_path), shared_task(), stop_after=0)
  for a, b in zip(jax.tree.leaves(nnx.state(started.model, nnx.Param)),
                  jax.tree.leaves(nnx.state(source.model, nnx.Param))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  fresh = train_and_evaluate(toy_config(num_steps=10), str(tmp_path / "fresh"), shared_task(),
                             stop_after=0)
  assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(
    jax.tree.leaves(nnx.state(fresh.model, nnx.Param)),
    jax.tree.leaves(nnx.state(source.model, nnx.Param))))
  # Its own checkpoint wins on a rerun: after 4 steps, init_from no longer applies.
  train_and_evaluate(cfg, str(tmp_path), shared_task(), stop_after=4)
  again = train_and_evaluate(cfg, str(tmp_path), shared_task(), stop_after=4)
  assert again.step == 4


def test_init_from_needs_the_same_data_preparation(full_run, tmp_path, monkeypatch):
  source_dir, _ = full_run
  task = shared_task()
  monkeypatch.setattr(type(task), "checkpoint_meta", lambda self: {"alphabet": "xyz"},
                      raising=False)
  cfg = toy_config(num_steps=10)
  cfg.init_from = source_dir
  with pytest.raises(ckpt.CheckpointError, match="alphabet differ"):
    train_and_evaluate(cfg, str(tmp_path), task, stop_after=0)
  # A field the task names as free to change does not stop it (the recognizer's image_norm).
  monkeypatch.setattr(type(task), "checkpoint_meta", lambda self: {"image_norm": "scan"},
                      raising=False)
  with pytest.raises(ckpt.CheckpointError, match="image_norm differ"):
    train_and_evaluate(cfg, str(tmp_path), task, stop_after=0)
  monkeypatch.setattr(type(task), "warm_start_may_change", ("image_norm",), raising=False)
  assert train_and_evaluate(cfg, str(tmp_path), task, stop_after=0).step == 0


def test_progress_is_plain_lines_when_not_on_a_terminal(tmp_path, capsys):
  """Under capsys stderr is no terminal, so the tqdm bar is off: a line says the first step
  compiles, then one per log step gives the step, loss and speed."""
  cfg = toy_config(num_steps=4, log_every=2, eval_every=0, checkpoint_every=0, best_metric="")
  train_and_evaluate(cfg, str(tmp_path), shared_task())
  lines = capsys.readouterr().out.splitlines()
  assert lines[0] == "toy step 1: compiling the training step"
  number = r"[0-9.e+-]+"
  progress = [re.fullmatch(rf"toy step (\d)/4: loss {number}, {number} steps/s", line)
              for line in lines]
  assert [int(m.group(1)) for m in progress if m] == [2, 4]
  losses = [e["loss"] for e in read_metrics(tmp_path / "metrics.jsonl", "train")]
  assert [m.group(0).split("loss ")[1].split(",")[0] for m in progress if m] == [
    f"{x:.4g}" for x in losses]


def test_config_is_checked_before_anything_runs(tmp_path):
  with pytest.raises(ConfigError, match=r"^config.batch_size must be positive, got 0$"):
    train_and_evaluate(toy_config(batch_size=0), str(tmp_path / "run"), shared_task())
  assert not (tmp_path / "run").exists()


def test_a_warmed_up_step_is_the_one_the_loop_runs(tmp_path):
  # bench_loop.py compiles the step itself before the loop runs; the loop passes the weight-noise
  # weight explicitly, so equal arguments must hit one cache entry however they are spelled.
  from handwriting.train import sharding
  from handwriting.train import step as train_step
  task, mesh = shared_task(), sharding.make_mesh()
  graphdef, eval_graphdef, tx, _ = train_step.init_state(task, toy_config(), mesh)
  warmed = train_step.compile_steps(graphdef, eval_graphdef, tx, task.loss, mesh)
  hits = train_step.compile_steps.cache_info().hits
  assert train_step.compile_steps(graphdef, eval_graphdef, tx, task.loss, mesh, 0.0) is warmed
  assert train_step.compile_steps.cache_info().hits == hits + 1
  train_and_evaluate(toy_config(num_steps=2), str(tmp_path), task, mesh=mesh)
  assert train_step.compile_steps.cache_info().hits == hits + 2
