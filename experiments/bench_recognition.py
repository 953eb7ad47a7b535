"""Speed of the recognition pieces (Graves & Schmidhuber 2009): MDLSTM layers, CTC, beam search.

  python experiments/bench_recognition.py          # batch 8 of 64 x 1024 line images
  python experiments/bench_recognition.py --quick  # batch 2 of 32 x 256 (under a minute on a CPU)

Dimension letters: B batch, H grid rows, W grid columns, D input features per grid cell, C cells
per direction, G gate blocks (5 for a 2-D cell), T frames, K classes, L label length.

The MDLSTM levels follow RNNLIB's Arabic offline config (Graves & Schmidhuber 2009, sec. 3):
inputBlock 3,4 / hiddenSize 2,10,50 / hiddenBlock 3,4;2,4 / subsampleSize 6,20. Block sizes are
read as (width, height): height 4 and width 3 for the input block and the first hidden block,
height 4 and width 2 for the second (no model file in the package fixes it otherwise), and a
grid dimension that a block does not divide is padded, so the grid is ceil(size / block).
  level 1: the image cut into 4x3 blocks, D = 12 pixels, C = 2;
  level 2: level 1's grid cut into 4x3 blocks, then a 6-unit tanh layer: D = 6, C = 10;
  level 3: level 2's grid cut into 4x2 blocks, then a 20-unit tanh layer: D = 20, C = 50.
As in the paper ("the activations of the hidden layers are gathered into blocks, which are fed
to a feedforward layer of tanh units"), the tanh layer reads the whole block and its units are
the next level's input features, so D is the subsample size (not subsample size x block area).

Each level times value_and_grad (w.r.t. the parameters and the input) of a scalar function of
the 4-direction `MDLSTM2D` output, jitted, for the wavefront fast path and `mdlstm_reference`.

Prints a table, then as its last line `key=value` pairs (for scripts):
  matmul_flops_s         f32 throughput of one large jitted matmul on this device (FLOP = 2 n^3)
  grid_l{1,2,3}          H x W of each level's input grid
  fast_ms_l{n}, ref_ms_l{n}  forward + backward time, wavefront and per-pixel reference
  wavefront_speedup      ref / fast at level 1 (target >= 5); _l2, _l3 for the other levels
  mdlstm_flops           analytic matmul FLOPs of forward + backward over the three levels
  peak_fraction          mdlstm_flops / (sum of fast times) / matmul_flops_s
  ctc_ms                 jitted value_and_grad of `ctc_loss` summed over a batch of 8
  beam_lines_per_s       `beam_search` lines per second at beam 10, no LM; _lm with a 4-gram LM
  device, config         the first JAX device; quick or full
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import string
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from bench_synthesis import matmul_flops_s, timed  # beside this script: sys.path[0]
from flax import nnx

from handwriting.data.alphabet import Alphabet
from handwriting.nn.mdlstm import MDLSTM2D, mdlstm_reference
from handwriting.recognition.ctc import ctc_loss
from handwriting.recognition.decode import beam_search
from handwriting.recognition.lm import CharLM

GATES = 5  # G: input, two forget, cell input, output (2-D MDLSTM cell)
DIRECTIONS = 4
# 79 characters + the blank: K = 80, about IAM's alphabet size.
CHARS = string.ascii_letters + string.digits + " .,;:!?'\"-()&/#*+"


@dataclasses.dataclass(frozen=True)
class Level:
  block: tuple[int, int]  # (height, width) of the block that makes this level's grid cells
  features: int  # D: per grid cell (block pixels at level 1, else the tanh layer's units)
  cells: int  # C per direction


# RNNLIB Arabic offline: inputBlock 3,4 / hiddenSize 2,10,50 / hiddenBlock 3,4;2,4 /
# subsampleSize 6,20, with blocks read as (width, height).
LEVELS = (Level((4, 3), 12, 2), Level((4, 3), 6, 10), Level((4, 2), 20, 50))


@dataclasses.dataclass(frozen=True)
class Shape:
  batch: int = 8  # B line images
  height: int = 64  # image rows
  width: int = 1024  # image columns
  frames: tuple[int, int] = (100, 350)  # CTC: range of T per line
  labels: tuple[int, int] = (40, 90)  # CTC: range of L per line
  classes: int = len(CHARS) + 1  # K, blank included
  beam_frames: int = 150  # T of a beam-searched line
  beam_lines: int = 16  # lines decoded per beam-search measurement
  beam: int = 10
  matmul: int = 2048  # n of the n x n x n throughput matmul on a CPU (8192 on accelerators)


FULL = Shape()
QUICK = Shape(batch=2, height=32, width=256, beam_lines=4, matmul=1024)


def grids(s: Shape) -> list[tuple[int, int]]:
  """(H, W) of each level's input grid: each block cuts the previous grid, padding to fit."""
  h, w, out = s.height, s.width, []
  for level in LEVELS:
    h, w = math.ceil(h / level.block[0]), math.ceil(w / level.block[1])
    out.append((h, w))
  return out


def mdlstm_flops(batch: int, grid: tuple[int, int], level: Level) -> float:
  """Matmul FLOPs of one layer's forward pass: per pixel and direction, the input projection
  2 D G C and the recurrent one 2 (2C) G C (two neighbours' h, Graves' thesis sec. 8.2.1)."""
  D, C = level.features, level.cells
  per_pixel = 2 * D * GATES * C + 2 * (2 * C) * GATES * C
  return float(batch * grid[0] * grid[1] * DIRECTIONS * per_pixel)


def timed_long(fn: Callable[[], Any], repeats: int, long_s: float = 1.0) -> float:
  """Like `timed`, but a call slower than `long_s` after warm-up is timed only once."""
  jax.block_until_ready(fn())  # compile
  start = time.perf_counter()
  jax.block_until_ready(fn())
  once = time.perf_counter() - start
  return once if once > long_s or repeats <= 1 else timed(fn, repeats)


def bench_level(s: Shape, grid: tuple[int, int], level: Level,
                repeats: int) -> dict[str, float]:
  """Seconds of value_and_grad of sum(y * r) through one MDLSTM2D, fast and reference."""
  layer = MDLSTM2D(level.features, level.cells, directions=DIRECTIONS, rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(layer)
  k_x, k_r = jax.random.split(jax.random.key(1))
  x_BxHxWxD = jax.random.normal(k_x, (s.batch, *grid, level.features))
  # A random cotangent, so that every output unit's gradient path is exercised.
  r_BxHxWxKC = jax.random.normal(k_r, (s.batch, *grid, layer.out_features))

  def objective(forward: Callable[[MDLSTM2D, jax.Array], jax.Array]):
    def f(params, x_BxHxWxD):
      return jnp.sum(forward(nnx.merge(graphdef, params), x_BxHxWxD) * r_BxHxWxKC)
    return jax.jit(jax.value_and_grad(f, argnums=(0, 1)))

  fast = objective(lambda m, x: m(x))
  ref = objective(mdlstm_reference)
  fast_s = timed_long(lambda: fast(params, x_BxHxWxD), repeats)
  ref_s = timed_long(lambda: ref(params, x_BxHxWxD), repeats)
  return {"fast_s": fast_s, "ref_s": ref_s}


def bench_ctc(s: Shape, repeats: int) -> float:
  """Seconds of jitted value_and_grad of the summed CTC loss, batch 8 of ragged lines."""
  rng = np.random.default_rng(0)
  B, K = 8, s.classes
  T_B = rng.integers(s.frames[0], s.frames[1] + 1, B)
  # At most T / 2 labels keeps every line feasible (L + repeats <= T).
  L_B = np.minimum(rng.integers(s.labels[0], s.labels[1] + 1, B), T_B // 2)
  T, L = s.frames[1], s.labels[1]
  logits_BxTxK = jnp.asarray(rng.normal(size=(B, T, K)), jnp.float32)
  logit_mask_BxT = jnp.asarray(np.arange(T)[None] < T_B[:, None], jnp.float32)
  labels_BxL = jnp.asarray(rng.integers(1, K, (B, L)), jnp.int32)
  label_mask_BxL = jnp.asarray(np.arange(L)[None] < L_B[:, None], jnp.float32)

  @jax.jit
  def loss_and_grad(logits_BxTxK):
    def total(logits_BxTxK):
      loss_B, feasible_B = ctc_loss(logits_BxTxK, logit_mask_BxT, labels_BxL, label_mask_BxL)
      return loss_B.sum(), feasible_B
    return jax.value_and_grad(total, has_aux=True)(logits_BxTxK)
  (_, feasible_B), _ = loss_and_grad(logits_BxTxK)
  assert bool(jnp.all(feasible_B)), "benchmark lines must be feasible"
  return timed(lambda: loss_and_grad(logits_BxTxK), repeats)


def network_like_log_probs(rng: np.random.Generator, frames: int, classes: int) -> np.ndarray:
  """[T, K] log-softmax outputs shaped like a trained network's: mostly blank, peaked frames.

  Uniform random outputs would make every frame ambiguous, which no trained network produces
  and which makes prefix search slower than in use.
  """
  target_T = np.where(rng.random(frames) < 0.6, 0, rng.integers(1, classes, frames))
  logits_TxK = rng.normal(size=(frames, classes)) * 1.5
  logits_TxK[np.arange(frames), target_T] += 6.0
  return logits_TxK - np.logaddexp.reduce(logits_TxK, axis=1, keepdims=True)


def random_texts(rng: np.random.Generator, lines: int) -> list[str]:
  """Lines of words drawn from a small random vocabulary, so the 4-gram LM has structure."""
  letters = np.array(list(CHARS))
  vocab = ["".join(rng.choice(letters, rng.integers(1, 9))) for _ in range(500)]
  return [" ".join(rng.choice(vocab, rng.integers(5, 12))) for _ in range(lines)]


def bench_beam(s: Shape, lm: CharLM | None, repeats: int) -> float:
  """Lines per second of `beam_search` (host NumPy), best of `repeats` runs over the lines."""
  rng = np.random.default_rng(1)
  lines = [network_like_log_probs(rng, s.beam_frames, s.classes) for _ in range(s.beam_lines)]
  best = math.inf
  for _ in range(repeats):
    start = time.perf_counter()
    for lp_TxK in lines:
      beam_search(lp_TxK, beam=s.beam, lm=lm, lm_weight=0.0 if lm is None else 1.0)
    best = min(best, time.perf_counter() - start)
  return s.beam_lines / best


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="a small shape for a CPU smoke run")
  parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement")
  args = parser.parse_args()
  s = QUICK if args.quick else FULL
  config = "quick" if args.quick else "full"
  device = jax.devices()[0]
  on_cpu = jax.default_backend() == "cpu"
  n = s.matmul if on_cpu else 8192  # large enough to reach an accelerator's peak
  print(f"config: {config} {s}")
  print(f"device: {device.device_kind} ({jax.default_backend()}), {jax.device_count()} device(s)")

  peak = matmul_flops_s(n, max(args.repeats, 5))
  r: dict[str, float | str] = {"matmul_flops_s": peak}
  rows = [("matmul throughput", f"{peak / 1e9:.2f}", f"GFLOP/s (f32, n={n})")]
  total_flops, total_fast = 0.0, 0.0
  for i, (level, grid) in enumerate(zip(LEVELS, grids(s)), start=1):
    t = bench_level(s, grid, level, args.repeats)
    flops = 3.0 * mdlstm_flops(s.batch, grid, level)  # forward + backward (~2 x forward)
    total_flops, total_fast = total_flops + flops, total_fast + t["fast_s"]
    speedup = t["ref_s"] / t["fast_s"]
    r.update({f"grid_l{i}": f"{grid[0]}x{grid[1]}", f"fast_ms_l{i}": 1e3 * t["fast_s"],
              f"ref_ms_l{i}": 1e3 * t["ref_s"],
              "wavefront_speedup" + ("" if i == 1 else f"_l{i}"): speedup})
    what = (f"(B={s.batch}, grid {grid[0]}x{grid[1]}, D={level.features}, C={level.cells}, "
            f"{grid[0] + grid[1] - 1} diagonals vs {grid[0] * grid[1]} pixels)")
    rows += [(f"level {i} wavefront fwd+bwd", f"{1e3 * t['fast_s']:.2f}", f"ms {what}"),
             (f"level {i} reference fwd+bwd", f"{1e3 * t['ref_s']:.2f}", "ms"),
             (f"level {i} speedup", f"{speedup:.2f}", "x" + (" (target >= 5)" if i == 1 else "")),
             (f"level {i} wavefront throughput", f"{flops / t['fast_s'] / 1e9:.3f}",
              f"GFLOP/s ({flops / 1e6:.1f} MFLOP analytic)")]
  r.update({"mdlstm_flops": total_flops, "mdlstm_flops_s": total_flops / total_fast,
            "peak_fraction": total_flops / total_fast / peak})
  rows.append(("MDLSTM fraction of matmul peak", f"{r['peak_fraction']:.5f}",
               "(three levels, fast path)"))

  r["ctc_ms"] = 1e3 * bench_ctc(s, args.repeats)
  ctc_what = f"T {s.frames[0]}-{s.frames[1]}, L {s.labels[0]}-{s.labels[1]}, K={s.classes}"
  rows.append(("CTC loss + grad", f"{r['ctc_ms']:.2f}", f"ms (B=8, {ctc_what})"))
  alphabet = Alphabet(CHARS)
  lm = CharLM.train(random_texts(np.random.default_rng(2), 2000), 4, alphabet)
  r["beam_lines_per_s"] = bench_beam(s, None, args.repeats)
  r["beam_lines_per_s_lm"] = bench_beam(s, lm, args.repeats)
  beam_what = f"(beam {s.beam}, T={s.beam_frames}, K={s.classes}, {s.beam_lines} lines"
  rows += [("beam search", f"{r['beam_lines_per_s']:.2f}", f"lines/s {beam_what})"),
           ("beam search + 4-gram LM", f"{r['beam_lines_per_s_lm']:.2f}",
            f"lines/s {beam_what}, weight 1)")]

  width = max(len(name) for name, _, _ in rows)
  for name, value, unit in rows:
    print(f"{name:<{width}}  {value:>12}  {unit}")
  kv = {k: (f"{v:.6g}" if isinstance(v, float) else str(v)) for k, v in r.items()}
  kv["config"] = config
  kv["device"] = device.device_kind.replace(" ", "_")
  print(" ".join(f"{k}={v}" for k, v in kv.items()))


if __name__ == "__main__":
  main()
