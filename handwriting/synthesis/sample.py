"""Sampling handwriting: biased (Graves 2013 eqs 61-62), primed (section 5.5), with end-of-text
detection (section 5.3) and stall detection. One jitted `lax.while_loop` over time steps for the
whole batch.

Dimension letters: B batch, N generated steps (max_steps), U characters (+1: the position past
the end), V alphabet size, P prime steps.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from handwriting.synthesis import mdn
from handwriting.synthesis import window as win
from handwriting.synthesis.model import HandwritingNet

Array = jax.Array


# Compiled shapes are rounded up to these multiples (text length + 1, prime rows, step
# capacity), so requests of similar size share one compiled sampler instead of compiling each
# (a server writes many texts). Padding changes no result: padded characters have an all-zero
# one-hot row (no weight in the window), padded prime rows are never read, and the step cap
# itself stays exact (`cap`), only the arrays are longer.
CHARS_BUCKET, PRIME_BUCKET, STEPS_BUCKET = 16, 64, 256

# A line stalls when its window's most-weighted position has not moved past its furthest so far
# for this many steps: the network is drawing in place (tiny strokes or one character over and
# over) and seldom recovers. Teacher-forced on the 529 carved IAM-OnDB validation lines, the
# longest such dwell of any real line is 165 steps for synthesis-iam-ondb-medium and 198 for
# -small (median 38-39, about 21 points a character); 300 leaves half as much again. A stalled
# line is stopped there and marked so (`write` rewrites it) instead of running to the step cap.
STALL_STEPS = 300


def _round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


class Samples(NamedTuple):
  ink_BxNx3: Array  # normalised offsets; row 0 is the start row fed to the network
  mask_BxN: Array  # 1 on rows that belong to the line (prime rows included)
  phi_BxNxU: Array  # window weights at every step (zeros for the prediction network)
  prime_B: Array  # number of leading rows copied from the prime strokes
  cap: int  # the step cap: a line with this many rows was cut, not finished
  stalled_B: Array  # the line was stopped by stall detection (see STALL_STEPS), not finished


@functools.partial(jax.jit, static_argnames=("graphdef", "max_steps"))
def _run(graphdef: nnx.GraphDef, params: nnx.State, key: Array, start_Bx3: Array,
         chars_BxU1: Array, lengths_B: Array, prime_BxPx3: Array, prime_B: Array,
         bias: Array, cap: Array, stall_steps: Array, max_steps: int
         ) -> tuple[Array, Array, Array, Array]:
  model: HandwritingNet = nnx.merge(graphdef, params)
  B = start_Bx3.shape[0]
  onehot = model.one_hot(chars_BxU1) if model.has_window else None
  U1 = chars_BxU1.shape[1]
  P = prime_BxPx3.shape[1]

  def cond(carry):
    t, _, _, done_B, *_ = carry
    return (t < jnp.minimum(cap, max_steps) - 1) & ~jnp.all(done_B)

  def body(carry):
    t, state, x_Bx3, done_B, ink, mask, phis, (furthest_B, since_B, stalled_B) = carry
    state, y_BxY, phi_BxU = model.step(state, x_Bx3, onehot)
    drawn_Bx3 = mdn.sample(jax.random.fold_in(key, t), y_BxY, bias)
    # Priming: while t+1 is inside the style strokes the input is clamped to them.
    clamp_B = t + 1 < prime_B
    prime_row = jax.lax.dynamic_index_in_dim(prime_BxPx3, jnp.minimum(t + 1, P - 1), 1, False)
    x_next = jnp.where(clamp_B[:, None], prime_row, drawn_Bx3)
    live_B = ~done_B
    if model.has_window:
      finished_B = win.text_finished(phi_BxU, lengths_B) & ~clamp_B
      # Stall detection counts steps without a new furthest position; not while clamped to a
      # prime, whose pace is the style's, not the network's.
      at_B = jnp.argmax(phi_BxU, axis=-1).astype(jnp.int32)
      moved_B = (at_B > furthest_B) | clamp_B
      furthest_B = jnp.maximum(furthest_B, at_B)
      since_B = jnp.where(moved_B, 0, since_B + 1)
      stalls_B = (since_B >= stall_steps) & ~finished_B & live_B
      stalled_B = stalled_B | stalls_B
      finished_B = finished_B | stalls_B
    else:
      finished_B = jnp.zeros_like(done_B)
    ink = ink.at[:, t + 1].set(jnp.where(live_B[:, None], x_next, 0.0))
    mask = mask.at[:, t + 1].set(live_B.astype(mask.dtype))
    phis = phis.at[:, t].set(phi_BxU)
    return (t + 1, state, x_next, done_B | finished_B, ink, mask, phis,
            (furthest_B, since_B, stalled_B))

  ink = jnp.zeros((B, max_steps, 3), start_Bx3.dtype).at[:, 0].set(start_Bx3)
  mask = jnp.zeros((B, max_steps), start_Bx3.dtype).at[:, 0].set(1.0)
  phis = jnp.zeros((B, max_steps, U1 if model.has_window else 0), start_Bx3.dtype)
  stall = (jnp.full((B,), -1, jnp.int32), jnp.zeros((B,), jnp.int32), jnp.zeros((B,), bool))
  carry = (jnp.int32(0), model.initial_state(B), start_Bx3, jnp.zeros((B,), bool), ink, mask,
           phis, stall)
  _, _, _, _, ink, mask, phis, (_, _, stalled) = jax.lax.while_loop(cond, body, carry)
  return ink, mask, phis, stalled


def sample(model: HandwritingNet, key: Array, start_row: np.ndarray, *,
           chars: list[np.ndarray] | None = None, bias: float = 0.0, max_steps: int = 1000,
           prime_ink: np.ndarray | None = None, stall_steps: int | None = STALL_STEPS
           ) -> Samples:
  """Draws a batch of lines.

  Args:
    model: a prediction (no `chars`) or synthesis network.
    key: sampling key.
    start_row: [3] normalised start row (the first input; the data's rows start at offset 0).
    chars: one label array per line (the text, already encoded; for priming the style text
      followed by the text to write, section 5.5). The batch size is len(chars), or 1 for the
      prediction network.
    bias: sampling bias b >= 0 (eqs 61-62); 0 samples the trained distribution.
    max_steps: step cap (end-of-text detection usually stops earlier).
    prime_ink: [P, 3] normalised style strokes fed as inputs (the first row is the start row);
      the same style primes every line of the batch.
    stall_steps: stop a line whose window has not reached a new character for this many steps
      (`stalled_B`; see STALL_STEPS); None turns stall detection off.
  """
  if stall_steps is not None and stall_steps < 1:
    raise ValueError(f"stall_steps must be >= 1 or None, not {stall_steps}")
  B = len(chars) if chars is not None else 1
  if model.has_window:
    if not chars or any(len(c) == 0 for c in chars):
      raise ValueError("the synthesis network needs a non-empty text for every line")
    lengths = np.array([len(c) for c in chars], np.int32)
    # +1: the past-the-end position
    chars_BxU1 = np.zeros((B, _round_up(int(lengths.max()) + 1, CHARS_BUCKET)), np.int32)
    for b, c in enumerate(chars):
      chars_BxU1[b, :len(c)] = c
  else:
    lengths = np.zeros((B,), np.int32)
    chars_BxU1 = np.zeros((B, 1), np.int32)
  if prime_ink is not None:
    prime = np.broadcast_to(np.asarray(prime_ink, np.float32), (B,) + prime_ink.shape)
    if prime.shape[1] >= max_steps:
      raise ValueError(f"the style strokes ({prime.shape[1]} steps) leave no room under "
                       f"max_steps={max_steps}")
    start = prime[:, 0]
    prime_B = np.full((B,), prime.shape[1], np.int32)
    padded = np.zeros((B, _round_up(prime.shape[1], PRIME_BUCKET), 3), np.float32)
    padded[:, :prime.shape[1]] = prime
    prime = padded
  else:
    prime = np.zeros((B, 1, 3), np.float32)
    start = np.broadcast_to(np.asarray(start_row, np.float32), (B, 3))
    prime_B = np.ones((B,), np.int32)
  graphdef, params = nnx.split(model)
  size = _round_up(max_steps, STEPS_BUCKET)
  never = np.iinfo(np.int32).max  # stall detection off: a count no loop reaches
  ink, mask, phis, stalled = _run(
    graphdef, params, key, jnp.asarray(start), jnp.asarray(chars_BxU1), jnp.asarray(lengths),
    jnp.asarray(prime), jnp.asarray(prime_B), jnp.float32(bias), jnp.int32(max_steps),
    jnp.int32(never if stall_steps is None else stall_steps), size)
  return Samples(ink[:, :max_steps], mask[:, :max_steps], phis[:, :max_steps], prime_B,
                 max_steps, stalled)
