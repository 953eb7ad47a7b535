import numpy as np
import pytest

from handwriting.data.alphabet import Alphabet, UnknownCharacterError


def test_from_texts_sorted_unique_and_roundtrip():
  a = Alphabet.from_texts(["bca", "a b"])
  assert a.chars == " abc"
  assert a.size == 5  # 4 characters + reserved 0
  labels = a.encode("cab a")
  np.testing.assert_array_equal(labels, [4, 2, 3, 1, 2])
  assert a.decode(labels) == "cab a"
  assert a.decode([0, 4, 0, 2]) == "ca"  # 0 is blank/padding


def test_min_count_and_normalisation():
  a = Alphabet.from_texts(["aab", "a\u2019"], min_count=2)
  assert a.chars == "a"
  b = Alphabet("'ab")
  np.testing.assert_array_equal(b.encode("a\u2019b"), [2, 1, 3])  # smart quote maps to '


def test_unknown_characters_error_lists_them():
  a = Alphabet("ab?")
  with pytest.raises(UnknownCharacterError, match="'x' 'z'"):
    a.encode("axbz")
  assert a.decode(a.encode("axbz", on_unknown="drop")) == "ab"
  assert a.decode(a.encode("axbz", on_unknown="replace")) == "a?b?"


def test_repeated_characters_rejected():
  with pytest.raises(ValueError, match="repeated"):
    Alphabet("aba")
