"""Dropout of the MDLSTM reader: active in training, off in evaluation, absent at rate 0 (so the
checkpoints of readers trained without it keep their structure)."""

import jax.numpy as jnp
import numpy as np
from flax import nnx

from handwriting.recognition.model import MDLSTMRecognizer
from tests.recognition.test_model import K, mdlstm_cfg


def _pair(rate: float) -> tuple[MDLSTMRecognizer, MDLSTMRecognizer]:
  """A reader with dropout `rate` and the same weights without dropout."""
  cfg = mdlstm_cfg()
  cfg.model.dropout = rate
  with_dropout = MDLSTMRecognizer(cfg.model, K, rngs=nnx.Rngs(0))
  cfg.model.dropout = 0.0
  plain = MDLSTMRecognizer(cfg.model, K, rngs=nnx.Rngs(0))
  nnx.update(plain, nnx.state(with_dropout, nnx.Param))
  return with_dropout, plain


def test_dropout_trains_noisy_and_evaluates_exact():
  model, plain = _pair(0.5)
  one = np.random.default_rng(0).uniform(size=(1, 8, 8, 1))
  img = jnp.asarray(np.concatenate([one, one]), jnp.float32)  # two rows, two dropout masks
  forward = nnx.jit(lambda m, x: m(x)[0])  # one compile per mode: cheaper than eager wavefronts
  ref = forward(plain, img)
  noisy = forward(model, img)
  assert not np.allclose(noisy[0], ref[0], atol=1e-4)
  assert not np.allclose(noisy[0], noisy[1], atol=1e-4)
  model.eval()
  np.testing.assert_allclose(forward(model, img), ref, rtol=1e-6)


def test_rate_zero_builds_no_dropout_module():
  model, plain = _pair(0.5)
  assert plain.dropout is None
  keys = lambda m: set(nnx.to_pure_dict(nnx.state(m)))  # noqa: E731
  assert "dropout" in keys(model) and "dropout" not in keys(plain)
