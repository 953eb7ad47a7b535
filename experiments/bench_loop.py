"""The shared training loop's real speed against its bare jitted step, on the same batches.

  python experiments/bench_loop.py --data runs/syn-prep          # medium synthesis, IAM-OnDB
  python experiments/bench_loop.py --data DIR --preset small --steps 100
  python experiments/bench_loop.py --quick   # tiny preset on built-in synthetic data (a smoke run)

What a user's `handwriting train synthesis` costs beyond the step the benchmarks time
(`bench_synthesis.py`): building each batch from the prepared lines (`task.train_batch(step)`),
moving it to the devices, the loop's one-step-late finite checks, the metrics log and progress
lines. Three passes over the same training steps 0..N-1 of the run's own batch order, one process:

  1. warm-up: the loop's compiled `train_step` (train/step.py `compile_steps`) on every batch of
     those steps, so each padding bucket they meet is compiled before anything is timed;
  2. loop: `train_and_evaluate` itself in a fresh workdir for the N steps, with the preset's
     `log_every`; its steps/s are those it writes to metrics.jsonl (training time only, as a
     user sees it; the end-of-run checkpoint is outside them; no evaluation split);
  3. bare: the same compiled step on the same batches, built and put on the devices beforehand,
     dispatched back to back and blocked on once at the end.

Last line: `key=value` pairs (loop_steps_s, bare_steps_s, loop_over_bare, ...). The figure is
loop_over_bare: 1.0 means the loop costs nothing beyond its step. Benchmark on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import jax

from handwriting.synthesis.configs import PRESETS, get_config
from handwriting.synthesis.task import SequenceTask
from handwriting.train import loop, sharding
from handwriting.train import step as train_steps


def loop_seconds(metrics_path: str) -> tuple[int, float]:
  """(steps, training seconds) from the train lines of one run's metrics.jsonl."""
  steps, seconds, last = 0, 0.0, 0
  with open(metrics_path) as f:
    for line in f:
      entry = json.loads(line)
      if entry.get("split") != "train":
        continue
      n = entry["step"] - last
      steps, seconds, last = steps + n, seconds + n / entry["steps_per_sec"], entry["step"]
  return steps, seconds


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data", help="prepared IAM-OnDB folder (handwriting prepare iam-ondb)")
  parser.add_argument("--preset", default="medium", choices=PRESETS)
  parser.add_argument("--steps", type=int, default=50, help="N training steps per pass")
  parser.add_argument("--max-points", type=int, default=2000, help="config.max_points")
  parser.add_argument("--quick", action="store_true",
                      help="tiny preset, 20 steps, on synthetic lines made in a temporary folder")
  args = parser.parse_args()
  tmp = tempfile.TemporaryDirectory(prefix="bench_loop_")
  preset, steps, data = args.preset, args.steps, args.data
  if args.quick:
    from handwriting.data import synthetic
    data = os.path.join(tmp.name, "data")
    synthetic.prepare(data, lines=200, seed=0)
    preset, steps = "tiny", min(steps, 20)
  if not data:
    parser.error("--data is required (or --quick)")

  config = get_config(preset, "synthesis")
  config.data, config.eval_split, config.num_steps = data, "", steps
  config.max_points = args.max_points
  config.checkpoint_every = 0  # only at the end, which the loop's steps/s leave out
  task = SequenceTask(config)
  mesh = sharding.make_mesh()
  graphdef, eval_graphdef, tx, state = train_steps.init_state(task, config, mesh)
  train_fn, _ = train_steps.compile_steps(graphdef, eval_graphdef, tx, task.loss, mesh)
  key = sharding.replicate(jax.random.key(0), mesh)
  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); preset {preset}, "
        f"batch {config.batch_size}, {steps} steps, log every {config.log_every}")

  t0 = time.perf_counter()
  batches = [sharding.shard_batch(task.train_batch(s), mesh) for s in range(steps)]
  jax.block_until_ready(batches)
  build_s = time.perf_counter() - t0
  shapes = sorted({b["ink"].shape[1] for b in batches})
  t0 = time.perf_counter()
  warm = state
  for batch in batches:  # compiles each bucket once
    warm, _, _ = train_fn(warm, batch, key)
  jax.block_until_ready(warm)
  print(f"warm-up: {time.perf_counter() - t0:.1f} s ({len(shapes)} step lengths: {shapes})")

  hits = train_steps.compile_steps.cache_info().hits
  workdir = os.path.join(tmp.name, "run")
  loop.train_and_evaluate(config, workdir, task, mesh=mesh)
  # The loop compiled its own step: say so.
  if train_steps.compile_steps.cache_info().hits == hits:
    print("note: the loop did not reuse the warmed-up step; its first window includes compiling")
  loop_steps, loop_s = loop_seconds(os.path.join(workdir, "metrics.jsonl"))

  # The warm-up's state may have been donated (accelerators): a fresh one.
  state = train_steps.init_state(task, config, mesh)[3]
  t0 = time.perf_counter()
  for batch in batches:
    state, _, _ = train_fn(state, batch, key)
  jax.block_until_ready(state)
  bare_s = time.perf_counter() - t0

  r = {"loop_steps_s": loop_steps / loop_s, "bare_steps_s": steps / bare_s,
       "loop_over_bare": (loop_steps / loop_s) / (steps / bare_s),
       "batch_build_ms": 1e3 * build_s / steps, "steps": steps}
  print(f"{'loop (train_and_evaluate)':<28} {r['loop_steps_s']:8.3f} steps/s")
  print(f"{'bare step (same batches)':<28} {r['bare_steps_s']:8.3f} steps/s")
  print(f"{'loop / bare':<28} {r['loop_over_bare']:8.3f}")
  print(f"{'batch build + transfer':<28} {r['batch_build_ms']:8.1f} ms a step (host)")
  print(" ".join(f"{k}={v:.6g}" for k, v in r.items()) + f" preset={preset}")


if __name__ == "__main__":
  main()
