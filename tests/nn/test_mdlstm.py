"""The 2-D MDLSTM layer: wavefront fast path against the per-pixel reference and a Python loop,
masks, dependency structure of each direction, gradients.

Dimension letters: B batch, H rows, W columns, D inputs, C hidden units per direction.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

from handwriting.nn.mdlstm import DIRECTIONS, MDLSTM2D, mdlstm_reference, skew, unskew
from tests.nn.helpers import randomize

B, H, W, D, C = 2, 4, 5, 2, 3
NAMES = ("down_right", "down_left", "up_right", "up_left")
# Written out here rather than read from the module, so a wrong table there fails the tests:
# name -> (rows visited bottom to top, columns visited right to left).
SWEEPS = {"down_right": (False, False), "down_left": (False, True),
          "up_right": (True, False), "up_left": (True, True)}




def make_layer(directions=4, combine="concat", seed=0, **kwargs) -> MDLSTM2D:
  layer = MDLSTM2D(D, C, directions=directions, combine=combine, rngs=nnx.Rngs(seed), **kwargs)
  randomize(layer, seed + 100)
  return layer


def normal(seed, *shape, dtype=np.float32):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(dtype))


def ragged_mask() -> jax.Array:
  """Image 0 fills the batch; image 1 is 3 x 3 (padded on the right and the bottom)."""
  mask = np.ones((B, H, W), bool)
  mask[1, 3:, :] = False
  mask[1, :, 3:] = False
  return jnp.asarray(mask)


def python_loop(layer: MDLSTM2D, x_BxHxWxD, mask_BxHxW) -> jax.Array:
  """Thesis sec. 8.2 read literally: visit the pixels in the direction's order, neighbours from a
  dict, zero state outside the image and at masked pixels."""
  b, h, w = mask_BxHxW.shape
  outs = []
  for cell, name in zip(layer.cells, layer.directions):
    up, left = SWEEPS[name]
    di, dj = (1 if up else -1), (1 if left else -1)  # offset of the already-visited neighbours
    zero = cell.initial_state(b)
    s = {}
    for i in (reversed(range(h)) if up else range(h)):
      for j in (reversed(range(w)) if left else range(w)):
        h_BxC, c_BxC = cell.step([s.get((i + di, j), zero), s.get((i, j + dj), zero)],
                                 cell.project(x_BxHxWxD[:, i, j]))
        keep_Bx1 = mask_BxHxW[:, i, j, None]
        s[i, j] = (jnp.where(keep_Bx1, h_BxC, 0.0), jnp.where(keep_Bx1, c_BxC, 0.0))
    h_HxWxBxC = jnp.array([[s[i, j][0] for j in range(w)] for i in range(h)])
    outs.append(h_HxWxBxC.transpose(2, 0, 1, 3))
  return jnp.concatenate(outs, axis=-1)


def outputs_and_grads(fn, layer: MDLSTM2D, x, mask, w_NxBxHxWxF):
  """fn(layer, x, mask) and, for each of N random projections w_n of the outputs,
  d<w_n, y>/d(params, x), in one jitted call."""
  graphdef, params = nnx.split(layer)

  def run(params, x):
    return fn(nnx.merge(graphdef, params), x, mask)

  @jax.jit
  def go(params, x):
    y, vjp = jax.vjp(run, params, x)
    return y, jax.vmap(vjp)(w_NxBxHxWxF)
  return go(params, x)


def test_skew_moves_row_i_right_by_i_and_unskew_inverts_it():
  x = normal(0, 2, H, W, 3)
  s = np.asarray(skew(x))
  assert s.shape == (2, H, H + W - 1, 3)
  expected = np.zeros_like(s)
  for i in range(H):
    for j in range(W):
      expected[:, i, i + j] = x[:, i, j]
  np.testing.assert_array_equal(s, expected)
  np.testing.assert_array_equal(unskew(skew(x), W), x)


def test_reference_matches_a_python_pixel_loop_all_directions():
  layer = make_layer()
  x = normal(1, B, 2, 3, D)
  mask = jnp.ones((B, 2, 3), bool).at[1, 1:].set(False).at[1, :, 2:].set(False)  # 1 x 2
  y_ref = nnx.jit(mdlstm_reference)(layer, x, mask)
  np.testing.assert_allclose(y_ref, python_loop(layer, x, mask), rtol=1e-5, atol=1e-6)


def test_wavefront_matches_reference_outputs_and_gradients_per_direction():
  """Cotangent k projects only direction k's block of the output, so each direction's
  gradients (params and input) are compared on their own; cotangent 4 covers them together."""
  layer = make_layer(clip=None)
  x, mask = normal(2, B, H, W, D), ragged_mask()
  w_BxHxWxKxC = normal(3, B, H, W, 4, C)
  only_k = [w_BxHxWxKxC * (jnp.arange(4) == k)[:, None] for k in range(4)]
  w_5xBxHxWx4C = jnp.stack(only_k + [w_BxHxWxKxC]).reshape(5, B, H, W, 4 * C)
  y_fast, g_fast = outputs_and_grads(lambda m, x, k: m(x, k), layer, x, mask, w_5xBxHxWx4C)
  y_ref, g_ref = outputs_and_grads(mdlstm_reference, layer, x, mask, w_5xBxHxWx4C)
  assert y_fast.shape == (B, H, W, 4 * C)
  np.testing.assert_allclose(y_fast, y_ref, rtol=1e-5, atol=1e-6)
  assert np.abs(np.asarray(y_fast)).max() > 0.05  # a live signal, not two zero arrays
  assert jax.tree.structure(g_fast) == jax.tree.structure(g_ref)
  for a, b in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  g_params, g_x = g_fast
  for k in range(4):  # direction k's loss reaches its own cell and the input, no other cell
    for cell in range(4):
      leaves = [np.asarray(g[k]) for g in jax.tree.leaves(g_params["cells"][cell])]
      assert all(np.any(g != 0) for g in leaves) == (cell == k)
      assert all(np.all(g == 0) for g in leaves) == (cell != k)
    assert np.any(np.asarray(g_x[k]) != 0)


def test_wavefront_backward_clips_like_the_reference():
  """The wavefront's hand-written backward clips each gate pre-activation's cotangent where
  the reference cell's `clip_gradient` does; a bound this small binds on most of them."""
  layer = make_layer(clip=0.02)
  x, mask = normal(12, B, H, W, D), ragged_mask()
  w = normal(13, B, H, W, 4 * C)[None] * 5.0
  _, g_fast = outputs_and_grads(lambda m, x, k: m(x, k), layer, x, mask, w)
  _, g_ref = outputs_and_grads(mdlstm_reference, layer, x, mask, w)
  unclipped = make_layer(clip=None)
  nnx.update(unclipped, nnx.state(layer, nnx.Param))
  _, g_free = outputs_and_grads(mdlstm_reference, unclipped, x, mask, w)
  for a, b, free in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_ref), jax.tree.leaves(g_free)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  assert any(not np.allclose(b, f) for b, f in zip(jax.tree.leaves(g_ref),
                                                   jax.tree.leaves(g_free)))  # clipping bit


def test_jit_and_eager_agree():
  layer = make_layer(1)
  x = normal(4, B, H, W, D)
  np.testing.assert_allclose(nnx.jit(lambda m, x: m(x))(layer, x), layer(x), rtol=1e-5,
                             atol=1e-6)


def test_each_direction_sees_exactly_its_quadrant():
  """d y_k(i, j) / d x is nonzero exactly on the pixels direction k visits up to (i, j)."""
  layer = make_layer()
  x = normal(5, 1, H, W, D)
  i, j = 1, 2
  y, vjp = jax.vjp(jax.jit(lambda x: layer(x)), x)
  pick_KxBxHxWxKC = np.zeros((4, *y.shape), np.float32)  # cotangent k: sum of block k at (i, j)
  for k in range(4):
    pick_KxBxHxWxKC[k, 0, i, j, k * C:(k + 1) * C] = 1.0
  g_KxHxW = np.abs(np.asarray(jax.vmap(vjp)(jnp.asarray(pick_KxBxHxWxKC))[0])[:, 0]).sum(-1)
  for k, name in enumerate(layer.directions):
    up, left = SWEEPS[name]
    rows = np.arange(H) >= i if up else np.arange(H) <= i
    cols = np.arange(W) >= j if left else np.arange(W) <= j
    np.testing.assert_array_equal(g_KxHxW[k] > 0, rows[:, None] & cols[None, :], err_msg=name)


def test_padded_batch_gives_each_image_its_own_result():
  layer = make_layer(clip=1.0)  # derivative clipping inside the vmapped step must not break it
  mask = ragged_mask()
  x = normal(6, B, H, W, D) * 3.0  # garbage in the padding too: it must not leak anywhere
  w = normal(7, B, H, W, 4 * C)
  y, (_, g) = outputs_and_grads(lambda m, x, k: m(x, k), layer, x, mask, w[None])
  y, g = np.asarray(y), np.asarray(g[0])
  alone = nnx.jit(lambda m, x: m(x))(layer, x[1:, :3, :3])  # image 1 is 3 x 3
  np.testing.assert_allclose(y[1, :3, :3], alone[0], rtol=1e-5, atol=1e-6)
  assert np.all(y[1, 3:] == 0) and np.all(y[1, :, 3:] == 0)
  # Nor does padding get a gradient: it never influences a real output.
  assert np.all(g[1, 3:] == 0) and np.all(g[1, :, 3:] == 0) and np.any(g[1, :3, :3] != 0)


def test_sum_is_the_sum_of_the_concatenated_blocks():
  concat, summed = make_layer(combine="concat"), make_layer(combine="sum")
  nnx.update(summed, nnx.state(concat, nnx.Param))
  x = normal(7, B, H, W, D)
  y_cat = np.asarray(concat(x)).reshape(B, H, W, 4, C)
  np.testing.assert_allclose(summed(x), y_cat.sum(-2), rtol=1e-5, atol=1e-6)
  assert summed.out_features == C and concat.out_features == 4 * C


def test_check_grads_float64_on_a_3x4_image():
  with jax.enable_x64(True):
    layer = MDLSTM2D(2, 2, param_dtype=jnp.float64, rngs=nnx.Rngs(8))
    randomize(layer, 9)
    graphdef, params = nnx.split(layer)
    x = normal(10, 1, 3, 4, 2, dtype=np.float64)
    w = normal(11, 1, 3, 4, 8, dtype=np.float64)
    mask = jnp.ones((1, 3, 4), bool).at[0, 2:, 3:].set(False)  # one padded pixel

    def f(params, x):
      return jnp.sum(w * nnx.merge(graphdef, params)(x, mask))
    check_grads(jax.jit(f), (params, x), order=1, modes=["rev"])


def test_direction_names_and_order():
  assert tuple(DIRECTIONS) == NAMES
  assert make_layer().directions == NAMES and make_layer(1).directions == ("down_right",)
  assert make_layer(("up_left", "down_right")).directions == ("up_left", "down_right")


def test_bad_arguments_are_rejected():
  with pytest.raises(ValueError, match="directions"):
    MDLSTM2D(D, C, directions=3, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="directions"):
    MDLSTM2D(D, C, directions=("down_right", "sideways"), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="combine"):
    MDLSTM2D(D, C, combine="max", rngs=nnx.Rngs(0))
