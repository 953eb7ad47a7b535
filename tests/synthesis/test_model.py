import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from handwriting.synthesis.model import HandwritingNet, count_params


def _params(L, H, M, V=0, K=10):
  """Hand count of Graves' architecture: peephole LSTMs with skip connections (Figs. 1, 12)."""
  lstm = lambda d: 4 * H * d + 4 * H * H + 4 * H + 3 * H
  n = lstm(3) + (L - 1) * lstm(3 + H + V) + (L * H + 1) * (1 + 6 * M)
  if V:
    n += V * 4 * H + (H + 1) * 3 * K  # w_{t-1} into layer 1; window parameters from layer 1
  return n


@pytest.mark.parametrize("L, H, V", [(3, 400, 0), (1, 900, 0), (3, 400, 58)])
def test_parameter_counts_match_the_paper_architecture(L, H, V):
  model = nnx.eval_shape(lambda: HandwritingNet(num_layers=L, hidden_size=H, num_mixtures=20,
                                                alphabet_size=V, rngs=nnx.Rngs(0)))
  assert count_params(model) == _params(L, H, 20, V)
  # Graves 2013 Tables 3-4 (paper values): 3x400 and 1x900 about 3.4M/3.6M, synthesis 3.7M.


@pytest.mark.parametrize("V", [0, 6])
def test_step_by_step_equals_sequence_forward(V):
  B, T = 2, 7
  model = HandwritingNet(num_layers=2, hidden_size=5, num_mixtures=2, alphabet_size=V,
                         window_size=3, rngs=nnx.Rngs(1))
  rng = np.random.default_rng(0)
  ink = jnp.asarray(np.concatenate([rng.normal(size=(B, T, 2)), rng.integers(0, 2, (B, T, 1))],
                                   -1), jnp.float32)
  chars = jnp.asarray([[1, 2, 3, 0], [4, 5, 5, 2]]) if V else None
  y, trace, final = model(ink, chars)
  state = model.initial_state(B)
  onehot = model.one_hot(chars) if V else None
  ys, phis = [], []
  for t in range(T):
    state, y_t, phi_t = model.step(state, ink[:, t], onehot)
    ys.append(y_t)
    phis.append(phi_t)
  np.testing.assert_allclose(jnp.stack(ys, 1), y, rtol=1e-5, atol=1e-5)
  if V:
    np.testing.assert_allclose(jnp.stack(phis, 1), trace.phi_BxTxU, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.kappa_BxK, final.kappa_BxK, rtol=1e-5)
  for (h1, c1), (h2, c2) in zip(state.carries, final.carries):
    np.testing.assert_allclose(h1, h2, rtol=1e-5, atol=1e-6)


def test_window_ignores_padding_characters():
  model = HandwritingNet(num_layers=1, hidden_size=4, num_mixtures=1, alphabet_size=5,
                         window_size=2, rngs=nnx.Rngs(2))
  ink = jnp.ones((1, 3, 3))
  y_short, _, _ = model(ink, jnp.asarray([[1, 2]]))
  y_padded, _, _ = model(ink, jnp.asarray([[1, 2, 0, 0]]))
  np.testing.assert_allclose(y_short, y_padded, rtol=1e-6)


def test_causal_outputs_do_not_see_future_inputs():
  model = HandwritingNet(num_layers=2, hidden_size=4, num_mixtures=1, rngs=nnx.Rngs(3))
  ink = jnp.asarray(np.random.default_rng(1).normal(size=(1, 6, 3)), jnp.float32)
  grad = jax.jacrev(lambda x: model(x)[0][0, 2].sum())(ink)
  assert np.all(np.asarray(grad[0, 3:]) == 0) and np.any(np.asarray(grad[0, :3]) != 0)
