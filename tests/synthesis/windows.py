"""A synthesis network's attention window set to a known pace, for tests of stall and end-of-text
detection."""

import jax.numpy as jnp

from handwriting.synthesis.model import HandwritingNet

FROZEN = -30.0  # kappa_hat whose increments exp(-30) / kappa_scale ~ 0: the window never moves


def pace_window(model: HandwritingNet, kappa_hat: float) -> HandwritingNet:
  """Zeroes the window's weights and its alpha/beta biases and sets every kappa_hat bias, so each
  step adds exp(kappa_hat) / kappa_scale to kappa whatever the input (eqs 48-51). Returns
  `model`, changed in place."""
  bias = model.window_out.bias[...]
  K = bias.shape[0] // 3
  model.window_out.kernel[...] = jnp.zeros_like(model.window_out.kernel[...])
  model.window_out.bias[...] = jnp.zeros_like(bias).at[2 * K:].set(kappa_hat)
  return model
