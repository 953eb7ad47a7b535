"""`inference.write(..., retries=N)`: a line whose window stalled (cut by stall detection, or at the
step cap) is written again with fresh noise; finished lines keep their first draw, and the CLI and API agree on the
default."""

import jax
import numpy as np
import pytest
from flax import nnx

from handwriting.api import writer as api_writer
from handwriting.cli import _common
from handwriting.data.alphabet import Alphabet
from handwriting.synthesis import inference
from handwriting.synthesis.configs import get_config
from handwriting.synthesis.spec import ModelSpec
from tests.synthesis.windows import FROZEN, pace_window

CAP = 24


@pytest.fixture(scope="module")
def tiny():
  config = get_config("tiny", "synthesis")
  spec = ModelSpec(config, Alphabet("abc "), np.zeros(2, np.float32), np.ones(2, np.float32))
  return spec.init_model(nnx.Rngs(0)), spec


def _scripted(monkeypatch, finish_after):
  """inference.sample with the real draws, but line b is cut at the cap (unfinished) until
  call finish_after[b] (0-based), from which it ends after 5 rows. Records each call's key."""
  calls = []
  real = inference.sample

  def fake(model, key, start, **kw):
    s = real(model, key, start, **kw)
    mask = np.zeros(np.shape(s.mask_BxN), np.float32)
    for b, first in enumerate(finish_after):
      mask[b, :5 if len(calls) >= first else CAP] = 1.0
    calls.append(np.asarray(jax.random.key_data(key)))
    return s._replace(mask_BxN=mask)
  monkeypatch.setattr(inference, "sample", fake)
  return calls


def test_unfinished_lines_are_rewritten_with_new_noise(tiny, monkeypatch):
  model, spec = tiny
  calls = _scripted(monkeypatch, finish_after=[0, 1, 2])
  first = inference.write(model, spec, ["ab", "ba", "cab"], key=jax.random.key(3),
                          max_steps=CAP, retries=0)
  assert [w.finished for w in first] == [True, False, False] and len(calls) == 1
  calls.clear()
  out = inference.write(model, spec, ["ab", "ba", "cab"], key=jax.random.key(3), max_steps=CAP,
                        retries=3)
  assert [w.finished for w in out] == [True, True, True]
  assert len(calls) == 3  # stops once every line finished, not after all 3 retries
  assert not np.array_equal(calls[0], calls[1]) and not np.array_equal(calls[1], calls[2])
  # Line 0 keeps the first draw (the same as without retries), lines 1 and 2 the later ones.
  np.testing.assert_array_equal(out[0].ink_Nx3, first[0].ink_Nx3)
  assert [len(w.ink_Nx3) for w in out] == [5, 5, 5]


def test_a_line_that_never_finishes_stays_unfinished(tiny, monkeypatch):
  model, spec = tiny
  calls = _scripted(monkeypatch, finish_after=[0, 99])
  out = inference.write(model, spec, ["ab", "ba"], key=jax.random.key(0), max_steps=CAP,
                        retries=2)
  assert len(calls) == 3 and [w.finished for w in out] == [True, False]
  assert len(out[1].ink_Nx3) == CAP
  with pytest.raises(ValueError, match="retries"):
    inference.write(model, spec, ["ab"], key=jax.random.key(0), max_steps=CAP, retries=-1)


def test_cli_and_api_defaults_agree():
  assert _common.DEFAULT_RETRIES == api_writer.DEFAULT_RETRIES
  assert _common.DEFAULT_BIAS == api_writer.DEFAULT_BIAS
  assert _common.DEFAULT_WIDTH == api_writer.DEFAULT_WIDTH


def test_a_stalled_line_is_cut_unfinished_and_rewritten(tiny, monkeypatch):
  # The real sampler with a window that cannot move (kappa's increments exp(-30)): every draw
  # stalls, so each is cut after stall_steps and counts as unfinished, well before the cap.
  model, spec = tiny
  stuck = pace_window(nnx.clone(model), FROZEN)
  calls = []
  real = inference.sample
  monkeypatch.setattr(inference, "sample", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
  out = inference.write(stuck, spec, ["abc", "cab"], key=jax.random.key(1), max_steps=200,
                        retries=2, stall_steps=6)
  assert [w.finished for w in out] == [False, False] and len(calls) == 3
  assert [len(w.ink_Nx3) for w in out] == [8, 8]  # rows 0..7: stopped at step 6
  assert all(kw["stall_steps"] == 6 for kw in calls)
  free = inference.write(stuck, spec, ["abc"], key=jax.random.key(1), max_steps=200,
                         stall_steps=None)
  assert not free[0].finished and len(free[0].ink_Nx3) == 200  # without detection: the cap


def test_a_line_that_never_finishes_keeps_the_draw_that_got_furthest(tiny, monkeypatch):
  # Every draw is cut at the cap; the window's weight peaks at character 1, then 3, then 2 of
  # "cab ba" in the three calls: the second call's draw is kept.
  model, spec = tiny
  real, inks = inference.sample, []

  def fake(model, key, start, **kw):
    s = real(model, key, start, **kw)
    phi = np.zeros(np.shape(s.phi_BxNxU), np.float32)
    phi[0, :, 0] = 1.0
    phi[0, 5, [1, 3, 2][len(inks)]] = 2.0
    inks.append(np.asarray(s.ink_BxNx3)[0])
    return s._replace(mask_BxN=np.ones(np.shape(s.mask_BxN), np.float32), phi_BxNxU=phi)
  monkeypatch.setattr(inference, "sample", fake)
  out, = inference.write(model, spec, ["cab ba"], key=jax.random.key(2), max_steps=CAP, retries=2)
  assert not out.finished and len(inks) == 3
  np.testing.assert_array_equal(out.ink_Nx3[1:], inks[1][1:CAP])
  assert not np.array_equal(inks[1][1:CAP], inks[0][1:CAP])
