"""Widening a trained network (synthesis/widen.py): the wider one computes what it did, and a warm
start from a narrower model goes through the loop with it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from handwriting.config import ConfigError
from handwriting.data import synthetic
from handwriting.synthesis.configs import get_config
from handwriting.synthesis.model import HandwritingNet
from handwriting.synthesis.task import SequenceTask, sequence_loss
from handwriting.synthesis.widen import widen_params
from handwriting.train.loop import train_and_evaluate


def _net(hidden: int, seed: int, alphabet: int) -> HandwritingNet:
  return HandwritingNet(num_layers=3, hidden_size=hidden, num_mixtures=3, alphabet_size=alphabet,
                        window_size=2, kappa_scale=10.0, rngs=nnx.Rngs(seed))


def _trained_like(model: HandwritingNet) -> None:
  """Every parameter moved off its initialisation (biases and window included), as training
  would: a zero-initialised bias must not hide a misplaced column."""
  params = nnx.state(model, nnx.Param)
  keys = iter(jax.random.split(jax.random.key(7), len(jax.tree.leaves(params))))
  nnx.update(model, jax.tree.map(lambda a: a + 0.3 * jax.random.normal(next(keys), a.shape),
                                 params))


def _widened(small: HandwritingNet, hidden: int, alphabet: int) -> HandwritingNet:
  wide = _net(hidden, 1, alphabet)
  graphdef, params, rest = nnx.split(wide, nnx.Param, ...)
  grown = widen_params(nnx.to_pure_dict(nnx.state(small, nnx.Param)), nnx.to_pure_dict(params))
  nnx.replace_by_pure_dict(params, grown)
  return nnx.merge(graphdef, params, rest)


@pytest.mark.parametrize("alphabet", [6, 0], ids=["synthesis", "prediction"])
def test_the_wider_network_computes_what_the_narrow_one_did(alphabet):
  small = _net(8, 0, alphabet)
  _trained_like(small)
  wide = _widened(small, 13, alphabet)
  ink = jax.random.normal(jax.random.key(2), (2, 25, 3))
  chars = jnp.array([[1, 2, 3, 4, 5], [2, 3, 1, 0, 0]]) if alphabet else None
  y_small, trace_small, _ = small(ink, chars)
  y_wide, trace_wide, _ = wide(ink, chars)
  assert float(jnp.abs(y_small).max()) > 0.5  # the comparison below is not of near-zeros
  np.testing.assert_allclose(np.asarray(y_wide), np.asarray(y_small), atol=2e-5)
  np.testing.assert_allclose(np.asarray(trace_wide.kappa_BxTxK),
                             np.asarray(trace_small.kappa_BxTxK), atol=2e-5)
  # The sampler's step-by-step path too.
  onehot = small.one_hot(chars) if alphabet else None
  s_small, s_wide = small.initial_state(2), wide.initial_state(2)
  for t in range(4):
    s_small, y1, _ = small.step(s_small, ink[:, t], onehot)
    s_wide, y2, _ = wide.step(s_wide, ink[:, t], onehot)
    np.testing.assert_allclose(np.asarray(y2), np.asarray(y1), atol=2e-5)
  # The new cells do compute (their inputs keep the fresh initialisation): not dead units.
  h_new = s_wide.carries[1][0][:, 8:]
  assert float(jnp.abs(h_new).max()) > 1e-3


def test_widening_refuses_fewer_cells_or_other_layers():
  small, wide = _net(8, 0, 4), _net(13, 1, 4)
  p_small = nnx.to_pure_dict(nnx.state(small, nnx.Param))
  p_wide = nnx.to_pure_dict(nnx.state(wide, nnx.Param))
  with pytest.raises(ValueError, match="fewer"):
    widen_params(p_wide, p_small)
  two = HandwritingNet(num_layers=2, hidden_size=13, num_mixtures=3, alphabet_size=4,
                       window_size=2, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="layers"):
    widen_params(p_small, nnx.to_pure_dict(nnx.state(two, nnx.Param)))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  out = tmp_path_factory.mktemp("synthetic")
  synthetic.prepare(str(out), lines=24, seed=0, valid_fraction=0.25, test_fraction=0.0)
  return out


def _config(prepared, hidden: int):
  cfg = get_config("tiny", "synthesis")
  cfg.data, cfg.max_points, cfg.num_steps = str(prepared), 400, 2
  cfg.model.num_layers, cfg.model.hidden_size = 2, hidden
  return cfg


def test_a_warm_start_from_a_narrower_model_widens_it(prepared, tmp_path, capsys):
  source = train_and_evaluate(_config(prepared, 16), str(tmp_path / "narrow"),
                              SequenceTask(_config(prepared, 16)))
  cfg = _config(prepared, 24)
  cfg.init_from = str(tmp_path / "narrow")
  task = SequenceTask(cfg)
  started = train_and_evaluate(cfg, str(tmp_path / "wide"), task, stop_after=0)
  assert "placed in this run's larger network" in capsys.readouterr().out
  assert started.model.hidden_size == 24
  batch = {k: jnp.asarray(v) for k, v in next(iter(task.eval_batches())).items()}
  narrow_loss = sequence_loss(source.model, batch, None)[0]
  np.testing.assert_allclose(float(sequence_loss(started.model, batch, None)[0]),
                             float(narrow_loss), rtol=1e-5)
  # It then trains like any run.
  assert train_and_evaluate(cfg, str(tmp_path / "wide"), SequenceTask(cfg)).step == 2

  other = _config(prepared, 24)
  other.init_from, other.model.kappa_scale = str(tmp_path / "narrow"), 1.0
  with pytest.raises(ConfigError, match=r"kappa_scale \(10.0 there, 1.0 here\)"):
    SequenceTask(other)
