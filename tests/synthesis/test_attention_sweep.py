"""Layer 1 + window with its hand-arranged backward sweep (synthesis/attention_sweep.py) against
`jax.grad` of a plain `lax.scan` of the same step, written here from the model's pieces: every
weight, the inputs, soft character vectors and the initial state, with the LSTM's derivative
clip binding; and against finite differences in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from handwriting.nn.cells import lstm_gates
from handwriting.synthesis import attention_sweep as sweep
from handwriting.synthesis import window as win

T, B, H, K, U, V = 6, 2, 4, 2, 3, 5


def plain_scan(clip, kappa_scale, wts, xproj, onehot, s0):
  """The loop as the model ran it before the sweep: one step of layer 1 then the window."""
  def body(s, xp):
    pre = xp + s.h @ wts.w_h + s.w @ wts.w_in
    h, c = lstm_gates(pre, s.c, wts.w_c, clip)
    params = win.window_params(h @ wts.w_out + wts.b_out, s.kappa, kappa_scale)
    phi = win.phi(params, U)
    w = win.window(phi, onehot)
    return sweep.State(h, c, params.kappa_BxK, w), (h, w, phi, params.kappa_BxK)
  final, outs = jax.lax.scan(body, s0, xproj)
  return outs, final


def inputs(peephole, dtype=jnp.float32, seed=0):
  rng = np.random.default_rng(seed)
  r = lambda *shape, scale=0.5: jnp.asarray(rng.normal(size=shape) * scale, dtype)  # noqa: E731
  wts = sweep.Weights(r(H, 4 * H), r(3, H) if peephole else None, r(V, 4 * H), r(H, 3 * K),
                      r(3 * K))
  s0 = sweep.State(r(B, H), r(B, H), jnp.abs(r(B, K)), r(B, V))
  onehot = jnp.abs(r(B, U, V))  # soft vectors, so their gradient is tested too
  return wts, r(T, B, 4 * H, scale=1.0), onehot, s0


def loss_of(fn, clip, scale, seed=1):
  rng = np.random.default_rng(seed)
  weights = [rng.normal(size=s) for s in [(T, B, H), (T, B, V), (T, B, U), (T, B, K),
                                            (B, H), (B, H), (B, K), (B, V)]]

  def loss(wts, xproj, onehot, s0):
    outs, final = fn(clip, scale, wts, xproj, onehot, s0)
    return sum(jnp.sum(w * x) * 20.0 for w, x in zip(weights, [*outs, *final]))
  return loss


@pytest.mark.parametrize("peephole,clip", [(True, 0.1), (False, None)])
def test_sweep_gradients_equal_autodiff_of_the_plain_loop(peephole, clip):
  args = inputs(peephole)
  ours, ref = loss_of(sweep.attention_sweep, clip, 2.0), loss_of(plain_scan, clip, 2.0)
  np.testing.assert_allclose(ours(*args), ref(*args), rtol=1e-6)
  g_ours = jax.grad(ours, argnums=(0, 1, 2, 3))(*args)
  g_ref = jax.grad(ref, argnums=(0, 1, 2, 3))(*args)
  assert jax.tree.structure(g_ours) == jax.tree.structure(g_ref)
  for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  if clip is not None:  # the clip binds: without it the gradients differ
    free = jax.grad(loss_of(plain_scan, None, 2.0), argnums=1)(*args)
    assert not np.allclose(free, g_ours[1], atol=1e-3)


def test_sweep_against_finite_differences_float64():
  with jax.enable_x64(True):
    wts, xproj, onehot, s0 = inputs(True, jnp.float64, seed=3)
    loss = loss_of(sweep.attention_sweep, None, 1.0, seed=4)
    check_grads(lambda *a: loss(*a), (wts, xproj, onehot, s0), order=1, modes=["rev"])


def test_unrolled_loops_give_the_same_values_and_gradients(monkeypatch):
  """`lstm_sweep.SCAN_UNROLL` also unrolls this sweep's two loops (4 steps an iteration over
  T = 6: a remainder of 2) without changing a value or a gradient."""
  from handwriting.nn import lstm_sweep
  args = inputs(True, seed=4)

  def grad():  # a new function each time: JAX caches a function's traces
    fn = jax.value_and_grad(loss_of(sweep.attention_sweep, 0.1, 2.0), argnums=(0, 1, 2, 3))
    assert str(jax.make_jaxpr(fn)(*args)).count(f"unroll={lstm_sweep.SCAN_UNROLL}") >= 2
    return jax.jit(fn)(*args)
  default = grad()
  monkeypatch.setattr(lstm_sweep, "SCAN_UNROLL", 4)
  unrolled = grad()
  for a, b in zip(jax.tree.leaves(unrolled), jax.tree.leaves(default)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
