"""Graves' RMSProp: centred, with momentum and epsilon inside the square root.

Graves 2013, section 4, eqs 38-45 (ε_i = dL/dw_i, the gradient):
  n_i = ℵ n_i + (1 - ℵ) ε_i²
  g_i = ℵ g_i + (1 - ℵ) ε_i
  Δ_i = ℶ Δ_i - ℷ ε_i / sqrt(n_i - g_i² + ℸ)
  w_i = w_i + Δ_i
with ℵ = 0.95 (decay), ℶ = 0.9 (momentum), ℷ = 1e-4 (learning rate), ℸ = 1e-4 (eps).
n and g are updated before Δ uses them. The updates returned are Δ, so `optax.apply_updates`
gives w + Δ.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class GravesRMSPropState(NamedTuple):
  """Running averages and the momentum buffer, each a pytree like the parameters."""
  n: optax.Updates  # running mean of squared gradients
  g: optax.Updates  # running mean of gradients
  delta: optax.Updates  # the previous update Δ (the momentum buffer)
  count: jax.Array  # number of updates done; the learning-rate schedule is evaluated at it


def graves_rmsprop(learning_rate: float | optax.Schedule = 1e-4, decay: float = 0.95,
                   momentum: float = 0.9, eps: float = 1e-4) -> optax.GradientTransformation:
  """Graves 2013 eqs 38-45 as an optax transformation.

  Args:
    learning_rate: ℷ, a float or an optax schedule of the update count (0 for the first update).
    decay: ℵ, the averaging constant of n and g.
    momentum: ℶ.
    eps: ℸ, added inside the square root (not outside, as in Adam).
  """

  def init_fn(params: optax.Params) -> GravesRMSPropState:
    zeros = jax.tree.map(jnp.zeros_like, params)
    return GravesRMSPropState(n=zeros, g=zeros, delta=zeros, count=jnp.zeros([], jnp.int32))

  def update_fn(grads: optax.Updates, state: GravesRMSPropState,
                params: optax.Params | None = None) -> tuple[optax.Updates, GravesRMSPropState]:
    del params
    lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
    n = jax.tree.map(lambda n, e: decay * n + (1 - decay) * e * e, state.n, grads)
    g = jax.tree.map(lambda g, e: decay * g + (1 - decay) * e, state.g, grads)

    def new_delta(d: jax.Array, e: jax.Array, n: jax.Array, g: jax.Array) -> jax.Array:
      return (momentum * d - lr * e / jnp.sqrt(n - g * g + eps)).astype(d.dtype)

    delta = jax.tree.map(new_delta, state.delta, grads, n, g)
    count = optax.safe_increment(state.count)
    return delta, GravesRMSPropState(n=n, g=g, delta=delta, count=count)

  return optax.GradientTransformation(init_fn, update_fn)
