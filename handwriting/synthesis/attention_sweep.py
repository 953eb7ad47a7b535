"""Layer 1 and the soft window of the synthesis network over time, with a backward sweep whose
weight gradients are single matmuls over all steps (the synthesis sibling of nn/lstm_sweep.py).

Layer 1 and the window cannot be split into "project everything, then scan": w_{t-1} enters
layer 1 at step t (eq 52) and comes from layer 1's own h at t-1 (eqs 46-51). `jax.grad` of the
`lax.scan` then accumulates the gradients of W_h (layer 1's recurrence), W_in (the window into
layer 1) and W_out, b_out (layer 1 into the window parameters) inside its backward loop, three
small matmuls per step. Here the backward loop carries only the state's cotangents and emits
each step's cotangents of the two matmul outputs,
  dpre_t  of  pre_t  = xproj_t + h_{t-1} W_h + w_{t-1} W_in     (layer 1's gate inputs)
  dproj_t of  proj_t = h_t W_out + b_out                         (alpha^, beta^, kappa^)
and the weight gradients follow after it as single contractions over all steps and lines:
  dW_h = sum h_{t-1}^T dpre_t   dW_in = sum w_{t-1}^T dpre_t   dW_out = sum h_t^T dproj_t.
The LSTM's gates (with their derivative clip) are nn/gates.py's forward and hand-written
derivative, shared with nn/lstm_sweep.py; the window's eqs 46-51 (`synthesis/window.py`) are
differentiated step by step with `jax.vjp`, the same code as the forward.

Tested against `jax.grad` of the plain scan (tests/synthesis/test_attention_sweep.py).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from handwriting.nn import gates, lstm_sweep
from handwriting.synthesis import window as win

Array = jax.Array


class Weights(NamedTuple):
  w_h: Array  # [H, 4H] layer 1's recurrent weights
  w_c: Array | None  # [3, H] its peepholes (w_ci, w_cf, w_co), None = none
  w_in: Array  # [V, 4H] the window vector into layer 1 (eq 52, no bias)
  w_out: Array  # [H, 3K] layer 1 into the window parameters (eqs 48-51)
  b_out: Array  # [3K]


class State(NamedTuple):
  h: Array  # [B, H]
  c: Array  # [B, H]
  kappa: Array  # [B, K]
  w: Array  # [B, V]


def _forward(clip, kappa_scale, wts: Weights, xproj_TxBx4H: Array, onehot_BxUxV: Array,
             s0: State):
  def body(s: State, xp_Bx4H: Array):
    pre = xp_Bx4H + s.h @ wts.w_h + s.w @ wts.w_in
    h, acts = gates.forward(pre, s.c, wts.w_c)
    proj = h @ wts.w_out + wts.b_out
    w, phi, kappa = win.window_step(proj, s.kappa, onehot_BxUxV, kappa_scale)
    return State(h, acts.c, kappa, w), ((h, w, phi, kappa), (s, acts, proj))

  final, (outs, res) = jax.lax.scan(body, s0, xproj_TxBx4H, unroll=lstm_sweep.SCAN_UNROLL)
  return outs, final, res


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def attention_sweep(clip: float | None, kappa_scale: float, wts: Weights, xproj_TxBx4H: Array,
                    onehot_BxUxV: Array, s0: State
                    ) -> tuple[tuple[Array, Array, Array, Array], State]:
  """Layer 1 + window over time-major projected inputs (W_x x_t + b, [T, B, 4H]).

  Returns ((h_TxBxH, w_TxBxV, phi_TxBxU, kappa_TxBxK), final State)."""
  outs, final, _ = _forward(clip, kappa_scale, wts, xproj_TxBx4H, onehot_BxUxV, s0)
  return outs, final


def _sweep_fwd(clip, kappa_scale, wts, xproj_TxBx4H, onehot_BxUxV, s0):
  outs, final, res = _forward(clip, kappa_scale, wts, xproj_TxBx4H, onehot_BxUxV, s0)
  h_T, _, phi_T, _ = outs
  return (outs, final), (wts, onehot_BxUxV, res, h_T, phi_T)


def _sweep_bwd(clip, kappa_scale, saved, cotangents):
  wts, onehot_BxUxV, (s_prev, acts_T, proj_T), h_T, phi_T = saved
  (dh_T, dw_T, dphi_T, dkappa_T), d_final = cotangents
  w_hT, w_inT, w_outT = wts.w_h.T, wts.w_in.T, wts.w_out.T

  def body(d, inputs):
    # d: cotangents of this step's output State
    dh_o, dw_o, dphi_o, dkappa_o, sp, acts, proj = inputs
    # The window: w_t feeds the next step (carry) and layers 2..L (output).
    window = functools.partial(win.window_step, chars_BxUxV=onehot_BxUxV,
                               kappa_scale=kappa_scale)
    _, window_vjp = jax.vjp(window, proj, sp.kappa)
    dw = d.w + dw_o
    dproj, dkappa_prev = window_vjp((dw, dphi_o, d.kappa + dkappa_o))
    # Layer 1's gates: h_t feeds the next step, the outputs and the window projection.
    dh = d.h + dh_o + dproj @ w_outT
    dpre, dc_prev = gates.backward(dh, d.c, sp.c, acts, wts.w_c, clip)
    d_prev = State(dpre @ w_hT, dc_prev, dkappa_prev, dpre @ w_inT)
    return d_prev, (dpre, dproj, dw)

  d0, (dpre_T, dproj_T, dw_T_total) = jax.lax.scan(
    body, State(*d_final), (dh_T, dw_T, dphi_T, dkappa_T, s_prev, acts_T, proj_T),
    reverse=True, unroll=lstm_sweep.SCAN_UNROLL)
  dw_c = gates.peephole_grads(s_prev.c, acts_T.c, dpre_T) if wts.w_c is not None else None
  # The weights' gradients, each one contraction over all steps and lines.
  d_wts = Weights(
    w_h=jnp.einsum("tbh,tbg->hg", s_prev.h, dpre_T), w_c=dw_c,
    w_in=jnp.einsum("tbv,tbg->vg", s_prev.w, dpre_T),
    w_out=jnp.einsum("tbh,tbk->hk", h_T, dproj_T), b_out=dproj_T.sum((0, 1)))
  # The characters' one-hot rows (w_t = sum_u phi_t(u) c_u): zero for integer labels, but a
  # caller differentiating soft character vectors gets them right.
  d_onehot = jnp.einsum("tbu,tbv->buv", phi_T, dw_T_total)
  return d_wts, dpre_T, d_onehot, d0


attention_sweep.defvjp(_sweep_fwd, _sweep_bwd)
