"""The loss of the prediction / synthesis networks and the figures of Graves 2013, Tables 3-4.

Dimension letters: B batch, T pen steps (padded), U characters (padded).

A line's rows are normalised offsets (dx, dy, eos) whose row 0 is the start (offset 0); the
network reads rows 0..T-2 and predicts rows 1..T-1 (Graves 2013 eq 26: Pr(x_{t+1} | y_t)).
The loss minimised is the summed negative log-likelihood divided by the number of predicted
points in the batch; the reported figures are those of Tables 3-4: nats per sequence (`nll`)
and the squared error per point of the mixture mean (`sse`), in the units of the normalised
data (offsets divided by the training split's std, as stored with the prepared data).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from handwriting.synthesis import mdn
from handwriting.synthesis.model import HandwritingNet

Array = jax.Array


def sequence_loss(model: HandwritingNet, batch: dict[str, Array], key: Array
                  ) -> tuple[Array, dict[str, Any]]:
  """Loss and Table 3-4 metrics of one batch; `weight_B` is 0 for padding lines in eval."""
  del key  # deterministic (no weight noise)
  ink_BxTx3, mask_BxT = batch["ink"], batch["mask"]
  y_hat, _, _ = model(ink_BxTx3[:, :-1], batch.get("chars"))
  target, mask = ink_BxTx3[:, 1:], mask_BxT[:, 1:]
  nll_B = mdn.sequence_nll(y_hat, target, mask) * batch["weight"]
  sse_B = mdn.sequence_sse(y_hat, target, mask) * batch["weight"]
  points = jnp.sum(mask * batch["weight"][:, None])
  loss = jnp.sum(nll_B) / jnp.maximum(points, 1.0)
  return loss, {"loss": (jnp.sum(nll_B), points), "nll": (jnp.sum(nll_B), jnp.sum(batch["weight"])),
                "sse": (jnp.sum(sse_B), points)}
