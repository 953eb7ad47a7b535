"""experiments/scan_dev.py with the API's reader stubbed: each --reader is loaded once and scored
greedy and with beam + LM through `evaluate_reader(images=...)`, and the table's figures come
from the fields that call returns (known values, so a figure from the wrong field fails)."""

import inspect
import sys
from pathlib import Path

import handwriting
from handwriting.api.evaluation import ReaderEvaluation

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))
import scan_dev  # experiments/ is not a package: imported from its folder


def test_rows_and_table_come_from_evaluate_reader(tmp_path, monkeypatch, capsys):
  loaded, scored = [], []

  class FakeReader:
    @classmethod
    def load(cls, workdir, norm):
      loaded.append((workdir, norm))
      return cls()

  real = handwriting.evaluate_reader

  def evaluate_reader(model, **kw):
    inspect.signature(real).bind(model, **kw)  # a call the real function takes
    assert isinstance(model, FakeReader)
    scored.append(kw)
    beam = kw.get("beam", 1) > 1
    return ReaderEvaluation(model="runs/rec-a", step=3000, source=kw["images"], lines=20,
                            skipped=1, cer=0.1823 if beam else 0.2217,
                            wer=0.4012 if beam else 0.5391, chars=900, char_edits=0,
                            decoding="beam 10 + LM" if beam else "greedy", norm="scan", rows=[])

  monkeypatch.setattr(handwriting, "Reader", FakeReader)
  monkeypatch.setattr(handwriting, "evaluate_reader", evaluate_reader)
  out = tmp_path / "out"
  rows = scan_dev.main(["--images", "scans/manifest.tsv", "--reader", "ours=runs/rec-a:scan",
                        "--lm-texts", "texts.txt", "--out", str(out)])
  assert loaded == [("runs/rec-a", "scan")]  # one load for both decodings
  assert scored == [
    {"images": "scans/manifest.tsv", "hypotheses": out / "ours_greedy.tsv"},
    {"images": "scans/manifest.tsv", "hypotheses": out / "ours_beam_10___4_gram_LM.tsv",
     "beam": 10, "lm": "texts.txt", "lm_weight": scan_dev.LM_WEIGHT}]
  assert [(r["decoding"], r["cer"], r["wer"], r["lines"], r["skipped"], r["step"], r["norm"])
          for r in rows] == [("greedy", 0.2217, 0.5391, 20, 1, 3000, "scan"),
                             ("beam 10 + 4-gram LM", 0.1823, 0.4012, 20, 1, 3000, "scan")]
  printed = capsys.readouterr().out
  assert "| ours (`rec-a`, step 3000) | scan | greedy | 20 | 22.2 % | 53.9 % |" in printed
  assert "| ours (`rec-a`, step 3000) | scan | beam 10 + 4-gram LM | 20 | 18.2 % | 40.1 % |" \
      in printed
