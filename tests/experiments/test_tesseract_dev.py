"""experiments/tesseract_dev.py with a stand-in `tesseract` (a shell script), so the test needs
neither tesseract nor any real scan: manifest in, scored lines and hypotheses.tsv out."""

import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))
import tesseract_dev  # experiments/ is not a package: imported from its folder

from tests.experiments import fake_tesseract

# Prints a fixed reading per image name, fails on "bad.png"; answers --version like tesseract.
FAKE = """#!/bin/sh
case "$1" in
  --version) echo "tesseract 0.0-fake"; exit 0 ;;
  *good.png) printf 'The cat sat .\\n\\f' ;;
  *close.png) printf 'the  cat sat\\n' ;;
  *bad.png) echo "Error: cannot read" >&2; exit 1 ;;
esac
"""


@pytest.fixture
def scans(tmp_path):
  exe = fake_tesseract.install(tmp_path, FAKE)
  scans = tmp_path / "scans"
  scans.mkdir()
  for name in ("good.png", "close.png", "bad.png"):
    (scans / name).write_bytes(b"not read by the fake")
  (scans / "manifest.tsv").write_text(
    "# image\ttranscription\n"
    "good.png\tThe cat sat.\n"
    "close.png\tThe cat sat.\twriter 1\n"
    "bad.png\tA dog.\n"
    "gone.png\tNo file.\n"
    "no tab\n")
  return scans / "manifest.tsv", str(exe)


def test_scores_on_comparison_form_and_writes_hypotheses(scans, tmp_path, capsys):
  manifest, exe = scans
  out = tmp_path / "out"
  figures = tesseract_dev.main(["--images", str(manifest), "--out", str(out),
                                "--tesseract", exe])
  # good: `The cat sat .` equals `The cat sat.` in comparison form; close: T->t and the missing
  # `.` are 2 of 12 characters, 2 of 3 words.
  assert (figures["lines"], figures["char_edits"], figures["ref_chars"]) == (2, 2, 24)
  assert (figures["word_edits"], figures["ref_words"]) == (2, 6)
  assert figures["cer"] == pytest.approx(2 / 24) and figures["wer"] == pytest.approx(2 / 6)
  assert figures["engine"] == "tesseract 0.0-fake" and figures["skipped"] == 3
  assert figures["skip_reasons"]["missing image"] == 1
  assert any("tesseract failed (exit 1): Error: cannot read" in r
             for _, r in figures["skipped_items"])
  rows = (out / "hypotheses.tsv").read_text().splitlines()
  assert rows[1:] == ["good.png\tThe cat sat.\tThe cat sat .\t0.0000",
                      "close.png\tThe cat sat.\tthe cat sat\t0.1667"]
  assert "CER 8.33%" in capsys.readouterr().out


def test_refuses_an_output_folder_inside_the_repo(tmp_path):
  # check_out_dir alone: even when it is broken, this test writes nothing into the repository.
  with pytest.raises(SystemExit, match="inside the repository"):
    tesseract_dev.check_out_dir(tesseract_dev.REPO / "runs")
  assert tesseract_dev.check_out_dir(tmp_path / "out") == (tmp_path / "out").resolve()


def test_missing_tesseract_names_the_install_command(scans, tmp_path):
  manifest, _ = scans
  with pytest.raises(SystemExit, match="apt-get install tesseract-ocr"):
    tesseract_dev.evaluate(manifest, tmp_path / "out", exe=str(tmp_path / "no-tesseract"))
