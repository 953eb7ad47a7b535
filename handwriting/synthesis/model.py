"""Prediction network (Graves 2013, section 4) and synthesis network (section 5) in one module.

Dimension letters: B batch, T time steps, U characters, V alphabet size (one-hot width, index 0
is padding and its one-hot row is zero), H cells per layer, L layers, K window Gaussians,
M mixture components, Y = 1 + 6M outputs.

Body: L stacked peephole LSTM layers with skip connections from the input to every layer and
from every layer to the output (Fig. 1). The synthesis network adds the soft window (Fig. 12):
its parameters come from layer 1, and w_t is fed to layers 2..L at step t and to layer 1 at t+1.

Two ways to run it, tested to agree:
  * `__call__` (training, inputs known): layer 1 and the window run in one loop
    (synthesis/attention_sweep.py); layers 2..L then see whole sequences, so their input
    projections are single large matmuls outside their scans (nn/lstm_sweep.py). Both loops
    have hand-written backward sweeps whose weight gradients are single matmuls.
  * `step` (sampling): one time step of every layer, for a `lax.scan`/`while_loop` over steps.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from handwriting.nn.cells import Carry, LSTMCell, lstm_scan
from handwriting.nn.clip import clip_gradient
from handwriting.nn.params import count_params  # noqa: F401  (re-exported: the benchmark uses it)
from handwriting.synthesis import attention_sweep as sweep
from handwriting.synthesis import mdn
from handwriting.synthesis import window as win

Array = jax.Array


class NetState(NamedTuple):
  """Recurrent state of the whole network between steps."""

  carries: tuple[Carry, ...]  # (h_BxH, c_BxH) per layer
  kappa_BxK: Array  # window location (zeros for the prediction network)
  w_BxV: Array  # last window vector (zeros for the prediction network)


class Trace(NamedTuple):
  """What the window did, for plots and end-of-text detection."""

  phi_BxTxU: Array
  kappa_BxTxK: Array


class HandwritingNet(nnx.Module):
  """`alphabet_size == 0` gives the prediction network, `> 0` the synthesis network."""

  def __init__(self, *, num_layers: int, hidden_size: int, num_mixtures: int,
               alphabet_size: int = 0, window_size: int = 10, peephole: bool = True,
               lstm_clip: float | None = 10.0, output_clip: float | None = 100.0,
               kappa_scale: float = 1.0, rngs: nnx.Rngs):
    self.num_layers = num_layers
    self.hidden_size = hidden_size
    self.alphabet_size = alphabet_size
    self.window_size = window_size
    self.output_clip = output_clip
    self.kappa_scale = kappa_scale
    H, V = hidden_size, alphabet_size
    cells = []
    for n in range(num_layers):
      # Layer 1 sees x_t; w_{t-1} enters it through `window_in` inside the scan. Layers 2..L see
      # (x_t, h^{n-1}_t, w_t), all known before their scans start.
      d_in = 3 if n == 0 else 3 + H + V
      cells.append(LSTMCell(d_in, H, peephole=peephole, clip=lstm_clip, rngs=rngs))
    self.cells = nnx.List(cells) if hasattr(nnx, "List") else cells
    if V:
      self.window_in = nnx.Linear(V, 4 * H, use_bias=False, rngs=rngs)
      self.window_out = nnx.Linear(H, 3 * window_size, rngs=rngs)
    self.output = nnx.Linear(num_layers * H, mdn.output_size(num_mixtures), rngs=rngs)

  @property
  def has_window(self) -> bool:
    return self.alphabet_size > 0

  def one_hot(self, chars_BxU: Array) -> Array:
    """Labels (0 = padding) to one-hot [B, U, V] with an all-zero row for padding."""
    return jax.nn.one_hot(chars_BxU, self.alphabet_size) * (chars_BxU > 0)[..., None]

  def initial_state(self, batch: int) -> NetState:
    carries = tuple(cell.initial_carry(batch) for cell in self.cells)
    dtype = carries[0][0].dtype
    return NetState(carries, jnp.zeros((batch, self.window_size), dtype),
                    jnp.zeros((batch, self.alphabet_size), dtype))

  def _outputs(self, hs: list[Array]) -> Array:
    y = self.output(jnp.concatenate(hs, axis=-1))
    return clip_gradient(y, self.output_clip)  # Graves 2013 section 4: outputs clipped to 100

  def __call__(self, ink_BxTx3: Array, chars_BxU: Array | None = None,
               state: NetState | None = None) -> tuple[Array, Trace, NetState]:
    """Mixture outputs y [B, T, Y] for inputs x_1..x_T (teacher forcing), the window trace
    and the final state. `chars_BxU` (int labels, 0-padded) is required iff the net has a
    window."""
    B = ink_BxTx3.shape[0]
    state = state if state is not None else self.initial_state(B)
    cell1 = self.cells[0]
    if self.has_window:
      if chars_BxU is None:
        raise ValueError("the synthesis network needs chars_BxU")
      xproj1_TxBx4H = jnp.swapaxes(cell1.project(ink_BxTx3), 0, 1)
      onehot_BxUxV = self.one_hot(chars_BxU)
      h0, c0 = state.carries[0]
      wts = sweep.Weights(cell1.w_h[...], cell1.peepholes(), self.window_in.kernel[...],
                          self.window_out.kernel[...], self.window_out.bias[...])
      (h1_T, w_T, phi_T, kappa_T), last = sweep.attention_sweep(
        cell1.clip, self.kappa_scale, wts, xproj1_TxBx4H, onehot_BxUxV,
        sweep.State(h0, c0, state.kappa_BxK, state.w_BxV))
      c1, kappa, w = (last.h, last.c), last.kappa, last.w
      w_BxTxV = jnp.swapaxes(w_T, 0, 1)
      trace = Trace(jnp.swapaxes(phi_T, 0, 1), jnp.swapaxes(kappa_T, 0, 1))
      h1_BxTxH = jnp.swapaxes(h1_T, 0, 1)
    else:
      h1_BxTxH, c1 = lstm_scan(cell1, cell1.project(ink_BxTx3), carry=state.carries[0])
      kappa, w = state.kappa_BxK, state.w_BxV
      w_BxTxV = jnp.zeros(ink_BxTx3.shape[:2] + (0,), ink_BxTx3.dtype)
      trace = Trace(jnp.zeros((B, ink_BxTx3.shape[1], 0)), jnp.zeros((B, ink_BxTx3.shape[1], 0)))
    hs = [h1_BxTxH]
    carries = [c1]
    for n in range(1, self.num_layers):
      inp = jnp.concatenate([ink_BxTx3, hs[-1], w_BxTxV], axis=-1)
      h_BxTxH, c = lstm_scan(self.cells[n], self.cells[n].project(inp), carry=state.carries[n])
      hs.append(h_BxTxH)
      carries.append(c)
    return self._outputs(hs), trace, NetState(tuple(carries), kappa, w)

  def step(self, state: NetState, x_Bx3: Array, onehot_BxUxV: Array | None = None
           ) -> tuple[NetState, Array, Array]:
    """One step of the whole network: (new state, y_BxY, phi_BxU)."""
    c1, h = self.cells[0].step(state.carries[0], self.cells[0].project(x_Bx3) + (
      self.window_in(state.w_BxV) if self.has_window else 0.0))
    if self.has_window:
      w_BxV, phi_BxU, kappa_BxK = win.window_step(self.window_out(h), state.kappa_BxK,
                                                  onehot_BxUxV, self.kappa_scale)
    else:
      w_BxV, kappa_BxK = state.w_BxV, state.kappa_BxK
      phi_BxU = jnp.zeros((x_Bx3.shape[0], 0), x_Bx3.dtype)
    hs, carries = [h], [c1]
    for n in range(1, self.num_layers):
      inp = jnp.concatenate([x_Bx3, hs[-1], w_BxV], axis=-1)
      c, h = self.cells[n].step(state.carries[n], self.cells[n].project(inp))
      hs.append(h)
      carries.append(c)
    return NetState(tuple(carries), kappa_BxK, w_BxV), self._outputs(hs), phi_BxU
