import numpy as np
import pytest

from handwriting.data.batching import EpochBatcher, fixed_label_length, pad_batch, padded_length


def test_batches_are_a_pure_function_of_step():
  lengths = np.random.default_rng(0).integers(1, 100, size=103)
  a = EpochBatcher(lengths, batch_size=10, seed=3, bucket_window=4)
  b = EpochBatcher(lengths, batch_size=10, seed=3, bucket_window=4)
  steps = [0, 5, 9, 10, 27, 3]
  for s in steps:  # any order, fresh instance: same batch
    np.testing.assert_array_equal(a.indices(s), b.indices(s))
  assert a.batches_per_epoch == 10 and a.position(27) == (2, 7)


def test_each_epoch_uses_distinct_items_and_differs_between_epochs():
  lengths = np.arange(50)
  bt = EpochBatcher(lengths, batch_size=5, seed=0, bucket_window=2)
  e0 = np.concatenate([bt.indices(s) for s in range(10)])
  e1 = np.concatenate([bt.indices(s) for s in range(10, 20)])
  assert len(set(e0.tolist())) == 50 and len(set(e1.tolist())) == 50
  assert not np.array_equal(e0, e1)


def test_bucketing_reduces_padding():
  lengths = np.random.default_rng(1).integers(1, 1000, size=400)
  bucketed = EpochBatcher(lengths, 8, seed=0, bucket_window=50)
  plain = EpochBatcher(lengths, 8, seed=0, bucket_window=1)
  def waste(bt):
    return sum(lengths[bt.indices(s)].max() * 8 - lengths[bt.indices(s)].sum() for s in range(50))
  assert waste(bucketed) < 0.3 * waste(plain)


def test_too_few_items():
  with pytest.raises(ValueError, match="cannot fill one batch"):
    EpochBatcher([1, 2], batch_size=3, seed=0)


def test_pad_batch_and_mask():
  items = [np.ones((3, 2)), 2 * np.ones((5, 2))]
  x, mask = pad_batch(items, multiple=4)
  assert x.shape == (2, 8, 2) and padded_length(5, 4) == 8
  np.testing.assert_array_equal(mask.sum(1), [3, 5])
  assert x[0, 3:].sum() == 0 and x[1, :5].sum() == 20
  with pytest.raises(ValueError, match="shorter"):
    pad_batch(items, length=4)


def test_geometric_buckets_bound_shapes_and_padding():
  lengths = np.arange(1, 4001)
  linear = {padded_length(int(n), 64) for n in lengths}
  buckets = [padded_length(int(n), 64, growth=1.25) for n in lengths]
  assert len(linear) == 63 and len(set(buckets)) <= 16  # O(log N) shapes
  for n, b in zip(lengths, buckets):
    assert b >= n and b % 64 == 0
    assert b <= max(n * 1.25, n) + 64  # padding: at most growth - 1 plus one multiple
  assert buckets == sorted(buckets)  # a longer item never gets a shorter bucket
  assert padded_length(64, 64, 1.25) == 64 and padded_length(65, 64, 1.25) == 128


def test_fixed_label_length_covers_every_split():
  a, b = [np.zeros(3), np.zeros(17)], [np.zeros(9)]
  assert fixed_label_length(a, b) == 24 and fixed_label_length(b, None) == 16
  x, _ = pad_batch([np.zeros(3)], 8, length=fixed_label_length(a, b))
  assert x.shape == (1, 24)


def test_fixed_batches_cover_every_item_once_with_weights():
  from handwriting.data.batching import fixed_batches
  sizes = [5, 1, 9, 3, 7]
  got = list(fixed_batches(sizes, 2))
  assert [idx for idx, _ in got] == [[1, 3], [0, 4], [2, 2]]  # sorted by size, last filled
  np.testing.assert_array_equal(got[-1][1], [1.0, 0.0])
  seen = [i for idx, w in got for i, wi in zip(idx, w) if wi > 0]
  assert sorted(seen) == list(range(5))
