"""The learning-rate schedule of make_optimizer, against values worked out by hand."""

import math

import ml_collections
import numpy as np
import pytest

from handwriting.config import ConfigError, validate
from handwriting.train.optim import default_optimizer_config, learning_rate_schedule, make_optimizer


def _cfg(**fields) -> ml_collections.ConfigDict:
  cfg = default_optimizer_config()
  cfg.update(fields)
  return cfg


def test_constant_by_default():
  assert learning_rate_schedule(_cfg(learning_rate=0.01)) == 0.01


def test_cosine_decay_hand_values():
  lr = learning_rate_schedule(_cfg(learning_rate=1.0, decay_steps=100, final_lr_fraction=0.2))
  # lr(t) = f + (1 - f) * (1 + cos(pi t / T)) / 2, then f after T.
  for t, want in [(0, 1.0), (50, 0.6), (100, 0.2), (400, 0.2)]:
    assert float(lr(t)) == pytest.approx(want, abs=1e-6), t
  assert float(lr(25)) == pytest.approx(0.2 + 0.8 * (1 + math.cos(math.pi / 4)) / 2, abs=1e-6)


def test_warmup_then_decay():
  lr = learning_rate_schedule(_cfg(learning_rate=2.0, warmup_steps=10, decay_steps=20,
                                   final_lr_fraction=0.0))
  for t, want in [(0, 0.0), (5, 1.0), (10, 2.0), (20, 1.0), (30, 0.0), (99, 0.0)]:
    assert float(lr(t)) == pytest.approx(want, abs=1e-6), t


def test_sgd_steps_follow_the_schedule():
  tx = make_optimizer(_cfg(name="sgd", momentum=0.0, learning_rate=1.0, decay_steps=2,
                           final_lr_fraction=0.5))
  params = np.zeros(1, np.float32)
  state = tx.init(params)
  steps = []
  for _ in range(3):
    updates, state = tx.update(np.ones(1, np.float32), state, params)
    steps.append(-float(updates[0]))
  assert steps == pytest.approx([1.0, 0.75, 0.5])


def test_bad_fraction_is_refused():
  cfg = ml_collections.ConfigDict({"optimizer": _cfg(final_lr_fraction=1.5)})
  with pytest.raises(ConfigError, match="final_lr_fraction"):
    validate(cfg)
