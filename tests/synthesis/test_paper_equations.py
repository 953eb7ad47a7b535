"""The synthesis network against Graves 2013 itself: an independent NumPy reference of eqs 46-55
(tests/synthesis/numpy_reference.py), the biased sampling of eqs 61-62 with hand-derived numbers,
priming (section 5.5) and the per-sequence objective (eq 26) with its derivative clipping."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from handwriting.synthesis import mdn
from handwriting.synthesis.loss import sequence_loss
from handwriting.synthesis.model import HandwritingNet
from handwriting.synthesis.sample import sample
from tests.synthesis import numpy_reference as ref

H, V, M, K, L = 5, 6, 3, 2, 3


def _net(output_clip=None, lstm_clip=None, seed=0, num_layers=L):
  net = HandwritingNet(num_layers=num_layers, hidden_size=H, num_mixtures=M, alphabet_size=V,
                       window_size=K, output_clip=output_clip, lstm_clip=lstm_clip,
                       kappa_scale=4.0, rngs=nnx.Rngs(seed))
  # Weights of a trained network's scale, so that every path (window, peepholes, skip
  # connections) moves the outputs visibly: random draws instead of the small initial ones.
  rng = np.random.default_rng(seed)
  leaves, treedef = jax.tree.flatten(nnx.state(net, nnx.Param))
  nnx.update(net, jax.tree.unflatten(treedef, [
    jnp.asarray(rng.normal(0, 0.5, leaf.shape), jnp.float32) for leaf in leaves]))
  return net


@pytest.fixture(scope="module")
def case():
  net = _net()
  rng = np.random.default_rng(1)
  T = 7
  ink = np.concatenate([np.zeros((1, 3)), np.c_[rng.normal(0, 1, (T - 1, 2)),
                                               rng.random(T - 1) < 0.3]]).astype(np.float32)
  chars = np.array([3, 1, 4, 1, 5], np.int32)  # labels 1..V-1; 0 is padding
  text_UxV = np.eye(V)[chars]
  return net, ink, chars, text_UxV


def test_forward_matches_the_numpy_reference_of_eqs_46_to_54(case):
  net, ink, chars, text = case
  want = ref.forward(ref.weights(net), ink.astype(np.float64), text)
  y, _, _ = net(jnp.asarray(ink[None]), jnp.asarray(chars[None]))  # the training path
  np.testing.assert_allclose(np.asarray(y[0]), want, rtol=2e-4, atol=2e-5)
  # The sampling path, one step at a time, agrees with the same reference.
  state, onehot = net.initial_state(1), net.one_hot(jnp.asarray(chars[None]))
  for t in range(len(ink)):
    state, y_t, _ = net.step(state, jnp.asarray(ink[None, t]), onehot)
    np.testing.assert_allclose(np.asarray(y_t[0]), want[t], rtol=2e-4, atol=2e-5)


def test_loss_is_the_reference_eq_26_with_the_input_shifted(case):
  net, ink, chars, text = case
  want = ref.sequence_nll(ref.weights(net), ink.astype(np.float64), text)
  batch = {"ink": jnp.asarray(ink[None]), "mask": jnp.ones((1, len(ink))),
           "chars": jnp.asarray(chars[None]), "weight": jnp.ones(1)}
  loss, metrics = sequence_loss(net, batch, None)
  np.testing.assert_allclose(float(loss), want, rtol=1e-4)  # nats per sequence, one sequence
  assert float(metrics["nll_per_point"][1]) == len(ink) - 1
  # Scoring each row given the network's reading of that same row (no shift) is another number.
  y = ref.forward(ref.weights(net), ink.astype(np.float64), text)
  unshifted = sum(ref.point_nll(y[t], ink[t]) for t in range(1, len(ink)))
  assert abs(unshifted - want) > 0.1


def test_biased_mixture_of_eqs_61_62_by_hand():
  # M = 2: pi_hat = (0, ln 2), sigma_hat = ln 3 for both coordinates, bias b = 1.
  # eq 61: pi = softmax(pi_hat (1 + b)) = softmax(0, 2 ln 2) = (1/5, 4/5)
  # eq 62: sigma = exp(sigma_hat - b) = 3 / e
  y = np.zeros(1 + 6 * 2, np.float32)
  y[1:3] = [0.0, math.log(2.0)]
  y[7:11] = math.log(3.0)
  mix = mdn.split_outputs(jnp.asarray(y), bias=1.0)
  np.testing.assert_allclose(np.exp(np.asarray(mix.log_pi)), [0.2, 0.8], rtol=1e-6)
  np.testing.assert_allclose(np.exp(np.asarray(mix.log_sigma)), np.full((2, 2), 3 / math.e),
                             rtol=1e-6)
  unbiased = mdn.split_outputs(jnp.asarray(y))
  np.testing.assert_allclose(np.exp(np.asarray(unbiased.log_pi)), [1 / 3, 2 / 3], rtol=1e-6)


def test_biased_sampling_draws_components_and_spreads_as_eqs_61_62():
  # Two components far apart (mu1 = -10 and +10), sigma_hat = ln 0.5, no correlation, e_hat = 0.
  # With b = 1 the second component is drawn with probability 4/5 (as above) and each draw has
  # standard deviation 0.5 / e around its mean.
  y = np.zeros(1 + 6 * 2, np.float32)
  y[1:3] = [0.0, math.log(2.0)]
  y[3:5] = [-10.0, 10.0]
  y[7:11] = math.log(0.5)
  n = 20_000
  draws = np.asarray(mdn.sample(jax.random.key(0), jnp.asarray(np.tile(y, (n, 1))), 1.0))
  second = draws[:, 0] > 0
  assert abs(second.mean() - 0.8) < 0.015  # binomial sd 0.003
  np.testing.assert_allclose(draws[second, 0].std(), 0.5 / math.e, rtol=0.05)
  np.testing.assert_allclose(draws[:, 1].std(), 0.5 / math.e, rtol=0.05)
  assert abs(draws[:, 2].mean() - 0.5) < 0.02  # e = 1 / (1 + exp(0))


@pytest.fixture(scope="module")
def primed():
  """A trained-scale net writing the same text after two different primes, same key."""
  net = _net(seed=3)
  rng = np.random.default_rng(4)
  style_text, text = [2, 5, 1], [3, 4]
  primes = []
  for _ in range(2):
    p = np.c_[rng.normal(0, 1, (30, 2)), rng.random(30) < 0.2].astype(np.float32)
    p[0] = 0.0
    primes.append(p)
  chars = [np.array(style_text + text, np.int32)]
  out = [sample(net, jax.random.key(7), np.zeros(3, np.float32), chars=chars, max_steps=60,
                prime_ink=p) for p in primes]
  return net, primes, chars, out


def test_priming_clamps_the_inputs_and_reads_the_style_text_first(primed):
  net, primes, chars, out = primed
  s, prime = out[0], primes[0]
  P = len(prime)
  np.testing.assert_array_equal(np.asarray(s.ink_BxNx3[0, :P]), prime)  # inputs clamped
  assert int(s.prime_B[0]) == P
  # The window of the clamped steps is the network's own reading of the prime: a teacher-forced
  # pass over the prime rows with the style text + text gives the same phi.
  _, trace, _ = net(jnp.asarray(prime[None]), jnp.asarray(chars[0][None]))
  np.testing.assert_allclose(np.asarray(s.phi_BxNxU[0, :P - 1, :len(chars[0])]),
                             np.asarray(trace.phi_BxTxU[0, :P - 1]), rtol=1e-4, atol=1e-6)


def test_end_of_text_is_off_while_the_input_is_clamped():
  # A window that moves 3 characters a step, alpha = beta = 1 whatever h^1 (eqs 48-51): past the
  # end of a 2-character text (position 3) after one step. Unprimed, the line stops after its
  # first step; primed, it runs at least through the prime.
  net = _net(seed=5)
  net.window_out.kernel.set_value(jnp.zeros_like(net.window_out.kernel.get_value()))
  bias = jnp.zeros(3 * K).at[2 * K:].set(math.log(3.0 * 4.0))  # exp(kappa_hat) / kappa_scale 4
  net.window_out.bias.set_value(bias)
  chars = [np.array([1, 2], np.int32)]
  free = sample(net, jax.random.key(0), np.zeros(3, np.float32), chars=chars, max_steps=50)
  assert int(free.mask_BxN[0].sum()) == 2  # start row + one drawn row, then finished
  prime = np.zeros((12, 3), np.float32)
  primed = sample(net, jax.random.key(0), np.zeros(3, np.float32), chars=chars, max_steps=50,
                  prime_ink=prime)
  assert int(primed.mask_BxN[0].sum()) >= 12


def test_output_after_the_prime_depends_on_the_prime(primed):
  _, primes, _, out = primed
  P = len(primes[0])
  a, b = (np.asarray(s.ink_BxNx3[0, P:P + 10]) for s in out)
  # Same key, same text: only the state the prime left differs.
  assert np.abs(a[:, :2] - b[:, :2]).max() > 1e-3


def _per_sequence_case(seed=0):
  net = _net(output_clip=0.05, lstm_clip=None, seed=seed, num_layers=1)  # one layer: compiles fast
  rng = np.random.default_rng(seed)
  B, T = 3, 9
  ink = np.concatenate([rng.normal(0, 2, (B, T, 2)), (rng.random((B, T, 1)) < 0.3)],
                       axis=-1).astype(np.float32)
  ink[:, 0] = 0.0
  mask = np.ones((B, T), np.float32)
  mask[1, 6:] = 0.0  # a shorter line
  chars = rng.integers(1, V, (B, 4)).astype(np.int32)
  return net, {"ink": jnp.asarray(ink), "mask": jnp.asarray(mask), "chars": jnp.asarray(chars),
               "weight": jnp.ones(B)}


def _grad_fn(net, objective="sequence"):
  """batch -> the parameters' gradients as a list, jitted once per network."""
  graphdef, params, rest = nnx.split(net, nnx.Param, ...)
  fn = lambda p, b: sequence_loss(nnx.merge(graphdef, p, rest), b, None, objective)[0]
  grad = jax.jit(jax.grad(fn))
  return lambda batch: jax.tree.leaves(grad(params, batch))


def test_sequence_objective_is_the_mean_of_per_sequence_clipped_gradients():
  # Graves trains on one sequence at a time and clips each sequence's own derivatives. Our
  # batch loss (sum of each line's NLL over time, eq 26, averaged over lines) must give the mean
  # of those per-line clipped gradients, with an output clip tight enough to bind.
  net, batch = _per_sequence_case()
  grads = _grad_fn(net)
  got = grads(batch)
  # Line b alone: the same batch with only b weighing (one compiled shape for all).
  per_line = [grads({**batch, "weight": jnp.eye(3)[b]}) for b in range(3)]
  want = [sum(g[i] for g in per_line) / 3 for i in range(len(got))]
  for g, w in zip(got, want):
    np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-6)
  # The clip binds here: without it the gradient is another one.
  unclipped = nnx.clone(net)
  unclipped.output_clip = None
  other = _grad_fn(unclipped)(batch)
  assert max(float(jnp.abs(a - b).max()) for a, b in zip(got, other)) > 1e-3
