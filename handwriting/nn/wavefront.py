"""The diagonal sweep of the 2-D LSTM wavefront, with a hand-written backward pass.

Dimension letters: S anti-diagonals (scan steps), K scan directions, C cells per direction,
G = 5 C gate pre-activations (input, forget up, forget left, cell input g, output), M = B * H
pixels of one diagonal (channels-first: M is the minor axis, see `mdlstm.wavefront_scan`).

Why a custom VJP: JAX's automatic transpose of the scan body stores ~15 residuals per step and
transposes every small op (pad, slice, concatenate, stack, select) one by one; on a CPU its
backward took ~3x the forward pass. The backward of an MDLSTM sweep is itself a sweep in the
reverse order (Graves' thesis 2012, eqs 8.4-8.10): per diagonal it needs only elementwise gate
derivatives and one small matmul back to the two neighbours. The weight gradients, sums over
every pixel, are one einsum over all diagonals after the loop. Tests check this against JAX's
own derivative of the per-pixel reference.

Forward equations for one diagonal (neighbour n = 0 the pixel above, n = 1 the pixel to the
left, both on the previous diagonal; Graves & Schmidhuber 2009, sec. 2):
  pre = xproj + W_h^T [h_up; h_left]
  i = sig(pre_i + w_ci (c_up + c_left)), f_n = sig(pre_fn + w_cfn c_n), g = tanh(pre_g)
  c = i g + sum_n f_n c_n,  o = sig(pre_o + w_co c),  h = o tanh(c)
and h, c are zero off the image and at padding. Derivative clipping (`clip`) clips the
cotangent of every gate pre-activation, as `clip_gradient` does in the cells.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from handwriting.nn.cells import mdlstm_gates

Array = jax.Array
Peep = tuple[Array, Array, Array] | None  # w_ci [K,C,1], w_cf [2,K,C,1], w_co [K,C,1]
# The forward step is the cells' own `mdlstm_gates`; only the backward pass is written here.


def _down(a_xM: Array, height: int) -> Array:
  """Row i of each image gets row i - 1 (row 0 the zero outside state): the pixel above, read
  from the previous diagonal. Any leading axes; M = B * height is the last."""
  *lead, M = a_xM.shape
  a = a_xM.reshape(*lead, M // height, height)
  return jnp.pad(a, [(0, 0)] * (len(lead) + 1) + [(1, 0)])[..., :height].reshape(*lead, M)


def _up(d_xM: Array, height: int) -> Array:
  """Transpose of `_down`: row i gets row i + 1, the last row zero."""
  *lead, M = d_xM.shape
  d = d_xM.reshape(*lead, M // height, height)
  return jnp.pad(d, [(0, 0)] * (len(lead) + 1) + [(0, 1)])[..., 1:].reshape(*lead, M)


def _clip(d: Array, clip: float | None) -> Array:
  return d if clip is None else jnp.clip(d, -clip, clip)


def _step(w_hT_KxGx2C: Array, peep: Peep, height: int, carry: tuple[Array, Array],
          xproj_KxGxM: Array, valid_Kx1xM: Array) -> tuple[Array, Array, tuple[Array, ...]]:
  """One diagonal: new (h, c) and the gate activations (i, f [2, ...], g, o)."""
  h_prev, c_prev = carry
  C = h_prev.shape[1]
  pre = xproj_KxGxM + jnp.einsum("kgd,kdm->kgm", w_hT_KxGx2C,
                                 jnp.concatenate([_down(h_prev, height), h_prev], axis=1))
  pre_f_NxKxCxM = jnp.stack([pre[:, C:2 * C], pre[:, 2 * C:3 * C]])
  # The clip argument is moot here: diagonal_sweep's own backward pass does the clipping.
  h, c, gates = mdlstm_gates(pre[:, :C], pre_f_NxKxCxM, pre[:, 3 * C:4 * C], pre[:, 4 * C:],
                             jnp.stack([_down(c_prev, height), c_prev]), peep, None)
  h = jnp.where(valid_Kx1xM, h, 0.0).astype(h_prev.dtype)
  c = jnp.where(valid_Kx1xM, c, 0.0).astype(c_prev.dtype)
  return h, c, gates


def _sweep(w_hT_KxGx2C: Array, peep: Peep, xproj_SxKxGxM: Array, valid_SxKx1xM: Array,
           height: int, keep_gates: bool) -> tuple[Array, ...]:
  K, G, M = xproj_SxKxGxM.shape[1:]
  zeros = jnp.zeros((K, G // 5, M), xproj_SxKxGxM.dtype)

  def body(carry, inputs):
    h, c, gates = _step(w_hT_KxGx2C, peep, height, carry, *inputs)
    return (h, c), ((h, c, gates) if keep_gates else h)
  _, out = jax.lax.scan(body, (zeros, zeros), (xproj_SxKxGxM, valid_SxKx1xM))
  return out


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def diagonal_sweep(w_hT_KxGx2C: Array, peep: Peep, xproj_SxKxGxM: Array, valid_SxKx1xM: Array,
                   height: int, clip: float | None) -> Array:
  """h of every diagonal, [S, K, C, M]. `height` is H (rows of one image within M); `clip` the
  derivative clipping bound of the gate pre-activations (None = off)."""
  return _sweep(w_hT_KxGx2C, peep, xproj_SxKxGxM, valid_SxKx1xM, height, keep_gates=False)


def _sweep_fwd(w_hT_KxGx2C, peep, xproj_SxKxGxM, valid_SxKx1xM, height, clip):
  h, c, gates = _sweep(w_hT_KxGx2C, peep, xproj_SxKxGxM, valid_SxKx1xM, height, keep_gates=True)
  return h, (w_hT_KxGx2C, peep, valid_SxKx1xM, h, c, gates)


def _sweep_bwd(height, clip, residuals, dh_out_SxKxCxM):
  w_hT_KxGx2C, peep, valid_SxKx1xM, h_SxKxCxM, c_SxKxCxM, gates = residuals
  # The previous diagonal's states, as each step read them (diagonal -1 is the zero state).
  def previous(a_SxKxCxM: Array) -> Array:
    return jnp.concatenate([jnp.zeros_like(a_SxKxCxM[:1]), a_SxKxCxM[:-1]])
  h_prev_S, c_prev_S = previous(h_SxKxCxM), previous(c_SxKxCxM)
  w_h_Kx2CxG = jnp.swapaxes(w_hT_KxGx2C, 1, 2)
  C = h_SxKxCxM.shape[2]

  def body(carry, inputs):
    dh_next, dc_next = carry  # from the next diagonal's use of this one
    dh_out, valid, c, c_prev, (i, f_N, g, o) = inputs
    f_up, f_left = f_N
    dh = jnp.where(valid, dh_out + dh_next, 0.0)  # h, c were zeroed off the image
    dc = jnp.where(valid, dc_next, 0.0)
    c_up, c_left = _down(c_prev, height), c_prev
    tanh_c = jnp.tanh(c)
    d_pre_o = _clip(dh * tanh_c * o * (1 - o), clip)
    dc = dc + dh * o * (1 - tanh_c ** 2)
    if peep is not None:
      dc = dc + d_pre_o * peep[2]
    d_pre_i = _clip(dc * g * i * (1 - i), clip)
    d_pre_g = _clip(dc * i * (1 - g ** 2), clip)
    d_pre_fu = _clip(dc * c_up * f_up * (1 - f_up), clip)
    d_pre_fl = _clip(dc * c_left * f_left * (1 - f_left), clip)
    dc_up, dc_left = dc * f_up, dc * f_left
    if peep is not None:
      w_ci, w_cf, _ = peep
      dc_up = dc_up + d_pre_fu * w_cf[0] + d_pre_i * w_ci
      dc_left = dc_left + d_pre_fl * w_cf[1] + d_pre_i * w_ci
    d_pre = jnp.concatenate([d_pre_i, d_pre_fu, d_pre_fl, d_pre_g, d_pre_o], axis=1)
    dh_n = jnp.einsum("kdg,kgm->kdm", w_h_Kx2CxG, d_pre)  # to [h_up; h_left]
    dh_prev = dh_n[:, C:] + _up(dh_n[:, :C], height)
    dc_prev = dc_left + _up(dc_up, height)
    return (dh_prev, dc_prev), d_pre

  zeros = jnp.zeros_like(h_SxKxCxM[0])
  _, d_pre_SxKxGxM = jax.lax.scan(
      body, (zeros, zeros), (dh_out_SxKxCxM, valid_SxKx1xM, c_SxKxCxM, c_prev_S, gates),
      reverse=True)

  # Weight gradients: sums over every pixel of every diagonal, one contraction each.
  h_in_SxKx2CxM = jnp.concatenate([_down(h_prev_S, height), h_prev_S], axis=2)
  def pixels_minor(a_SxKxFxM: Array) -> Array:  # -> [K, F, S*M]
    S, K, F, M = a_SxKxFxM.shape
    return jnp.transpose(a_SxKxFxM, (1, 2, 0, 3)).reshape(K, F, S * M)
  # Spelled as a batched matmul over one pixel axis: XLA's CPU dot for the two-axis contraction
  # "skgm,skdm->kgd" measured 3x slower.
  dw_hT = jnp.einsum("kgn,kdn->kgd", pixels_minor(d_pre_SxKxGxM), pixels_minor(h_in_SxKx2CxM))
  dpeep = None
  if peep is not None:
    c_up_S = _down(c_prev_S, height)
    d_i, d_fu, d_fl, d_o = (d_pre_SxKxGxM[:, :, k * C:(k + 1) * C] for k in (0, 1, 2, 4))
    def total(a: Array) -> Array:  # [S, K, C, M] -> [K, C, 1]
      return a.sum(axis=(0, 3))[..., None]
    dpeep = (total(d_i * (c_up_S + c_prev_S)),
             jnp.stack([total(d_fu * c_up_S), total(d_fl * c_prev_S)]),
             total(d_o * c_SxKxCxM))
    dpeep = tuple(d.astype(p.dtype) for d, p in zip(dpeep, peep))
  return dw_hT.astype(w_hT_KxGx2C.dtype), dpeep, d_pre_SxKxGxM, None


diagonal_sweep.defvjp(_sweep_fwd, _sweep_bwd)
