import json

import numpy as np
import pytest

from handwriting.data import store
from handwriting.data.prepared import Prepared
from handwriting.data.report import DataError, SkipReport


def test_ragged_roundtrip_without_pickle(tmp_path):
  items = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((4, 3), np.float32)]
  r = store.Ragged.from_items(items, ["ab", "c d"], ["x-01", "x-02"], height=np.array(64))
  path = tmp_path / "strokes_train.npz"
  store.save_ragged(path, r)
  back = store.load_ragged(path)
  assert len(back) == 2 and back.texts.tolist() == ["ab", "c d"]
  np.testing.assert_array_equal(back[0], items[0])
  np.testing.assert_array_equal(back[1], items[1])
  np.testing.assert_array_equal(back.lengths, [2, 4])
  assert int(back.extra["height"]) == 64
  sub = back.subset([1])
  assert sub.ids.tolist() == ["x-02"] and len(sub) == 1
  assert not list(tmp_path.glob("*.tmp*"))  # atomic write leaves no temp file


def test_bad_files_are_data_errors(tmp_path):
  with pytest.raises(DataError, match="no such file"):
    store.load_ragged(tmp_path / "missing.npz")
  (tmp_path / "bad.npz").write_bytes(b"not an npz")
  with pytest.raises(DataError, match="bad.npz: not a prepared npz"):
    store.load_ragged(tmp_path / "bad.npz")
  with pytest.raises(DataError, match="not a prepared data folder"):
    store.read_meta(tmp_path)
  (tmp_path / "meta.json").write_text("{oops")
  with pytest.raises(DataError, match="corrupt JSON"):
    store.read_meta(tmp_path)
  (tmp_path / "meta.json").write_text(json.dumps({"format": "other"}))
  with pytest.raises(DataError, match="unknown format"):
    store.read_meta(tmp_path)


def test_prepared_reader(tmp_path):
  store.write_meta(tmp_path, {"source": "t", "alphabet": "ab", "splits": {"train": 1},
                              "stroke_mean": [1.0, 2.0], "stroke_std": [2.0, 4.0]})
  r = store.Ragged.from_items([np.array([[1.0, 1.0, 1.0]], np.float32)], ["a"], ["i"])
  store.save_ragged(store.strokes_path(tmp_path, "train"), r)
  p = Prepared(tmp_path)
  assert p.alphabet.chars == "ab" and p.splits == ["train"] and p.has_strokes("train")
  np.testing.assert_allclose(p.denormalized(p.strokes("train")[0]), [[3.0, 6.0, 1.0]])
  with pytest.raises(DataError, match="no split 'test'"):
    p.strokes("test")


def test_skip_report_prints_every_item_and_counts(capsys, tmp_path):
  rep = SkipReport()
  rep.skip("a.xml", "corrupt XML: line 3")
  rep.add(DataError("b.xml", "empty stroke set"))
  rep.print()
  out = capsys.readouterr().out
  assert "skipped a.xml: corrupt XML: line 3" in out and "skipped b.xml: empty stroke set" in out
  assert "skipped: 2 (corrupt XML: 1, empty stroke set: 1)" in out
  rep.write(tmp_path / "skipped.txt")
  assert (tmp_path / "skipped.txt").read_text().count("\n") == 2
