"""experiments/stall_rate.py counts unfinished lines: every line of a window that cannot move,
none of one that reaches a new character every step."""

import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

from handwriting.data.alphabet import Alphabet
from handwriting.synthesis.configs import get_config
from handwriting.synthesis.spec import ModelSpec

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))
import stall_rate  # experiments/ is not a package: imported from its folder


def test_stalled_and_moving_windows():
  spec = ModelSpec(get_config("tiny", "synthesis"), Alphabet("abc "), np.zeros(2, np.float32),
                   np.ones(2, np.float32))
  model = spec.init_model(nnx.Rngs(0))
  K = model.window_out.bias[...].shape[0] // 3
  model.window_out.kernel[...] = jnp.zeros_like(model.window_out.kernel[...])
  texts = ["abc", "cab ba"]
  # Zero window weights, kappa's bias log(kappa_scale): kappa grows by exactly 1 a step, a new
  # character each step.
  step = float(np.log(model.kappa_scale))  # exp(step) / kappa_scale = 1
  model.window_out.bias[...] = jnp.zeros_like(model.window_out.bias[...]).at[2 * K:].set(step)
  assert stall_rate.unfinished(model, spec, texts, 0.0, 2, 0, 5, max_steps=40)[0] == 0.0
  model.window_out.bias[...] = model.window_out.bias[...].at[2 * K:].set(-30.0)  # kappa frozen
  assert stall_rate.unfinished(model, spec, texts, 0.0, 2, 1, 5, max_steps=40)[0] == 1.0
  assert stall_rate.unfinished(model, spec, texts, 0.0, 1, 0, None, max_steps=40)[0] == 1.0
