import json

import numpy as np
import pytest

from handwriting.data.alphabet import Alphabet
from handwriting.data.report import DataError, SkipReport
from handwriting.recognition.lm import CharLM

TEXTS = [
  "the cat sat on the mat",
  "a cat and a hat",
  "the hat is on the cat",
  "that is the rat",
  "no mat for the rat",
]
ALPHABET = Alphabet.from_texts(TEXTS)


def test_hand_derived_probabilities():
  # Training line "ab", labels: 0 boundary, a = 1, b = 2.
  unigram = CharLM.train(["ab"], order=1, alphabet=Alphabet("ab"))
  # Counts a, b, end = 1 each, N = 3 types: (1 + 3 * 1/3) / (3 + 3) = 1/3 for every label.
  np.testing.assert_allclose(np.exp(unigram.log_probs([1, 2])), [1 / 3, 1 / 3, 1 / 3])
  bigram = CharLM.train(["ab"], order=2, alphabet=Alphabet("ab"))
  # After "a" only "b" was seen, once (N = 1): P(b|a) = (1 + 1/3) / 2, P(a|a) = P(end|a) = 1/6.
  np.testing.assert_allclose(np.exp(bigram.log_probs([1])), [1 / 6, 1 / 6, 2 / 3])
  # An empty history is the start of a line, which was followed by "a" once.
  np.testing.assert_allclose(np.exp(bigram.log_probs([])), [1 / 6, 2 / 3, 1 / 6])
  assert bigram.log_prob(2, [2, 2, 1]) == pytest.approx(np.log(2 / 3))  # only the last label


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_distribution_sums_to_one_for_every_history(order):
  lm = CharLM.train(TEXTS, order=order, alphabet=ALPHABET)
  rng = np.random.default_rng(order)
  histories = [[], ALPHABET.encode("the"), ALPHABET.encode("mmmm"), ALPHABET.encode("the cat s")]
  histories += [rng.integers(1, ALPHABET.size, size=rng.integers(0, 8)) for _ in range(20)]
  for h in histories:
    p = np.exp(lm.log_probs(h))
    assert p.shape == (ALPHABET.size,)
    assert np.all(p > 0)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_seen_ngrams_are_more_probable():
  lm = CharLM.train(TEXTS, order=3, alphabet=ALPHABET)
  enc = ALPHABET.encode
  # "th" is followed by "e" or "a" in training, never by "m".
  assert lm.log_prob(enc("e")[0], enc("th")) > lm.log_prob(enc("m")[0], enc("th"))
  # Lines end after "at" and "mat" often, never after "th".
  assert lm.log_prob(0, enc("the rat")) > lm.log_prob(0, enc("th"))


def test_training_text_has_lower_perplexity_than_shuffled_text():
  lm = CharLM.train(TEXTS, order=4, alphabet=ALPHABET)
  rng = np.random.default_rng(0)
  shuffled = ["".join(rng.permutation(list(t))) for t in TEXTS]
  assert lm.perplexity(TEXTS) < 0.5 * lm.perplexity(shuffled)
  # A model knowing nothing is uniform: perplexity K.
  blank = CharLM(ALPHABET, 3, {})
  assert blank.perplexity(TEXTS) == pytest.approx(ALPHABET.size)


def test_json_round_trip(tmp_path):
  lm = CharLM.train(TEXTS, order=3, alphabet=ALPHABET)
  path = tmp_path / "lm.json"
  lm.save(path)
  json.loads(path.read_text(encoding="utf-8"))  # plain JSON
  back = CharLM.load(path, ALPHABET)
  assert back.order == 3 and back.alphabet == ALPHABET
  for h in ([], ALPHABET.encode("the c"), ALPHABET.encode("mmd")):
    np.testing.assert_array_equal(back.log_probs(h), lm.log_probs(h))


def test_load_rejects_bad_files(tmp_path):
  lm = CharLM.train(TEXTS, order=2, alphabet=ALPHABET)
  good = tmp_path / "lm.json"
  lm.save(good)
  with pytest.raises(DataError, match="alphabet differs"):
    CharLM.load(good, Alphabet("abc"))
  bad = tmp_path / "bad.json"
  bad.write_text("{not json", encoding="utf-8")
  with pytest.raises(DataError) as e:
    CharLM.load(bad)
  assert e.value.path == str(bad)
  doc = json.loads(good.read_text(encoding="utf-8"))
  doc["ngrams"][0][0] = [0, ALPHABET.size]  # label out of range
  bad.write_text(json.dumps(doc), encoding="utf-8")
  with pytest.raises(DataError, match="bad n-gram"):
    CharLM.load(bad)
  with pytest.raises(DataError):
    CharLM.load(tmp_path / "missing.json")


def test_from_file_trains_and_reports_bad_lines(tmp_path):
  path = tmp_path / "train.txt"
  path.write_text("\n".join(TEXTS[:3] + ["", "a cat @ home"] + TEXTS[3:]) + "\n", encoding="utf-8")
  report = SkipReport()
  lm = CharLM.from_file(path, ALPHABET, order=3, report=report)
  assert report.items == [(f"{path}:5", "characters not in the alphabet: '@'")]
  want = CharLM.train(TEXTS, order=3, alphabet=ALPHABET)
  np.testing.assert_array_equal(lm.log_probs(ALPHABET.encode("the")),
                                want.log_probs(ALPHABET.encode("the")))
  with pytest.raises(DataError, match=":5"):
    CharLM.from_file(path, ALPHABET, order=3)
  empty = tmp_path / "empty.txt"
  empty.write_text("\n\n", encoding="utf-8")
  with pytest.raises(DataError, match="no usable"):
    CharLM.from_file(empty, ALPHABET)
  binary = tmp_path / "binary.txt"
  binary.write_bytes(b"\xff\xfe\x00abc")
  with pytest.raises(DataError):
    CharLM.from_file(binary, ALPHABET)


def test_lm_from_a_prepared_folder_reads_its_training_split_only(tmp_path):
  """An official-protocol folder has trainset / testset_* and no "train": the LM must come
  from trainset (meta's train_split), never from a test split."""
  from handwriting.data import store
  from handwriting.recognition.inference import load_lm

  alphabet = Alphabet("abc ")
  ink = np.zeros((3, 3), np.float32)
  for split, text in (("testset_f", "ccc ccc"), ("trainset", "ab ab")):
    store.save_ragged(store.strokes_path(tmp_path, split),
                      store.Ragged.from_items([ink], [text], [f"{split}-0"]))
  meta = {"source": "iam-ondb", "alphabet": alphabet.chars, "train_split": "trainset",
          "splits": {"testset_f": 1, "trainset": 1}}
  store.write_meta(tmp_path, meta)
  lm = load_lm(tmp_path, alphabet, order=2)
  a, b, c = (alphabet.encode(ch)[0] for ch in "abc")
  assert lm.log_prob(b, [a]) > lm.log_prob(c, [a])  # "ab" seen, "ac" never: trained on trainset
  store.write_meta(tmp_path, {**meta, "train_split": None})
  with pytest.raises(DataError, match="no training split"):
    load_lm(tmp_path, alphabet, order=2)
