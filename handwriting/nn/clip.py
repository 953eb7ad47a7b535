"""Derivative clipping: identity forward, the incoming cotangent clipped backward.

Graves 2013, section 4 ("Prediction network" training details): "the derivatives with respect to
the network outputs were clipped to [-100, 100] and the LSTM derivatives to [-10, 10]". This is
not gradient-norm clipping of the parameters: the error signal itself is clipped where it enters a
unit (Graves 2013, also ch. 7 of Graves' RNNLIB), so a single exploding step cannot blow up the
whole backward pass through time. The cells apply it to the gate pre-activations and the model
output layers to the network outputs.

`clip_gradient(x, bound)` clips to [-bound, bound]; `clip_gradient(x, lo, hi)` to [lo, hi];
a `None` bound is the identity, so clipping can be switched off per model config.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


@jax.custom_vjp
def _clip_cotangent(x: Array, lo: Array, hi: Array) -> Array:
  return x


def _clip_fwd(x: Array, lo: Array, hi: Array) -> tuple[Array, tuple[Array, Array]]:
  return x, (lo, hi)


def _clip_bwd(res: tuple[Array, Array], g: Array) -> tuple[Array, Array, Array]:
  lo, hi = res
  # The bounds are hyper-parameters, not learned: they get zero cotangents.
  return jnp.clip(g, lo, hi).astype(g.dtype), jnp.zeros_like(lo), jnp.zeros_like(hi)


_clip_cotangent.defvjp(_clip_fwd, _clip_bwd)


def clip_gradient(x: Array, lo: float | Array | None, hi: float | Array | None = None) -> Array:
  """Returns `x` unchanged; its cotangent is clipped to [lo, hi] in the backward pass.

  Args:
    x: any array (any shape, works under jit, vmap, scan and grad).
    lo: the lower bound, or with `hi=None` the symmetric bound: [-lo, lo]; None turns clipping off.
    hi: the upper bound; None means symmetric use of `lo`.
  """
  if lo is None and hi is None:
    return x
  if hi is None:
    lo, hi = -lo, lo  # type: ignore[operator]
  elif lo is None:
    raise ValueError("clip_gradient: give both bounds, one symmetric bound, or None")
  lo_arr = jnp.asarray(lo, dtype=x.dtype)
  hi_arr = jnp.asarray(hi, dtype=x.dtype)
  return _clip_cotangent(x, lo_arr, hi_arr)


@jax.custom_vjp
def _scale_cotangent(x: Array, factor: Array) -> Array:
  return x


def _scale_fwd(x: Array, factor: Array) -> tuple[Array, Array]:
  return x, factor


def _scale_bwd(factor: Array, g: Array) -> tuple[Array, Array]:
  return (g * factor).astype(g.dtype), jnp.zeros_like(factor)


_scale_cotangent.defvjp(_scale_fwd, _scale_bwd)


def scale_gradient(x: Array, factor: float | Array) -> Array:
  """Returns `x` unchanged; its cotangent is multiplied by `factor` in the backward pass.

  With `clip_gradient` it lets a batch-mean loss clip per-sequence derivatives, as Graves'
  per-sequence training does: scale the outputs' cotangent up by the number of sequences before
  the clips see it and the parameters' gradients back down after (synthesis/loss.py).
  """
  return _scale_cotangent(x, jnp.asarray(factor, dtype=x.dtype))
