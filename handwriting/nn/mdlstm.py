"""The 2-D MDLSTM layer: four scan directions, a diagonal-wavefront fast path and a per-pixel
reference (Graves & Schmidhuber 2009, section 2; Graves' thesis 2012, sections 8.1-8.2).

Dimension letters: B batch, H image rows, W image columns, D input features, C hidden units per
direction (the cell's hidden_size), G gate blocks (3 + 2 = 5 for two dimensions), K scan
directions, S anti-diagonals (S = H + W - 1).

A 2-D LSTM layer sweeps the image from each of its four corners. In the direction "down_right"
the state at pixel (i, j) is computed from the states at (i-1, j) (dimension 1, vertical) and
(i, j-1) (dimension 2, horizontal); the other directions mirror this, e.g. "up_left" uses
(i+1, j) and (i, j+1). Every direction has its own `MDLSTMCell`; their outputs are concatenated
(Graves & Schmidhuber 2009, fig. 2) or summed.

Fast path (`MDLSTM2D.__call__`): every pixel of one anti-diagonal i + j = s depends only on the
diagonal s - 1, so one `lax.scan` step computes a whole diagonal (H + W - 1 sequential steps
instead of H * W). Each direction is turned into "down_right" by flipping the image, the four
flipped images are stacked on a leading K axis and the four cells' parameters are stacked the
same way, so a single scan (one batched matmul over K, then the shared elementwise update)
serves all directions.

Reference (`mdlstm_reference`): a nested row-by-row, pixel-by-pixel `lax.scan` per direction,
scanning in that direction's own order without any flip. Tests and benchmarks compare the two.

Masks: `mask_BxHxW` marks real pixels (a batch pads images on the right and bottom). States at
masked pixels are forced to zero, the same zero state given to neighbours outside the image, so
padding cannot reach a real pixel from any direction; outputs at masked pixels are zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from handwriting.nn.cells import Carry, Dtype, MDLSTMCell
from handwriting.nn.wavefront import diagonal_sweep

Array = jax.Array

# name -> (flip rows, flip columns) that turns the direction into "down_right".
DIRECTIONS: dict[str, tuple[bool, bool]] = {
    "down_right": (False, False),  # from the top-left corner
    "down_left": (False, True),    # from the top-right corner
    "up_right": (True, False),     # from the bottom-left corner
    "up_left": (True, True),       # from the bottom-right corner
}


def _direction_names(directions: int | Sequence[str]) -> tuple[str, ...]:
  """4 -> all four corners, 1 -> "down_right" only, or an explicit sequence of names."""
  if isinstance(directions, int):
    if directions == 4:
      return tuple(DIRECTIONS)
    if directions == 1:
      return ("down_right",)
    raise ValueError(f"directions must be 1, 4 or a sequence of names, got {directions}")
  names = tuple(directions)
  unknown = [n for n in names if n not in DIRECTIONS]
  if unknown or not names or len(set(names)) != len(names):
    raise ValueError(f"directions {names}: names must be distinct, from {tuple(DIRECTIONS)}")
  return names


def _flip(x_xHxWxF: Array, name: str) -> Array:
  """Mirrors the image axes (-3, -2) so that direction `name` scans like "down_right".

  A flip is its own inverse, so the same call maps the outputs back.
  """
  flip_rows, flip_cols = DIRECTIONS[name]
  axes = tuple(a for a, f in ((-3, flip_rows), (-2, flip_cols)) if f)
  return jnp.flip(x_xHxWxF, axis=axes) if axes else x_xHxWxF


def skew(x_xHxWxF: Array) -> Array:
  """[..., H, W, F] -> [..., H, S, F] with out[..., i, i + j, :] = x[..., i, j, :], zeros elsewhere.

  Shifting row i right by i turns anti-diagonals into columns. Done without a gather: pad every
  row with H zeros (row length W + H), flatten, drop the last H entries and re-read the buffer
  with row length W + H - 1; each later row then starts one place further right.
  """
  *lead, H, W, F = x_xHxWxF.shape
  pad = [(0, 0)] * len(lead) + [(0, 0), (0, H), (0, 0)]
  flat = jnp.pad(x_xHxWxF, pad).reshape(*lead, H * (W + H), F)
  return flat[..., :H * (W + H - 1), :].reshape(*lead, H, W + H - 1, F)


def unskew(s_xHxSxF: Array, width: int) -> Array:
  """Inverse of `skew`: [..., H, S, F] -> [..., H, W, F] with out[i, j] = s[i, i + j]."""
  *lead, H, S, F = s_xHxSxF.shape
  pad = [(0, 0)] * len(lead) + [(0, H), (0, 0)]
  flat = jnp.pad(s_xHxSxF.reshape(*lead, H * S, F), pad)
  return flat.reshape(*lead, H, S + 1, F)[..., :width, :]


def _valid(x_BxHxWxD: Array, mask_BxHxW: Array | None) -> Array:
  """Boolean [B, H, W]: True at real pixels."""
  if mask_BxHxW is None:
    return jnp.ones(x_BxHxWxD.shape[:3], bool)
  return jnp.asarray(mask_BxHxW).astype(bool)


def _combine(y_KxBxHxWxC: Array, combine: str) -> Array:
  if combine == "sum":
    return y_KxBxHxWxC.sum(0)
  K, B, H, W, C = y_KxBxHxWxC.shape  # "concat": direction-major blocks of C along the last axis
  return jnp.moveaxis(y_KxBxHxWxC, 0, -2).reshape(B, H, W, K * C)


def wavefront_scan(cells: Sequence[MDLSTMCell], x_KxBxHxWxD: Array,
                   valid_KxBxHxW: Array) -> Array:
  """Runs K "down_right" sweeps, one per cell, together along the anti-diagonals.

  Args:
    cells: K cells of identical structure (ndim=2); cell k sweeps image k.
    x_KxBxHxWxD: the input per direction (already flipped into "down_right" order).
    valid_KxBxHxW: real pixels; states there are kept, elsewhere forced to zero.
  Returns:
    h_KxBxHxWxC, zero at invalid pixels.

  Inside the scan the diagonal is laid out channels-first, [K, F, M] with M = B * H pixels
  minor: the gate arithmetic is elementwise, and with C (4 cells at the small preset's first
  level) as the minor axis XLA would vectorise it over 4 floats instead of M. The input
  projection W_x x joins the recurrent matmul inside the sweep: projected outside it, the
  [K, B, H, W, 5C] pre-activations (2.5x the input at level 1) had to be skewed and transposed
  into this layout and their cotangent back, which took longer than the sweep itself. The
  sweep, with its hand-written backward pass, is `wavefront.diagonal_sweep`.
  """
  K, B, H, W, _ = x_KxBxHxWxD.shape
  C, M = cells[0].hidden_size, B * H
  # The K cells' weights stacked on a leading axis: one batched matmul serves every direction.
  # Rows of w_x and w_h stacked as [x; h_up; h_left], the order of the sweep's matmul input.
  w_KxGCxE = jnp.stack([jnp.swapaxes(jnp.concatenate([c.w_x[...], c.w_h[...]]), 0, 1)
                        for c in cells])
  b_KxGCx1 = jnp.stack([c.b[...] for c in cells])[..., None]
  peep = None
  if cells[0].w_ci is not None:
    peep = (jnp.stack([c.w_ci[...] for c in cells])[..., None],  # K x C x 1
            jnp.stack([c.w_cf[...] for c in cells], axis=1)[..., None],  # N x K x C x 1
            jnp.stack([c.w_co[...] for c in cells])[..., None])
  clip = cells[0].clip

  # Diagonal s lives in column s of the skewed arrays; step s of the sweep reads diagonal s - 1,
  # indexed by row i. The vertical neighbour (i-1, j) of pixel (i, s-i) is (i-1, (s-1)-(i-1)):
  # row i-1 of the previous diagonal; the horizontal neighbour (i, j-1) is its row i.
  def channels_first(a_KxBxHxSxF: Array) -> Array:  # -> [S, K, F, M]
    S, F = a_KxBxHxSxF.shape[3], a_KxBxHxSxF.shape[4]
    return jnp.transpose(a_KxBxHxSxF, (3, 0, 4, 1, 2)).reshape(S, K, F, M)
  x_SxKxDxM = channels_first(skew(x_KxBxHxWxD))
  valid_SxKx1xM = channels_first(skew(valid_KxBxHxW[..., None].astype(x_KxBxHxWxD.dtype))) > 0

  h_SxKxCxM = diagonal_sweep(w_KxGCxE, b_KxGCx1, peep, x_SxKxDxM, valid_SxKx1xM, H, clip)
  S = h_SxKxCxM.shape[0]
  h_KxBxHxSxC = jnp.transpose(h_SxKxCxM.reshape(S, K, C, B, H), (1, 3, 4, 0, 2))
  return unskew(h_KxBxHxSxC, W)


def reference_scan(cell: MDLSTMCell, x_BxHxWxD: Array, valid_BxHxW: Array,
                   name: str) -> Array:
  """The slow obvious sweep of one direction: rows one by one, pixels one by one within a row.

  No flipping: "up" directions scan the rows from the bottom and take the vertical neighbour
  from row i + 1, "left" directions scan each row from the right and take (i, j + 1).
  Returns h_BxHxWxC, zero at invalid pixels.
  """
  upward, leftward = DIRECTIONS[name]
  B = x_BxHxWxD.shape[0]
  C = cell.hidden_size
  xproj_HxWxBxG = jnp.transpose(cell.project(x_BxHxWxD), (1, 2, 0, 3))
  valid_HxWxBx1 = jnp.transpose(valid_BxHxW, (1, 2, 0))[..., None]
  zero_BxC = jnp.zeros((B, C), xproj_HxWxBxG.dtype)

  def row(prev_row: Carry, inputs: tuple[Array, Array]) -> tuple[Carry, Array]:
    xproj_WxBxG, valid_WxBx1 = inputs

    def pixel(beside: Carry, inputs: tuple[Array, ...]) -> tuple[Carry, Carry]:
      xproj_BxG, valid_Bx1, h_above, c_above = inputs  # "above" = the previous row's pixel
      h, c = cell.step([(h_above, c_above), beside], xproj_BxG)
      h = jnp.where(valid_Bx1, h, 0.0).astype(zero_BxC.dtype)
      c = jnp.where(valid_Bx1, c, 0.0).astype(zero_BxC.dtype)
      return (h, c), (h, c)
    _, states = jax.lax.scan(pixel, (zero_BxC, zero_BxC),
                             (xproj_WxBxG, valid_WxBx1, *prev_row), reverse=leftward)
    return states, states[0]

  W = xproj_HxWxBxG.shape[1]
  zero_WxBxC = jnp.zeros((W, B, C), zero_BxC.dtype)
  _, h_HxWxBxC = jax.lax.scan(row, (zero_WxBxC, zero_WxBxC), (xproj_HxWxBxG, valid_HxWxBx1),
                              reverse=upward)
  return jnp.transpose(h_HxWxBxC, (2, 0, 1, 3))


class MDLSTM2D(nnx.Module):
  """One 2-D LSTM layer scanning an image from its corners (Graves & Schmidhuber 2009, sec. 2).

  Args:
    in_features: D.
    hidden_size: C, cells per direction.
    directions: 4 (all corners), 1 ("down_right"), or a sequence of names from `DIRECTIONS`;
      outputs follow this order.
    combine: "concat" -> [B, H, W, K*C]; "sum" -> [B, H, W, C].
    peephole, clip, forget_bias, param_dtype: passed to every `MDLSTMCell`.
  """

  def __init__(self, in_features: int, hidden_size: int, *, directions: int | Sequence[str] = 4,
               combine: str = "concat", peephole: bool = True, clip: float | None = None,
               forget_bias: float = 0.0, param_dtype: Dtype = jnp.float32, rngs: nnx.Rngs):
    if combine not in ("concat", "sum"):
      raise ValueError(f"combine must be 'concat' or 'sum', got {combine!r}")
    self.directions = _direction_names(directions)
    self.combine = combine
    self.hidden_size = hidden_size
    self.cells = nnx.List([
        MDLSTMCell(in_features, hidden_size, ndim=2, peephole=peephole, forget_bias=forget_bias,
                   clip=clip, param_dtype=param_dtype, rngs=rngs)
        for _ in self.directions])

  @property
  def out_features(self) -> int:
    return self.hidden_size * (len(self.directions) if self.combine == "concat" else 1)

  def __call__(self, x_BxHxWxD: Array, mask_BxHxW: Array | None = None) -> Array:
    """Diagonal-wavefront fast path: [B, H, W, D] -> [B, H, W, out_features], 0 where masked."""
    valid_BxHxW = _valid(x_BxHxWxD, mask_BxHxW)
    x_KxBxHxWxD = jnp.stack([_flip(x_BxHxWxD, name) for name in self.directions])
    valid_KxBxHxW = jnp.stack([_flip(valid_BxHxW[..., None], name)[..., 0]
                               for name in self.directions])
    h_KxBxHxWxC = wavefront_scan(list(self.cells), x_KxBxHxWxD, valid_KxBxHxW)
    y_KxBxHxWxC = jnp.stack([_flip(h, name) for h, name in zip(h_KxBxHxWxC, self.directions)])
    return _combine(y_KxBxHxWxC, self.combine)

  def reference(self, x_BxHxWxD: Array, mask_BxHxW: Array | None = None) -> Array:
    """The per-pixel reference with the same parameters; see `mdlstm_reference`."""
    return mdlstm_reference(self, x_BxHxWxD, mask_BxHxW)


def mdlstm_reference(layer: MDLSTM2D, x_BxHxWxD: Array,
                     mask_BxHxW: Array | None = None) -> Array:
  """What `layer(x, mask)` computes, pixel by pixel, one direction at a time (slow; for tests
  and benchmarks). Same parameters, same output layout."""
  valid_BxHxW = _valid(x_BxHxWxD, mask_BxHxW)
  y_KxBxHxWxC = jnp.stack([reference_scan(cell, x_BxHxWxD, valid_BxHxW, name)
                           for cell, name in zip(layer.cells, layer.directions)])
  return _combine(y_KxBxHxWxC, layer.combine)
