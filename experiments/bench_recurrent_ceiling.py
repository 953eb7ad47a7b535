"""How much of the matmul peak an LSTM layer's time loop can reach on this device: the ceiling
under `bench_synthesis.py`'s `peak_fraction` (Graves 2013's 3 x 400 network, target 0.7).

  python experiments/bench_recurrent_ceiling.py            # B=32, H=400, T=700 (Graves' size)
  python experiments/bench_recurrent_ceiling.py --quick    # B=8, H=64, T=50 (a smoke run)

Each row is timed in this one run and given as a fraction of one large jitted f32 matmul
(n x n x n, FLOP = 2 n^3); FLOPs count the matmuls only:
  projection      W_x x for all steps at once: one [T*B, H] x [H, 4H] matmul (what the model
                  does outside its loops)
  recurrent only  a `lax.scan` of h_t = (x_t + h_{t-1} W_h)[:, :H] / 2: the loop's matmuls and
                  nothing else
  + LSTM gates    the same scan with the peephole LSTM's elementwise step (nn/gates.py)
  lstm_sweep      the layer as the model runs it (nn/lstm_sweep.py: masks and the residuals its
                  backward needs), forward only
  lstm_sweep f+b  forward and the hand-written backward (3 x the forward's FLOPs)
Last line: `key=value` pairs (scripts): matmul_flops_s and <row>_fraction for projection,
recurrent, gates, sweep, sweep_grad.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
from bench_synthesis import timed  # beside this script: sys.path[0]

from handwriting.nn import gates
from handwriting.nn.lstm_sweep import sweep


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="a small shape for a smoke run")
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  B, H, T, n = (8, 64, 50, 512) if args.quick else (32, 400, 700, 2048)
  keys = jax.random.split(jax.random.key(0), 6)
  a, b = jax.random.normal(keys[0], (2, n, n), jnp.float32)
  mm = jax.jit(jnp.matmul)
  peak = 2.0 * n ** 3 / timed(lambda: mm(a, b), args.repeats, best=True)

  w_x = jax.random.normal(keys[1], (H, 4 * H)) * H ** -0.5
  w_h = jax.random.normal(keys[2], (H, 4 * H)) * H ** -0.5
  w_c = jax.random.normal(keys[3], (3, H)) * 0.1
  inputs_TBxH = jax.random.normal(keys[4], (T * B, H))
  xproj = jax.random.normal(keys[5], (T, B, 4 * H))
  valid = jnp.ones((T, B, 1))
  h0 = jnp.zeros((B, H))

  def recurrent_only(w_h, xproj):
    def body(h, x):
      h = (x + h @ w_h)[:, :H] * 0.5
      return h, h
    return jax.lax.scan(body, h0, xproj)[1]

  def with_gates(w_h, xproj):
    def body(carry, x):
      h, c = carry
      h, acts = gates.forward(x + h @ w_h, c, w_c)
      return (h, acts.c), h
    return jax.lax.scan(body, (h0, h0), xproj)[1]

  def layer(w_h, xproj):
    return sweep(10.0, w_h, w_c, xproj, valid, h0, h0)[0]

  def layer_grad(w_h, xproj):
    return jax.grad(lambda w, x: jnp.sum(layer(w, x)), argnums=(0, 1))(w_h, xproj)

  loop_flops = 2.0 * T * B * H * 4 * H
  rows = [
    ("projection", "projection", jax.jit(lambda x: x @ w_x), (inputs_TBxH,), loop_flops),
    ("recurrent only", "recurrent", jax.jit(recurrent_only), (w_h, xproj), loop_flops),
    ("+ LSTM gates", "gates", jax.jit(with_gates), (w_h, xproj), loop_flops),
    ("lstm_sweep", "sweep", jax.jit(layer), (w_h, xproj), loop_flops),
    ("lstm_sweep f+b", "sweep_grad", jax.jit(layer_grad), (w_h, xproj), 3.0 * loop_flops),
  ]
  print(f"B={B} H={H} T={T}; matmul peak {peak / 1e9:.1f} GFLOP/s (n={n}), "
        f"{jax.devices()[0].device_kind}")
  kv = {"matmul_flops_s": f"{peak:.6g}"}
  for name, key, fn, fn_args, flops in rows:
    seconds = timed(lambda fn=fn, fn_args=fn_args: fn(*fn_args), args.repeats, best=True)
    fraction = flops / seconds / peak
    print(f"{name:<16} {seconds * 1e3:9.1f} ms  {fraction:6.3f} of peak")
    kv[f"{key}_fraction"] = f"{fraction:.4g}"
  print(" ".join(f"{k}={v}" for k, v in kv.items()))


if __name__ == "__main__":
  main()
