"""Speed of the offline recognizer's whole training step (Graves & Schmidhuber 2009).

  python experiments/bench_train_step.py            # small preset, batch 8 of 64 x 1024 lines
  python experiments/bench_train_step.py --quick    # batch 2 of 64 x 256 (a smoke run)

The model is the `small` MDLSTM preset of the shipped reader (recognition/configs.py; `--preset`
for another) and the step is the shared loop's own jitted `train_step` (train/step.py
`compile_steps`: forward, CTC, backward, gradient-norm clip, Adam update), fed random line
images of one width with random labels of the length of a real line (~60 characters).
Breakdown, each jitted on its own:
  forward     the loss (MDLSTM levels, collapse, CTC)
  fwd+bwd     jax.value_and_grad of the loss w.r.t. the parameters
  no update   the loop's step with `optax.identity()` as the optimizer (gradient norm, metrics)
  step        the whole step; the optimizer's share is step - no update
All in one run, so the ratios compare like with like. Last line: `key=value` pairs (scripts).

Dimension letters: B batch, H image rows, W image columns, L label length.
"""

from __future__ import annotations

import argparse
from typing import Any

import jax
import numpy as np
import optax
from bench_synthesis import timed  # beside this script: sys.path[0]
from flax import nnx

from handwriting.data.alphabet import Alphabet
from handwriting.recognition.configs import get_config
from handwriting.recognition.task import RecognizerSpec, recognition_loss
from handwriting.train import sharding
from handwriting.train import step as train_steps

WARMUP = 2  # calls before timing: the first compiles, the second settles the caches

# 79 characters; with the blank K = 80, about IAM's alphabet.
CHARS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
         " .,;:!?'\"-()&/#*+")


class BenchTask(RecognizerSpec):
  """The recognition task without data: the spec's model and the task's own loss."""

  loss = staticmethod(recognition_loss)


def random_batch(spec: RecognizerSpec, batch: int, height: int, width: int, label_length: int,
                 seed: int) -> dict[str, np.ndarray]:
  """B uint8 line images [H, W] and random labels of `label_length`, through the task's own
  padding (`RecognizerSpec.batch`)."""
  rng = np.random.default_rng(seed)
  images = [rng.integers(0, 256, (height, width), np.uint8) for _ in range(batch)]
  labels = [rng.integers(1, spec.alphabet.size, label_length).astype(np.int32)
            for _ in range(batch)]
  return spec.batch(images, labels, np.ones(batch), label_length)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="batch 2 of 64 x 256")
  parser.add_argument("--repeats", type=int, default=5, help="timed steps per measurement")
  parser.add_argument("--width", type=int, default=0, help="image width (default 1024)")
  parser.add_argument("--no-breakdown", action="store_true", help="time the whole step only")
  parser.add_argument("--preset", default="small", choices=["small", "medium", "iam", "tiny"],
                      help="MDLSTM preset (recognition/configs.py)")
  parser.add_argument("--best", action="store_true",
                      help="report the fastest of the timed calls instead of the median")
  args = parser.parse_args()
  config = get_config(args.preset, "mdlstm")
  B = 2 if args.quick else int(config.batch_size)
  H, W = int(config.image_height), args.width or (256 if args.quick else 1024)
  L = 20 if args.quick else 60
  config.batch_size = B
  spec = BenchTask(config, Alphabet(CHARS))
  mesh = sharding.make_mesh()
  graphdef, eval_graphdef, tx, state = train_steps.init_state(spec, config, mesh)
  train_fn, _ = train_steps.compile_steps(graphdef, eval_graphdef, tx, spec.loss, mesh)
  batch = sharding.shard_batch(random_batch(spec, B, H, W, L, seed=0), mesh)
  key = jax.random.key(0)
  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
        f"{jax.device_count()} device(s); preset {args.preset}, batch {B} x {H} x {W}, "
        f"labels {L}")

  holder = {"state": state}

  def step() -> Any:
    holder["state"], sums, _ = train_fn(holder["state"], batch, key)
    return sums
  r = {"step_s": timed(step, args.repeats, best=args.best, warmup=WARMUP)}
  loss = float(step()["loss"][0]) / B
  if not args.no_breakdown:
    params, rest = state.params, state.rest

    # The batch is an argument, as in the step: closed over, XLA would constant-fold it.
    def objective(params: Any, batch: dict[str, jax.Array]) -> jax.Array:
      return spec.loss(nnx.merge(graphdef, params, rest), batch, key)[0]
    forward = jax.jit(objective)
    grad = jax.jit(jax.value_and_grad(objective))
    r["forward_s"] = timed(lambda: forward(params, batch), args.repeats, best=args.best,
                           warmup=WARMUP)
    r["fwd_bwd_s"] = timed(lambda: grad(params, batch), args.repeats, best=args.best,
                           warmup=WARMUP)
    # The loop's own step with a no-op optimizer: the update's share is the difference.
    no_update, _ = train_steps.compile_steps(graphdef, eval_graphdef, optax.identity(), spec.loss,
                                             mesh)
    plain = train_steps.TrainState(state.step, params, optax.identity().init(params), rest)
    r["no_update_s"] = timed(lambda: no_update(plain, batch, key)[1], args.repeats,
                             best=args.best, warmup=WARMUP)
    r["optimizer_s"] = r["step_s"] - r["no_update_s"]

  rows = [("train step", r["step_s"], f"{B / r['step_s']:.2f} lines/s")]
  if "forward_s" in r:
    rows += [("  forward (loss)", r["forward_s"], f"{r['forward_s'] / r['step_s']:.2f} of step"),
             ("  forward + backward", r["fwd_bwd_s"],
              (f"{r['fwd_bwd_s'] / r['step_s']:.2f} of step, "
               f"backward/forward {(r['fwd_bwd_s'] - r['forward_s']) / r['forward_s']:.2f}")),
             ("  step, no update", r["no_update_s"],
              f"{r['no_update_s'] / r['step_s']:.2f} of step (optax.identity)"),
             ("  optimizer update", r["optimizer_s"],
              f"{r['optimizer_s'] / r['step_s']:.2f} of step (step - step with no update)")]
  for name, seconds, note in rows:
    print(f"{name:<22} {1e3 * seconds:10.1f} ms   {note}")
  kv = {"lines_per_s": B / r["step_s"], **{k.replace("_s", "_ms"): 1e3 * v
                                              for k, v in r.items()}, "loss": loss}
  print(" ".join(f"{k}={v:.6g}" for k, v in kv.items()) + f" batch={B}x{H}x{W}")


if __name__ == "__main__":
  main()
