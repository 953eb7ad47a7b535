"""Mixture density output layer for pen offsets (Graves 2013, section 4.1, eqs 17-26).

Dimension letters: B batch, T time steps, M mixture components. The network emits
`1 + 6M` numbers per step, ordered [e_hat, pi_hat (M), mu1 (M), mu2 (M), log_sigma1 (M),
log_sigma2 (M), rho_hat (M)]. Everything is computed in log space so that the loss is finite and
differentiable for any finite network output and target.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

# A sigma below e^-10 is far below the pen's resolution in normalised units; the bound keeps
# (x - mu) / sigma finite for any finite x.
LOG_SIGMA_MIN = -10.0
# |rho_hat| <= 6 keeps rho = tanh(rho_hat) strictly inside (-1, 1) in float32 (XLA's tanh
# saturates to 1 near 7.9); |rho| <= 0.99998 is far tighter than any real pen correlation.
RHO_HAT_MAX = 6.0
LOG_2PI = math.log(2.0 * math.pi)


def output_size(num_mixtures: int) -> int:
  return 1 + 6 * num_mixtures


class Mixture(NamedTuple):
  """Mixture parameters per step (eqs 18-22), in log form where that is stable."""

  logit_eos: Array  # ...: e = sigmoid(logit_eos) is the end-of-stroke probability (eq 18)
  log_pi: Array  # ...xM, log softmax (eq 19)
  mu: Array  # ...xMx2 (eq 20)
  log_sigma: Array  # ...xMx2 (eq 21)
  rho_hat: Array  # ...xM, rho = tanh(rho_hat) (eq 22)

  @property
  def rho(self) -> Array:
    return jnp.tanh(self.rho_hat)


def split_outputs(y_hat: Array, bias: float | Array = 0.0) -> Mixture:
  """Network outputs [..., 1+6M] to mixture parameters, with the sampling bias of eqs 61-62.

  Graves writes e = 1 / (1 + exp(e_hat)), i.e. sigmoid(-e_hat); we keep that sign convention so
  `logit_eos = -e_hat`. With bias b: pi = softmax(pi_hat (1 + b)), sigma = exp(sigma_hat - b).
  """
  m = (y_hat.shape[-1] - 1) // 6
  if y_hat.shape[-1] != output_size(m):
    raise ValueError(f"last axis {y_hat.shape[-1]} is not 1 + 6M")
  e_hat, pi_hat, mu1, mu2, ls1, ls2, rho_hat = jnp.split(
    y_hat, [1, 1 + m, 1 + 2 * m, 1 + 3 * m, 1 + 4 * m, 1 + 5 * m], axis=-1)
  log_pi = jax.nn.log_softmax(pi_hat * (1.0 + bias), axis=-1)
  log_sigma = jnp.maximum(jnp.stack([ls1, ls2], axis=-1) - bias, LOG_SIGMA_MIN)
  return Mixture(
    logit_eos=-e_hat[..., 0],
    log_pi=log_pi,
    mu=jnp.stack([mu1, mu2], axis=-1),
    log_sigma=log_sigma,
    rho_hat=jnp.clip(rho_hat, -RHO_HAT_MAX, RHO_HAT_MAX),
  )


def _log_one_minus_rho2(rho_hat: Array) -> Array:
  # 1 - tanh(r)^2 = sech(r)^2 = 4 / (e^r + e^-r)^2, evaluated without cancellation.
  a = jnp.abs(rho_hat)
  return 2.0 * (math.log(2.0) - a - jnp.log1p(jnp.exp(-2.0 * a)))


def component_log_density(mix: Mixture, x_2: Array) -> Array:
  """log N(x | mu_j, sigma_j, rho_j) per component (eqs 24-25); x_2 is [..., 2] -> [..., M]."""
  z = (x_2[..., None, :] - mix.mu) * jnp.exp(-mix.log_sigma)  # ...xMx2
  z1, z2 = z[..., 0], z[..., 1]
  rho = mix.rho
  log_1mr2 = _log_one_minus_rho2(mix.rho_hat)
  # Z / (1 - rho^2) written as a sum of non-negative terms: no inf - inf for huge z.
  quad = jnp.square(z1 - rho * z2) * jnp.exp(-log_1mr2) + jnp.square(z2)
  return -LOG_2PI - mix.log_sigma.sum(-1) - 0.5 * log_1mr2 - 0.5 * quad


def nll_per_step(y_hat: Array, target: Array) -> Array:
  """-log Pr(x_{t+1} | y_t) (eq 26) per step: y_hat [..., 1+6M], target [..., 3] -> [...]."""
  mix = split_outputs(y_hat)
  log_mixture = jax.nn.logsumexp(mix.log_pi + component_log_density(mix, target[..., :2]), -1)
  eos = target[..., 2]
  log_bernoulli = eos * jax.nn.log_sigmoid(mix.logit_eos) + (1.0 - eos) * jax.nn.log_sigmoid(
    -mix.logit_eos)
  return -(log_mixture + log_bernoulli)


def sequence_nll(y_hat_BxTxK: Array, target_BxTx3: Array, mask_BxT: Array) -> Array:
  """Summed negative log-likelihood of each sequence in nats (eq 26), padding masked: [B]."""
  nll_BxT = nll_per_step(y_hat_BxTxK, target_BxTx3)
  return jnp.sum(jnp.where(mask_BxT > 0, nll_BxT, 0.0), axis=-1)


def mixture_mean(y_hat: Array) -> Array:
  """E[x_{t+1}] = sum_j pi_j mu_j, the point prediction behind the SSE column of Table 3."""
  mix = split_outputs(y_hat)
  return jnp.sum(jnp.exp(mix.log_pi)[..., None] * mix.mu, axis=-2)


def sequence_sse(y_hat_BxTxK: Array, target_BxTx3: Array, mask_BxT: Array) -> Array:
  """Summed squared error of the mixture mean against the true offsets, per sequence: [B]."""
  err_BxT = jnp.sum(jnp.square(mixture_mean(y_hat_BxTxK) - target_BxTx3[..., :2]), -1)
  return jnp.sum(jnp.where(mask_BxT > 0, err_BxT, 0.0), axis=-1)


def sample(key: Array, y_hat_BxK: Array, bias: float | Array = 0.0) -> Array:
  """Draws one pen step [B, 3] (dx, dy, eos) from the biased mixture (eqs 61-62)."""
  mix = split_outputs(y_hat_BxK, bias)
  k_comp, k_norm, k_eos = jax.random.split(key, 3)
  j = jax.random.categorical(k_comp, mix.log_pi, axis=-1)  # B
  pick = lambda a: jnp.take_along_axis(a, j[:, None, None], axis=1)[:, 0]
  mu, sigma = pick(mix.mu), jnp.exp(pick(mix.log_sigma))
  rho = jnp.take_along_axis(mix.rho, j[:, None], axis=1)[:, 0]
  n1, n2 = jax.random.normal(k_norm, (2,) + rho.shape)
  # Correlated pair from independent normals: x2 = rho n1 + sqrt(1 - rho^2) n2.
  d1 = mu[:, 0] + sigma[:, 0] * n1
  d2 = mu[:, 1] + sigma[:, 1] * (rho * n1 + jnp.sqrt(1.0 - jnp.square(rho)) * n2)
  eos = jax.random.bernoulli(k_eos, jax.nn.sigmoid(mix.logit_eos)).astype(d1.dtype)
  return jnp.stack([d1, d2, eos], axis=-1)
