"""Shared test helpers for the recurrent core."""

import jax
from flax import nnx


def randomize(module: nnx.Module, seed: int, scale: float = 0.5) -> None:
  """Gaussian noise in every parameter, so no init pattern (zero bias, orthogonal) hides a bug."""
  state = nnx.state(module, nnx.Param)
  leaves, treedef = jax.tree.flatten(state)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  new = [scale * jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves)]
  nnx.update(module, jax.tree.unflatten(treedef, new))
