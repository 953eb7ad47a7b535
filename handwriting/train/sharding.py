"""Data parallelism over all visible devices: a 1-D mesh, batches split along axis 0.

The parameters and optimizer state are replicated on every device; each device computes the loss
of its slice of the batch and XLA inserts the cross-device reductions that the batch mean (and so
the gradient) needs. One device is the trivial mesh, so the loop always goes through this path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh named "data" over `devices` (default: every visible device)."""
  devices = list(jax.devices() if devices is None else devices)
  # Auto axes: XLA propagates the batch sharding through the model (reshapes included), so
  # model code never names shardings; explicit axes would demand out_sharding on reshapes.
  return jax.make_mesh((len(devices),), (DATA_AXIS,), devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Splits axis 0 of an array over the mesh's devices."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  """A full copy on every device of the mesh."""
  return NamedSharding(mesh, P())


def check_batch_size(batch_size: int, mesh: Mesh, what: str = "batch_size") -> None:
  """Raises a clear ValueError unless `batch_size` splits evenly over the mesh."""
  n = mesh.size
  if batch_size % n:
    suggestion = max(n, batch_size // n * n)
    raise ValueError(f"{what} {batch_size} is not divisible by the {n} devices in use; choose "
                     f"a multiple of {n} (e.g. --config.batch_size={suggestion})")


def shard_batch(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Puts every array of a host batch on the mesh, split along axis 0.

  With several processes (train/distributed.py) `batch` is the whole global batch, the same on
  every process, and each process transfers only the rows its own devices hold.
  """
  sizes = {name: np.shape(x)[0] if np.ndim(x) else None for name, x in batch.items()}
  if any(s is None for s in sizes.values()) or len(set(sizes.values())) != 1:
    raise ValueError(f"every batch array needs the same batch size on axis 0, got {sizes}")
  check_batch_size(next(iter(sizes.values())), mesh, what="batch size")
  data = batch_sharding(mesh)
  if jax.process_count() == 1:
    return jax.device_put(dict(batch), data)
  return {name: _from_local_rows(np.asarray(x), data) for name, x in batch.items()}


def _from_local_rows(x: np.ndarray, data: NamedSharding) -> jax.Array:
  """The global array `x` from this process's rows of it only."""
  rows = sorted({(idx[0].start or 0, idx[0].stop if idx[0].stop is not None else len(x))
                 for idx in data.addressable_devices_indices_map(x.shape).values()})
  start, stop = rows[0][0], rows[-1][1]  # a 1-D mesh gives each process one block of rows
  return jax.make_array_from_process_local_data(data, x[start:stop], x.shape)


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Copies a pytree of arrays onto every device of the mesh. With several processes each one
  gives its own copy (they are equal: same seed, or the same checkpoint)."""
  if jax.process_count() == 1:
    return jax.device_put(tree, replicated(mesh))
  everywhere = replicated(mesh)

  def put(x: Any) -> jax.Array:
    if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.wrap_key_data(put(jax.random.key_data(x)), impl=jax.random.key_impl(x))
    value = np.asarray(x)
    return jax.make_array_from_process_local_data(everywhere, value, value.shape)
  return jax.tree.map(put, tree)
