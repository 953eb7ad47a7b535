import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from handwriting.data import iam_lines, store
from handwriting.data.images import line_input, load_image
from handwriting.data.report import DataError, SkipReport
from handwriting.data.text import natural_text

HEADER = """\
#--- lines.txt ---------------------------------------------------------------#
#
# iam database line information
#
# format: a01-000u-00 ok 154 19 408 746 1663 91 A|MOVE|to|stop|Mr.|Gaitskell|from
#
"""
# (row, what the fixture does with its image)
ROWS = [
  ("a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|Gaitskell|from", "L"),
  ("a01-000u-01 err 156 19 395 932 1850 105 nominating|any|more|Labour|life|Peers", "L"),
  ("a01-003-01 ok 176 29 319 1078 1787 126 large|majority|of|Labour|M Ps|are|likely|to", "RGBA"),
  ("a01-003-02 ok 176 29 315 1259 1744 128 turn|down|the|Foot-Griffiths|resolution|.|Mr.",
   "missing"),
  ("b02-010-00 ok 170 20 300 800 1700 110 He|said|:|\"|No|!|\"", "corrupt"),
  ("c03-020x-00 ok 180 12 310 900 1600 100 sole|,|a|baked|leg|of|mutton", "I;16"),
]
BAD_ROWS = [  # (row, reason category); each is one line of the file after the good rows
  ("a01-000u-02 ok 154 19 408", "too few fields"),
  ("a01-000u-03 ok abc 19 408 746 1661 89 word", "non-numeric field"),
  ("a01-000u-04 maybe 154 19 408 746 1661 89 word", "bad segmentation field"),
  ("a01000u04 ok 154 19 408 746 1661 89 word", "bad line id"),
  ("a01-000u-00 ok 154 19 408 746 1661 89 again", "duplicate id"),
  ("a01-000u-05 ok 154 19 408 746 1661 89 |", "empty transcription"),
]
GOOD_IMAGES = {"a01-000u-00", "a01-000u-01", "a01-003-01", "c03-020x-00"}


def _draw(text: str) -> np.ndarray:
  img = Image.new("L", (160, 40), 255)
  ImageDraw.Draw(img).text((8, 12), text, fill=20)
  return np.asarray(img)


def _write_image(path, kind: str, text: str) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  paper = _draw(text)
  if kind == "L":
    Image.fromarray(paper).save(path)
  elif kind == "RGBA":  # ink drawn opaque on a transparent background
    alpha = 255 - paper
    Image.fromarray(np.stack([paper * 0, paper * 0, paper * 0, alpha], axis=-1)).save(path)
  elif kind == "I;16":
    Image.fromarray(paper.astype(np.uint16) * 257).save(path)
  elif kind == "corrupt":
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


@pytest.fixture
def iam(tmp_path):
  """A tiny IAM layout: lines.txt and images/lines/<prefix>/<form>/<id>.png."""
  lines_txt = tmp_path / "lines.txt"
  lines_txt.write_text(HEADER + "".join(r + "\n" for r, _ in ROWS)
                       + "".join(r + "\n" for r, _ in BAD_ROWS))
  images = tmp_path / "images"
  (images / "lines").mkdir(parents=True)
  for row, kind in ROWS:
    line_id = row.split()[0]
    if kind != "missing":
      _write_image(iam_lines.image_path(images, line_id), kind, line_id)
  return lines_txt, images


def _records_by_id(lines_txt):
  records, report = iam_lines.parse_lines_txt(lines_txt)
  return {r.id: r for r in records}, report


def test_parse_fields_and_transcriptions(iam):
  lines_txt, _ = iam
  recs, _ = _records_by_id(lines_txt)
  assert list(recs) == [r.split()[0] for r, _ in ROWS]
  first = recs["a01-000u-00"]
  assert first == iam_lines.LineRecord("a01-000u-00", "a01-000u", True, 154, 19,
                                       (408, 746, 1661, 89), "A MOVE to stop Mr. Gaitskell from")
  assert recs["a01-000u-01"].ok is False
  assert recs["a01-003-01"].text == "large majority of Labour M Ps are likely to"
  assert recs["a01-003-01"].form == "a01-003"
  assert recs["b02-010-00"].text == 'He said : " No ! "'


def test_bad_rows_are_reported_with_path_and_line_number(iam):
  lines_txt, _ = iam
  _, report = _records_by_id(lines_txt)
  first_bad = HEADER.count("\n") + len(ROWS) + 1
  expected = [(f"{lines_txt}:{first_bad + i}", reason) for i, (_, reason) in enumerate(BAD_ROWS)]
  assert [(name, reason.split(":")[0]) for name, reason in report.items] == expected
  assert "(first at line 7)" in report.items[4][1]  # the duplicate names the first row


def test_parse_row_rejects_and_accepts_by_hand():
  rec = iam_lines.parse_row("x01-001-00 err 1 2 -3 4 5 6 a||b  c|")
  assert rec.text == "a b c" and rec.bbox == (-3, 4, 5, 6) and not rec.ok
  with pytest.raises(ValueError, match="too few fields: 8"):
    iam_lines.parse_row("x01-001-00 ok 1 2 3 4 5 6")


def test_non_utf8_row_is_skipped_not_fatal(tmp_path):
  path = tmp_path / "lines.txt"
  path.write_bytes(b"a01-000u-00 ok 1 2 3 4 5 6 caf\xe9\n" + ROWS[0][0].encode() + b"\n")
  records, report = iam_lines.parse_lines_txt(path)
  assert [r.id for r in records] == ["a01-000u-00"] and records[0].text.startswith("A MOVE")
  assert report.items[0][0] == f"{path}:1" and report.items[0][1].startswith("not UTF-8")


def test_image_path_with_and_without_lines_folder(tmp_path):
  assert iam_lines.image_path(tmp_path, "a01-000u-00") == tmp_path / "a01/a01-000u/a01-000u-00.png"
  (tmp_path / "lines").mkdir()
  assert iam_lines.image_path(tmp_path, "a01-000u-00") == (
    tmp_path / "lines/a01/a01-000u/a01-000u-00.png")
  with pytest.raises(ValueError, match="bad line id"):
    iam_lines.image_path(tmp_path, "a01-000u")


def test_split_lines_by_line_ids_and_form_ids(iam):
  lines_txt, _ = iam
  records, _ = iam_lines.parse_lines_txt(lines_txt)
  report = SkipReport()
  lists = {
    "trainset": ["a01-000u-00", "a01-000u-01"],  # LWRT-style line ids
    "validationset1": ["a01-003", "zz9-999"],  # a form id; an unknown form
    "testset": ["b02-010-00", "a01-003-99", "bad"],  # an unknown line; a malformed entry
  }
  got, unassigned = iam_lines.split_lines(records, lists, report, where="L")
  assert {k: [r.id for r in v] for k, v in got.items()} == {
    "trainset": ["a01-000u-00", "a01-000u-01"],
    "validationset1": ["a01-003-01", "a01-003-02"],
    "testset": ["b02-010-00"]}
  assert unassigned == 1  # c03-020x-00 is in no list
  reason = "not in lines.txt: no line or form with this id"
  assert sorted(report.items) == [("L/testset.txt:a01-003-99", reason),
                                  ("L/testset.txt:bad", reason),
                                  ("L/validationset1.txt:zz9-999", reason)]
  with pytest.raises(DataError, match="also in"):  # one line in two lists would leak
    iam_lines.split_lines(records, {"train": ["a01-003-01"], "test": ["a01-003-01"]}, report)


def _fake_records(n_forms: int, lines_per_form: int = 3):
  return [iam_lines.LineRecord(f"a{f // 100:02d}-{f % 100:03d}-{i:02d}",
                               f"a{f // 100:02d}-{f % 100:03d}", True, 0, 0, (0, 0, 0, 0), "t")
          for f in range(n_forms) for i in range(lines_per_form)]


def test_carve_is_deterministic_by_form_with_the_stated_fractions():
  records = _fake_records(2000)
  a = iam_lines.carve_splits(records, seed=0, valid_fraction=0.05, test_fraction=0.1)
  assert a == iam_lines.carve_splits(records, seed=0, valid_fraction=0.05, test_fraction=0.1)
  assert sorted(r.id for v in a.values() for r in v) == sorted(r.id for r in records)
  forms = {split: {r.form for r in recs} for split, recs in a.items()}
  assert not (forms["train"] & forms["valid"]) and not (forms["train"] & forms["test"])
  assert not (forms["valid"] & forms["test"])
  # 10% of 2000 forms for test, 5% of all forms (100 = 5.55..% of the other 1800) for valid.
  assert (len(forms["test"]), len(forms["valid"]), len(forms["train"])) == (200, 100, 1700)
  assert all(len(v) == 3 * len(forms[k]) for k, v in a.items())  # whole forms
  assert iam_lines.carve_splits(records, seed=1)["valid"] != a["valid"]
  with pytest.raises(ValueError, match="fractions"):
    iam_lines.carve_splits(records, valid_fraction=0.5, test_fraction=0.5)


def _prepare(iam, tmp_path, **kw):
  lines_txt, images = iam
  kw.setdefault("images", str(images))
  return iam_lines.prepare(str(lines_txt), splits=kw.pop("splits", None),
                           out=str(tmp_path / "out"), height=kw.pop("height", 24), **kw)


def _all_items(out, splits):
  items = {}
  for split in splits:
    r = store.load_ragged(store.images_path(out, split))
    assert int(r.extra["height"]) == 24
    for i in range(len(r)):
      items[str(r.ids[i])] = (split, r[i], str(r.texts[i]))
  return items


def test_prepare_with_images_writes_ragged_images_and_reports_skips(iam, tmp_path, capsys):
  lines_txt, images = iam
  summary = _prepare(iam, tmp_path)
  out = tmp_path / "out"
  items = _all_items(out, summary["splits"])
  assert set(items) == GOOD_IMAGES  # the missing and the corrupt image are skipped
  recs, _ = _records_by_id(lines_txt)
  for line_id, (split, img_WxH, text) in items.items():
    assert img_WxH.dtype == np.uint8 and img_WxH.shape[1] == 24  # [W, height]
    assert text == natural_text(recs[line_id].text)  # stored as natural text, not IAM's tokens
    # The one normalisation of scans, as `read` applies it to a user's file.
    expected = line_input(load_image(iam_lines.image_path(images, line_id)), 24, "scan").T
    np.testing.assert_array_equal(img_WxH, expected)
  # The RGBA and 16-bit files decode to the grey drawing they were made from.
  for line_id in ("a01-003-01", "c03-020x-00"):
    drawn = line_input(_draw(line_id), 24, "scan")
    np.testing.assert_allclose(items[line_id][1].T, drawn, atol=1)
  reasons = summary["skip_reasons"]
  assert reasons["missing file"] == 1 and reasons["not an image"] == 1
  assert summary["skipped"] == len(BAD_ROWS) + 2 and summary["splits"] == {
    s: sum(v[0] == s for v in items.values()) for s in ("train", "valid", "test")}
  skipped = (out / "skipped.txt").read_text().splitlines()
  assert len(skipped) == summary["skipped"]
  assert any(str(iam_lines.image_path(images, "a01-003-02")) in s for s in skipped)
  meta = store.read_meta(out)
  assert meta["source"] == "iam" and meta["image_height"] == 24 and meta["images"] is True
  assert meta["image_norm"] == "scan"
  assert meta["text_form"] == "natural" and items["c03-020x-00"][2] == "sole, a baked leg of mutton"
  assert meta["splits"] == summary["splits"] and meta["drop_err"] is False
  train_texts = [items[i][2] for i in items if items[i][0] == "train"]
  assert meta["alphabet"] == "".join(sorted(set("".join(train_texts))))
  printed = capsys.readouterr().out
  assert "skipped: 8" in printed and "missing file: 1" in printed
  loaded = iam_lines.load_lines(out, items["a01-000u-00"][0])
  by_id = {i: (img, t) for img, t, i in loaded}
  np.testing.assert_array_equal(by_id["a01-000u-00"][0], items["a01-000u-00"][1].T)
  assert by_id["a01-000u-00"][0].shape[0] == 24
  assert by_id["a01-000u-00"][1] == "A MOVE to stop Mr. Gaitskell from"


def test_drop_err_reports_err_lines(iam, tmp_path):
  summary = _prepare(iam, tmp_path, drop_err=True)
  items = _all_items(tmp_path / "out", summary["splits"])
  assert set(items) == GOOD_IMAGES - {"a01-000u-01"}
  assert summary["skip_reasons"]["err segmentation"] == 1
  assert ("a01-000u-01\terr segmentation"
          in (tmp_path / "out" / "skipped.txt").read_text().splitlines())


def test_prepare_without_images_writes_texts_only(iam, tmp_path, capsys):
  summary = _prepare(iam, tmp_path, images=None)
  out = tmp_path / "out"
  assert "NO IMAGES GIVEN" in capsys.readouterr().out
  assert not list(out.glob("images_*.npz")) and summary["images"] is False
  all_texts = []
  for split, n in summary["splits"].items():
    lines = (out / f"texts_{split}.txt").read_text().splitlines()
    assert len(lines) == n
    all_texts += lines
  recs, _ = _records_by_id(iam[0])
  assert sorted(all_texts) == sorted(natural_text(r.text) for r in recs.values())
  assert 'He said: "No!"' in all_texts and "sole, a baked leg of mutton" in all_texts
  meta = json.loads((out / "meta.json").read_text())
  assert meta["images"] is False and meta["image_height"] is None
  assert summary["skipped"] == len(BAD_ROWS)


def test_prepare_with_split_lists_of_line_and_form_ids(iam, tmp_path):
  _prepare(iam, tmp_path)  # an earlier carve in the same folder: its files must go
  lists = tmp_path / "lists"
  lists.mkdir()
  (lists / "trainset.txt").write_text("# LWRT-style: line ids\na01-000u-00\na01-000u-01\n\n")
  (lists / "testset.txt").write_text("a01-003\nc03-020x\n")  # form ids
  summary = _prepare(iam, tmp_path, splits=str(lists))
  assert summary["splits"] == {"trainset": 2, "testset": 2}  # a01-003-02 has no image
  items = _all_items(tmp_path / "out", ["trainset", "testset"])
  assert {i for i, v in items.items() if v[0] == "testset"} == {"a01-003-01", "c03-020x-00"}
  assert summary["unassigned"] == 1  # b02-010-00 is in no list
  out = tmp_path / "out"
  assert sorted(p.name for p in out.glob("*_*.*")) == [
    "images_testset.npz", "images_trainset.npz", "texts_testset.txt", "texts_trainset.txt"]
  assert (out / "texts_trainset.txt").read_text().splitlines() == [
    "A MOVE to stop Mr. Gaitskell from", "nominating any more Labour life Peers"]
  assert store.read_meta(tmp_path / "out")["alphabet"] == "".join(
    sorted(set("A MOVE to stop Mr. Gaitskell from" + "nominating any more Labour life Peers")))
