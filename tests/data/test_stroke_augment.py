"""Stroke distortions for the online reader's training (data/stroke_augment.py)."""

from __future__ import annotations

import numpy as np
import pytest

from handwriting.data.stroke_augment import StrokeJitter, distort
from handwriting.data.strokes import normalize, offsets_to_strokes

MEAN, STD = np.array([2.0, -1.0], np.float32), np.array([10.0, 8.0], np.float32)


def _line() -> np.ndarray:
  rng = np.random.default_rng(0)
  raw = np.zeros((40, 3), np.float32)
  raw[1:, :2] = rng.normal(3, 5, size=(39, 2))
  raw[[9, 24, 39], 2] = 1.0  # three strokes
  return normalize(raw, MEAN, STD)


def _fixed(**kw) -> StrokeJitter:
  none = {"log_scale": (0.0, 0.0), "aspect": (0.0, 0.0), "slant": (0.0, 0.0), "speed": (1.0, 1.0)}
  return StrokeJitter(**{**none, **{k: (v, v) for k, v in kw.items()}})


def _points(norm: np.ndarray) -> np.ndarray:
  raw = norm.copy()
  raw[:, :2] = raw[:, :2] * STD + MEAN
  return np.concatenate(offsets_to_strokes(raw))


def test_no_distortion_gives_the_line_back():
  line = _line()
  np.testing.assert_allclose(distort(line, MEAN, STD, np.random.default_rng(1), _fixed()), line,
                             atol=1e-4)


def test_scale_and_slant_are_the_affine_map():
  line, a = _line(), 0.2
  got = _points(distort(line, MEAN, STD, np.random.default_rng(1), _fixed(log_scale=0.1,
                                                                         slant=a)))
  p = _points(line)
  s = np.exp(0.1)
  want = np.stack([s * p[:, 0] + np.tan(a) * s * p[:, 1], s * p[:, 1]], 1)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-2)


def test_speed_resamples_each_stroke_and_keeps_the_pen_lifts():
  line = _line()
  fast = distort(line, MEAN, STD, np.random.default_rng(1), _fixed(speed=2.0))
  assert len(fast) == 5 + 8 + 8  # strokes of 10, 15, 15 points -> 5, 8 (7.5), 8
  assert fast[:, 2].sum() == 3 and fast[-1, 2] == 1
  def ends(norm: np.ndarray) -> np.ndarray:  # last point of each stroke, data units
    raw = norm.copy()
    raw[:, :2] = raw[:, :2] * STD + MEAN
    return np.stack([s[-1] for s in offsets_to_strokes(raw)])
  np.testing.assert_allclose(ends(fast), ends(line), atol=1e-2)  # stroke ends kept


def test_random_draws_stay_in_range():
  line = _line()
  for seed in range(20):
    out = distort(line, MEAN, STD, np.random.default_rng(seed))
    assert np.isfinite(out).all() and out[:, 2].sum() == 3
    assert 0.7 * len(line) <= len(out) <= 1.3 * len(line)


@pytest.fixture(scope="module")
def online_folder(tmp_path_factory):
  from handwriting.data import synthetic
  out = tmp_path_factory.mktemp("syn") / "data"
  synthetic.prepare(str(out), lines=24, seed=0)
  return out


def test_the_pipeline_distorts_training_batches_only(online_folder):
  from handwriting.recognition.configs import get_config
  from handwriting.recognition.task import RecognitionTask
  cfg = get_config("tiny", "online")
  cfg.data, cfg.batch_size = str(online_folder), 4
  plain = RecognitionTask(cfg)
  cfg.augment = True
  jittered, again = RecognitionTask(cfg), RecognitionTask(cfg)
  a, b, c = plain.train_batch(3), jittered.train_batch(3), again.train_batch(3)
  assert a["inputs"].shape != b["inputs"].shape or not np.allclose(a["inputs"], b["inputs"])
  np.testing.assert_array_equal(b["inputs"], c["inputs"])  # fixed by (seed, step): resumable
  np.testing.assert_array_equal(a["labels"], b["labels"])
  for x, y in zip(plain.eval_batches(), jittered.eval_batches()):
    np.testing.assert_array_equal(x["inputs"], y["inputs"])
