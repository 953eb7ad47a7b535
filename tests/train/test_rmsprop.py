import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from handwriting.train.rmsprop import GravesRMSPropState, graves_rmsprop

STEPS = 5


def make_params_and_grads(seed: int = 0):
  rng = np.random.default_rng(seed)
  params = {"a": rng.normal(size=(3, 2)), "b": {"c": rng.normal(size=(4,))}}
  grads = [{"a": rng.normal(size=(3, 2)) * 3, "b": {"c": rng.normal(size=(4,)) * 0.1}}
           for _ in range(STEPS)]
  to_jax = lambda t: jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), t)
  return params, grads, to_jax


def numpy_graves(params, grads, lr_at, aleph=0.95, beth=0.9, eps=1e-4):
  """Graves 2013 eqs 38-45, transcribed one weight array at a time in float64."""
  w = jax.tree.map(np.array, params)
  flat_w, treedef = jax.tree.flatten(w)
  n = [np.zeros_like(x) for x in flat_w]
  g = [np.zeros_like(x) for x in flat_w]
  delta = [np.zeros_like(x) for x in flat_w]
  history = []
  for step, grad in enumerate(grads):
    for k, e in enumerate(jax.tree.leaves(grad)):
      n[k] = aleph * n[k] + (1 - aleph) * e ** 2
      g[k] = aleph * g[k] + (1 - aleph) * e
      delta[k] = beth * delta[k] - lr_at(step) * e / np.sqrt(n[k] - g[k] ** 2 + eps)
      flat_w[k] = flat_w[k] + delta[k]
    history.append(jax.tree.unflatten(treedef, [x.copy() for x in flat_w]))
  return history


def run(opt, params, grads, jit):
  state = opt.init(params)
  update = jax.jit(opt.update) if jit else opt.update
  history = []
  for grad in grads:
    updates, state = update(grad, state, params)
    params = optax.apply_updates(params, updates)
    history.append(params)
  return history, state


def assert_trees_close(a, b, rtol=2e-5, atol=1e-7):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


@pytest.mark.parametrize("jit", [False, True])
def test_matches_numpy_transcription_of_the_equations(jit):
  params, grads, to_jax = make_params_and_grads()
  history, state = run(graves_rmsprop(), to_jax(params), [to_jax(g) for g in grads], jit)
  reference = numpy_graves(params, grads, lambda step: 1e-4)
  for got, want in zip(history, reference):
    assert_trees_close(got, want)
  assert isinstance(state, GravesRMSPropState) and int(state.count) == STEPS
  # The momentum buffer holds the last update.
  assert_trees_close(state.delta, jax.tree.map(np.subtract, reference[-1], reference[-2]),
                     rtol=1e-3, atol=1e-7)


def test_learning_rate_schedule_is_read_at_the_update_count():
  params, grads, to_jax = make_params_and_grads(1)
  schedule = lambda count: 1e-3 * (count + 1)
  opt = graves_rmsprop(learning_rate=schedule, decay=0.9, momentum=0.5, eps=1e-3)
  history, _ = run(opt, to_jax(params), [to_jax(g) for g in grads], jit=True)
  reference = numpy_graves(params, grads, lambda step: 1e-3 * (step + 1), 0.9, 0.5, 1e-3)
  assert_trees_close(history[-1], reference[-1])


def test_jit_and_eager_agree_and_chain_composes():
  params, grads, to_jax = make_params_and_grads(2)
  params, grads = to_jax(params), [to_jax(g) for g in grads]
  eager, _ = run(graves_rmsprop(), params, grads, jit=False)
  jitted, _ = run(graves_rmsprop(), params, grads, jit=True)
  assert_trees_close(eager[-1], jitted[-1], rtol=1e-6)
  # A global-norm clip that never triggers leaves the updates unchanged...
  chained, _ = run(optax.chain(optax.clip_by_global_norm(1e6), graves_rmsprop()), params, grads,
                   jit=True)
  assert_trees_close(chained[-1], jitted[-1], rtol=1e-6)
  # ...and one that does equals feeding the clipped gradients by hand.
  clipped = [jax.tree.map(lambda x, n=optax.tree.norm(g): x * 0.5 / n, g) for g in grads]
  chained, _ = run(optax.chain(optax.clip_by_global_norm(0.5), graves_rmsprop()), params, grads,
                   jit=True)
  by_hand, _ = run(graves_rmsprop(), params, clipped, jit=True)
  assert_trees_close(chained[-1], by_hand[-1], rtol=1e-5)


def test_agrees_with_optax_centred_rmsprop_with_momentum():
  # An independent implementation of the same update (eps inside the root, centred, momentum).
  params, grads, to_jax = make_params_and_grads(3)
  params, grads = to_jax(params), [to_jax(g) for g in grads]
  ours, _ = run(graves_rmsprop(), params, grads, jit=True)
  theirs, _ = run(optax.rmsprop(1e-4, decay=0.95, eps=1e-4, eps_in_sqrt=True, centered=True,
                                momentum=0.9), params, grads, jit=True)
  assert_trees_close(ours[-1], theirs[-1], rtol=1e-5)
