"""The LSTM's elementwise step (Graves 2013 eqs 7-11 after the matmuls) and its derivative, shared
by `LSTMCell.step` (nn/cells.py) and the two recurrent sweeps (nn/lstm_sweep.py and
synthesis/attention_sweep.py), which call `backward` from their hand-written backward loops.

Gate layout along the last axis of the pre-activations: blocks of H, [i, f, g, o].

Arranged for speed, not for reading: the three gates that see only c_{t-1} (i, f and the cell
input g) go through ONE tanh over a [..., 3, H] view, the two sigmoids as
sigma(x) = (1 + tanh(x / 2)) / 2. XLA's CPU backend runs four separate activations over four
slices of a [B, 4H] matmul output about twice as slowly as one over the whole block: in a scan
of [32, 400] x [400, 1,600] plus peephole-LSTM gates over 700 steps, 815 ms against 518 ms
(2-core CPU); the output gate needs c_t (eq 10) and stays on its own. The derivative uses the
saved activations (sigma' = a (1 - a), tanh' = 1 - a^2), so a backward loop recomputes nothing.

  p_ifg = [pre_i + w_ci c_{t-1}, pre_f + w_cf c_{t-1}, pre_g]     (eqs 7-9)
  [i, f, g] = tanh(p_ifg * s) * s + r,   s = [1/2, 1/2, 1], r = [1/2, 1/2, 0]
  c_t = f c_{t-1} + i g        po = pre_o + w_co c_t        o = sigma(po)      h_t = o tanh(c_t)

Backward, given dh_t (output + carry) and dc_t (carry):
  dpo = clip(dh_t tanh(c_t) o (1 - o))
  dc  = dc_t + dh_t o (1 - tanh^2 c_t) + w_co dpo
  dpi = clip(dc g i (1 - i))   dpf = clip(dc c_{t-1} f (1 - f))   dpg = clip(dc i (1 - g^2))
  dc_{t-1} = dc f + w_ci dpi + w_cf dpf        (dh_{t-1} = [dpi dpf dpg dpo] W_h^T: the caller)

Derivative clipping (Graves 2013 section 4, nn/clip.py) bounds each pre-activation's cotangent
where it enters its unit: `forward` marks them with `clip_gradient` for `jax.grad`, `backward`
clips them itself.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from handwriting.nn.clip import clip_gradient

Array = jax.Array

# Per block i, f, g of the shared tanh: input and output scale, output offset (sigmoid via tanh).
_SCALE_3x1 = ((0.5,), (0.5,), (1.0,))
_OFFSET_3x1 = ((0.5,), (0.5,), (0.0,))
# The activations' derivative as k1 a - a^2 + k0: a (1 - a) for the sigmoids, 1 - a^2 for tanh.
_K1_3x1 = ((1.0,), (1.0,), (0.0,))
_K0_3x1 = ((0.0,), (0.0,), (1.0,))


class Acts(NamedTuple):
  """What one step's derivative needs besides c_{t-1}."""

  ifg: Array  # [..., 3, H] input gate i, forget gate f, cell input g
  o: Array  # [..., H] output gate
  c: Array  # [..., H] the new cell state c_t


def _ifg_peepholes(w_c_3xH: Array) -> Array:
  """[3, H]: w_ci, w_cf and zeros (the cell input g has no peephole)."""
  return jnp.concatenate([w_c_3xH[:2], jnp.zeros_like(w_c_3xH[:1])])


def forward(pre_x4H: Array, c_xH: Array, w_c_3xH: Array | None, clip: float | None = None
            ) -> tuple[Array, Acts]:
  """(h_t, activations) from the gate pre-activations W_x x_t + W_h h_{t-1} + b and c_{t-1}
  (any leading shape), with the peepholes (rows w_ci, w_cf, w_co; None = none)."""
  H = c_xH.shape[-1]
  dtype = pre_x4H.dtype
  p = pre_x4H.reshape(pre_x4H.shape[:-1] + (4, H))
  p_ifg = p[..., :3, :]
  if w_c_3xH is not None:
    p_ifg = p_ifg + c_xH[..., None, :] * _ifg_peepholes(w_c_3xH)
  scale = jnp.asarray(_SCALE_3x1, dtype)
  a = jnp.tanh(clip_gradient(p_ifg, clip) * scale) * scale + jnp.asarray(_OFFSET_3x1, dtype)
  c_new = a[..., 1, :] * c_xH + a[..., 0, :] * a[..., 2, :]
  po = p[..., 3, :]
  if w_c_3xH is not None:
    po = po + w_c_3xH[2] * c_new  # the output peephole sees the new state c_t (eq. 10)
  o = jax.nn.sigmoid(clip_gradient(po, clip))
  return o * jnp.tanh(c_new), Acts(a, o, c_new)


def _clip(g: Array, bound: float | None) -> Array:
  return g if bound is None else jnp.clip(g, -bound, bound)


def backward(dh_xH: Array, dc_xH: Array, c_prev_xH: Array, acts: Acts, w_c_3xH: Array | None,
             clip: float | None) -> tuple[Array, Array]:
  """(d pre [..., 4H], d c_{t-1}) of `forward`, given the cotangents of h_t and c_t (both
  carried on), c_{t-1} and the saved activations; each pre-activation's cotangent clipped to
  [-clip, clip]. The peepholes' gradients are `peephole_grads` over all steps at once."""
  a, o, c_new = acts
  dtype = a.dtype
  tc = jnp.tanh(c_new)
  dpo = _clip(dh_xH * tc * o * (1.0 - o), clip)
  dcn = dc_xH + dh_xH * o * (1.0 - tc * tc)
  if w_c_3xH is not None:
    dcn = dcn + w_c_3xH[2] * dpo
  i, f, g = a[..., 0, :], a[..., 1, :], a[..., 2, :]
  # d c_t / d [i, f, g] = [g, c_{t-1}, i]; then through the activations.
  d_a = dcn[..., None, :] * jnp.stack([g, c_prev_xH, i], axis=-2)
  deriv = jnp.asarray(_K1_3x1, dtype) * a - a * a + jnp.asarray(_K0_3x1, dtype)
  dp_ifg = _clip(d_a * deriv, clip)
  dc_prev = dcn * f
  if w_c_3xH is not None:
    dc_prev = dc_prev + w_c_3xH[0] * dp_ifg[..., 0, :] + w_c_3xH[1] * dp_ifg[..., 1, :]
  dpre = jnp.concatenate([dp_ifg, dpo[..., None, :]], axis=-2)
  return dpre.reshape(dpre.shape[:-2] + (4 * dpre.shape[-1],)), dc_prev


def peephole_grads(c_prev_TxBxH: Array, c_new_TxBxH: Array, dpre_TxBx4H: Array) -> Array:
  """[3, H]: the peepholes' gradients summed over all steps and lines (each one contraction),
  from c_{t-1}, c_t and `backward`'s d pre of every step (zero at masked steps)."""
  H = c_prev_TxBxH.shape[-1]
  return jnp.stack([jnp.einsum("tbh,tbh->h", c_prev_TxBxH, dpre_TxBx4H[..., :H]),
                    jnp.einsum("tbh,tbh->h", c_prev_TxBxH, dpre_TxBx4H[..., H:2 * H]),
                    jnp.einsum("tbh,tbh->h", c_new_TxBxH, dpre_TxBx4H[..., 3 * H:])])
