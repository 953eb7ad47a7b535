"""Legibility: the writer's strokes reach the reader in its own units, and the shipped pair
reads its own writing back."""

import json

import ml_collections
import numpy as np
import pytest

from handwriting import cli, legibility, pretrained
from handwriting.data.alphabet import Alphabet
from handwriting.data.report import DataError
from handwriting.recognition.task import RecognizerSpec
from handwriting.synthesis.inference import Written
from handwriting.synthesis.task import ModelSpec


def _written(ink_Nx3: np.ndarray) -> Written:
  return Written("ab", [np.zeros((1, 2))], ink_Nx3, np.zeros((0, 3)), True)


def test_online_reader_gets_offsets_in_its_units():
  alphabet = Alphabet("ab")
  writer = ModelSpec(ml_collections.ConfigDict(), alphabet, np.array([1.0, -1.0], np.float32),
                     np.array([2.0, 4.0], np.float32))
  reader = RecognizerSpec(ml_collections.ConfigDict({"model_type": "online"}), alphabet,
                          np.array([10.0, 0.0], np.float32), np.array([6.0, 20.0], np.float32))
  ink = np.array([[0.5, -0.25, 0.0], [1.0, 2.0, 1.0], [-1.0, 0.0, 0.0]], np.float32)
  (got,) = legibility.reader_inputs([_written(ink)], writer, reader)
  # Hand-derived: raw = ink * (2, 4) + (1, -1); scale = mean(6/2, 20/4) = 4;
  # reader input = (4 * raw - (10, 0)) / (6, 20); the last point lifts the pen.
  raw = np.array([[2.0, -2.0], [3.0, 7.0], [-1.0, -1.0]])
  want_xy = (4 * raw - [10.0, 0.0]) / [6.0, 20.0]
  np.testing.assert_allclose(got[:, :2], want_xy, rtol=1e-6)
  np.testing.assert_array_equal(got[:, 2], [0.0, 1.0, 1.0])
  # Same statistics on both sides: the reader sees the writer's own numbers.
  same = RecognizerSpec(reader.config, alphabet, writer.stroke_mean, writer.stroke_std)
  (got,) = legibility.reader_inputs([_written(ink)], writer, same)
  np.testing.assert_allclose(got[:, :2], ink[:, :2], rtol=1e-6)


def test_image_reader_gets_renderings_at_its_height():
  alphabet = Alphabet("ab")
  writer = ModelSpec(ml_collections.ConfigDict(), alphabet, np.zeros(2, np.float32),
                     np.ones(2, np.float32))
  reader = RecognizerSpec(ml_collections.ConfigDict({"model_type": "mdlstm", "image_height": 32}),
                          alphabet)
  w = Written("ab", [np.array([[0.0, 0.0], [5.0, 1.0], [10.0, 0.0]])], np.zeros((3, 3)),
              np.zeros((2, 3)), True)
  (img,) = legibility.reader_inputs([w], writer, reader)
  assert img.shape[0] == 32 and img.dtype == np.uint8 and img.max() > 0


def test_texts_file_errors(tmp_path):
  with pytest.raises(DataError, match="not found"):
    legibility.read_texts(tmp_path / "missing.txt")
  (tmp_path / "blank.txt").write_text("\n  \n")
  with pytest.raises(DataError, match="no texts"):
    legibility.read_texts(tmp_path / "blank.txt")
  (tmp_path / "t.txt").write_text("one\n\n two \n")
  assert legibility.read_texts(tmp_path / "t.txt") == ["one", "two"]


def test_shipped_pair_reads_its_own_writing(tmp_path, capsys):
  texts = tmp_path / "texts.txt"
  texts.write_text("the cat\nsit down\n")
  out = tmp_path / "leg"
  assert cli.main(["evaluate", "legibility", "--texts", str(texts), "--bias", "3", "3",
                   "--out", str(out)]) == 0
  result = json.loads((out / "legibility.json").read_text())
  a, b = result["scores"]
  assert a["lines"] == 2 and a["cer"] == b["cer"]  # one key for every bias: same draws
  assert a["cer"] < 0.5  # near-greedy writing of short words is mostly read back
  assert (out / "legibility.png").stat().st_size > 0 and (out / "written_bias3.svg").exists()
  assert "| bias | CER %" in capsys.readouterr().out
  default = pretrained.DEFAULTS["synthesis"]  # read by the shipped reader of its own data
  assert result["reader"].endswith(pretrained.READER_FOR[default])


def test_legibility_needs_texts(capsys):
  assert cli.main(["evaluate", "legibility"]) == 2
  assert "--texts" in capsys.readouterr().err
