import functools

import numpy as np
import pytest

from handwriting.recognition import metrics


def _slow_distance(a, b):
  """The textbook recursion, memoised: obviously right, exponential without the cache."""

  @functools.cache
  def d(i, j):
    if i == 0:
      return j
    if j == 0:
      return i
    return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

  return d(len(a), len(b))


@pytest.mark.parametrize("a, b, want", [
  ("kitten", "sitting", 3),
  ("flaw", "lawn", 2),
  ("", "", 0),
  ("", "abc", 3),
  ("abc", "", 3),
  ("abc", "abc", 0),
  ("ab", "ba", 2),
])
def test_hand_examples(a, b, want):
  assert metrics.edit_distance(a, b) == want
  assert metrics.edit_distance(b, a) == want


def test_label_arrays_and_word_lists():
  assert metrics.edit_distance(np.array([1, 2, 3]), np.array([1, 3])) == 1
  assert metrics.edit_distance(["the", "cat", "sat"], ["the", "hat", "sat", "down"]) == 2


def test_matches_slow_recursion_on_random_strings():
  rng = np.random.default_rng(0)
  for _ in range(300):
    a = "".join(rng.choice(list("abc"), size=rng.integers(0, 8)))
    b = "".join(rng.choice(list("abc"), size=rng.integers(0, 8)))
    assert metrics.edit_distance(a, b) == _slow_distance(a, b), (a, b)


def test_corpus_level_rate_differs_from_mean_of_line_rates():
  refs, hyps = ["a", "abcdefghij"], ["b", "abcdefghij"]
  # One edit in 11 reference characters; the per-line mean would be (1/1 + 0/10) / 2 = 0.5.
  assert metrics.cer(refs, hyps) == pytest.approx(1 / 11)
  assert metrics.char_errors(refs, hyps) == metrics.ErrorCounts(edits=1, ref_len=11)


def test_counts_aggregate_over_batches():
  refs, hyps = ["hello world", "a b c", "xyz"], ["hallo world", "a c", ""]
  whole = metrics.char_errors(refs, hyps)
  parts = metrics.char_errors(refs[:1], hyps[:1]) + metrics.char_errors(refs[1:], hyps[1:])
  assert whole == parts == metrics.ErrorCounts(edits=1 + 2 + 3, ref_len=11 + 5 + 3)


def test_wer_splits_on_whitespace():
  refs, hyps = ["the quick  brown fox", "jumps"], ["the quick brown box", "jumps over"]
  counts = metrics.word_errors(refs, hyps)
  assert counts == metrics.ErrorCounts(edits=2, ref_len=5)
  assert metrics.wer(refs, hyps) == pytest.approx(2 / 5)


def test_empty_references():
  assert metrics.cer([""], [""]) == 0.0
  assert metrics.cer([""], ["a"]) == float("inf")
  assert metrics.cer([], []) == 0.0
  with pytest.raises(ValueError):
    metrics.cer(["a"], [])
