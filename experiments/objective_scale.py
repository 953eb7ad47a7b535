"""The scale of the synthesis objective on real lines: does Graves' clipping bind, and in which
regime does Graves' RMSProp step?

For one batch of real lines (a prepared IAM-OnDB split, normalised with the writer's own
statistics) and a writer (trained, or freshly initialised with --init PRESET), prints for the
per-sequence objective (Graves 2013 eq 26, `objective=sequence`) and the per-point mean
(`objective=point`):
  * the derivative with respect to the network outputs as the output clip sees it (one line's
    own NLL derivative under "sequence", that of the batch's per-point mean under "point"): its
    maximum and the fraction of outputs beyond the clip (100);
  * Graves' RMSProp's first update: the fraction of weights whose variance term n - g^2 exceeds
    eps = 1e-4 (the normalised regime its constants are set for) and the median |update| / lr.

  python experiments/objective_scale.py --data runs/prepared/iam-ondb --split valid --lines 32
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from handwriting import Writer
from handwriting.data.batching import pad_batch
from handwriting.data.prepared import Prepared
from handwriting.synthesis import mdn
from handwriting.synthesis.loss import OBJECTIVES, sequence_loss
from handwriting.train.rmsprop import graves_rmsprop


def main(argv: list[str] | None = None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--workdir", help="synthesis network (default: the shipped one)")
  p.add_argument("--data", required=True)
  p.add_argument("--split", default="valid")
  p.add_argument("--lines", type=int, default=32)
  p.add_argument("--max-points", type=int, default=1200)
  args = p.parse_args(argv)
  writer = Writer.load(args.workdir)
  model, spec = writer.model, writer.spec
  ragged = Prepared(args.data).strokes(args.split, (spec.stroke_mean, spec.stroke_std))
  inks, texts = [], []
  for i in range(len(ragged)):
    if len(ragged[i]) <= args.max_points and len(inks) < args.lines:
      inks.append(ragged[i])
      texts.append(str(ragged.texts[i]))
  ink, mask = pad_batch(inks, 64)
  chars, _ = pad_batch([spec.alphabet.encode(t, on_unknown="drop") for t in texts], 8)
  batch = {"ink": jnp.asarray(ink), "mask": jnp.asarray(mask), "chars": jnp.asarray(chars),
           "weight": jnp.ones(len(inks))}
  y, _, _ = jax.jit(lambda i, c: model(i, c))(batch["ink"][:, :-1], batch["chars"])
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  points = float(mask[:, 1:].sum())
  print(f"{writer.workdir} step {writer.step}: {len(inks)} {args.split} lines of {args.data}, "
        f"{points:.0f} predicted points ({points / len(inks):.0f} per line)")
  print("objective | max |dL/dy| at the outputs | outputs beyond 100 | weights with n-g^2 > eps "
        "| median |update| / lr")
  for objective in OBJECTIVES:
    # What the output clip sees: each line's own derivatives under the per-sequence objective
    # (the loss scales the cotangent up by the number of lines before the clips), the
    # derivatives of the per-point mean otherwise.
    per = 1.0 if objective == "sequence" else points

    def loss_y(y, per=per):
      return jnp.sum(mdn.sequence_nll(y, batch["ink"][:, 1:], batch["mask"][:, 1:])) / per
    cot = np.abs(np.asarray(jax.jit(jax.grad(loss_y))(y)))
    grads = jax.jit(jax.grad(lambda p, objective=objective: sequence_loss(
      nnx.merge(graphdef, p, rest), batch, None, objective)[0]))(params)
    tx = graves_rmsprop()
    updates, state = tx.update(grads, tx.init(params))
    var = np.concatenate([np.ravel(n - g * g) for n, g in zip(jax.tree.leaves(state.n),
                                                             jax.tree.leaves(state.g))])
    step = np.median(np.abs(np.concatenate([np.ravel(u) for u in jax.tree.leaves(updates)])))
    print(f"{objective} | {cot.max():.4g} | {np.mean(cot > 100):.2e} | {np.mean(var > 1e-4):.3f} "
          f"| {step / 1e-4:.3g}")


if __name__ == "__main__":
  main()
