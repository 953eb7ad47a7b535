"""`prepare written`: texts chosen (excluded forms left out), written in primed styles, and
saved as a stroke folder that `prepare render` can add to a recognizer's training lines."""

import numpy as np
import pytest

from handwriting import pretrained
from handwriting.data import synthetic
from handwriting.data.prepared import Prepared
from handwriting.data.report import SkipReport
from handwriting.data.text import form_ids, read_texts
from handwriting.synthesis.written_set import select_texts, write_set


def test_form_ids_and_text_selection(tmp_path):
  manifest = tmp_path / "m.tsv"
  manifest.write_text("# image\ttext\tid\nx.png\tsome text\ta01-011u-03\t7\n"
                      "y.png\tmore\tb02-100-00\n")
  assert form_ids(manifest) == {"a01-011u", "b02-100"}
  report = SkipReport()
  texts = [("a01-011u-00", "left out: its form is excluded"), ("c01-000-00", "kept text"),
           ("c01-000-01", "kept text"), ("c01-000-02", "has a # sign"),
           ("c01-000-03", "x" * 80)]
  kept = select_texts(texts, set("abcdefghijklmnopqrstuvwxyz"), form_ids(manifest), report)
  assert kept == ["kept text"]  # unique, known characters, short enough, allowed form
  assert {n for n, _ in report.items} == {"c01-000-02", "c01-000-03"}


def test_read_texts_takes_lines_txt_in_natural_form_or_plain_lines(tmp_path):
  lines_txt = tmp_path / "lines.txt"
  lines_txt.write_text("#comment\na01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|"
                       "Gaitskell|,|he|said\n")
  report = SkipReport()
  assert read_texts(lines_txt, report) == [("a01-000u-00", "A MOVE to stop Mr. Gaitskell, he said")]
  plain = tmp_path / "texts.txt"
  plain.write_text("first  line\n\nsecond\n")
  assert [t for _, t in read_texts(plain, report)] == ["first line", "second"]


@pytest.mark.slow  # samples with a synthesis network: ~15 s on 2 cores
def test_write_set_makes_a_stroke_folder(tmp_path):
  styles = tmp_path / "styles"
  synthetic.prepare(str(styles), lines=8, seed=3, valid_fraction=0.25, test_fraction=0.0)
  synthesis = pretrained.resolve("synthesis-synthetic-small", "synthesis")
  out = tmp_path / "written"
  report = SkipReport()
  summary = write_set(synthesis, ["hi there", "ok"], styles, out, batch=2, report=report)
  data = Prepared(out)
  n = len(data.strokes("train"))
  assert summary["lines"] == n and n + len(report) == 2  # every text kept or reported
  assert data.meta["train_split"] == "train" and set(data.alphabet.chars) <= set("hi ther ok")
  for i in range(n):
    raw = data.denormalized(data.strokes("train")[i])
    assert np.all(np.isfinite(raw)) and raw[-1, 2] == 1.0  # ends with a pen lift
