import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads

from handwriting.synthesis import window as win

B, K, U, V = 2, 3, 5, 4


def _loop_window(proj, kappa_prev, chars):
  """Eqs 46-51 with plain Python loops over batch, positions and Gaussians."""
  phis = np.zeros((B, U))
  ws = np.zeros((B, V))
  kappas = np.zeros((B, K))
  for b in range(B):
    for k in range(K):
      kappas[b, k] = kappa_prev[b, k] + math.exp(proj[b, 2 * K + k])
    for u in range(1, U + 1):
      total = 0.0
      for k in range(K):
        alpha, beta = math.exp(proj[b, k]), math.exp(proj[b, K + k])
        total += alpha * math.exp(-beta * (kappas[b, k] - u) ** 2)
      phis[b, u - 1] = total
      ws[b] += total * chars[b, u - 1]
  return phis, ws, kappas


def test_vectorised_window_matches_loops():
  rng = np.random.default_rng(0)
  proj = rng.normal(size=(B, 3 * K))
  kappa_prev = rng.uniform(0, 4, size=(B, K))
  chars = np.eye(V)[rng.integers(0, V, size=(B, U))]
  chars[1, 3:] = 0.0  # padding: zero vectors
  want_phi, want_w, want_kappa = _loop_window(proj, kappa_prev, chars)
  p = win.window_params(jnp.asarray(proj), jnp.asarray(kappa_prev))
  got_phi = win.phi(p, U)
  np.testing.assert_allclose(p.kappa_BxK, want_kappa, rtol=1e-5)
  np.testing.assert_allclose(got_phi, want_phi, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(win.window(got_phi, jnp.asarray(chars)), want_w, rtol=1e-5, atol=1e-7)


def test_window_gradients():
  rng = np.random.default_rng(1)
  with jax.enable_x64(True):
    proj = jnp.asarray(rng.normal(size=(B, 3 * K)) * 0.5)
    kappa_prev = jnp.asarray(rng.uniform(0, 4, size=(B, K)))
    chars = jnp.asarray(np.eye(V)[rng.integers(0, V, size=(B, U))])

    def f(proj, kappa_prev):
      p = win.window_params(proj, kappa_prev)
      return win.window(win.phi(p, U), chars)

    check_grads(f, (proj, kappa_prev), order=1, modes=["rev"])


def test_kappa_is_monotone():
  rng = np.random.default_rng(2)
  kappa = jnp.zeros((B, K))
  for _ in range(5):
    new = win.window_params(jnp.asarray(rng.normal(size=(B, 3 * K)) * 3), kappa).kappa_BxK
    assert np.all(np.asarray(new) > np.asarray(kappa))
    kappa = new


def test_text_finished_compares_past_end_with_each_texts_own_characters():
  # Text 0 has 2 characters, text 1 has 4; one Gaussian centred at kappa.
  def phi_at(kappa):
    p = win.WindowParams(jnp.ones((2, 1)), jnp.ones((2, 1)), jnp.asarray(kappa)[:, None])
    return win.phi(p, 5)  # positions 1..Umax+1 with Umax = 4
  lengths = jnp.array([2, 4])
  np.testing.assert_array_equal(win.text_finished(phi_at([1.0, 1.0]), lengths), [False, False])
  np.testing.assert_array_equal(win.text_finished(phi_at([3.0, 3.0]), lengths), [True, False])
  np.testing.assert_array_equal(win.text_finished(phi_at([3.0, 5.2]), lengths), [True, True])
