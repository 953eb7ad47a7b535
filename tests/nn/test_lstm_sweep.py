"""The hand-written backward sweep of `lstm_scan` against `jax.grad` of a plain `lax.scan` of
`LSTMCell.step` (whose clipping is nn/clip.py's custom VJP): every parameter, the inputs and the
initial carry, with the derivative clip binding, padding masks and both directions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from handwriting.nn.cells import LSTMCell, lstm_scan
from tests.nn.helpers import randomize

B, T, D, H = 3, 7, 4, 5


def autodiff_scan(cell, xproj_BxTx4H, mask_BxT, carry, reverse):
  """lstm_scan as a plain lax.scan over cell.step: JAX differentiates every step itself."""
  valid_TxBx1 = jnp.swapaxes(mask_BxT.astype(bool), 0, 1)[..., None]

  def body(carry, inputs):
    xp, valid = inputs
    new, h = cell.step(carry, xp)
    return tuple(jnp.where(valid, n, o) for n, o in zip(new, carry)), jnp.where(valid, h, 0.0)
  final, h_TxBxH = jax.lax.scan(body, carry, (jnp.swapaxes(xproj_BxTx4H, 0, 1), valid_TxBx1),
                                reverse=reverse)
  return jnp.swapaxes(h_TxBxH, 0, 1), final


@pytest.mark.parametrize("peephole,clip,reverse", [
  (True, 0.05, False), (True, None, True), (False, 0.05, True), (False, None, False)])
def test_sweep_gradients_equal_autodiff_of_the_scan(peephole, clip, reverse):
  cell = LSTMCell(D, H, peephole=peephole, clip=clip, rngs=nnx.Rngs(0))
  randomize(cell, 3)
  rng = np.random.default_rng(4)
  x = jnp.asarray(rng.normal(size=(B, T, D)), jnp.float32)
  mask = jnp.asarray(np.arange(T)[None, :] < np.asarray([[T], [3], [5]]))
  carry = tuple(jnp.asarray(rng.normal(size=(B, H)), jnp.float32) for _ in range(2))
  w_h = jnp.asarray(rng.normal(size=(B, T, H)), jnp.float32) * 30.0
  w_fin = [jnp.asarray(rng.normal(size=(B, H)), jnp.float32) * 30.0 for _ in range(2)]

  def loss(scan, cell, params, x, carry):
    c = nnx.merge(nnx.graphdef(cell), params)
    h, (h_fin, c_fin) = scan(c, c.project(x), mask, carry, reverse)
    return jnp.sum(w_h * h) + jnp.sum(w_fin[0] * h_fin) + jnp.sum(w_fin[1] * c_fin)

  def grads(scan, cell):
    return jax.grad(loss, argnums=(2, 3, 4))(scan, cell, nnx.state(cell), x, carry)

  ours = lambda c, xp, m, k, r: lstm_scan(c, xp, m, k, r)  # noqa: E731
  params = nnx.state(cell)
  np.testing.assert_allclose(loss(ours, cell, params, x, carry),
                             loss(autodiff_scan, cell, params, x, carry), rtol=1e-6)
  g_ours, g_ref = grads(ours, cell), grads(autodiff_scan, cell)
  for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_ref)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
  if clip is not None:  # the clip must bind somewhere for the test to exercise it
    free = LSTMCell(D, H, peephole=peephole, clip=None, rngs=nnx.Rngs(0))
    nnx.update(free, nnx.state(cell, nnx.Param))
    assert not np.allclose(grads(autodiff_scan, free)[1], g_ours[1], atol=1e-3)


def test_sweep_under_jit_and_vmap_free_batch_of_one():
  cell = LSTMCell(D, H, clip=10.0, rngs=nnx.Rngs(1))
  xp = cell.project(jnp.ones((1, T, D)))
  h, (h_fin, _c) = jax.jit(lambda xp: lstm_scan(cell, xp))(xp)
  np.testing.assert_allclose(h[:, -1], h_fin, rtol=1e-6)
  ref_h, _ = autodiff_scan(cell, xp, jnp.ones((1, T)), cell.initial_carry(1), False)
  np.testing.assert_allclose(h, ref_h, rtol=1e-6)


def test_unrolled_loops_give_the_same_values_and_gradients(monkeypatch):
  """`SCAN_UNROLL` > 1 (4 steps an iteration over T = 7: a remainder of 3) changes only how the
  loops are compiled: the outputs and every gradient equal the default's."""
  from handwriting.nn import lstm_sweep
  cell = LSTMCell(D, H, peephole=True, clip=0.05, rngs=nnx.Rngs(0))
  randomize(cell, 5)
  rng = np.random.default_rng(6)
  x = jnp.asarray(rng.normal(size=(B, T, D)), jnp.float32)
  mask = jnp.asarray(np.arange(T)[None, :] < np.asarray([[T], [2], [6]]))
  w_h = jnp.asarray(rng.normal(size=(B, T, H)), jnp.float32) * 30.0

  def value_and_grads():
    def loss(params, x):
      c = nnx.merge(nnx.graphdef(cell), params)
      h, (h_fin, c_fin) = lstm_scan(c, c.project(x), mask)
      return jnp.sum(w_h * h) + jnp.sum(h_fin * c_fin)
    fn = jax.value_and_grad(loss, argnums=(0, 1))
    # Both loops (forward and the hand-written backward) carry the setting.
    assert str(jax.make_jaxpr(fn)(nnx.state(cell), x)).count(
      f"unroll={lstm_sweep.SCAN_UNROLL}") >= 2
    return jax.jit(fn)(nnx.state(cell), x)

  default = value_and_grads()
  monkeypatch.setattr(lstm_sweep, "SCAN_UNROLL", 4)
  unrolled = value_and_grads()
  for a, b in zip(jax.tree.leaves(unrolled), jax.tree.leaves(default)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
