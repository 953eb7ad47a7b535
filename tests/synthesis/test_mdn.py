import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.stats import multivariate_normal

from handwriting.synthesis import mdn

M = 3


def _random_outputs(rng, shape):
  return rng.normal(size=shape + (mdn.output_size(M),)).astype(np.float64)


def _reference_nll(y_hat, target):
  """Eq 26 evaluated directly with SciPy densities, one step at a time."""
  e_hat, pi_hat = y_hat[0], y_hat[1:1 + M]
  mu1, mu2 = y_hat[1 + M:1 + 2 * M], y_hat[1 + 2 * M:1 + 3 * M]
  s1, s2 = np.exp(y_hat[1 + 3 * M:1 + 4 * M]), np.exp(y_hat[1 + 4 * M:1 + 5 * M])
  rho = np.tanh(y_hat[1 + 5 * M:])
  pi = np.exp(pi_hat) / np.exp(pi_hat).sum()
  e = 1.0 / (1.0 + np.exp(e_hat))  # Graves' eq 18
  density = 0.0
  for j in range(M):
    cov = [[s1[j] ** 2, rho[j] * s1[j] * s2[j]], [rho[j] * s1[j] * s2[j], s2[j] ** 2]]
    density += pi[j] * multivariate_normal(mean=[mu1[j], mu2[j]], cov=cov).pdf(target[:2])
  bern = e if target[2] == 1 else 1 - e
  return -np.log(density) - np.log(bern)


def test_nll_matches_scipy_density():
  rng = np.random.default_rng(0)
  y_hat = _random_outputs(rng, (2, 4))
  target = np.concatenate([rng.normal(size=(2, 4, 2)), rng.integers(0, 2, (2, 4, 1))], -1)
  with jax.enable_x64(True):
    got = np.asarray(mdn.nll_per_step(jnp.asarray(y_hat), jnp.asarray(target)))
  want = np.array([[_reference_nll(y_hat[b, t], target[b, t]) for t in range(4)]
                   for b in range(2)])
  np.testing.assert_allclose(got, want, rtol=1e-9)


def test_sequence_nll_masks_padding_and_sums_steps():
  rng = np.random.default_rng(1)
  y_hat = jnp.asarray(_random_outputs(rng, (2, 5)), jnp.float32)
  target = jnp.asarray(np.concatenate([rng.normal(size=(2, 5, 2)), np.zeros((2, 5, 1))], -1),
                       jnp.float32)
  mask = jnp.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], jnp.float32)
  per_step = mdn.nll_per_step(y_hat, target)
  got = mdn.sequence_nll(y_hat, target, mask)
  np.testing.assert_allclose(got, [per_step[0, :3].sum(), per_step[1].sum()], rtol=1e-6)
  # Garbage (even NaN-free huge values) in padded steps changes nothing.
  y_pad = y_hat.at[0, 3:].set(1e30)
  np.testing.assert_allclose(mdn.sequence_nll(y_pad, target, mask), got, rtol=1e-6)


def test_gradients_match_finite_differences():
  rng = np.random.default_rng(2)
  with jax.enable_x64(True):
    y_hat = jnp.asarray(_random_outputs(rng, (3,)))
    target = jnp.asarray(np.concatenate([rng.normal(size=(3, 2)), [[1.0], [0.0], [1.0]]], -1))
    check_grads(lambda y: mdn.nll_per_step(y, target).sum(), (y_hat,), order=1, modes=["rev"])


@pytest.mark.parametrize("scale", [1e2, 1e4, 1e8])
def test_finite_loss_and_gradient_for_extreme_inputs(scale):
  rng = np.random.default_rng(3)
  y_hat = jnp.asarray(scale * rng.normal(size=(6, mdn.output_size(M))), jnp.float32)
  target = jnp.asarray(np.concatenate([scale * rng.normal(size=(6, 2)),
                                       rng.integers(0, 2, (6, 1))], -1), jnp.float32)
  loss, grad = jax.value_and_grad(lambda y: mdn.nll_per_step(y, target).sum())(y_hat)
  assert not np.isnan(loss) and np.all(np.isfinite(np.asarray(grad)))
  mix = mdn.split_outputs(y_hat)
  assert np.all(np.abs(np.asarray(mix.rho)) < 1.0)


def test_bias_shrinks_sample_spread():
  rng = np.random.default_rng(4)
  y_hat = jnp.asarray(np.tile(_random_outputs(rng, ())[None], (4000, 1)), jnp.float32)
  key = jax.random.key(0)
  spread = [float(jnp.std(mdn.sample(key, y_hat, bias)[:, :2])) for bias in (0.0, 3.0)]
  assert spread[1] < 0.5 * spread[0]


def test_sample_matches_mixture_moments():
  # One component with known mean, sigmas and correlation: sample moments agree.
  y = np.zeros(mdn.output_size(1), np.float32)
  y[0] = 1.0  # e = sigmoid(-1)
  y[2], y[3] = 0.5, -1.0  # mu
  y[4], y[5] = np.log(2.0), np.log(0.5)  # sigma
  y[6] = np.arctanh(0.6)
  x = np.asarray(mdn.sample(jax.random.key(1), jnp.tile(jnp.asarray(y)[None], (20000, 1))))
  np.testing.assert_allclose(x[:, :2].mean(0), [0.5, -1.0], atol=0.05)
  np.testing.assert_allclose(x[:, :2].std(0), [2.0, 0.5], rtol=0.05)
  np.testing.assert_allclose(np.corrcoef(x[:, 0], x[:, 1])[0, 1], 0.6, atol=0.03)
  np.testing.assert_allclose(x[:, 2].mean(), 1 / (1 + np.e), atol=0.02)


def test_mixture_mean_and_sse():
  y = np.zeros((1, 1, mdn.output_size(2)), np.float32)
  y[..., 1:3] = [0.0, np.log(3.0)]  # pi = (1/4, 3/4)
  y[..., 3:5] = [4.0, 0.0]  # mu1 of the two components
  y[..., 5:7] = [0.0, 8.0]  # mu2
  np.testing.assert_allclose(mdn.mixture_mean(jnp.asarray(y))[0, 0], [1.0, 6.0], rtol=1e-6)
  target = jnp.array([[[2.0, 4.0, 0.0]]])
  np.testing.assert_allclose(mdn.sequence_sse(jnp.asarray(y), target, jnp.ones((1, 1))), [5.0],
                             rtol=1e-6)
