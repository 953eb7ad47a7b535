"""nn/gates.py (the LSTM's elementwise step arranged as one tanh over three gate blocks, and its
hand-written derivative) against Graves 2013 eqs 7-11 written out plainly: a NumPy float64
forward with four separate activations, and `jax.vjp` of the same plain formula in JAX with the
derivative clip of nn/clip.py, for the cotangents."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from handwriting.nn import gates
from handwriting.nn.clip import clip_gradient

B, H = 3, 5


def numpy_step(pre, c, w_c):
  """Eqs 7-11 after the matmuls, one activation per gate, float64."""
  sig = lambda x: 1.0 / (1.0 + np.exp(-x))
  p_i, p_f, p_g, p_o = np.split(pre, 4, axis=-1)
  i = sig(p_i + w_c[0] * c)
  f = sig(p_f + w_c[1] * c)
  c_new = f * c + i * np.tanh(p_g)
  o = sig(p_o + w_c[2] * c_new)
  return o * np.tanh(c_new), c_new


def plain_jax_step(pre, c, w_c, clip):
  """The same formula in JAX, each pre-activation's cotangent clipped where it enters its unit."""
  p_i, p_f, p_g, p_o = jnp.split(pre, 4, axis=-1)
  zero = jnp.zeros_like(c)
  wi, wf, wo = (w_c[0], w_c[1], w_c[2]) if w_c is not None else (zero, zero, zero)
  i = jax.nn.sigmoid(clip_gradient(p_i + wi * c, clip))
  f = jax.nn.sigmoid(clip_gradient(p_f + wf * c, clip))
  c_new = f * c + i * jnp.tanh(clip_gradient(p_g, clip))
  o = jax.nn.sigmoid(clip_gradient(p_o + wo * c_new, clip))
  return o * jnp.tanh(c_new), c_new


def draw(seed):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(B, 4 * H)) * 2.0, rng.normal(size=(B, H)),
          rng.normal(size=(3, H)) * 0.5)


def test_forward_equals_the_equations_in_float64():
  pre, c, w_c = draw(0)
  with jax.enable_x64(True):
    h, acts = gates.forward(jnp.asarray(pre), jnp.asarray(c), jnp.asarray(w_c))
  h_ref, c_ref = numpy_step(pre, c, w_c)
  np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-12)
  np.testing.assert_allclose(acts.c, c_ref, rtol=1e-12, atol=1e-12)
  sig = 1.0 / (1.0 + np.exp(-(pre[:, :H] + w_c[0] * c)))
  np.testing.assert_allclose(acts.ifg[:, 0], sig, rtol=1e-12)  # the input gate i
  np.testing.assert_allclose(acts.ifg[:, 2], np.tanh(pre[:, 2 * H:3 * H]), rtol=1e-12)  # g


@pytest.mark.parametrize("peephole,clip", [(True, None), (True, 0.05), (False, 0.05)])
def test_backward_equals_autodiff_of_the_plain_formula(peephole, clip):
  pre, c, w_c = (jnp.asarray(x, jnp.float32) for x in draw(1))
  w_c = w_c if peephole else None
  rng = np.random.default_rng(2)
  dh, dc = (jnp.asarray(rng.normal(size=(B, H)) * 3.0, jnp.float32) for _ in range(2))

  (h, c_new), vjp = jax.vjp(lambda p, k: plain_jax_step(p, k, w_c, clip), pre, c)
  dpre_ref, dc_ref = vjp((dh, dc))
  h_ours, acts = gates.forward(pre, c, w_c)
  np.testing.assert_allclose(h_ours, h, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(acts.c, c_new, rtol=1e-6, atol=1e-6)
  dpre, dc_prev = gates.backward(dh, dc, c, acts, w_c, clip)
  np.testing.assert_allclose(dpre, dpre_ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(dc_prev, dc_ref, rtol=1e-5, atol=1e-6)
  if clip is not None:  # the clip binds: without it the cotangents differ
    free, _ = gates.backward(dh, dc, c, acts, w_c, None)
    assert not np.allclose(free, dpre, atol=1e-3)


def test_forward_marks_the_clip_for_autodiff_and_peephole_grads_sum_over_steps():
  """`jax.grad` through `forward` (as `LSTMCell.step` is differentiated) clips like
  `backward`; `peephole_grads` over T steps equals autodiff of the plain formula."""
  T = 4
  rng = np.random.default_rng(3)
  pre = jnp.asarray(rng.normal(size=(T, B, 4 * H)) * 2.0, jnp.float32)
  c = jnp.asarray(rng.normal(size=(T, B, H)), jnp.float32)
  w_c = jnp.asarray(rng.normal(size=(3, H)) * 0.5, jnp.float32)
  wts = jnp.asarray(rng.normal(size=(T, B, H)) * 5.0, jnp.float32)
  loss = lambda step: lambda p, w: jnp.sum(wts * step(p, c, w))
  ours = loss(lambda p, k, w: gates.forward(p, k, w, 0.05)[0])
  ref = loss(lambda p, k, w: plain_jax_step(p, k, w, 0.05)[0])
  g_pre, g_wc = jax.grad(ours, argnums=(0, 1))(pre, w_c)
  r_pre, r_wc = jax.grad(ref, argnums=(0, 1))(pre, w_c)
  np.testing.assert_allclose(g_pre, r_pre, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(g_wc, r_wc, rtol=1e-4, atol=1e-5)
  _, acts = gates.forward(pre, c, w_c)
  dpre, _ = gates.backward(wts, jnp.zeros_like(c), c, acts, w_c, 0.05)
  np.testing.assert_allclose(gates.peephole_grads(c, acts.c, dpre), r_wc, rtol=1e-4, atol=1e-5)
