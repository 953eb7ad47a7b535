"""Parameter counts taken from a module's own parameters, never from a formula of its sizes (a
formula drifts when a layer changes; the parameters cannot)."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
from flax import nnx


def count_params(module: nnx.Module) -> int:
  """Number of scalars in the `nnx.Param`s of `module` (real or abstract arrays alike)."""
  return sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def count_params_of(build: Callable[[], nnx.Module]) -> int:
  """`count_params` of the module `build()` makes, built under `nnx.eval_shape`: shapes only,
  nothing allocated, so the largest configs count instantly."""
  return count_params(nnx.eval_shape(build))
