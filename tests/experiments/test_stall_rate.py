"""experiments/stall_rate.py counts unfinished lines: every line of a window that cannot move,
none of one that reaches a new character every step."""

import sys
from pathlib import Path

import numpy as np
from flax import nnx

from handwriting.data.alphabet import Alphabet
from handwriting.synthesis.configs import get_config
from handwriting.synthesis.spec import ModelSpec
from tests.synthesis.windows import FROZEN, pace_window

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))
import stall_rate  # experiments/ is not a package: imported from its folder


def test_stalled_and_moving_windows():
  spec = ModelSpec(get_config("tiny", "synthesis"), Alphabet("abc "), np.zeros(2, np.float32),
                   np.ones(2, np.float32))
  model = spec.init_model(nnx.Rngs(0))
  texts = ["abc", "cab ba"]
  # kappa_hat = log(kappa_scale): kappa grows by exactly 1 a step, a new character each step.
  pace_window(model, float(np.log(model.kappa_scale)))
  assert stall_rate.unfinished(model, spec, texts, 0.0, 2, 0, 5, max_steps=40)[0] == 0.0
  pace_window(model, FROZEN)
  assert stall_rate.unfinished(model, spec, texts, 0.0, 2, 1, 5, max_steps=40)[0] == 1.0
  assert stall_rate.unfinished(model, spec, texts, 0.0, 1, 0, None, max_steps=40)[0] == 1.0
