"""Adaptive weight noise: variational training with a diagonal Gaussian posterior (Graves 2011,
"Practical Variational Inference for Neural Networks"; the best rows of Graves 2013 Tables 3-4).

Every parameter w_i is drawn from Q = N(mu_i, sigma_i^2). Training minimises Graves 2011's
minimum description length loss, per training sequence,

  L(mu, sigma) = E_{w ~ Q}[NLL(batch; w)] + L_C / N,      L_C = KL(Q || P),

with N the number of training sequences (the data term is the loop's per-sequence loss, so L_C,
which is paid once for the whole training set, is spread over its N sequences). The prior P is
one Gaussian N(mu_0, sigma_0^2) over all weights, set to its optimum for the current Q
(Graves 2011's adaptive prior): mu_0 = mean(mu), sigma_0^2 = mean(sigma^2 + (mu - mu_0)^2). At that
optimum the KL of diagonal Gaussians sums to the closed form

  L_C = (W / 2) log sigma_0^2 - sum_i log sigma_i          (W weights),

whose derivatives are Graves 2011's: dL_C/dmu_i = (mu_i - mu_0) / sigma_0^2 and
dL_C/dsigma_i^2 = (1/sigma_0^2 - 1/sigma_i^2) / 2 (mu_0 and sigma_0 move with Q, but their own
derivatives vanish at the optimum). The expectation is estimated with one draw of all weights per
training step (Graves draws one per sequence; one per batch costs one forward pass, not B), and
its gradient by the reparameterisation w = mu + sigma * eps. The standard deviations are trained
as log sigma (positive, and a scale-free step for Adam or RMSProp).

The means are the model's parameters as everywhere else (checkpoints' "model" item, the best
copy, every inference command): evaluation and sampling use the mean weights. The log-sigmas
live beside the optimizer state (checkpoints' "optimizer" item) and matter only to training.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

PyTree = Any


def default_config() -> ml_collections.ConfigDict:
  cfg = ml_collections.ConfigDict()
  # sigma of every weight at the start of a run; 0 turns weight noise off. Graves 2013 starts
  # weight-noise runs from a network trained without it (here --config.init_from).
  cfg.init_std = 0.0
  # N in L_C / N: training sequences; 0 = the size of the task's training split (its pen points
  # under the synthesis network's per-point objective, whose loss is a mean over points).
  cfg.num_sequences = 0
  return cfg


def init_log_std(params: PyTree, std: float) -> PyTree:
  """log sigma = log(std) for every parameter (arrays of the parameters' shapes and dtypes)."""
  return jax.tree.map(lambda p: jnp.full_like(p, jnp.log(std)), params)


def sample(params: PyTree, log_std: PyTree, key: jax.Array) -> PyTree:
  """One draw w = mu + sigma * eps of every parameter, eps ~ N(0, 1) independent per weight."""
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  stds = treedef.flatten_up_to(log_std)
  noisy = [mu + jnp.exp(s) * jax.random.normal(k, mu.shape, mu.dtype)
           for mu, s, k in zip(leaves, stds, keys)]
  return jax.tree.unflatten(treedef, noisy)


def complexity(params: PyTree, log_std: PyTree) -> jax.Array:
  """L_C = KL(Q || P) in nats, with P the single Gaussian prior optimal for Q (float32)."""
  mu = jnp.concatenate([jnp.ravel(p).astype(jnp.float32) for p in jax.tree.leaves(params)])
  log_sigma = jnp.concatenate([jnp.ravel(s).astype(jnp.float32)
                               for s in jax.tree.leaves(log_std)])
  mu0 = jnp.mean(mu)
  var0 = jnp.mean(jnp.exp(2.0 * log_sigma) + (mu - mu0) ** 2)
  return 0.5 * mu.size * jnp.log(var0) - jnp.sum(log_sigma)


def mean_std(log_std: PyTree) -> jax.Array:
  """The mean sigma over all weights (a training metric: how much noise the posterior keeps)."""
  leaves = jax.tree.leaves(log_std)
  total = sum(jnp.sum(jnp.exp(s)) for s in leaves)
  return total / sum(s.size for s in leaves)
