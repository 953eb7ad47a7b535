"""Speed of the synthesis network (Graves 2013, section 5): training step, forward pass, sampling.

  python experiments/bench_synthesis.py          # Graves' size: 3 x 400, K=10, M=20, B=32, T=700
  python experiments/bench_synthesis.py --quick  # 3 x 128, B=8, T=200, U=20 (a minute on a CPU)
  python experiments/bench_synthesis.py --compare-unroll 1   # also the step at another unroll

Prints a table, then as its last line `key=value` pairs (for scripts):
  matmul_flops_s         f32 throughput of one large jitted matmul on this device (FLOP = 2 n^3)
  train_step_s           one jitted step: value_and_grad of `sequence_loss` + Graves' RMSProp
  train_flops            analytic FLOPs of that step (matmuls only, backward = 2 x forward)
  xla_flops              XLA's cost analysis of the compiled step (-1 if unavailable); XLA counts
                         a while loop's body once, not once per iteration, so for scanned RNNs it
                         is far below the true count: shown for reference only
  peak_fraction          train_flops / train_step_s / matmul_flops_s
  forward_step_ms        training forward (teacher forcing) time over T steps / T, batch 32
  sample_ms_per_point    `sample(...)` time / steps run (one new point per line per step), batch 1
  sample_ms_per_point_b32  the same at batch 32 (per step, i.e. per point of each line)
  sample_vs_forward_step sampling time per step / forward time per step, both at batch 32
  scan_unroll            time steps per iteration of the recurrent loops (nn/lstm_sweep.py)
  with --compare-unroll N, also (timed alternately with the default, same run):
  train_step_s_unroll_N  the training step with the loops unrolled N steps per iteration
  train_step_s_alternated  the default step in those same alternated rounds
  unroll_speedup         train_step_s_unroll_N / train_step_s_alternated
  device                 the first JAX device

Random weights and data: speed does not depend on the values. Sampling uses a text much longer
than the kappa an untrained window can reach in `max_steps` steps, so end-of-text detection
(section 5.3) never stops a line early; the points actually generated are counted from the masks.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from handwriting.nn import lstm_sweep
from handwriting.synthesis import mdn
from handwriting.synthesis.model import HandwritingNet, count_params
from handwriting.synthesis.sample import sample
from handwriting.synthesis.task import sequence_loss
from handwriting.train.optim import default_optimizer_config, make_optimizer


@dataclasses.dataclass(frozen=True)
class Shape:
  layers: int = 3  # L hidden LSTM layers (Graves 2013 section 5: 3 x 400)
  hidden: int = 400  # H cells per layer
  window: int = 10  # K window Gaussians
  mixtures: int = 20  # M output mixture components
  batch: int = 32  # B lines per training step
  steps: int = 700  # T pen steps the network reads per line
  chars: int = 60  # U characters per line
  alphabet: int = 60  # V one-hot width (index 0 is padding)
  sample_steps: int = 300  # max_steps of the timed sampling runs
  matmul: int = 2048  # n of the n x n x n throughput matmul on a CPU (8192 on accelerators)


GRAVES = Shape()
QUICK = Shape(hidden=128, batch=8, steps=200, chars=20, sample_steps=200, matmul=1024)
SAMPLE_BATCH = 32  # the batch of `sample_ms_per_point_b32` and of the forward comparison


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 1, best: bool = False) -> float:
  """Median (or with `best` the least) seconds of `fn()`, results blocked on, after `warmup`
  calls (the first compiles). The least is the steadier figure on a machine that is not idle."""
  for _ in range(warmup):
    jax.block_until_ready(fn())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return min(times) if best else statistics.median(times)


def matmul_flops_s(n: int, repeats: int) -> float:
  a, b = jax.random.normal(jax.random.key(1), (2, n, n), jnp.float32)
  mm = jax.jit(jnp.matmul)
  return 2.0 * n ** 3 / timed(lambda: mm(a, b), repeats)


def forward_flops(s: Shape, batch: int, steps: int) -> float:
  """Matmul FLOPs (2 m n k each) of the teacher-forced forward pass (model.py, Figs. 1 and 12)."""
  H, V, K, L = s.hidden, s.alphabet, s.window, s.layers
  Y = mdn.output_size(s.mixtures)
  layer1 = 3 * 4 * H + H * 4 * H + V * 4 * H  # W_x x, W_h h, window_in w_{t-1} (eq 52)
  window = H * 3 * K + s.chars * V  # window_out (eqs 48-51), w_t = phi^T c (eq 47)
  upper = (L - 1) * ((3 + H + V) * 4 * H + H * 4 * H)  # layers 2..L: skip inputs + recurrence
  output = L * H * Y  # all layers to the mixture outputs (eq 17)
  return 2.0 * batch * steps * (layer1 + window + upper + output)


def make_batch(s: Shape, batch: int, key: jax.Array) -> dict[str, jax.Array]:
  k_ink, k_eos, k_chars = jax.random.split(key, 3)
  T1 = s.steps + 1  # the network reads rows 0..T-1 and predicts rows 1..T
  dxy = jax.random.normal(k_ink, (batch, T1, 2))
  eos = jax.random.bernoulli(k_eos, 0.05, (batch, T1, 1)).astype(jnp.float32)
  return {"ink": jnp.concatenate([dxy, eos], -1), "mask": jnp.ones((batch, T1)),
          "weight": jnp.ones((batch,)),
          "chars": jax.random.randint(k_chars, (batch, s.chars), 1, s.alphabet, jnp.int32)}


def build(s: Shape) -> HandwritingNet:
  return HandwritingNet(num_layers=s.layers, hidden_size=s.hidden, num_mixtures=s.mixtures,
                        alphabet_size=s.alphabet, window_size=s.window, rngs=nnx.Rngs(0))


def train_runner(model: HandwritingNet, s: Shape) -> tuple[Callable[[], Any], float]:
  """A closure running one jitted training step (compiled now, with the recurrent loops'
  unroll as `lstm_sweep.SCAN_UNROLL` is at this call) and XLA's FLOP count of it."""
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  tx = make_optimizer(default_optimizer_config())  # graves_rmsprop, Graves 2013 eqs 38-45

  def step(params, opt_state, batch, key):
    def objective(p):
      return sequence_loss(nnx.merge(graphdef, p, rest), batch, key)[0]
    loss, grads = jax.value_and_grad(objective)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  batch, key = make_batch(s, s.batch, jax.random.key(2)), jax.random.key(3)
  opt_state = tx.init(params)
  # Donating the old state lets XLA update it in place, as training does (CPU ignores it).
  donate = (0, 1) if jax.default_backend() != "cpu" else ()
  step_jit = jax.jit(step, donate_argnums=donate)
  xla = -1.0
  try:
    cost = step_jit.lower(params, opt_state, batch, key).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    xla = float(cost.get("flops", -1.0))
  # Any error: cost analysis is optional, and backends that lack it fail in their own ways.
  except Exception as err:  # noqa: BLE001
    print(f"(XLA cost analysis unavailable: {err})")
  state = [params, opt_state]

  def run():
    state[0], state[1], loss = step_jit(state[0], state[1], batch, key)
    return loss
  jax.block_until_ready(run())  # compile with this call's unroll: `jit` traces lazily
  return run, xla


def compare_unroll(model: HandwritingNet, s: Shape, run_default: Callable[[], Any], other: int,
                   repeats: int) -> tuple[float, float]:
  """(seconds a step at the default unroll, at `other`): `run_default` (`train_runner` at the
  default) and the step compiled here at `other`, timed in turn, `repeats` rounds, least of
  each, so that a change of load hits both alike."""
  default = lstm_sweep.SCAN_UNROLL
  lstm_sweep.SCAN_UNROLL = other
  try:
    run_other, _ = train_runner(model, s)
  finally:
    lstm_sweep.SCAN_UNROLL = default
  times: dict[str, list[float]] = {"default": [], "other": []}
  for _ in range(repeats):
    for name, run in (("default", run_default), ("other", run_other)):
      times[name].append(timed(run, 1, warmup=0))
  return min(times["default"]), min(times["other"])


def bench_forward(model: HandwritingNet, s: Shape, repeats: int) -> float:
  """Seconds per time step of the teacher-forced forward pass at batch SAMPLE_BATCH."""
  batch = make_batch(s, SAMPLE_BATCH, jax.random.key(4))
  graphdef, state = nnx.split(model)

  @jax.jit
  def forward(state, ink, chars):
    y_hat, _, _ = nnx.merge(graphdef, state)(ink[:, :-1], chars)
    return y_hat
  return timed(lambda: forward(state, batch["ink"], batch["chars"]), repeats) / s.steps


def bench_sample(model: HandwritingNet, s: Shape, batch: int, repeats: int
                 ) -> tuple[float, int]:
  """(seconds per generated point, points generated per line) of `sample` at this batch."""
  # kappa of an untrained window moves about one character per step: twice max_steps is safe.
  text = np.arange(2 * s.sample_steps) % (s.alphabet - 1) + 1
  start = np.zeros(3, np.float32)
  out = {}

  def run():
    out["samples"] = sample(model, jax.random.key(5), start, chars=[text] * batch,
                            max_steps=s.sample_steps)
    return out["samples"].ink_BxNx3
  seconds = timed(run, repeats)
  # The while loop runs until the longest line ends; row 0 is the given start row.
  points = int(np.asarray(out["samples"].mask_BxN).sum(1).max()) - 1
  return seconds / points, points


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="a small shape for a CPU smoke run")
  parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement")
  parser.add_argument("--compare-unroll", type=int, default=0, metavar="N",
                      help=f"also time the training step with the recurrent loops unrolled N "
                           f"steps per iteration (default {lstm_sweep.SCAN_UNROLL}), in turn "
                           f"with the default")
  args = parser.parse_args()
  s = QUICK if args.quick else GRAVES
  device = jax.devices()[0]
  on_cpu = jax.default_backend() == "cpu"
  n = s.matmul if on_cpu else 8192  # large enough to reach an accelerator's peak
  model = build(s)
  print(f"config: {'quick' if args.quick else 'graves'} {s}; {count_params(model):,} parameters")
  print(f"device: {device.device_kind} ({jax.default_backend()}), {jax.device_count()} device(s)")

  peak = matmul_flops_s(n, max(args.repeats, 5))
  run_train, xla_flops = train_runner(model, s)  # compiled: its first step has run
  train_step_s = timed(run_train, args.repeats, warmup=0)
  flops = 3.0 * forward_flops(s, s.batch, s.steps)  # forward + backward (~2 x forward)
  fwd_step_s = bench_forward(model, s, args.repeats)
  sample_b1, points_b1 = bench_sample(model, s, 1, args.repeats)
  sample_b32, points_b32 = bench_sample(model, s, SAMPLE_BATCH, args.repeats)
  if args.compare_unroll:
    if args.compare_unroll < 1:
      parser.error("--compare-unroll must be at least 1")
    base_s, other_s = compare_unroll(model, s, run_train, args.compare_unroll, args.repeats)
  achieved = flops / train_step_s
  r = {
    "matmul_flops_s": peak, "train_step_s": train_step_s, "train_flops": flops,
    "xla_flops": xla_flops, "train_flops_s": achieved, "peak_fraction": achieved / peak,
    "forward_step_ms": 1e3 * fwd_step_s, "sample_ms_per_point": 1e3 * sample_b1,
    "sample_ms_per_point_b32": 1e3 * sample_b32, "sample_vs_forward_step": sample_b32 / fwd_step_s,
    "sample_points": min(points_b1, points_b32), "scan_unroll": lstm_sweep.SCAN_UNROLL,
  }
  if args.compare_unroll:
    r[f"train_step_s_unroll_{args.compare_unroll}"] = other_s
    r["train_step_s_alternated"] = base_s
    r["unroll_speedup"] = other_s / base_s
  rows = [
    ("matmul throughput", f"{peak / 1e12:.3f}", f"TFLOP/s (f32, n={n})"),
    ("train step", f"{r['train_step_s']:.4f}", f"s (B={s.batch}, T={s.steps}, U={s.chars})"),
    ("train step FLOPs, analytic", f"{flops / 1e9:.2f}", "GFLOP (matmuls, fwd + 2 x fwd)"),
    ("train step FLOPs, XLA", f"{xla_flops / 1e9:.2f}",
     "GFLOP (loop bodies counted once)"),
    ("train throughput", f"{achieved / 1e12:.4f}", "TFLOP/s (analytic)"),
    ("fraction of matmul peak", f"{r['peak_fraction']:.3f}", ""),
    ("forward time step", f"{r['forward_step_ms']:.4f}", f"ms (B={SAMPLE_BATCH}, teacher forcing)"),
    ("sampling, batch 1", f"{r['sample_ms_per_point']:.4f}", f"ms/point ({points_b1} points)"),
    ("sampling, batch 32", f"{r['sample_ms_per_point_b32']:.4f}",
     f"ms/point ({points_b32} points per line)"),
    ("sampling / forward step", f"{r['sample_vs_forward_step']:.2f}", "x (batch 32, target <= 2)"),
  ]
  if args.compare_unroll:
    n_other, n_def = args.compare_unroll, lstm_sweep.SCAN_UNROLL
    rows += [(f"train step, unroll {n_def} / {n_other}", f"{base_s:.4f} / {other_s:.4f}",
              "s (alternated, least of each)"),
             (f"unroll {n_def} speedup", f"{other_s / base_s:.2f}", f"x over unroll {n_other}")]
  width = max(len(name) for name, _, _ in rows)
  for name, value, unit in rows:
    print(f"{name:<{width}}  {value:>12}  {unit}")
  if min(points_b1, points_b32) < s.sample_steps - 1:
    print(f"warning: sampling stopped before max_steps - 1 = {s.sample_steps - 1} points")
  kv = {k: (f"{v:.6g}" if isinstance(v, float) else str(v)) for k, v in r.items()}
  kv["config"] = "quick" if args.quick else "graves"
  kv["device"] = device.device_kind.replace(" ", "_")
  print(" ".join(f"{k}={v}" for k, v in kv.items()))


if __name__ == "__main__":
  main()
