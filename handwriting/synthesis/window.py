"""The soft attention window over the character sequence (Graves 2013, section 5.1, eqs 46-51).

Dimension letters: B batch, K window Gaussians, U characters, V alphabet size (one-hot width).
Character positions are 1-based as in the paper: u = 1..U, so kappa starts near 0 and the window
reaches character u when kappa is near u. Position U + 1 is the "one past the end" used for the
end-of-text test of section 5.3.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class WindowParams(NamedTuple):
  alpha_BxK: Array  # importance of each Gaussian (eq 48)
  beta_BxK: Array  # width (eq 49)
  kappa_BxK: Array  # location, monotone in time (eqs 50-51)


def window_params(proj_Bx3K: Array, kappa_prev_BxK: Array, kappa_scale: float = 1.0
                  ) -> WindowParams:
  """Eqs 48-51: (alpha_hat, beta_hat, kappa_hat) = W h1 + b -> exp'd params, kappa cumulative.

  `kappa_scale` divides exp(kappa_hat); Graves uses 1. Several public implementations use a
  larger divisor (e.g. 25) to start training with slow windows; the config chooses.
  """
  a_hat, b_hat, k_hat = jnp.split(proj_Bx3K, 3, axis=-1)
  return WindowParams(jnp.exp(a_hat), jnp.exp(b_hat),
                      kappa_prev_BxK + jnp.exp(k_hat) / kappa_scale)


def phi(params: WindowParams, num_positions: int) -> Array:
  """phi(t, u) = sum_k alpha_k exp(-beta_k (kappa_k - u)^2) for u = 1..num_positions (eq 46)."""
  u_U = jnp.arange(1, num_positions + 1, dtype=params.kappa_BxK.dtype)
  d_BxKxU = params.kappa_BxK[..., None] - u_U
  return jnp.sum(params.alpha_BxK[..., None] * jnp.exp(-params.beta_BxK[..., None] * d_BxKxU ** 2),
                 axis=-2)


def window(phi_BxU: Array, chars_BxUxV: Array) -> Array:
  """w_t = sum_u phi(t, u) c_u (eq 47); padded characters are zero vectors and add nothing."""
  return jnp.einsum("bu,buv->bv", phi_BxU, chars_BxUxV)


def window_step(proj_Bx3K: Array, kappa_prev_BxK: Array, chars_BxUxV: Array,
                kappa_scale: float = 1.0) -> tuple[Array, Array, Array]:
  """One step of eqs 46-51 from layer 1's window projection: (w_t, phi_t, kappa_t)."""
  params = window_params(proj_Bx3K, kappa_prev_BxK, kappa_scale)
  phi_BxU = phi(params, chars_BxUxV.shape[1])
  return window(phi_BxU, chars_BxUxV), phi_BxU, params.kappa_BxK


def text_finished(phi_BxU1: Array, lengths_B: Array) -> Array:
  """Section 5.3 end-of-text: phi at position U+1 exceeds phi at every real character.

  `phi_BxU1` holds phi at u = 1..Umax+1 for a batch of texts of different lengths; for text b the
  "one past the end" position is lengths_B[b] + 1 and only u <= lengths_B[b] compete with it.
  """
  u_U1 = jnp.arange(1, phi_BxU1.shape[-1] + 1)
  past = jnp.take_along_axis(phi_BxU1, lengths_B[:, None], axis=-1)[:, 0]  # index L = position L+1
  real = jnp.where(u_U1[None] <= lengths_B[:, None], phi_BxU1, -jnp.inf)
  return past > jnp.max(real, axis=-1)
