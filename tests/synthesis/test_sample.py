import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from handwriting.synthesis.model import HandwritingNet
from handwriting.synthesis.sample import sample
from tests.synthesis.windows import FROZEN, pace_window

START = np.zeros(3, np.float32)


@pytest.fixture(scope="module")
def net():
  model = HandwritingNet(num_layers=2, hidden_size=8, num_mixtures=3, alphabet_size=6,
                         window_size=2, rngs=nnx.Rngs(0))
  # Window weights zero, biases zero: alpha = beta = 1 and kappa grows by exactly 1 a step,
  # so kappa = t + 1 after step t and the text of length L ends at step t = L (section 5.3).
  model.window_out.kernel[...] = jnp.zeros_like(model.window_out.kernel[...])
  model.window_out.bias[...] = jnp.zeros_like(model.window_out.bias[...])
  return model


def test_end_of_text_stops_each_line_at_its_own_length(net):
  texts = [np.array([1, 2]), np.array([1, 2, 3, 4, 5, 1])]
  s = sample(net, jax.random.key(0), START, chars=texts, max_steps=50)
  # Steps t = 0..L run (L + 1 outputs after the start row).
  np.testing.assert_array_equal(np.asarray(s.mask_BxN).sum(1), [2 + 2, 6 + 2])
  assert np.all(np.asarray(s.ink_BxNx3)[0, 4:] == 0)


def test_step_cap_when_text_never_ends(net):
  s = sample(net, jax.random.key(0), START, chars=[np.arange(1, 6).repeat(4)], max_steps=10)
  assert int(np.asarray(s.mask_BxN).sum()) == 10


def test_bias_shrinks_variance(net):
  texts = [np.array([1, 2, 3, 4, 5] * 8)] * 16
  spread = []
  for bias in (0.0, 4.0):
    s = sample(net, jax.random.key(1), START, chars=texts, bias=bias, max_steps=20)
    spread.append(float(np.std(np.asarray(s.ink_BxNx3)[:, 1:, :2])))
  assert spread[1] < 0.3 * spread[0]


def test_priming_clamps_inputs_to_the_style_strokes(net):
  rng = np.random.default_rng(0)
  prime = np.concatenate([rng.normal(size=(5, 2)), rng.integers(0, 2, (5, 1))], -1)
  prime = prime.astype(np.float32)
  texts = [np.array([1, 2, 3, 4, 5, 6, 1, 2, 3, 4]), np.array([1, 2, 3, 4, 5, 6, 2])]
  s = sample(net, jax.random.key(2), START, chars=texts, max_steps=30, prime_ink=prime)
  ink = np.asarray(s.ink_BxNx3)
  np.testing.assert_array_equal(ink[0, :5], prime)
  np.testing.assert_array_equal(ink[1, :5], prime)
  assert not np.allclose(ink[0, 5], ink[1, 5])  # free-running after the prime


def test_prediction_network_samples_unconditionally():
  model = HandwritingNet(num_layers=1, hidden_size=4, num_mixtures=2, rngs=nnx.Rngs(1))
  s = sample(model, jax.random.key(3), START, max_steps=12)
  assert s.ink_BxNx3.shape == (1, 12, 3) and int(np.asarray(s.mask_BxN).sum()) == 12
  assert set(np.unique(np.asarray(s.ink_BxNx3)[0, 1:, 2])) <= {0.0, 1.0}


def test_empty_text_is_an_error(net):
  with pytest.raises(ValueError, match="non-empty text"):
    sample(net, jax.random.key(0), START, chars=[np.array([], np.int32)])


def test_padded_shapes_change_no_result_and_share_one_compilation():
  # The unpadded loop (shapes exactly the request's) against `sample`, which rounds the text,
  # prime and step shapes up to buckets: same draws, same lines, same window weights.
  from handwriting.synthesis import sample as sample_lib
  model = HandwritingNet(num_layers=2, hidden_size=8, num_mixtures=3, alphabet_size=6,
                         window_size=2, rngs=nnx.Rngs(4))
  rng = np.random.default_rng(1)
  prime = np.concatenate([rng.normal(size=(7, 2)), rng.integers(0, 2, (7, 1))], -1)
  prime = prime.astype(np.float32)
  texts = [np.array([1, 2, 3]), np.array([4, 5, 1, 2, 3])]
  key = jax.random.key(5)
  s = sample(model, key, START, chars=texts, max_steps=40, prime_ink=prime, bias=0.5)
  chars = np.zeros((2, 6), np.int32)
  chars[0, :3], chars[1, :5] = texts
  graphdef, params = nnx.split(model)
  ink, mask, phi, _ = sample_lib._run(
    graphdef, params, key, jnp.asarray(np.stack([prime[0]] * 2)), jnp.asarray(chars),
    jnp.asarray([3, 5], jnp.int32), jnp.asarray(np.stack([prime] * 2)),
    jnp.asarray([7, 7], jnp.int32), jnp.float32(0.5), jnp.int32(40),
    jnp.int32(sample_lib.STALL_STEPS), 40)
  np.testing.assert_allclose(np.asarray(s.ink_BxNx3), np.asarray(ink), atol=1e-5)
  np.testing.assert_array_equal(np.asarray(s.mask_BxN), np.asarray(mask))
  np.testing.assert_allclose(np.asarray(s.phi_BxNxU)[:, :, :6], np.asarray(phi), atol=1e-5)
  assert s.ink_BxNx3.shape[1] == 40 and s.cap == 40
  before = sample_lib._run._cache_size()
  sample(model, key, START, chars=[np.array([1, 2, 3, 4])] * 2, max_steps=50,
         prime_ink=prime[:5])  # other lengths, the same buckets: no new compilation
  assert sample_lib._run._cache_size() == before


@pytest.fixture(scope="module")
def stuck():
  """A window that never moves: kappa's increments exp(-30) ~ 0, so phi's most-weighted position
  stays the first character at every step (a stalled line)."""
  model = HandwritingNet(num_layers=2, hidden_size=8, num_mixtures=3, alphabet_size=6,
                         window_size=2, rngs=nnx.Rngs(0))
  return pace_window(model, FROZEN)


def test_a_stalled_window_stops_its_line_after_stall_steps(stuck, net):
  texts = [np.array([1, 2, 3, 4, 5])] * 2
  s = sample(stuck, jax.random.key(0), START, chars=texts, max_steps=60, stall_steps=7)
  # Step 0 sets the furthest position; steps 1..7 do not pass it: stopped at step t = 7, so the
  # line has rows 0..8, like end-of-text at the same step.
  np.testing.assert_array_equal(np.asarray(s.mask_BxN).sum(1), [9, 9])
  np.testing.assert_array_equal(np.asarray(s.stalled_B), [True, True])
  off = sample(stuck, jax.random.key(0), START, chars=texts, max_steps=60, stall_steps=None)
  np.testing.assert_array_equal(np.asarray(off.mask_BxN).sum(1), [60, 60])  # to the cap
  assert not np.asarray(off.stalled_B).any()
  np.testing.assert_array_equal(np.asarray(off.ink_BxNx3)[:, :9], np.asarray(s.ink_BxNx3)[:, :9])
  # A window that reaches a new character every step never stalls, even at stall_steps=1.
  moving = sample(net, jax.random.key(0), START, chars=texts, max_steps=60, stall_steps=1)
  np.testing.assert_array_equal(np.asarray(moving.mask_BxN).sum(1), [7, 7])
  assert not np.asarray(moving.stalled_B).any()
  with pytest.raises(ValueError, match="stall_steps"):
    sample(net, jax.random.key(0), START, chars=texts, stall_steps=0)


def test_no_stall_is_counted_while_the_input_is_clamped_to_a_prime(stuck):
  prime = np.zeros((12, 3), np.float32)
  s = sample(stuck, jax.random.key(3), START, chars=[np.array([1, 2, 3])], max_steps=60,
             prime_ink=prime, stall_steps=4)
  # Clamped while t + 1 < 12 (t = 0..10); the count is 1 at t = 11 and 4 at t = 14: rows 0..15.
  assert int(np.asarray(s.mask_BxN).sum()) == 16 and bool(np.asarray(s.stalled_B)[0])
