"""experiments/tesseract_legibility.py with a stand-in `tesseract`: real and written lines of the
same texts are drawn, read and scored, and the ratio is CER(written) / CER(real)."""

import json
import os
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))
import tesseract_legibility  # experiments/ is not a package: imported from its folder

from handwriting.data import synthetic
from handwriting.data.text import comparison_form
from handwriting.recognition.metrics import char_errors
from tests.experiments import fake_tesseract

# Reads every drawing of real strokes as "the cat" and every written one as "a cat".
FAKE = """#!/bin/sh
case "$1" in
  --version) echo "tesseract 0.0-fake"; exit 0 ;;
  *real-*) printf 'the cat\\n' ;;
  *written-*) printf 'a cat\\n' ;;
esac
"""


def test_ratio_of_written_to_real_cer(tmp_path, monkeypatch, capsys):
  exe = fake_tesseract.install(tmp_path, FAKE)
  monkeypatch.setenv("PATH", f"{exe.parent}:{os.environ['PATH']}")
  data = tmp_path / "data"
  synthetic.prepare(str(data), lines=20, seed=0, valid_fraction=0.3, test_fraction=0.1)
  out = tmp_path / "out"
  tesseract_legibility.main(["--workdir", "synthesis-synthetic-small", "--data", str(data),
                             "--lines", "3", "--biases", "1", "--out", str(out)])
  results = json.loads((out / "results.json").read_text())
  rows = json.loads((out / "lines.json").read_text())
  assert results["lines"] == 3 and len(rows) == 6
  assert len(list((out / "images").glob("real-*.png"))) == 3
  assert len(list((out / "images").glob("written-b1-*.png"))) == 3
  texts = [comparison_form(r["text"]) for r in rows if r["kind"] == "real"]
  real = char_errors(texts, ["the cat"] * 3).rate
  written = char_errors(texts, ["a cat"] * 3).rate
  assert results["real_cer"] == pytest.approx(real)
  assert results["biases"]["1"]["ratio"] == pytest.approx(written / real)
  assert "ratio written / real" in capsys.readouterr().out
  with pytest.raises(SystemExit, match="inside the repository"):
    tesseract_legibility.main(["--data", str(data), "--out", str(EXPERIMENTS / "x")])
