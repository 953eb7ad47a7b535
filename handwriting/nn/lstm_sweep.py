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

Each step's elementwise part, forward and derivative (with the derivative clip of nn/clip.py
applied where each pre-activation enters its unit, as `clip_gradient` does in
`LSTMCell.step`), is nn/gates.py, shared with `LSTMCell.step` and synthesis/attention_sweep.py.
Masked steps (padding) leave the carry unchanged and output zeros, as `lstm_scan` does: their
cotangents pass the carry through untouched and give zero dpre.

Tested against `jax.grad` of the plain scan (tests/nn/test_lstm_sweep.py).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from handwriting.nn import gates

Array = jax.Array

# Time steps per iteration of the recurrent loops' `lax.scan`s (forward and backward, here and in
# synthesis/attention_sweep.py). Measured on a 2-core CPU, whole synthesis training steps, 2
# against 1 (`experiments/bench_synthesis.py --compare-unroll`): 6 % faster at Graves' size
# (3 x 400, B=32: 8.74 s against 9.33 s), but 22 % slower at the `small` preset's size and 9 %
# at `medium`'s, where the doubled loop body costs more than the saved iterations; so 1. Read when
# a loop is traced: set it before jitting to try another value on another device.
SCAN_UNROLL = 1


def _forward(w_h: Array, w_c: Array | None, xproj_TxBx4H: Array, valid_TxBx1: Array,
             h0: Array, c0: Array) -> tuple[Array, Array, Array, tuple[Array, ...]]:
  """The plain forward loop; returns (h_TxBxH (zeros at masked steps), final h, final c,
  per-step residuals (h_prev, c_prev, activations))."""

  def body(carry, inputs):
    h, c = carry
    xp, valid = inputs
    h_new, acts = gates.forward(xp + h @ w_h, c, w_c)
    h_out = jnp.where(valid, h_new, h)
    c_out = jnp.where(valid, acts.c, c)
    return (h_out, c_out), (jnp.where(valid, h_new, 0.0), h, c, acts)

  (h_T, c_T), (h_seq, h_prev, c_prev, acts) = jax.lax.scan(
    body, (h0, c0), (xproj_TxBx4H, valid_TxBx1), unroll=SCAN_UNROLL)
  return h_seq, h_T, c_T, (h_prev, c_prev, acts)


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
  w_h, w_c, valid_TxBx1, (h_prev, c_prev, acts) = saved
  dh_seq, dh_T, dc_T = cotangents
  w_hT = w_h.T

  def body(carry, inputs):
    dh, dc = carry  # cotangents of this step's output carry
    dh_out, valid, c_p, act = inputs
    # A masked step outputs zeros (its output cotangent is dropped by `valid` below) and passes
    # the carry through.
    dpre, dc_prev = gates.backward(dh + dh_out, dc, c_p, act, w_c, clip)
    dpre = dpre * valid
    dh_prev = jnp.where(valid > 0, dpre @ w_hT, dh)
    dc_prev = jnp.where(valid > 0, dc_prev, dc)
    return (dh_prev, dc_prev), dpre

  (dh0, dc0), dpre = jax.lax.scan(
    body, (dh_T, dc_T), (dh_seq, valid_TxBx1, c_prev, acts), reverse=True,
    unroll=SCAN_UNROLL)
  # The weight gradients, each one contraction over all steps and lines.
  dw_h = jnp.einsum("tbh,tbg->hg", h_prev, dpre)
  dw_c = gates.peephole_grads(c_prev, acts.c, dpre) if w_c is not None else None
  return dw_h, dw_c, dpre, jnp.zeros_like(valid_TxBx1), dh0, dc0


sweep.defvjp(_sweep_fwd, _sweep_bwd)
