"""The loss of the prediction / synthesis networks and the figures of Graves 2013, Tables 3-4.

Dimension letters: B batch, T pen steps (padded), U characters (padded).

A line's rows are normalised offsets (dx, dy, eos) whose row 0 is the start (offset 0); the
network reads rows 0..T-2 and predicts rows 1..T-1 (Graves 2013 eq 26: Pr(x_{t+1} | y_t)).

The objective (`config.objective`):
  * "sequence" (the paper's): the negative log-likelihood of each sequence summed over time
    (eq 26), averaged over the sequences of the batch. The derivative clipping of section 4
    (outputs to [-100, 100], LSTM gates to [-10, 10]) acts on each sequence's own derivatives,
    as in Graves' per-sequence training: the outputs' cotangent is scaled up by the number of
    sequences before the model's clips see it (`scale_gradient`) and the parameters' gradients
    back down after, so the gradient is the batch mean of the clipped per-sequence gradients.
    Its scale (hundreds of nats per line) is what Graves' RMSProp constants are set for.
  * "point": the summed NLL divided by the number of predicted points, ~1/700 of the above on
    IAM-OnDB; the clips see that scale (they then never bind). For Adam, which is invariant to a
    constant scale of the loss, it keeps the global-norm clip meaningful across data sets.

The reported figures are those of Tables 3-4: nats per sequence (`nll`; `nll_per_point` per
predicted point) and the squared error per point of the mixture mean (`sse`), in the units of the normalised data (offsets divided by the
model's own statistics, those of its training split).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from handwriting.nn.clip import scale_gradient
from handwriting.synthesis import mdn
from handwriting.synthesis.model import HandwritingNet

Array = jax.Array
OBJECTIVES = ("sequence", "point")


def _gradients_divided(model: HandwritingNet, factor: Array) -> HandwritingNet:
  """The same network whose parameters' gradients are multiplied by `factor`."""
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  params = jax.tree.map(lambda p: scale_gradient(p, factor), params)
  return nnx.merge(graphdef, params, rest)


def sequence_loss(model: HandwritingNet, batch: dict[str, Array], key: Array | None,
                  objective: str = "sequence") -> tuple[Array, dict[str, Any]]:
  """Loss and Table 3-4 metrics of one batch; `weight_B` is 0 for padding lines in eval."""
  del key  # deterministic (no weight noise)
  if objective not in OBJECTIVES:
    raise ValueError(f"objective must be one of {OBJECTIVES}, not {objective!r}")
  ink_BxTx3, mask_BxT, weight_B = batch["ink"], batch["mask"], batch["weight"]
  sequences = jnp.maximum(jnp.sum(weight_B), 1.0)
  if objective == "sequence":
    model = _gradients_divided(model, 1.0 / sequences)
  y_hat, _, _ = model(ink_BxTx3[:, :-1], batch.get("chars"))
  if objective == "sequence":
    y_hat = scale_gradient(y_hat, sequences)  # the clips inside see per-sequence derivatives
  target, mask = ink_BxTx3[:, 1:], mask_BxT[:, 1:]
  nll_B = mdn.sequence_nll(y_hat, target, mask) * weight_B
  sse_B = mdn.sequence_sse(y_hat, target, mask) * weight_B
  points = jnp.sum(mask * weight_B[:, None])
  total = jnp.sum(nll_B)
  loss = total / (sequences if objective == "sequence" else jnp.maximum(points, 1.0))
  per = jnp.sum(weight_B) if objective == "sequence" else points
  return loss, {"loss": (total, per),
                "nll": (total, jnp.sum(weight_B)), "nll_per_point": (total, points),
                "sse": (jnp.sum(sse_B), points)}
