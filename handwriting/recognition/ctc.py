"""Connectionist temporal classification loss (Graves et al. 2006; Graves & Schmidhuber 2009).

Dimension letters: B batch, T frames, L label length, K classes (K = alphabet.size, class 0 is the
CTC blank). The forward-backward recursion itself is `optax.ctc_loss`; this module adds what a
training loop needs around it:

- masks instead of paddings (optax takes `paddings`, 1 on padded positions: the opposite of ours);
- infeasible sequences: a path that emits L labels needs at least L + R frames, where R counts
  consecutive repeated labels (each repeat needs a blank between its two emissions). A shorter
  sequence has probability 0 and optax would return a huge loss ~ -log_epsilon. Such rows get loss
  0 and exactly zero gradient, and `feasible_B` tells the caller how many there were;
- tiny negative losses (float round-off when p(labels) ~ 1) are clamped at 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

Array = jax.Array

BLANK = 0


def min_frames(labels_BxL: Array, label_mask_BxL: Array) -> Array:
  """[B] int32: the fewest frames that can emit each label sequence, L + number of repeats.

  A repeat is a pair of consecutive valid labels that are equal ("aa"): CTC collapses repeated
  emissions, so the two need a blank between them (Graves et al. 2006, sec. 3.1).
  """
  labels_BxL = jnp.asarray(labels_BxL)
  valid_BxL = jnp.asarray(label_mask_BxL) > 0
  both_valid = valid_BxL[:, 1:] & valid_BxL[:, :-1]
  repeats_B = jnp.sum((labels_BxL[:, 1:] == labels_BxL[:, :-1]) & both_valid, axis=1)
  return (jnp.sum(valid_BxL, axis=1) + repeats_B).astype(jnp.int32)


def ctc_loss(logits_BxTxK: Array, logit_mask_BxT: Array, labels_BxL: Array,
             label_mask_BxL: Array) -> tuple[Array, Array]:
  """Per-sequence CTC loss -log p(labels | x) (Graves et al. 2006, eq. 14) and feasibility.

  Args:
    logits_BxTxK: unnormalised class scores per frame; softmax is taken over K.
    logit_mask_BxT: 1 on valid frames, 0 on padding.
    labels_BxL: int labels in 1..K-1 (0 is the blank), right-padded.
    label_mask_BxL: 1 on valid labels, 0 on padding (must be a prefix of ones per row).

  Returns:
    (loss_B, feasible_B): loss_B >= 0 is 0 for infeasible rows (and their gradient is exactly 0);
    feasible_B is a bool array, True where the row has enough valid frames for its labels.
  """
  logit_mask_BxT = jnp.asarray(logit_mask_BxT)
  label_mask_BxL = jnp.asarray(label_mask_BxL)
  valid_labels_BxL = label_mask_BxL > 0
  feasible_B = jnp.sum(logit_mask_BxT > 0, axis=1) >= min_frames(labels_BxL, label_mask_BxL)
  # Padded labels become the blank so that their values never reach optax's repeat test (it
  # compares neighbouring labels, padding included); real labels are >= 1, never equal to it.
  labels_BxL = jnp.where(valid_labels_BxL, jnp.asarray(labels_BxL), BLANK).astype(jnp.int32)
  # Infeasible rows are given an empty target (always feasible: the all-blank path), so every
  # value inside the recursion stays moderate and the `where` below yields a clean zero gradient
  # rather than 0 * (gradient of a -log_epsilon-sized loss).
  label_pad_BxL = jnp.where(feasible_B[:, None] & valid_labels_BxL, 0.0, 1.0)
  logit_pad_BxT = jnp.where(logit_mask_BxT > 0, 0.0, 1.0).astype(logits_BxTxK.dtype)
  loss_B = optax.ctc_loss(logits_BxTxK, logit_pad_BxT, labels_BxL,
                          label_pad_BxL.astype(logits_BxTxK.dtype), blank_id=BLANK)
  loss_B = jnp.where(feasible_B, jnp.maximum(loss_B, 0.0), 0.0)
  return loss_B, feasible_B
