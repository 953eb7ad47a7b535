"""Recurrent cells shared by both models: LSTM with peepholes, its scan, and the MDLSTM cell.

Dimension letters: B batch, T time, D input features, H hidden units (cells), N dimensions of
an MDLSTM, G gate blocks (4 for the LSTM, 3 + N for the MDLSTM).

Every cell splits its work in two so the input-to-gate matmul, the largest one, can be done for
all time steps (or all pixels) at once, outside the sequential loop:
  `project(x_...xD) -> ...xGH`        W_x x + b, for any leading shape;
  `step(state, xproj_BxGH)`           adds W_h h_{t-1}, peepholes and the nonlinearities.
Callers may add their own projections to `xproj` before `step` (the synthesis network adds the
attention window, Graves 2013 eq. 52, which is only known inside the time loop).

Both cells share one interface, `RecurrentCell` (flax's `nnx.LSTMCell` convention):
  `cell(prev, x_BxD) -> (carry, h_BxH)`   one step from the raw input: `step` after `project`;
  `initial_carry(batch)`                  the zero (h, c) state;
  `in_features`, `hidden_size`            D and H.
`prev` is the state of the one previous step for the LSTM, and the N states of the previous point
along each dimension for the MDLSTM (with N = 1 the two cells compute the same thing).

Gate layout along the last axis of `xproj` (blocks of H): LSTM [i, f, g, o]; MDLSTM
[i, f_1 .. f_N, g, o], where g is the cell input ("c" in Graves' equations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
from flax import nnx

from handwriting.nn import gates
from handwriting.nn.clip import clip_gradient
from handwriting.nn.lstm_sweep import sweep

Array = jax.Array
Carry = tuple[Array, Array]  # (h_BxH, c_BxH)
Dtype = jnp.dtype | type
BatchShape = int | tuple[int, ...]  # the leading axes of a state: B, or e.g. (B, L)


@runtime_checkable
class RecurrentCell(Protocol):
  """What every recurrent cell of this package offers; see the module docstring."""

  in_features: int
  hidden_size: int

  def project(self, x_xD: Array) -> Array:
    """W_x x + b for every leading position: [..., D] -> [..., G*H]."""
    ...

  def initial_carry(self, batch: BatchShape) -> Carry:
    """Zero (h, c), each [*batch, H]."""
    ...

  def __call__(self, prev: Any, x_BxD: Array) -> tuple[Carry, Array]:
    """One step from the raw input: ((h, c), h). `prev`: one Carry for the LSTM, a sequence of
    N Carries (one per dimension) for the MDLSTM."""
    ...


def _zero_carry(batch: BatchShape, hidden: int, dtype: Dtype) -> Carry:
  shape = (batch,) if isinstance(batch, int) else tuple(batch)
  zeros = jnp.zeros((*shape, hidden), dtype)
  return zeros, zeros


def _orthogonal_blocks(key: Array, rows: int, hidden: int, blocks: int, dtype: Dtype) -> Array:
  """[rows, blocks*hidden], each [rows, hidden] block an (semi-)orthogonal matrix.

  One orthogonal matrix per gate (as flax's own LSTMCell does) keeps every gate's recurrent map
  norm-preserving at initialisation; a single orthogonal [H, 4H] matrix would not.
  """
  init = nnx.initializers.orthogonal()
  keys = jax.random.split(key, blocks)
  return jnp.concatenate([init(k, (rows, hidden), dtype) for k in keys], axis=-1)


def _gate_bias(hidden: int, blocks: int, forget_blocks: Sequence[int], forget_bias: float,
               dtype: Dtype) -> Array:
  """[blocks*hidden] zeros except `forget_bias` in the forget-gate blocks."""
  b_GxH = jnp.zeros((blocks, hidden), dtype)
  b_GxH = b_GxH.at[jnp.asarray(forget_blocks)].set(forget_bias)
  return b_GxH.reshape(-1)


# RNNLIB (Graves' own code) draws every weight from a Gaussian of std 0.1; we keep that for the
# peepholes, which have no fan-in to scale by.
_PEEPHOLE_INIT = nnx.initializers.normal(stddev=0.1)


class LSTMCell(nnx.Module):
  """LSTM with optional peepholes, Graves 2013 eqs 7-11.

    i_t = sigma(W_xi x_t + W_hi h_{t-1} + w_ci * c_{t-1} + b_i)       (7)
    f_t = sigma(W_xf x_t + W_hf h_{t-1} + w_cf * c_{t-1} + b_f)       (8)
    c_t = f_t * c_{t-1} + i_t * tanh(W_xc x_t + W_hc h_{t-1} + b_c)   (9)
    o_t = sigma(W_xo x_t + W_ho h_{t-1} + w_co * c_t + b_o)           (10)
    h_t = o_t * tanh(c_t)                                              (11)

  The peephole weights w_c* are diagonal (vectors), as in the paper.

  Args:
    in_features: D.
    hidden_size: H.
    peephole: use the peephole weights w_ci, w_cf, w_co.
    forget_bias: initial forget-gate bias. Default 1.0 (Gers et al. 2000; Jozefowicz et al. 2015):
      the cell starts out remembering, which helps long sequences such as pen trajectories.
      Graves' RNNLIB initialises biases like the other weights; 0.0 approximates that.
    clip: bound for derivative clipping of the gate pre-activations (the "LSTM derivatives",
      Graves 2013 section 4 uses 10); None turns it off.
    param_dtype: dtype of the parameters and of the zero initial carry.
  """

  def __init__(self, in_features: int, hidden_size: int, *, peephole: bool = True,
               forget_bias: float = 1.0, clip: float | None = None,
               param_dtype: Dtype = jnp.float32, rngs: nnx.Rngs):
    self.in_features = in_features
    self.hidden_size = hidden_size
    self.peephole = peephole
    self.clip = clip
    self.param_dtype = param_dtype
    H = hidden_size
    self.w_x = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (in_features, 4 * H),
                                                         param_dtype))
    self.w_h = nnx.Param(_orthogonal_blocks(rngs.params(), H, H, 4, param_dtype))
    self.b = nnx.Param(_gate_bias(H, 4, [1], forget_bias, param_dtype))
    # Rows: w_ci, w_cf, w_co.
    self.w_c = nnx.Param(_PEEPHOLE_INIT(rngs.params(), (3, H), param_dtype)) if peephole else None

  def project(self, x_xD: Array) -> Array:
    """W_x x + b for every leading position: [..., D] -> [..., 4H]."""
    return x_xD @ self.w_x[...] + self.b[...]

  def initial_carry(self, batch: BatchShape) -> Carry:
    return _zero_carry(batch, self.hidden_size, self.param_dtype)

  def __call__(self, carry: Carry, x_BxD: Array) -> tuple[Carry, Array]:
    """One time step from the raw input x_t: `step(carry, project(x_t))`."""
    return self.step(carry, self.project(x_BxD))

  def peepholes(self) -> Array | None:
    """[3, H] rows w_ci, w_cf, w_co, or None without peepholes."""
    return self.w_c[...] if self.w_c is not None else None

  def step(self, carry: Carry, xproj_Bx4H: Array) -> tuple[Carry, Array]:
    """One time step of eqs 7-11 given the projected input; returns ((h_t, c_t), h_t)."""
    h_BxH, c_BxH = carry
    h_new_BxH, c_new_BxH = lstm_gates(xproj_Bx4H + h_BxH @ self.w_h[...], c_BxH,
                                      self.peepholes(), self.clip)
    return (h_new_BxH, c_new_BxH), h_new_BxH


def lstm_gates(pre_Bx4H: Array, c_BxH: Array, w_c_3xH: Array | None, clip: float | None
               ) -> tuple[Array, Array]:
  """The elementwise part of `LSTMCell.step` (eqs 7-11 after the matmuls): (h_t, c_t) from the
  gate pre-activations W_x x_t + W_h h_{t-1} + b [i, f, g, o], c_{t-1} and the peepholes
  (rows w_ci, w_cf, w_co; None = none), each pre-activation's derivative clipped to `clip`.
  The arithmetic is nn/gates.py's, shared with the sweeps' hand-written backward loops."""
  h_BxH, acts = gates.forward(pre_Bx4H, c_BxH, w_c_3xH, clip)
  return h_BxH, acts.c


def lstm_scan(cell: LSTMCell, xproj_BxTx4H: Array, mask_BxT: Array | None = None,
              carry: Carry | None = None, reverse: bool = False) -> tuple[Array, Carry]:
  """Runs `cell.step` over time; returns (h_BxTxH, final carry).

  `mask_BxT` (bool or 0/1) marks valid steps. At a masked step the carry is left unchanged and
  the output is zero, so a right-padded sequence gives the same outputs and final carry as the
  same sequence alone. With `reverse=True` the loop runs from T-1 down to 0: the padded tail
  leaves the initial carry untouched, so each sequence's backward pass starts at its own last
  valid step, as a bidirectional reader needs.

  The loop is `nn/lstm_sweep.sweep`: the same forward as a `lax.scan` of `cell.step`, with a
  hand-written backward sweep whose weight gradients are single matmuls over all steps.
  """
  B, T = xproj_BxTx4H.shape[:2]
  h0, c0 = carry if carry is not None else cell.initial_carry(B)
  dtype = xproj_BxTx4H.dtype
  xproj_TxBx4H = jnp.swapaxes(xproj_BxTx4H, 0, 1)
  if mask_BxT is None:
    valid_TxBx1 = jnp.ones((T, B, 1), dtype)
  else:
    valid_TxBx1 = jnp.swapaxes(jnp.asarray(mask_BxT).astype(dtype), 0, 1)[..., None]
  if reverse:
    xproj_TxBx4H, valid_TxBx1 = xproj_TxBx4H[::-1], valid_TxBx1[::-1]
  h_TxBxH, h_T, c_T = sweep(cell.clip, cell.w_h[...], cell.peepholes(), xproj_TxBx4H, valid_TxBx1,
                            h0.astype(dtype), c0.astype(dtype))
  if reverse:
    h_TxBxH = h_TxBxH[::-1]
  return jnp.swapaxes(h_TxBxH, 0, 1), (h_T, c_T)


class LSTM(nnx.Module):
  """One LSTM layer over a batch of sequences: project all steps at once, then scan."""

  def __init__(self, in_features: int, hidden_size: int, *, peephole: bool = True,
               forget_bias: float = 1.0, clip: float | None = None, reverse: bool = False,
               param_dtype: Dtype = jnp.float32, rngs: nnx.Rngs):
    self.cell = LSTMCell(in_features, hidden_size, peephole=peephole, forget_bias=forget_bias,
                         clip=clip, param_dtype=param_dtype, rngs=rngs)
    self.reverse = reverse

  def __call__(self, x_BxTxD: Array, mask_BxT: Array | None = None,
               carry: Carry | None = None) -> tuple[Array, Carry]:
    """Returns (h_BxTxH, final carry); see `lstm_scan` for the masking rules."""
    return lstm_scan(self.cell, self.cell.project(x_BxTxD), mask_BxT, carry, self.reverse)


class BiLSTM(nnx.Module):
  """Bidirectional LSTM layer (Graves & Schmidhuber 2005): forward and backward outputs joined."""

  def __init__(self, in_features: int, hidden_size: int, *, peephole: bool = True,
               forget_bias: float = 1.0, clip: float | None = None,
               param_dtype: Dtype = jnp.float32, rngs: nnx.Rngs):
    kwargs = {"peephole": peephole, "forget_bias": forget_bias, "clip": clip,
              "param_dtype": param_dtype, "rngs": rngs}
    self.forward = LSTM(in_features, hidden_size, reverse=False, **kwargs)
    self.backward = LSTM(in_features, hidden_size, reverse=True, **kwargs)

  def __call__(self, x_BxTxD: Array, mask_BxT: Array | None = None) -> Array:
    """[B, T, D] -> [B, T, 2H]: forward states first, backward second; zeros at padded steps."""
    fwd_BxTxH, _ = self.forward(x_BxTxD, mask_BxT)
    bwd_BxTxH, _ = self.backward(x_BxTxD, mask_BxT)
    return jnp.concatenate([fwd_BxTxH, bwd_BxTxH], axis=-1)


class MDLSTMCell(nnx.Module):
  """N-dimensional LSTM cell (Graves, Fernandez & Schmidhuber 2007; Graves & Schmidhuber 2009;
  Graves' thesis 2012, section 8.2.1), with one forget gate per dimension.

  Given x and the states (h_d, c_d) of the previous point along each dimension d = 1..N:
    i   = sigma(W_xi x + sum_d W^d_hi h_d + w_ci * sum_d c_d + b_i)
    f_d = sigma(W_xf_d x + sum_d' W^d'_hf_d h_d' + w_cf_d * c_d + b_f_d)
    g   = tanh(W_xg x + sum_d W^d_hg h_d + b_g)
    c   = i * g + sum_d f_d * c_d
    o   = sigma(W_xo x + sum_d W^d_ho h_d + w_co * c + b_o)
    h   = o * tanh(c)
  Each dimension has its own recurrent weights W^d. The peepholes follow the thesis: the input
  gate's weights are shared over the dimensions, forget gate d looks only at c_d, the output gate
  at the new c. Points outside the image are given zero states, which drops their terms.
  With N = 1 this is exactly `LSTMCell` (same gate layout [i, f, g, o]).

  forget_bias defaults to 0.0 here, unlike the LSTM: c sums N forget-gated states, so with
  sigma(0) = 0.5 and N = 2 the initial gain sum_d f_d is about 1 and the state does not grow
  geometrically along the image diagonal.
  """

  def __init__(self, in_features: int, hidden_size: int, ndim: int = 2, *, peephole: bool = True,
               forget_bias: float = 0.0, clip: float | None = None,
               param_dtype: Dtype = jnp.float32, rngs: nnx.Rngs):
    self.in_features = in_features
    self.hidden_size = hidden_size
    self.ndim = ndim
    self.clip = clip
    self.param_dtype = param_dtype
    H, G = hidden_size, 3 + ndim
    self.w_x = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (in_features, G * H),
                                                         param_dtype))
    keys = jax.random.split(rngs.params(), ndim)
    # [N*H, G*H]: the per-dimension recurrent matrices W^d stacked, so one matmul on the
    # concatenated [h_1 .. h_N] does sum_d W^d h_d.
    self.w_h = nnx.Param(jnp.concatenate(
        [_orthogonal_blocks(k, H, H, G, param_dtype) for k in keys], axis=0))
    self.b = nnx.Param(_gate_bias(H, G, list(range(1, 1 + ndim)), forget_bias, param_dtype))
    if peephole:
      self.w_ci = nnx.Param(_PEEPHOLE_INIT(rngs.params(), (H,), param_dtype))
      self.w_cf = nnx.Param(_PEEPHOLE_INIT(rngs.params(), (ndim, H), param_dtype))
      self.w_co = nnx.Param(_PEEPHOLE_INIT(rngs.params(), (H,), param_dtype))
    else:
      self.w_ci = self.w_cf = self.w_co = None

  def project(self, x_xD: Array) -> Array:
    """W_x x + b for every leading position: [..., D] -> [..., (3+N)H]."""
    return x_xD @ self.w_x[...] + self.b[...]

  def initial_carry(self, batch: BatchShape) -> Carry:
    """The zero state, also that of the neighbours outside the image."""
    return _zero_carry(batch, self.hidden_size, self.param_dtype)

  initial_state = initial_carry  # its earlier name, kept for callers of it

  def __call__(self, prev_states: Sequence[Carry], x_BxD: Array) -> tuple[Carry, Array]:
    """One point from the raw input: ((h, c), h) of `step(prev_states, project(x))`."""
    h_BxH, c_BxH = self.step(prev_states, self.project(x_BxD))
    return (h_BxH, c_BxH), h_BxH

  def step(self, prev_states: Sequence[Carry], xproj_BxGH: Array) -> Carry:
    """New (h_BxH, c_BxH) from the N neighbours' states, ordered by dimension, and W_x x + b."""
    if len(prev_states) != self.ndim:
      raise ValueError(f"MDLSTMCell(ndim={self.ndim}) got {len(prev_states)} previous states")
    N, H = self.ndim, self.hidden_size
    h_BxNH = jnp.concatenate([h for h, _ in prev_states], axis=-1)
    c_NxBxH = jnp.stack([c for _, c in prev_states])
    pre_BxGH = xproj_BxGH + h_BxNH @ self.w_h[...]
    lead = pre_BxGH.shape[:-1]
    pre_f_NxBxH = jnp.moveaxis(pre_BxGH[..., H:(1 + N) * H].reshape(*lead, N, H), -2, 0)
    peep = None
    if self.w_ci is not None:
      peep = (self.w_ci[...], self.w_cf[...].reshape(N, *([1] * len(lead)), H), self.w_co[...])
    return mdlstm_update(pre_BxGH[..., :H], pre_f_NxBxH, pre_BxGH[..., (1 + N) * H:(2 + N) * H],
                         pre_BxGH[..., (2 + N) * H:], c_NxBxH, peep, self.clip)


def mdlstm_update(pre_i: Array, pre_f_N: Array, pre_g: Array, pre_o: Array, c_N: Array,
                  peep: tuple[Array, Array, Array] | None, clip: float | None
                  ) -> tuple[Array, Array]:
  """The elementwise part of the MDLSTM step (see `MDLSTMCell`): gates from their
  pre-activations, the new cell state from the N neighbours' states `c_N` (leading axis N), and
  h. Layout-free: any array layout works as long as the peephole weights (w_ci, w_cf_N, w_co)
  broadcast against the states, so the diagonal wavefront can run it channels-first."""
  h, c, _ = mdlstm_gates(pre_i, pre_f_N, pre_g, pre_o, c_N, peep, clip)
  return h, c


def mdlstm_gates(pre_i: Array, pre_f_N: Array, pre_g: Array, pre_o: Array, c_N: Array,
                 peep: tuple[Array, Array, Array] | None, clip: float | None
                 ) -> tuple[Array, Array, tuple[Array, Array, Array, Array]]:
  """`mdlstm_update` that also returns the gate activations (i, f_N, g, o): what the
  wavefront's hand-written backward pass needs from each step."""
  if peep is not None:
    w_ci, w_cf_N, w_co = peep
    pre_i = pre_i + w_ci * c_N.sum(0)
    pre_f_N = pre_f_N + w_cf_N * c_N
  i = jax.nn.sigmoid(clip_gradient(pre_i, clip))
  f_N = jax.nn.sigmoid(clip_gradient(pre_f_N, clip))
  g = jnp.tanh(clip_gradient(pre_g, clip))
  c = i * g + (f_N * c_N).sum(0)
  if peep is not None:
    pre_o = pre_o + w_co * c
  o = jax.nn.sigmoid(clip_gradient(pre_o, clip))
  return o * jnp.tanh(c), c, (i, f_N, g, o)
