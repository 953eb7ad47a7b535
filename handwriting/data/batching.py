"""Deterministic bucketed batching and padding with masks.

A batch is a pure function of (seed, step): `EpochBatcher.indices(step)` gives the item indices
of training step `step`, so the data position of a run is its step number and resuming from a
checkpoint replays exactly the batches an uninterrupted run would have seen.

Bucketing: each epoch's shuffled items are cut into windows of `bucket_window` batches; inside a
window items are sorted by length and cut into batches, then the batches of the epoch are
shuffled. Batches hold items of similar length (little padding) yet every epoch differs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


class EpochBatcher:
  """Maps a training step to the indices of its batch; drops no item except the epoch's tail."""

  def __init__(self, lengths: Sequence[int] | np.ndarray, batch_size: int, seed: int,
               bucket_window: int = 20):
    self.lengths = np.asarray(lengths)
    if len(self.lengths) < batch_size:
      raise ValueError(f"{len(self.lengths)} items cannot fill one batch of {batch_size}")
    self.batch_size = batch_size
    self.seed = seed
    self.bucket_window = bucket_window
    self.batches_per_epoch = len(self.lengths) // batch_size
    self._cache: tuple[int, np.ndarray] | None = None

  def epoch_plan(self, epoch: int) -> np.ndarray:
    """[batches_per_epoch, batch_size] item indices of one epoch."""
    if self._cache is not None and self._cache[0] == epoch:
      return self._cache[1]
    rng = np.random.default_rng([self.seed, epoch])
    order = rng.permutation(len(self.lengths))[: self.batches_per_epoch * self.batch_size]
    window = self.bucket_window * self.batch_size
    chunks = []
    for start in range(0, len(order), window):
      part = order[start:start + window]
      chunks.append(part[np.argsort(self.lengths[part], kind="stable")])
    plan = np.concatenate(chunks).reshape(self.batches_per_epoch, self.batch_size)
    plan = plan[rng.permutation(self.batches_per_epoch)]
    self._cache = (epoch, plan)
    return plan

  def position(self, step: int) -> tuple[int, int]:
    """(epoch, batch index within the epoch) of `step`."""
    return divmod(step, self.batches_per_epoch)

  def data_position(self, step: int) -> dict[str, int]:
    """`position` as the dict a Task reports and checkpoints save."""
    epoch, batch = self.position(step)
    return {"epoch": int(epoch), "batch": int(batch)}

  def indices(self, step: int) -> np.ndarray:
    epoch, i = self.position(step)
    return self.epoch_plan(epoch)[i]


def padded_length(n: int, multiple: int = 32, growth: float = 1.0) -> int:
  """Rounds n up to a bucket so that jitted functions see few distinct shapes.

  Buckets are multiples of `multiple`; with growth > 1 they are also spaced geometrically (each
  at least `growth` times the last), so lengths up to N give O(log N) shapes instead of N/multiple,
  at most a fraction growth - 1 of padding. Each shape costs a compilation and, on CPU, ~1,500
  memory maps per compiled train step: linear buckets over wide images ran a long run into the
  kernel's map limit."""
  bucket = multiple
  while bucket < n:
    bucket = max(bucket + multiple, -(-int(np.ceil(bucket * growth)) // multiple) * multiple)
  return bucket


def pad_to_power_of_two(items: list) -> list:
  """`items` with copies of its last item appended up to the next power of two in number (so a
  few compiled batch sizes serve any count); the caller keeps the first len(items) results."""
  return items + items[-1:] * ((1 << (len(items) - 1).bit_length()) - len(items))


def fixed_label_length(*label_lists: Sequence[np.ndarray] | None, multiple: int = 8) -> int:
  """One padded length for every label sequence of a task's splits: labels padded per batch
  would multiply the compiled shapes (input bucket x label bucket)."""
  longest = max((len(x) for labels in label_lists if labels for x in labels), default=1)
  return padded_length(longest, multiple)


def pad_batch(items: Sequence[np.ndarray], multiple: int = 32,
              length: int | None = None, growth: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
  """Stacks variable-length arrays along a new axis 0, padding axis 1 with zeros.

  Returns (padded [B, T, ...], mask [B, T] float32 with 1 on real steps). T is `length` if given
  else the longest item rounded up to its bucket (padded_length).
  """
  longest = max(len(x) for x in items)
  T = length if length is not None else padded_length(longest, multiple, growth)
  if T < longest:
    raise ValueError(f"pad length {T} is shorter than the longest item ({longest})")
  first = np.asarray(items[0])
  out = np.zeros((len(items), T) + first.shape[1:], dtype=first.dtype)
  mask = np.zeros((len(items), T), dtype=np.float32)
  for b, x in enumerate(items):
    out[b, :len(x)] = x
    mask[b, :len(x)] = 1.0
  return out, mask


def fixed_batches(sizes: Sequence[int] | np.ndarray, batch_size: int
                  ) -> Iterator[tuple[list[int], np.ndarray]]:
  """Evaluation batches: items sorted by size (little padding), in fixed order. The last batch
  is filled with copies of its first item given weight 0, so every batch has the same size (a
  multiple of the device count) and the copies count for nothing. Yields (indices, weights)."""
  order = np.argsort(np.asarray(sizes), kind="stable")
  for start in range(0, len(order), batch_size):
    idx = [int(i) for i in order[start:start + batch_size]]
    weight = np.ones(batch_size, np.float32)
    weight[len(idx):] = 0.0
    yield idx + [idx[0]] * (batch_size - len(idx)), weight
