import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads

from handwriting.recognition import ctc

# Jitted once per shape: eager op-by-op dispatch of the scan is much slower on a busy CPU.
_loss = jax.jit(ctc.ctc_loss)


def _log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _collapse(path):
  out, prev = [], None
  for s in path:
    if s != prev and s != 0:
      out.append(s)
    prev = s
  return out


def _brute_force_nll(logits_TxK, labels):
  """-log of the summed probability of every K^T path that collapses to `labels`."""
  logp = _log_softmax(np.asarray(logits_TxK, np.float64))
  t, k = logp.shape
  total = 0.0
  for path in itertools.product(range(k), repeat=t):
    if _collapse(path) == list(labels):
      total += np.exp(sum(logp[i, s] for i, s in enumerate(path)))
  return -np.log(total)


def test_min_frames_counts_repeats_only_inside_valid_labels():
  labels = np.array([[1, 1, 2, 2], [3, 4, 4, 4], [5, 5, 0, 0], [2, 0, 0, 0]])
  mask = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [1, 0, 0, 0], [1, 0, 0, 0]])
  # "aabb": 4 + 2; "cddd": 4 + 2; "e" (the second 5 is padding): 1; "b": 1
  np.testing.assert_array_equal(ctc.min_frames(labels, mask), [6, 6, 1, 1])


def test_one_to_one_alignment_when_t_equals_l():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(1, 4, 5)).astype(np.float32)
  labels = np.array([[1, 3, 2, 4]])
  loss, feasible = _loss(jnp.asarray(logits), jnp.ones((1, 4)), labels, np.ones((1, 4)))
  logp = _log_softmax(logits[0].astype(np.float64))
  want = -sum(logp[t, labels[0, t]] for t in range(4))
  np.testing.assert_allclose(loss[0], want, rtol=1e-5)
  assert bool(feasible[0])


def test_repeat_needs_a_blank_between():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(1, 3, 3)).astype(np.float32)
  labels, label_mask = np.array([[1, 1]]), np.ones((1, 2))
  # T = 3: the single path a, blank, a.
  loss, feasible = _loss(jnp.asarray(logits), jnp.ones((1, 3)), labels, label_mask)
  logp = _log_softmax(logits[0].astype(np.float64))
  np.testing.assert_allclose(loss[0], -(logp[0, 1] + logp[1, 0] + logp[2, 1]), rtol=1e-5)
  assert bool(feasible[0])
  # T = 2 (the third frame masked): "aa" cannot be emitted.
  loss, feasible = _loss(jnp.asarray(logits), jnp.array([[1, 1, 0]]), labels, label_mask)
  assert float(loss[0]) == 0.0 and not bool(feasible[0])


def test_two_frames_one_label_by_hand():
  p = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])  # rows: frames; columns: blank, a, b
  loss, _ = _loss(jnp.log(jnp.asarray(p[None], jnp.float32)), jnp.ones((1, 2)),
                         np.array([[1]]), np.ones((1, 1)))
  want = p[0, 1] * p[1, 1] + p[0, 1] * p[1, 0] + p[0, 0] * p[1, 1]
  np.testing.assert_allclose(loss[0], -np.log(want), rtol=1e-5)


def test_matches_brute_force_with_padding():
  rng = np.random.default_rng(2)
  logits = rng.normal(size=(3, 5, 3)).astype(np.float32)
  logit_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])
  labels = np.array([[1, 2, 2], [2, 1, 1], [1, 1, 2]])  # padding holds 1s on purpose
  label_mask = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
  loss, feasible = _loss(jnp.asarray(logits), logit_mask, labels, label_mask)
  for b in range(3):
    t, n = logit_mask[b].sum(), label_mask[b].sum()
    want = _brute_force_nll(logits[b, :t], labels[b, :n])
    np.testing.assert_allclose(loss[b], want, rtol=1e-5)
  assert bool(np.all(feasible))


def test_infeasible_rows_have_zero_loss_and_zero_finite_gradient():
  rng = np.random.default_rng(3)
  logits = jnp.asarray(rng.normal(size=(2, 4, 4)), jnp.float32)
  logit_mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]])
  labels = np.array([[1, 2, 3], [1, 2, 3]])  # row 1 has 2 frames for 3 labels
  label_mask = np.ones((2, 3))

  def total(x):
    return _loss(x, logit_mask, labels, label_mask)[0].sum()

  loss, feasible = _loss(logits, logit_mask, labels, label_mask)
  np.testing.assert_array_equal(feasible, [True, False])
  assert float(loss[1]) == 0.0
  grad = jax.jit(jax.grad(total))(logits)
  assert bool(jnp.all(jnp.isfinite(grad)))
  np.testing.assert_array_equal(grad[1], 0.0)
  # The feasible row's gradient is the one it has on its own.
  alone = jax.jit(jax.grad(lambda x: _loss(x, logit_mask[:1], labels[:1], label_mask[:1])[0].sum()))
  np.testing.assert_allclose(grad[0], alone(logits[:1])[0], rtol=1e-5, atol=1e-7)


def test_confident_prediction_loss_is_clamped_non_negative():
  logits = jnp.asarray(np.eye(4)[[1, 2, 3]][None] * 60.0, jnp.float32)
  loss, _ = _loss(logits, jnp.ones((1, 3)), np.array([[1, 2, 3]]), np.ones((1, 3)))
  assert 0.0 <= float(loss[0]) < 1e-5


def test_jit_and_no_jit_agree():
  rng = np.random.default_rng(4)
  args = (jnp.asarray(rng.normal(size=(2, 5, 3)), jnp.float32),
          jnp.array([[1] * 5, [1, 1, 1, 0, 0]]), jnp.array([[1, 2], [2, 2]]), jnp.ones((2, 2)))
  eager, jitted = ctc.ctc_loss(*args), _loss(*args)
  np.testing.assert_allclose(eager[0], jitted[0], rtol=1e-6)
  np.testing.assert_array_equal(eager[1], jitted[1])


def test_gradients_match_finite_differences():
  rng = np.random.default_rng(5)
  with jax.enable_x64(True):
    logits = jnp.asarray(rng.normal(size=(2, 4, 3)), jnp.float64)
    logit_mask = jnp.array([[1, 1, 1, 1], [1, 1, 1, 0]])
    labels, label_mask = jnp.array([[1, 1], [2, 1]]), jnp.array([[1, 1], [1, 0]])

    def total(x):
      return _loss(x, logit_mask, labels, label_mask)[0].sum()

    check_grads(total, (logits,), order=1, modes=("rev",), atol=1e-6, rtol=1e-6)
