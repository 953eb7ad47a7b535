import json
import re

import numpy as np
import pytest

from handwriting.data import iam_ondb, store
from handwriting.data.prepared import Prepared
from handwriting.data.report import DataError, SkipReport
from handwriting.data.strokes import compute_stats, denormalize, points_to_offsets
from tests.data.fixtures_ondb import (
  FakeForm,
  csr_line,
  line_strokes,
  stroke_xml,
  tar_folder,
  write_lists,
  write_ondb,
)

FORMS = {
  "a01-000u": FakeForm(3),
  "a01-000": FakeForm(2),  # no writer letter; must not be confused with a01-000u
  "b02-010x": FakeForm(4, csr_lines=6),  # count mismatch: form skipped
  "c03-020": FakeForm(2, corrupt=(2,)),  # line 2 truncated xml
  "d04-030y": FakeForm(2, csr_lines=0),  # no ascii file
  "e05-040": FakeForm(2, nan=(1,)),  # line 1 has a NaN coordinate
  "f06-050z": FakeForm(3),  # in no split list
  "g07-060": FakeForm(2),
  "h08-070": FakeForm(3),
}
GOOD = ["a01-000-01", "a01-000-02", "a01-000u-01", "a01-000u-02", "a01-000u-03", "c03-020-01",
        "e05-040-02", "f06-050z-01", "f06-050z-02", "f06-050z-03", "g07-060-01", "g07-060-02",
        "h08-070-01", "h08-070-02", "h08-070-03"]
LISTS = {"trainset": ["a01-000u", "b02-010x", "d04-030y", "e05-040"], "testset_t": ["a01-000"],
         "testset_f": ["c03-020", "g07-060"], "testset_v": ["h08-070"]}


@pytest.fixture(scope="module")
def ondb(tmp_path_factory):
  root = write_ondb(tmp_path_factory.mktemp("ondb"), FORMS, orphans=["z09-999"])
  tar_folder(root, "lineStrokes", root / "lineStrokes-all.tar.gz")
  tar_folder(root, "ascii", root / "ascii-all.tar.gz")
  return root


def test_read_stroke_xml():
  data = stroke_xml([[(458, 1661), (452, 1715)], [(-3, 7)]])
  strokes = iam_ondb.read_stroke_xml(data, "x.xml")
  assert len(strokes) == 2 and all(s.dtype == np.float32 for s in strokes)
  np.testing.assert_array_equal(strokes[0], [[458, 1661], [452, 1715]])
  np.testing.assert_array_equal(strokes[1], [[-3, 7]])


@pytest.mark.parametrize("data, reason", [
  (stroke_xml([[(1, 2), (3, 4)]])[:-60], "corrupt XML"),
  (b"", "corrupt XML"),
  (b"<WhiteboardCaptureSession></WhiteboardCaptureSession>", "no StrokeSet"),
  (stroke_xml([]), "empty StrokeSet"),
  (stroke_xml([[(1, 2)], []]), "stroke without points: stroke 1"),
  (stroke_xml([[(1, "abc")]]), "non-numeric coordinates"),
  (stroke_xml([[(1, 2)]]).replace(b' y="2"', b""), "non-numeric coordinates: a point coord"),
  (stroke_xml([[(1, 2)], [("nan", 2)]]), "NaN or infinite coordinate: stroke 1"),
  (stroke_xml([[(1, 2e9)]]), "absurd coordinate"),
])
def test_read_stroke_xml_bad(data, reason):
  with pytest.raises(DataError, match=reason) as err:
    iam_ondb.read_stroke_xml(data, "a01-000u-01.xml")
  assert err.value.path == "a01-000u-01.xml"


def test_read_csr_lines():
  text = "free text\r\nOCR:\r\n\r\nocr one\r\nCSR:\r\n\r\n  line one \r\n\r\nline two\r\n"
  assert iam_ondb.read_csr_lines(text, "f.txt") == ["line one", "line two"]
  with pytest.raises(DataError, match="f.txt: no CSR section"):
    iam_ondb.read_csr_lines("OCR:\nsomething\n", "f.txt")
  with pytest.raises(DataError, match="empty CSR"):
    iam_ondb.read_csr_lines("OCR:\nsomething\nCSR:\n\n", "f.txt")


def sources(root, kind):
  if kind == "folders":
    return root / "lineStrokes", root / "ascii"
  if kind == "parent":
    return root, root
  return root / "lineStrokes-all.tar.gz", root / "ascii-all.tar.gz"


@pytest.mark.parametrize("kind", ["folders", "parent", "tar"])
def test_iter_lines_pairs_and_reports(ondb, kind):
  report = SkipReport()
  got = list(iam_ondb.iter_lines(*sources(ondb, kind), report))
  assert [line.line_id for line in got] == GOOD
  for line in got:
    number = int(line.line_id[-2:])
    assert line.form_id == line.line_id[:-3]
    assert line.text == csr_line(line.form_id, number)  # line NN <-> NN-th CSR line
    want = line_strokes(line.form_id, number)
    assert len(line.strokes) == len(want)
    for a, b in zip(line.strokes, want):
      np.testing.assert_array_equal(a, b)
  skipped = {name.replace("\\", "/").rsplit("/", 1)[-1]: reason for name, reason in report.items}
  assert skipped == {
    "b02-010x.txt": "line count mismatch: 4 xml vs 6 CSR",
    "c03-020-02.xml": skipped["c03-020-02.xml"],
    "d04-030y": "missing transcription: no ascii file d04-030y.txt (2 xml lines)",
    "e05-040-01.xml": "NaN or infinite coordinate: stroke 0",
    "z09-999.txt": "no stroke files for this transcription",
  }
  assert skipped["c03-020-02.xml"].startswith("corrupt XML: ")
  assert report.reasons()["line count mismatch"] == 1


def test_truncated_archive_keeps_what_came_before(ondb, tmp_path):
  data = (ondb / "lineStrokes-all.tar.gz").read_bytes()
  cut = tmp_path / "cut.tar.gz"
  cut.write_bytes(data[:len(data) * 2 // 3])
  report = SkipReport()
  got = list(iam_ondb.iter_lines(cut, ondb / "ascii", report))
  assert any(r.startswith("corrupt or truncated archive") for _, r in report.items)
  assert len(got) < len(GOOD)


def test_missing_source_is_an_error(tmp_path):
  with pytest.raises(DataError, match="not found"):
    list(iam_ondb.iter_lines(tmp_path / "nope", tmp_path, SkipReport()))


def raw_offsets(line_id):
  form, number = line_id[:-3], int(line_id[-2:])
  return points_to_offsets(line_strokes(form, number))


def test_prepare_graves_with_testset_v(ondb, tmp_path, capsys):
  splits = write_lists(tmp_path / "splits", LISTS)
  out = tmp_path / "prepared"
  summary = iam_ondb.prepare(str(ondb / "lineStrokes"), str(ondb / "ascii"), str(splits),
                             str(out))
  train_ids = ["a01-000-01", "a01-000-02", "a01-000u-01", "a01-000u-02", "a01-000u-03",
               "c03-020-01", "e05-040-02", "g07-060-01", "g07-060-02"]
  valid_ids = ["h08-070-01", "h08-070-02", "h08-070-03"]
  assert summary["splits"] == {"train": 9, "valid": 3} and not summary["valid_carved"]
  assert summary["unlisted"] == 3 and summary["unmatched"] == {"trainset": 2}
  meta = store.read_meta(out)
  assert meta["source"] == "iam-ondb" and meta["protocol"] == "graves"
  assert meta["splits"] == {"train": 9, "valid": 3}
  # statistics and alphabet come from the train split only
  mean, std = compute_stats([raw_offsets(i) for i in train_ids])
  np.testing.assert_allclose(meta["stroke_mean"], mean, rtol=1e-6)
  np.testing.assert_allclose(meta["stroke_std"], std, rtol=1e-6)
  all_mean, _ = compute_stats([raw_offsets(i) for i in train_ids + valid_ids])
  assert not np.allclose(all_mean, mean)
  assert "8" not in meta["alphabet"] and "7" in meta["alphabet"]  # "h08" only in valid
  for split, ids in [("train", train_ids), ("valid", valid_ids)]:
    r = store.load_ragged(store.strokes_path(out, split))
    assert r.ids.tolist() == ids
    assert r.texts.tolist() == [csr_line(i[:-3], int(i[-2:])) for i in ids]
    for k, i in enumerate(ids):  # stored in IAM-OnDB units, read normalised by any statistics
      np.testing.assert_allclose(r[k], raw_offsets(i), atol=1e-3)
  data = Prepared(out)
  assert data.raw_units
  own = data.strokes("valid")  # the folder's own (train split) statistics
  np.testing.assert_allclose(denormalize(own[0], mean, std), raw_offsets(valid_ids[0]), atol=1e-3)
  other = data.strokes("valid", (np.array([1.0, 2.0]), np.array([10.0, 20.0])))
  np.testing.assert_allclose(other[0][:, :2] * [10.0, 20.0] + [1.0, 2.0],
                             raw_offsets(valid_ids[0])[:, :2], atol=1e-3)
  np.testing.assert_array_equal(other[0][:, 2], raw_offsets(valid_ids[0])[:, 2])
  skipped = (out / "skipped.txt").read_text()
  assert "f06-050z\tnot in any split list: 3 lines" in skipped
  assert "line count mismatch: 4 xml vs 6 CSR" in skipped and len(skipped.splitlines()) == 6
  printed = capsys.readouterr().out
  assert "train: 9 lines, 5 forms" in printed and "skipped: 6" in printed


def test_prepare_carves_valid_by_form_from_tar(ondb, tmp_path):
  lists = {k: v for k, v in LISTS.items() if k != "testset_v"}
  lists["trainset"] = lists["trainset"] + ["f06-050z", "h08-070"]
  splits = write_lists(tmp_path / "splits", lists)
  args = (str(ondb / "lineStrokes-all.tar.gz"), str(ondb / "ascii-all.tar.gz"), str(splits))
  s1 = iam_ondb.prepare(*args, str(tmp_path / "p1"), valid_fraction=0.2, seed=1)
  s2 = iam_ondb.prepare(*args, str(tmp_path / "p2"), valid_fraction=0.2, seed=1)
  assert s1["valid_carved"] and s1["splits"] == s2["splits"] and s1["unlisted"] == 0
  train = store.load_ragged(store.strokes_path(tmp_path / "p1", "train"))
  valid = store.load_ragged(store.strokes_path(tmp_path / "p1", "valid"))
  valid_forms = {i[:-3] for i in valid.ids}
  assert len(valid_forms) == 1 and not valid_forms & {i[:-3] for i in train.ids}
  assert sorted(train.ids.tolist() + valid.ids.tolist()) == GOOD
  again = store.load_ragged(store.strokes_path(tmp_path / "p2", "valid"))
  np.testing.assert_array_equal(again.data, valid.data)  # deterministic
  meta = json.loads((tmp_path / "p1" / "meta.json").read_text())
  assert meta["valid_carved"] is True


def test_prepare_official_protocol(ondb, tmp_path):
  splits = write_lists(tmp_path / "splits", LISTS)
  out = tmp_path / "official"
  (out).mkdir()
  (out / "strokes_stale.npz").write_bytes(b"old")
  summary = iam_ondb.prepare(str(ondb), str(ondb), str(splits), str(out), protocol="official")
  assert summary["splits"] == {"testset_f": 3, "testset_t": 2, "testset_v": 3, "trainset": 4}
  assert store.read_meta(out)["train_split"] == "trainset"
  assert sorted(p.name for p in out.glob("strokes_*.npz")) == [
    "strokes_testset_f.npz", "strokes_testset_t.npz", "strokes_testset_v.npz",
    "strokes_trainset.npz"]


def test_prepare_renders_lines_to_images(ondb, tmp_path):
  splits = write_lists(tmp_path / "splits", LISTS)
  out = tmp_path / "rendered"
  iam_ondb.prepare(str(ondb), str(ondb), str(splits), str(out), protocol="official",
                   render_height=32)
  data = Prepared(out)
  assert data.meta["image_height"] == 32
  for split in data.splits:
    strokes, images = data.strokes(split), data.images(split)
    assert images.ids.tolist() == strokes.ids.tolist()
    assert images.texts.tolist() == strokes.texts.tolist()
    for i in range(len(images)):
      img = data.image(split, i)
      assert img.shape[0] == 32 and img.shape[1] > 2 and img.max() > 100  # ink drawn


def test_prepare_fills_gaps_and_removes_long_jumps(tmp_path):
  # one form, no split lists: everything is train, and one form cannot give a valid split
  xml_dir, ascii_dir = tmp_path / "lineStrokes/k01/k01-001", tmp_path / "ascii/k01/k01-001"
  xml_dir.mkdir(parents=True)
  ascii_dir.mkdir(parents=True)
  (xml_dir / "k01-001-01.xml").write_bytes(stroke_xml([[(0, 0), (0, 10), (0, 410)],
                                                       [(3000, 410), (3000, 400)]]))
  (xml_dir / "k01-001-02.xml").write_bytes(stroke_xml([[(5, 5), (9, 1)]]))
  (ascii_dir / "k01-001.txt").write_text("OCR:\n\na\nb\n\nCSR:\n\nab\ncd\n")
  out = tmp_path / "out"
  summary = iam_ondb.prepare(str(tmp_path), str(tmp_path), None, str(out), max_offset=1000,
                             max_step=150)
  assert summary["splits"] == {"train": 2, "valid": 0} and summary["valid_carved"]
  assert not store.strokes_path(out, "valid").exists()
  off = Prepared(out).raw_strokes("train")[0]
  # the 400 pen-down gap becomes 3 steps of 133.3; the 3000 pen-up jump is removed (section 4)
  np.testing.assert_allclose(off, [[0, 0, 0], [0, -10, 0], [0, -400 / 3, 0], [0, -400 / 3, 0],
                                   [0, -400 / 3, 1], [0, 0, 0], [0, 10, 1]], atol=1e-3)
  assert Prepared(out).raw_strokes("train").texts.tolist() == ["ab", "cd"]


def test_prepare_testset_v_alone_has_no_statistics_of_its_own(ondb, tmp_path, capsys):
  # Graves' validation list alone: no training split, so no statistics; the split is reachable
  # by the list's name and reads in any model's units.
  splits = write_lists(tmp_path / "splits", {"testset_v": LISTS["testset_v"]})
  out = tmp_path / "v"
  summary = iam_ondb.prepare(str(ondb), str(ondb), str(splits), str(out))
  assert summary["splits"] == {"train": 0, "valid": 3} and summary["train_split"] is None
  assert "no training split" in capsys.readouterr().out
  data = Prepared(out)
  assert "stroke_mean" not in data.meta and data.resolve("testset_v") == "valid"
  with pytest.raises(DataError, match="no stroke statistics: it has no training split"):
    data.strokes("testset_v")
  got = data.strokes("testset_v", (np.zeros(2), np.full(2, 2.0)))
  np.testing.assert_allclose(got[0][:, :2] * 2.0, raw_offsets(got.ids[0])[:, :2], atol=1e-3)


def test_cli_prepare_exit_code_counts_what_was_lost(tmp_path, capsys):
  from handwriting import cli
  clean = write_ondb(tmp_path / "clean", {f"a0{i}-000": FakeForm(3) for i in range(1, 8)})
  archive = tar_folder(clean, "lineStrokes", tmp_path / "lineStrokes-all.tar.gz")
  base = ["prepare", "iam-ondb", "--ascii", str(clean / "ascii")]
  assert cli.main(base + ["--strokes", str(archive), "--out", str(tmp_path / "ok")]) == 0
  cut = tmp_path / "cut.tar.gz"
  cut.write_bytes(archive.read_bytes()[:archive.stat().st_size // 2])
  capsys.readouterr()
  assert cli.main(base + ["--strokes", str(cut), "--out", str(tmp_path / "half")]) == 1
  captured = capsys.readouterr()
  assert "corrupt or truncated archive" in captured.out
  assert re.search(r"warning: \d+ items skipped .*exit code 1", captured.err)
