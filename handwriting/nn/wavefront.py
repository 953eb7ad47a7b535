"""The diagonal sweep of the 2-D LSTM wavefront, with a hand-written backward pass.

Dimension letters: S anti-diagonals (scan steps), K scan directions, D input features, C cells
per direction, G = 5 C gate pre-activations (input, forget up, forget left, cell input g,
output), E = D + 2C rows of the matmul input [x; h_up; h_left], M = B * H pixels of one diagonal
(channels-first: M is the minor axis, see `mdlstm.wavefront_scan`).

Why a custom VJP: JAX's automatic transpose of the scan body stores ~15 residuals per step and
transposes every small op (pad, slice, concatenate, stack, select) one by one; on a CPU its
backward took ~3x the forward pass. The backward of an MDLSTM sweep is itself a sweep in the
reverse order (Graves' thesis 2012, eqs 8.4-8.10): per diagonal it needs only elementwise gate
derivatives and one small matmul back to the input and the two neighbours. The weight
gradients, sums over every pixel, are one einsum over all diagonals after the loop. Tests check
this against JAX's own derivative of the per-pixel reference.

Per-step cost on a CPU is mostly the number of kernels XLA runs per diagonal, not arithmetic
(level 1 of the small preset: 4 x 20 x 128 gate values a step), so the loop bodies are kept to
few arrays: one stacked residual (the pre-activations; the backward recomputes the gates from
them) and the input projection folded into the recurrent matmul.

Forward equations for one diagonal (neighbour n = 0 the pixel above, n = 1 the pixel to the
left, both on the previous diagonal; Graves & Schmidhuber 2009, sec. 2):
  pre = W^T [x; h_up; h_left] + b,  W = [W_x; W_h]
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


def _inputs(x_KxDxM: Array, h_KxCxM: Array, height: int) -> Array:
  """[x; h_up; h_left], [K, E, M] with E = D + 2C: what one matmul maps to the gates."""
  return jnp.concatenate([x_KxDxM, _down(h_KxCxM, height), h_KxCxM], axis=1)


def _gates(pre_KxGxM: Array, c_prev_KxCxM: Array, peep: Peep, height: int
           ) -> tuple[Array, Array, tuple[Array, ...]]:
  """The cells' own `mdlstm_gates` on one diagonal's pre-activations: (h, c, (i, f, g, o))."""
  C = c_prev_KxCxM.shape[1]
  pre = pre_KxGxM
  pre_f_NxKxCxM = jnp.stack([pre[:, C:2 * C], pre[:, 2 * C:3 * C]])
  # The clip argument is moot here: diagonal_sweep's own backward pass does the clipping.
  return mdlstm_gates(pre[:, :C], pre_f_NxKxCxM, pre[:, 3 * C:4 * C], pre[:, 4 * C:],
                      jnp.stack([_down(c_prev_KxCxM, height), c_prev_KxCxM]), peep, None)


def _pixel_sum_outer(a_SxKxGxM: Array, b_SxKxExM: Array) -> Array:
  """sum over diagonals s and pixels m of a[s, k, :, m] b[s, k, :, m]^T: [K, G, E].

  Two ways, whichever moves less memory (XLA's CPU dot for the two-axis contraction
  "skgm,skem->kge" itself measured 3x slower than either): per diagonal a matmul over the minor
  pixel axis, summed over diagonals, keeps both operands in place but writes an [S, K, G, E]
  product; moving the pixels of all diagonals together first ([K, F, S*M], one matmul) costs a
  transpose of each operand. With many pixels per diagonal (level 1: M = 128 against G E = 320)
  the first wins, with few (a top level of one row, M = B) the second.
  """
  S, K, G, M = a_SxKxGxM.shape
  E = b_SxKxExM.shape[2]
  if G * E <= (G + E) * M:
    return jnp.einsum("skgm,skem->skge", a_SxKxGxM, b_SxKxExM).sum(0)
  def pixels_minor(a_SxKxFxM: Array) -> Array:  # -> [K, F, S*M]
    return jnp.transpose(a_SxKxFxM, (1, 2, 0, 3)).reshape(K, a_SxKxFxM.shape[2], S * M)
  return jnp.einsum("kgn,ken->kge", pixels_minor(a_SxKxGxM), pixels_minor(b_SxKxExM))


def _step(w_KxGxE: Array, b_KxGx1: Array, peep: Peep, height: int, carry: tuple[Array, Array],
          x_KxDxM: Array, valid_Kx1xM: Array) -> tuple[Array, Array, Array]:
  """One diagonal: new (h, c) and the gate pre-activations (what the backward pass needs)."""
  h_prev, c_prev = carry
  pre = jnp.einsum("kge,kem->kgm", w_KxGxE, _inputs(x_KxDxM, h_prev, height)) + b_KxGx1
  h, c, _ = _gates(pre, c_prev, peep, height)
  h = jnp.where(valid_Kx1xM, h, 0.0).astype(h_prev.dtype)
  c = jnp.where(valid_Kx1xM, c, 0.0).astype(c_prev.dtype)
  return h, c, pre


def _sweep(w_KxGxE: Array, b_KxGx1: Array, peep: Peep, x_SxKxDxM: Array, valid_SxKx1xM: Array,
           height: int, keep: bool) -> tuple[Array, ...] | Array:
  K, G, _ = w_KxGxE.shape
  zeros = jnp.zeros((K, G // 5, x_SxKxDxM.shape[-1]), x_SxKxDxM.dtype)

  def body(carry, inputs):
    h, c, pre = _step(w_KxGxE, b_KxGx1, peep, height, carry, *inputs)
    return (h, c), ((h, c, pre) if keep else h)
  _, out = jax.lax.scan(body, (zeros, zeros), (x_SxKxDxM, valid_SxKx1xM))
  return out


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def diagonal_sweep(w_KxGxE: Array, b_KxGx1: Array, peep: Peep, x_SxKxDxM: Array,
                   valid_SxKx1xM: Array, height: int, clip: float | None) -> Array:
  """h of every diagonal, [S, K, C, M]. `w_KxGxE` maps [x; h_up; h_left] (E = D + 2C) to the
  gate pre-activations, `b_KxGx1` is their bias; `height` is H (rows of one image within M);
  `clip` the derivative clipping bound of the gate pre-activations (None = off)."""
  return _sweep(w_KxGxE, b_KxGx1, peep, x_SxKxDxM, valid_SxKx1xM, height, keep=False)


def _sweep_fwd(w_KxGxE, b_KxGx1, peep, x_SxKxDxM, valid_SxKx1xM, height, clip):
  h, c, pre = _sweep(w_KxGxE, b_KxGx1, peep, x_SxKxDxM, valid_SxKx1xM, height, keep=True)
  return h, (w_KxGxE, peep, x_SxKxDxM, valid_SxKx1xM, h, c, pre)


def _sweep_bwd(height, clip, residuals, dh_out_SxKxCxM):
  w_KxGxE, peep, x_SxKxDxM, valid_SxKx1xM, h_SxKxCxM, c_SxKxCxM, pre_SxKxGxM = residuals
  # The previous diagonal's states, as each step read them (diagonal -1 is the zero state).
  def previous(a_SxKxCxM: Array) -> Array:
    return jnp.concatenate([jnp.zeros_like(a_SxKxCxM[:1]), a_SxKxCxM[:-1]])
  h_prev_S, c_prev_S = previous(h_SxKxCxM), previous(c_SxKxCxM)
  D, C = x_SxKxDxM.shape[2], h_SxKxCxM.shape[2]
  w_KxExG = jnp.swapaxes(w_KxGxE, 1, 2)

  def body(carry, inputs):
    dh_next, dc_next = carry  # from the next diagonal's use of this one
    dh_out, valid, c, c_prev, pre = inputs
    # The gates again from the stored pre-activations: one residual array per step instead of
    # five (each stacked output costs the loop a kernel per step).
    _, _, (i, f_N, g, o) = _gates(pre, c_prev, peep, height)
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
    # Back to [x; h_up; h_left] in one matmul: the input's share comes out of the loop already
    # in the sweep's layout (a matmul over all diagonals afterwards needed two transposes).
    d_in = jnp.einsum("keg,kgm->kem", w_KxExG, d_pre)
    dh_prev = d_in[:, D + C:] + _up(d_in[:, D:D + C], height)
    dc_prev = dc_left + _up(dc_up, height)
    return (dh_prev, dc_prev), (d_pre, d_in[:, :D])

  zeros = jnp.zeros_like(h_SxKxCxM[0])
  _, (d_pre_SxKxGxM, dx_SxKxDxM) = jax.lax.scan(
      body, (zeros, zeros), (dh_out_SxKxCxM, valid_SxKx1xM, c_SxKxCxM, c_prev_S, pre_SxKxGxM),
      reverse=True)

  # Weight gradients: sums over every pixel of every diagonal, one contraction each.
  in_SxKxExM = jnp.concatenate([x_SxKxDxM, _down(h_prev_S, height), h_prev_S], axis=2)
  dw = _pixel_sum_outer(d_pre_SxKxGxM, in_SxKxExM)
  db = d_pre_SxKxGxM.sum(axis=(0, 3))[..., None]
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
  dtype = w_KxGxE.dtype
  return (dw.astype(dtype), db.astype(dtype), dpeep, dx_SxKxDxM.astype(x_SxKxDxM.dtype), None)


diagonal_sweep.defvjp(_sweep_fwd, _sweep_bwd)
