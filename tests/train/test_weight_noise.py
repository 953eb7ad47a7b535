"""Adaptive weight noise (train/weight_noise.py) against Graves 2011's definitions written out
here independently: the KL of diagonal Gaussians to a prior fitted to them, its derivatives
(d/dmu = (mu - mu_0) / sigma_0^2, d/dsigma^2 = (1/sigma_0^2 - 1/sigma^2) / 2), the
reparameterised draw, and one SGD step of the loop checked by hand; then a run stops and
resumes exactly with its sigmas."""

import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from handwriting.train import weight_noise as wn
from handwriting.train.loop import train_and_evaluate
from handwriting.train.step import STREAM_WEIGHT_NOISE, TrainState, complexity_weight, train_step

from .toy_task import shared_task, toy_config


def _tree(rng):
  return {"a": {"kernel": rng.normal(0.1, 0.3, (3, 4))}, "b": rng.normal(-0.2, 0.5, (5,))}


def _kl_reference(mu, sigma, mu0, sigma0):
  """sum_i KL(N(mu_i, sigma_i^2) || N(mu0, sigma0^2)), one weight at a time (float64)."""
  total = 0.0
  for m, s in zip(mu, sigma):
    total += math.log(sigma0 / s) + (s * s + (m - mu0) ** 2) / (2 * sigma0 ** 2) - 0.5
  return total


def _flat(tree):
  return np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)]).astype(np.float64)


def test_complexity_is_the_kl_to_the_fitted_prior_and_that_prior_is_optimal():
  rng = np.random.default_rng(0)
  mu_tree = _tree(rng)
  log_std_tree = jax.tree.map(lambda x: rng.normal(-2.0, 0.4, x.shape), mu_tree)
  mu, sigma = _flat(mu_tree), np.exp(_flat(log_std_tree))
  mu0 = float(np.mean(mu))
  sigma0 = math.sqrt(float(np.mean(sigma ** 2 + (mu - mu0) ** 2)))
  ours = float(wn.complexity(jax.tree.map(jnp.float32, mu_tree),
                             jax.tree.map(jnp.float32, log_std_tree)))
  np.testing.assert_allclose(ours, _kl_reference(mu, sigma, mu0, sigma0), rtol=1e-5)
  best = _kl_reference(mu, sigma, mu0, sigma0)
  for d_mu, f_sigma in ((0.05, 1.0), (-0.05, 1.0), (0.0, 1.1), (0.0, 0.9)):
    assert _kl_reference(mu, sigma, mu0 + d_mu, sigma0 * f_sigma) > best


def test_complexity_gradients_are_graves_2011s():
  rng = np.random.default_rng(1)
  mu_tree = jax.tree.map(jnp.asarray, _tree(rng))
  log_std_tree = jax.tree.map(lambda x: jnp.asarray(rng.normal(-1.5, 0.3, x.shape)), mu_tree)
  with jax.enable_x64(True):
    mu_tree = jax.tree.map(lambda x: x.astype(jnp.float64), mu_tree)
    log_std_tree = jax.tree.map(lambda x: x.astype(jnp.float64), log_std_tree)
    g_mu, g_log_std = jax.grad(wn.complexity, argnums=(0, 1))(mu_tree, log_std_tree)
  mu, sigma = _flat(mu_tree), np.exp(_flat(log_std_tree))
  mu0 = np.mean(mu)
  var0 = np.mean(sigma ** 2 + (mu - mu0) ** 2)
  np.testing.assert_allclose(_flat(g_mu), (mu - mu0) / var0, rtol=1e-4, atol=1e-9)
  d_var = 0.5 * (1 / var0 - 1 / sigma ** 2)  # Graves 2011: d L_C / d sigma^2
  # d / d log sigma = d / d sigma^2 * 2 sigma^2
  np.testing.assert_allclose(_flat(g_log_std), d_var * 2 * sigma ** 2, rtol=1e-4, atol=1e-9)


def test_a_draw_has_the_posteriors_mean_and_spread():
  mu = {"w": jnp.full((200, 100), 0.3), "v": jnp.full((20_000,), -1.0)}
  log_std = {"w": jnp.full((200, 100), math.log(0.05)), "v": jnp.full((20_000,), math.log(0.2))}
  draw = wn.sample(mu, log_std, jax.random.key(0))
  for name, m, s in (("w", 0.3, 0.05), ("v", -1.0, 0.2)):
    x = np.asarray(draw[name])
    assert abs(x.mean() - m) < 4 * s / math.sqrt(x.size) and abs(x.std() / s - 1) < 0.03
  assert not np.allclose(np.asarray(draw["w"]).ravel()[:100],
                         np.asarray(wn.sample(mu, log_std, jax.random.key(1))["w"]).ravel()[:100])
  np.testing.assert_allclose(float(wn.mean_std(log_std)), (20_000 * 0.05 + 20_000 * 0.2) / 40_000,
                             rtol=1e-5)


def test_one_sgd_step_moves_means_and_sigmas_by_the_hand_derived_gradient():
  """lr 1 SGD: the update is minus the gradient. With w = mu + sigma eps (the step's draw) and
  the loss's gradient g at w: d/dmu = g + c (mu - mu_0)/sigma_0^2, d/dlog sigma = g eps sigma +
  c (sigma^2/sigma_0^2 - 1)."""
  task = shared_task()
  model = task.init_model(nnx.Rngs(0))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  params, rest = nnx.to_pure_dict(params), nnx.to_pure_dict(rest)
  log_std = jax.tree.map(lambda p: jnp.full_like(p, math.log(0.05)), params)
  tx = optax.sgd(1.0)
  trainable = {"params": params, "log_std": log_std}
  state = TrainState(jnp.asarray(3, jnp.int32), params, tx.init(trainable), rest, log_std)
  batch = {k: jnp.asarray(v) for k, v in task.train_batch(3).items()}
  root = jax.random.key(7)
  c = 1 / 64
  new, sums, finite = jax.jit(lambda s, b, r: train_step(
    s, b, r, graphdef=graphdef, tx=tx, loss_fn=task.loss, complexity_weight=c))(state, batch, root)
  assert bool(finite)

  key = jax.random.fold_in(root, 3)
  w = wn.sample(params, log_std, jax.random.fold_in(key, STREAM_WEIGHT_NOISE))
  g = jax.grad(lambda w: task.loss(nnx.merge(graphdef, w, rest), batch, key)[0])(w)
  mu, sig = _flat(params), np.exp(_flat(log_std))
  eps = (_flat(w) - mu) / sig
  mu0 = mu.mean()
  var0 = np.mean(sig ** 2 + (mu - mu0) ** 2)
  want_mu = mu - (_flat(g) + c * (mu - mu0) / var0)
  want_log_std = np.log(sig) - (_flat(g) * eps * sig + c * (sig ** 2 / var0 - 1))
  np.testing.assert_allclose(_flat(new.params), want_mu, rtol=2e-4, atol=2e-6)
  np.testing.assert_allclose(_flat(new.log_std), want_log_std, rtol=2e-4, atol=2e-6)
  loss_at_w = float(task.loss(nnx.merge(graphdef, w, rest), batch, key)[0])
  total, count = sums["loss"]
  np.testing.assert_allclose(float(total / count), loss_at_w, rtol=1e-5)  # the data term only
  kl = _kl_reference(mu, sig, mu0, math.sqrt(var0))
  total, count = sums["complexity"]
  np.testing.assert_allclose(float(total / count), c * kl, rtol=1e-4)


@pytest.fixture(scope="module")
def noisy_config():
  cfg = toy_config(num_steps=6, eval_every=3, checkpoint_every=3, keep_checkpoints=0)
  cfg.weight_noise.init_std, cfg.weight_noise.num_sequences = 0.02, 64
  return cfg


def test_a_noisy_run_resumes_exactly_and_keeps_its_sigmas(noisy_config, tmp_path):
  full = train_and_evaluate(noisy_config, str(tmp_path / "full"), shared_task())
  train_and_evaluate(noisy_config, str(tmp_path / "part"), shared_task(), stop_after=5)
  resumed = train_and_evaluate(noisy_config, str(tmp_path / "part"), shared_task())
  for a, b in zip(jax.tree.leaves(nnx.state(full.model, nnx.Param)),
                  jax.tree.leaves(nnx.state(resumed.model, nnx.Param))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  rows = [line for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
          if '"train"' in line]
  assert all('"complexity"' in r and '"weight_std"' in r for r in rows)
  # The sigmas are in the checkpoint (a resume that started them at 0.02 again would end with
  # other parameters), and the noise changes training: a run without it ends elsewhere.
  plain = toy_config(num_steps=6, eval_every=3, checkpoint_every=3, keep_checkpoints=0)
  clean = train_and_evaluate(plain, str(tmp_path / "plain"), shared_task())
  assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(
    jax.tree.leaves(nnx.state(full.model, nnx.Param)),
    jax.tree.leaves(nnx.state(clean.model, nnx.Param))))


def test_weight_noise_needs_a_count_of_training_sequences(tmp_path):
  cfg = toy_config(num_steps=1)
  cfg.weight_noise.init_std = 0.01  # the toy task has no training split to count
  with pytest.raises(ValueError, match="num_sequences"):
    train_and_evaluate(cfg, str(tmp_path), shared_task())


def test_the_complexity_is_spread_over_the_units_the_loss_averages():
  lines = types.SimpleNamespace(train={"sizes": [10, 20, 30]})
  cfg = toy_config(num_steps=1)
  assert complexity_weight(cfg, lines) == 0.0  # off
  cfg.weight_noise.init_std = 0.01
  assert complexity_weight(cfg, lines) == 1 / 3  # per-sequence loss: lines
  cfg.objective = "point"
  assert complexity_weight(cfg, lines) == 1 / 60  # per-point mean: pen points
  cfg.weight_noise.num_sequences = 8
  assert complexity_weight(cfg, lines) == 1 / 8
