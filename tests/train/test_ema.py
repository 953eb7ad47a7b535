"""The moving average of the parameters (config.ema_decay) on the toy task, against the
recursion written out by hand in NumPy from the parameters of a run without it.

The average never feeds back into training, so a run without it gives the parameters p_k after
every update k (one checkpoint per step); the average after update k is then
  a_0 = p_0,  a_k = d_k a_{k-1} + (1 - d_k) p_k,  d_k = min(ema_decay, k / (9 + k)).
"""

import jax
import numpy as np
import pytest
from flax import nnx

from handwriting.config import ConfigError, validate
from handwriting.train import checkpoint as ckpt
from handwriting.train.loop import train_and_evaluate
from handwriting.train.metrics import read_metrics

from .toy_task import shared_task, toy_config

DECAY = 0.2  # below k / (9 + k) from k = 3 on: both sides of the min are used
STEPS = 8


def _leaves(model: nnx.Module) -> list[np.ndarray]:
  return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]


def _config(**overrides):
  return toy_config(**{"num_steps": 10, "eval_every": 0, "checkpoint_every": 2,
                       "keep_checkpoints": 0, **overrides})


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> list[list[np.ndarray]]:
  """p_0 .. p_STEPS of a run without the average, one step per call (exact resume)."""
  workdir = str(tmp_path_factory.mktemp("raw"))
  cfg = _config(checkpoint_every=1)
  return [_leaves(train_and_evaluate(cfg, workdir, shared_task(), stop_after=k).model)
          for k in range(STEPS + 1)]


def _average(raw: list[list[np.ndarray]], start: int, stop: int, decay: float
             ) -> list[np.ndarray]:
  """The hand recursion from a_start = p_start to a_stop."""
  avg = [x.copy() for x in raw[start]]
  for k in range(start + 1, stop + 1):
    d = min(decay, k / (9 + k))
    avg = [d * a + (1 - d) * p for a, p in zip(avg, raw[k])]
  return avg


def _assert_close(got: list[np.ndarray], want: list[np.ndarray]) -> None:
  assert len(got) == len(want)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_the_average_is_the_hand_recursion_and_what_is_evaluated_and_saved(raw, tmp_path):
  workdir = str(tmp_path)
  cfg = _config(num_steps=STEPS, eval_every=STEPS, ema_decay=DECAY)
  result = train_and_evaluate(cfg, workdir, shared_task())
  want = _average(raw, 0, STEPS, DECAY)
  _assert_close(_leaves(result.model), want)
  assert not all(np.allclose(a, p) for a, p in zip(want, raw[STEPS]))  # it is not p_k itself
  # Inference loads the average (the checkpoint's and the best copy's model items) ...
  saved, _ = ckpt.restore_model(workdir, shared_task())
  best, _ = ckpt.restore_model(f"{workdir}/best", shared_task())
  _assert_close(_leaves(saved), want)
  _assert_close(_leaves(best), want)
  # ... and evaluation measured it: the eval set's mse of the saved (eval mode) model.
  task = shared_task()
  err = np.concatenate([np.asarray((saved(b["x"]) - b["y"]) ** 2) for b in task.eval_batches()])
  (logged,) = read_metrics(f"{workdir}/metrics.jsonl", "eval")
  np.testing.assert_allclose(logged["mse"], err.mean(), rtol=1e-5)
  # The optimizer's own parameters are evaluated beside it ("_raw"): those are p_k.
  graphdef, params, rest = nnx.split(saved, nnx.Param, ...)
  plain = nnx.merge(graphdef, jax.tree.unflatten(jax.tree.structure(params), raw[STEPS]), rest)
  err = np.concatenate([np.asarray((plain(b["x"]) - b["y"]) ** 2) for b in task.eval_batches()])
  np.testing.assert_allclose(logged["mse_raw"], err.mean(), rtol=1e-5)
  assert logged["mse_raw"] != logged["mse"]


def test_exact_resume_keeps_the_average(tmp_path):
  cfg = _config(ema_decay=DECAY)
  full = train_and_evaluate(cfg, str(tmp_path / "full"), shared_task(), stop_after=STEPS)
  broken = str(tmp_path / "broken")
  train_and_evaluate(cfg, broken, shared_task(), stop_after=5)  # last checkpoint: step 4
  resumed = train_and_evaluate(cfg, broken, shared_task(), stop_after=STEPS)
  _assert_close(_leaves(resumed.model), _leaves(full.model))
  losses = [[e["loss"] for e in read_metrics(f"{d}/metrics.jsonl", "train")]
            for d in (tmp_path / "full", broken)]
  assert losses[0] == losses[1]  # the optimizer's own parameters came back too


def test_turning_the_average_on_and_off_when_resuming(raw, tmp_path, capsys):
  workdir = str(tmp_path)
  train_and_evaluate(_config(), workdir, shared_task(), stop_after=4)
  capsys.readouterr()
  on = train_and_evaluate(_config(ema_decay=DECAY), workdir, shared_task(), stop_after=6)
  assert "moving average of the parameters starts at the restored ones" in capsys.readouterr().out
  _assert_close(_leaves(on.model), _average(raw, 4, 6, DECAY))
  off = train_and_evaluate(_config(), workdir, shared_task(), stop_after=STEPS)
  assert "moving average is dropped" in capsys.readouterr().out
  _assert_close(_leaves(off.model), raw[STEPS])  # training went on from p_6, not the average


def test_the_decay_must_be_below_one():
  for bad in (1.0, -0.1):
    with pytest.raises(ConfigError, match="ema_decay must be in"):
      validate(toy_config(ema_decay=bad))
