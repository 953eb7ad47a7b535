import jax
import jax.numpy as jnp
import numpy as np
import pytest

from handwriting.nn.clip import clip_gradient


def test_forward_is_identity_under_jit_and_any_bound():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 4)) * 100, jnp.float32)
  for bounds in [(10.0,), (-1.0, 2.0), (None,)]:
    np.testing.assert_array_equal(clip_gradient(x, *bounds), x)
    np.testing.assert_array_equal(jax.jit(lambda x: clip_gradient(x, *bounds))(x), x)


@pytest.mark.parametrize("scale, bounds, expected", [
    (1000.0, (10.0,), 10.0),  # d/dx 1000 x with the cotangent clipped to [-10, 10]
    (-1000.0, (10.0,), -10.0),
    (1000.0, (-5.0, 3.0), 3.0),
    (-1000.0, (-5.0, 3.0), -5.0),
    (2.5, (10.0,), 2.5),  # inside the bounds: untouched
    (1000.0, (None,), 1000.0),  # None: off
])
def test_gradient_is_the_clipped_cotangent(scale, bounds, expected):
  grad = jax.grad(lambda x: scale * clip_gradient(x, *bounds))(jnp.float32(0.7))
  assert grad.dtype == jnp.float32
  np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_bad_bounds_raise():
  with pytest.raises(ValueError, match="bounds"):
    clip_gradient(jnp.ones(2), None, 1.0)


def test_clipping_inside_scan_applies_at_every_step():
  # c_{t+1} = 1000 * clip(c_t): each step's cotangent 1000 * 10 is clipped back to 10.
  def final(c0, bound):
    def body(c, _):
      return 1000.0 * clip_gradient(c, bound), None
    return jax.lax.scan(body, c0, None, length=3)[0]

  np.testing.assert_allclose(jax.grad(final)(jnp.float32(0.1), 10.0), 10.0, rtol=1e-6)
  np.testing.assert_allclose(jax.grad(final)(jnp.float32(0.1), None), 1e9, rtol=1e-6)
  np.testing.assert_allclose(jax.jit(jax.grad(final), static_argnums=1)(jnp.float32(0.1), 10.0),
                             10.0, rtol=1e-6)


def test_clipping_under_vmap_with_shared_and_batched_bounds():
  x_B = jnp.linspace(-1.0, 1.0, 4)
  scale_B = jnp.asarray([1000.0, -1000.0, 3.0, -30.0])
  grad_one = jax.grad(lambda x, s, b: s * clip_gradient(x, b))
  got = jax.vmap(grad_one, in_axes=(0, 0, None))(x_B, scale_B, 20.0)
  np.testing.assert_allclose(got, [20.0, -20.0, 3.0, -20.0], rtol=1e-6)
  bound_B = jnp.asarray([1.0, 2.0, 5.0, 40.0])
  got = jax.vmap(grad_one)(x_B, scale_B, bound_B)
  np.testing.assert_allclose(got, [1.0, -2.0, 3.0, -30.0], rtol=1e-6)


def test_elementwise_clipping_of_an_array_cotangent():
  w = jnp.asarray([[-300.0, -4.0], [0.5, 70.0]])
  grad = jax.grad(lambda x: jnp.sum(w * clip_gradient(x, 50.0)))(jnp.zeros((2, 2)))
  np.testing.assert_allclose(grad, np.clip(np.asarray(w), -50, 50))
