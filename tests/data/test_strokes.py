import math

import numpy as np
import pytest

from handwriting.data import strokes as S
from handwriting.data.report import DataError


def random_strokes(seed: int, n_strokes: int = 4) -> list[np.ndarray]:
  rng = np.random.default_rng(seed)
  return [rng.integers(0, 5000, size=(int(rng.integers(1, 9)), 2)).astype(np.float32)
          for _ in range(n_strokes)]


def test_offsets_by_hand():
  # y grows down in the input and up in the offsets; row 0 is the zero start.
  strokes = [np.array([[0, 0], [1, 2]]), np.array([[4, 4]]), np.array([[5, 4], [5, 6]])]
  off = S.points_to_offsets(strokes)
  expected = [[0, 0, 0], [1, -2, 1], [3, -2, 1], [1, 0, 0], [0, -2, 1]]
  np.testing.assert_array_equal(off, np.array(expected, np.float32))
  assert off.dtype == np.float32
  back = S.offsets_to_strokes(off)  # y-up frame by default
  np.testing.assert_array_equal(back[0], [[0, 0], [1, -2]])
  np.testing.assert_array_equal(back[1], [[4, -4]])
  np.testing.assert_array_equal(back[2], [[5, -4], [5, -6]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_round_trip_points_offsets_points(seed):
  strokes = random_strokes(seed)
  off = S.points_to_offsets(strokes)
  assert off.shape == (sum(len(s) for s in strokes), 3)
  ends = np.cumsum([len(s) for s in strokes]) - 1
  np.testing.assert_array_equal(np.nonzero(off[:, 2])[0], ends)
  back = S.offsets_to_strokes(off, start=strokes[0][0], y_down=True)
  assert len(back) == len(strokes)
  for a, b in zip(back, strokes):
    np.testing.assert_array_equal(a, b)


def test_unfinished_last_stroke_is_kept():
  off = np.array([[0, 0, 0], [1, 1, 1], [2, 0, 0], [1, 0, 0]], np.float32)
  back = S.offsets_to_strokes(off)
  assert [len(s) for s in back] == [2, 2]
  np.testing.assert_array_equal(back[1], [[3, 1], [4, 1]])


def slow_fill(stroke: np.ndarray, max_step: float) -> list[list[float]]:
  out = [list(map(float, stroke[0]))]
  for a, b in zip(stroke[:-1], stroke[1:]):
    n = max(1, math.ceil(math.dist(a, b) / max_step))
    for k in range(1, n + 1):
      out.append([float(a[0] + (b[0] - a[0]) * k / n), float(a[1] + (b[1] - a[1]) * k / n)])
  return out


def test_fill_gaps_by_hand():
  strokes = [np.array([[0, 0], [0, 300], [0, 310]]), np.array([[1000, 310], [1000, 460]])]
  filled = S.fill_gaps(strokes, max_step=100)
  np.testing.assert_array_equal(filled[0], [[0, 0], [0, 100], [0, 200], [0, 300], [0, 310]])
  # the pen-up jump of 1000 is not a gap; a step of 150 is cut in two
  np.testing.assert_array_equal(filled[1], [[1000, 310], [1000, 385], [1000, 460]])
  same = S.fill_gaps(strokes, max_step=300)  # exactly max_step: untouched
  np.testing.assert_array_equal(same[0], strokes[0])


@pytest.mark.parametrize("seed", [0, 1])
def test_fill_gaps_matches_slow_reference(seed):
  strokes = random_strokes(seed, n_strokes=5) + [np.array([[7.0, 7.0]])]
  filled = S.fill_gaps(strokes, max_step=400.0)
  assert len(filled) == len(strokes)
  for got, stroke in zip(filled, strokes):
    np.testing.assert_allclose(got, slow_fill(stroke, 400.0), rtol=0, atol=1e-3)
    steps = np.hypot(*np.diff(got, axis=0).T)
    assert (steps <= 400.0 + 1e-3).all()


def test_long_steps_are_removed_not_shortened():
  # Graves 2013 section 4: a pen-up jump of 1,500 units over max_offset 1,000 is removed (the
  # next stroke starts where the last one ended); the 500-unit jump and all eos marks stay.
  strokes = [np.array([[0, 0], [10, 0]]), np.array([[1210, -900], [1220, -900]]),
             np.array([[1720, -900]])]
  off = S.points_to_offsets(strokes, max_offset=1000)
  np.testing.assert_allclose(off, [[0, 0, 0], [10, 0, 1], [0, 0, 0], [10, 0, 1], [500, 0, 1]])
  np.testing.assert_array_equal(S.points_to_offsets(strokes, max_offset=None)[2], [1200, 900, 0])
  # Exactly max_offset is kept.
  np.testing.assert_array_equal(S.points_to_offsets(strokes, max_offset=500)[4], [500, 0, 1])


def test_preprocess_fills_gaps_then_removes_jumps():
  # One pen-down gap of 300 (filled at max_step 150 into two steps) and one pen-up jump of 2,000.
  strokes = [np.array([[0, 0], [300, 0]]), np.array([[2300, 0], [2310, 0]])]
  off = S.preprocess(strokes, max_step=150, max_offset=1000)
  np.testing.assert_allclose(off, [[0, 0, 0], [150, 0, 0], [150, 0, 1], [0, 0, 0], [10, 0, 1]])
  with pytest.raises(DataError, match="x.xml"):
    S.preprocess([np.zeros((0, 2))], name="x.xml")


def test_stats_by_hand_skip_the_start_row():
  lines = [np.array([[100, 100, 0], [1, 2, 0], [3, 4, 1]], np.float32),
           np.array([[-50, 9, 0], [5, -6, 1]], np.float32)]
  mean, std = S.compute_stats(lines)
  np.testing.assert_allclose(mean, [3.0, 0.0])
  np.testing.assert_allclose(std, [math.sqrt(8 / 3), math.sqrt(56 / 3)], rtol=1e-6)
  with pytest.raises(ValueError):
    S.compute_stats([np.zeros((3, 3), np.float32)])


def test_normalize_round_trip_and_eos_untouched():
  off = S.points_to_offsets(random_strokes(3))
  mean, std = np.array([2.0, -1.0], np.float32), np.array([4.0, 0.5], np.float32)
  norm = S.normalize(off, mean, std)
  np.testing.assert_allclose(norm[:, 0], (off[:, 0] - 2.0) / 4.0, rtol=1e-6)
  np.testing.assert_allclose(norm[:, 1], (off[:, 1] + 1.0) / 0.5, rtol=1e-6)
  np.testing.assert_array_equal(norm[:, 2], off[:, 2])
  np.testing.assert_allclose(S.denormalize(norm, mean, std), off, rtol=1e-6, atol=1e-3)
  batch_BxTx3 = np.stack([off, off])
  np.testing.assert_allclose(S.normalize(batch_BxTx3, mean, std)[1], norm)
  assert off[1, 0] != norm[1, 0]  # the input is not modified in place
  np.testing.assert_array_equal(off, S.points_to_offsets(random_strokes(3)))


@pytest.mark.parametrize("strokes, reason", [
  ([], "empty stroke set"),
  ([np.zeros((2, 2)), np.zeros((0, 2))], "stroke without points: stroke 1"),
  ([np.array([[0.0, 1.0], [np.nan, 2.0]])], "NaN or infinite coordinate: stroke 0"),
  ([np.array([[0.0, np.inf]])], "NaN or infinite coordinate: stroke 0"),
  ([np.array([[0.0, 1.0]]), np.array([[2e6, 1.0]])], "absurd coordinate: 2e\\+06 in stroke 1"),
  ([[["a", "b"]]], "non-numeric coordinates: stroke 0"),
  ([np.zeros(3)], "bad stroke shape: stroke 0 is \\(3,\\)"),
])
def test_bad_strokes_name_the_file(strokes, reason):
  with pytest.raises(DataError, match=reason) as err:
    S.points_to_offsets(strokes, name="lineStrokes/a01/a01-000/a01-000u-01.xml")
  assert err.value.path == "lineStrokes/a01/a01-000/a01-000u-01.xml"
