import itertools

import numpy as np
import pytest

from handwriting.data.alphabet import Alphabet
from handwriting.recognition import decode
from handwriting.recognition.lm import CharLM


def _log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _exhaustive(log_probs_TxK):
  """log p(labelling) for every labelling, summing all K^T paths (Graves et al. 2006, eq. 3)."""
  t, k = log_probs_TxK.shape
  totals = {}
  for path in itertools.product(range(k), repeat=t):
    labels = tuple(int(c) for c in decode.greedy_decode(np.eye(k)[list(path)])[0])
    logp = sum(log_probs_TxK[i, s] for i, s in enumerate(path))
    totals[labels] = np.logaddexp(totals.get(labels, -np.inf), logp)
  return totals


def test_greedy_collapses_repeats_and_drops_blanks_per_sequence():
  path_BxT = np.array([[1, 1, 0, 1, 2, 2, 0], [0, 3, 3, 3, 0, 0, 0]])
  logits = np.eye(4)[path_BxT] * 5.0
  mask = np.array([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0]])
  got = decode.greedy_decode(logits, mask)
  assert [g.tolist() for g in got] == [[1, 1, 2], [3]]
  assert all(g.dtype == np.int32 for g in got)
  assert [g.tolist() for g in decode.greedy_decode(logits[0])] == [[1, 1, 2]]
  # A padded frame that would add a label is ignored.
  assert decode.greedy_decode(np.eye(4)[[0, 2]], np.array([1, 0]))[0].tolist() == []


@pytest.mark.parametrize("t, k, seed", [(1, 2, 0), (3, 3, 1), (4, 2, 2), (5, 3, 3), (5, 3, 4)])
def test_wide_beam_equals_exhaustive_enumeration(t, k, seed):
  rng = np.random.default_rng(seed)
  log_probs = _log_softmax(rng.normal(size=(t, k)) * 2.0)
  exact = _exhaustive(log_probs)
  results = decode.beam_search(log_probs, beam=k ** t)
  best = max(exact, key=exact.get)
  assert tuple(results[0][0].tolist()) == best
  assert results[0][1] == pytest.approx(exact[best], abs=1e-10)
  # With a beam holding every prefix, every labelling is found with its exact probability.
  assert {tuple(l.tolist()): s for l, s in results} == pytest.approx(exact, abs=1e-10)
  scores = [s for _, s in results]
  assert scores == sorted(scores, reverse=True)


def test_best_path_is_not_the_best_labelling():
  # Two frames, p(blank) = 0.6, p(a) = 0.4: the best path is blank blank ("", 0.36), but "a"
  # has p = 0.4 * 0.4 + 0.4 * 0.6 + 0.6 * 0.4 = 0.64.
  log_probs = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
  assert decode.greedy_decode(log_probs)[0].tolist() == []
  (labels, score), (labels2, score2) = decode.beam_search(log_probs, beam=4)
  assert labels.tolist() == [1] and score == pytest.approx(np.log(0.64))
  assert labels2.tolist() == [] and score2 == pytest.approx(np.log(0.36))


def test_language_model_changes_the_result():
  alphabet = Alphabet("ab")
  lm = CharLM.train(["b"] * 9 + ["a"], order=2, alphabet=alphabet)
  log_probs = np.log(np.array([[0.15, 0.45, 0.40]]))  # one frame: "a" slightly ahead of "b"
  assert decode.beam_search(log_probs, beam=5)[0][0].tolist() == [1]
  labels, score = decode.beam_search(log_probs, beam=5, lm=lm, lm_weight=1.0)[0]
  assert labels.tolist() == [2]
  want = np.log(0.40) + lm.log_prob(2, []) + lm.log_prob(0, [2])  # emission, LM, end of line
  assert score == pytest.approx(want)
  with pytest.raises(ValueError, match="labels"):
    decode.beam_search(np.zeros((2, 5)), lm=lm, lm_weight=1.0)


def test_insertion_bonus_favours_longer_labellings():
  log_probs = np.log(np.array([[0.9, 0.1]] * 3))  # p("") = 0.729, p("a") = 0.262
  assert decode.beam_search(log_probs, beam=8)[0][0].tolist() == []
  labels, _ = decode.beam_search(log_probs, beam=8, insertion_bonus=5.0)[0]
  assert labels.tolist() == [1, 1]  # the longest labelling three frames can hold


def test_beam_of_one():
  rng = np.random.default_rng(5)
  path = [1, 1, 0, 2, 3, 3, 0, 3]
  log_probs = _log_softmax(np.eye(4)[path] * 4.0 + rng.normal(size=(8, 4)) * 0.1)
  results = decode.beam_search(log_probs, beam=1)
  assert len(results) == 1
  assert results[0][0].tolist() == decode.greedy_decode(log_probs)[0].tolist() == [1, 2, 3, 3]
  exact = decode.beam_search(log_probs, beam=64)
  assert results[0][1] <= exact[0][1] + 1e-12


def test_no_frames_gives_the_empty_labelling():
  ((labels, score),) = decode.beam_search(np.zeros((0, 3)))
  assert labels.tolist() == [] and score == 0.0
