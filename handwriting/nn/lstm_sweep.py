"""The LSTM's time loop with a hand-written backward sweep (the 1-D sibling of nn/wavefront.py).

`jax.grad` of a `lax.scan` over `LSTMCell.step` accumulates the recurrent weights' gradient
inside the backward loop: one small [H, B] x [B, 4H] matmul per time step, added to a running
sum. Here the backward loop carries only (dh, dc) and emits each step's gate pre-activation
cotangents dpre_t; the weight gradients are then single large contractions over all steps,
  dW_h = sum_t h_{t-1}^T dpre_t        one [H, T*B] x [T*B, 4H] matmul
  dw_c* = sum_{t,b} c * dpre_*         peepholes, elementwise sums
and dxproj_t = dpre_t is returned whole, so the caller's input projection (W_x x, outside the
loop) gets its gradient from one matmul as well. The forward pass keeps the gates it computed,
so the backward loop needs no recomputation.

Equations (Graves 2013, eqs 7-11; `LSTMCell`), with pre = xproj_t + h_{t-1} W_h split into
[i, f, g, o] and each pre-activation's cotangent clipped to [-clip, clip] where it enters its
unit (derivative clipping, nn/clip.py), exactly as `clip_gradient` does in `LSTMCell.step`:
  pi = pre_i + w_ci c_{t-1}   pf = pre_f + w_cf c_{t-1}   i = s(pi)  f = s(pf)  g = tanh(pre_g)
  c_t = f c_{t-1} + i g       po = pre_o + w_co c_t        o = s(po)  h_t = o tanh(c_t)
Backward, given dh_t (output + carry) and dc_t (carry):
  dpo = clip(dh_t tanh(c_t) o (1 - o))
  dc  = dc_t + dh_t o (1 - tanh^2 c_t) + w_co dpo
  dpi = clip(dc g i (1 - i))   dpf = clip(dc c_{t-1} f (1 - f))   dpg = clip(dc i (1 - g^2))
  dc_{t-1} = dc f + w_ci dpi + w_cf dpf        dh_{t-1} = [dpi dpf dpg dpo] W_h^T
Masked steps (padding) leave the carry unchanged and output zeros, as `lstm_scan` does: their
cotangents pass the carry through untouched and give zero dpre.

Tested against `jax.grad` of the plain scan (tests/nn/test_lstm_sweep.py).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

Array = jax.Array

# Time steps per iteration of the recurrent loops' `lax.scan`s (forward and backward, here and in
# synthesis/attention_sweep.py). Measured on a 2-core CPU, whole synthesis training steps, 2
# against 1 (`experiments/bench_synthesis.py --compare-unroll`): 6 % faster at Graves' size
# (3 x 400, B=32: 8.74 s against 9.33 s), but 22 % slower at the `small` preset's size and 9 %
# at `medium`'s, where the doubled loop body costs more than the saved iterations; so 1. Read when
# a loop is traced: set it before jitting to try another value on another device.
SCAN_UNROLL = 1


def _clip(g: Array, bound: float | None) -> Array:
  return g if bound is None else jnp.clip(g, -bound, bound)


def _forward(w_h: Array, w_c: Array | None, xproj_TxBx4H: Array, valid_TxBx1: Array,
             h0: Array, c0: Array) -> tuple[Array, Array, Array, tuple[Array, ...]]:
  """The plain forward loop; returns (h_TxBxH (zeros at masked steps), final h, final c,
  per-step residuals (h_prev, c_prev, c_new, gates))."""
  H = h0.shape[-1]

  def body(carry, inputs):
    h, c = carry
    xp, valid = inputs
    pre = xp + h @ w_h
    pi, pf, pg, po = pre[..., :H], pre[..., H:2 * H], pre[..., 2 * H:3 * H], pre[..., 3 * H:]
    if w_c is not None:
      pi = pi + w_c[0] * c
      pf = pf + w_c[1] * c
    i, f, g = jax.nn.sigmoid(pi), jax.nn.sigmoid(pf), jnp.tanh(pg)
    c_new = f * c + i * g
    if w_c is not None:
      po = po + w_c[2] * c_new
    o = jax.nn.sigmoid(po)
    h_new = o * jnp.tanh(c_new)
    h_out = jnp.where(valid, h_new, h)
    c_out = jnp.where(valid, c_new, c)
    return (h_out, c_out), (jnp.where(valid, h_new, 0.0), h, c, c_new,
                            jnp.concatenate([i, f, g, o], axis=-1))

  (h_T, c_T), (h_seq, h_prev, c_prev, c_new, gates) = jax.lax.scan(
    body, (h0, c0), (xproj_TxBx4H, valid_TxBx1), unroll=SCAN_UNROLL)
  return h_seq, h_T, c_T, (h_prev, c_prev, c_new, gates)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def sweep(clip: float | None, w_h: Array, w_c: Array | None, xproj_TxBx4H: Array,
          valid_TxBx1: Array, h0: Array, c0: Array) -> tuple[Array, Array, Array]:
  """(h_TxBxH, h_T, c_T) of the LSTM over time-major projected inputs; `valid_TxBx1` is a
  float 0/1 mask (1 = a real step). `clip` bounds the gate pre-activations' cotangents."""
  h_seq, h_T, c_T, _ = _forward(w_h, w_c, xproj_TxBx4H, valid_TxBx1 > 0, h0, c0)
  return h_seq, h_T, c_T


def _sweep_fwd(clip, w_h, w_c, xproj_TxBx4H, valid_TxBx1, h0, c0):
  valid = valid_TxBx1 > 0
  h_seq, h_T, c_T, res = _forward(w_h, w_c, xproj_TxBx4H, valid, h0, c0)
  return (h_seq, h_T, c_T), (w_h, w_c, valid_TxBx1, res)


def _sweep_bwd(clip, saved, cotangents):
  w_h, w_c, valid_TxBx1, (h_prev, c_prev, c_new, gates) = saved
  dh_seq, dh_T, dc_T = cotangents
  H = h_prev.shape[-1]
  w_hT = w_h.T

  def body(carry, inputs):
    dh, dc = carry  # cotangents of this step's output carry
    dh_out, valid, c_p, c_n, gate = inputs
    i, f, g, o = gate[..., :H], gate[..., H:2 * H], gate[..., 2 * H:3 * H], gate[..., 3 * H:]
    dh_new = dh + dh_out  # a masked step outputs zeros: its output cotangent is dropped below
    tc = jnp.tanh(c_n)
    dpo = _clip(dh_new * tc * o * (1.0 - o), clip)
    dcn = dc + dh_new * o * (1.0 - tc * tc)
    if w_c is not None:
      dcn = dcn + w_c[2] * dpo
    dpi = _clip(dcn * g * i * (1.0 - i), clip)
    dpf = _clip(dcn * c_p * f * (1.0 - f), clip)
    dpg = _clip(dcn * i * (1.0 - g * g), clip)
    dc_prev = dcn * f
    if w_c is not None:
      dc_prev = dc_prev + w_c[0] * dpi + w_c[1] * dpf
    dpre = jnp.concatenate([dpi, dpf, dpg, dpo], axis=-1) * valid
    dh_prev = jnp.where(valid > 0, dpre @ w_hT, dh)
    dc_prev = jnp.where(valid > 0, dc_prev, dc)
    return (dh_prev, dc_prev), (dpre, dpo * valid)

  (dh0, dc0), (dpre, dpo) = jax.lax.scan(
    body, (dh_T, dc_T), (dh_seq, valid_TxBx1, c_prev, c_new, gates), reverse=True,
    unroll=SCAN_UNROLL)
  # The weight gradients, each one contraction over all steps and lines.
  dw_h = jnp.einsum("tbh,tbg->hg", h_prev, dpre)
  dw_c = None
  if w_c is not None:
    dw_c = jnp.stack([jnp.einsum("tbh,tbh->h", c_prev, dpre[..., :H]),
                      jnp.einsum("tbh,tbh->h", c_prev, dpre[..., H:2 * H]),
                      jnp.einsum("tbh,tbh->h", c_new, dpo)])
  return dw_h, dw_c, dpre, jnp.zeros_like(valid_TxBx1), dh0, dc0


sweep.defvjp(_sweep_fwd, _sweep_bwd)
