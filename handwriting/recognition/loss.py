"""The recognizers' training loss: CTC over a padded batch, averaged per feasible line.

Dimension letters: B batch, T output frames, L label length, K classes (0 = CTC blank).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from handwriting.recognition.ctc import ctc_loss

Array = jax.Array


def recognition_loss(model: nnx.Module, batch: dict[str, Array], key: Array
                     ) -> tuple[Array, dict[str, Any]]:
  """Mean CTC loss per line (feasible lines only) and metrics; `weight` 0 marks padding lines."""
  del key
  logits, frame_mask = model(batch["inputs"], batch["mask"])
  loss_B, feasible_B = ctc_loss(logits, frame_mask, batch["labels"], batch["label_mask"])
  w_B = batch["weight"] * feasible_B
  lines = jnp.sum(w_B)
  chars = jnp.sum(batch["label_mask"] * w_B[:, None])
  total = jnp.sum(loss_B * w_B)
  return total / jnp.maximum(lines, 1.0), {
    "loss": (total, lines), "ctc_per_char": (total, chars),
    "infeasible": (jnp.sum(batch["weight"] * (1.0 - feasible_B)), jnp.sum(batch["weight"]))}
