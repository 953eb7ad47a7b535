import pytest

from handwriting.data.manifest import ManifestRow, read_manifest
from handwriting.data.report import DataError

# Invented rows: comments, blank lines, extra columns, an absolute path and four bad rows.
MANIFEST = (
  "# image\ttranscription\tnote\n"
  "lines/one.png\tA short line.\tfrom a scan\n"
  "\n"
  "  # an indented comment\n"
  "two.png\t  spaced text  \n"
  "no tab here\n"
  "\tmissing image\n"
  "three.png\t\n"
  "four.png\t \textra\n"
  "{absolute}\tAbsolute, too\r\n"
)


def _write(tmp_path, text: str):
  path = tmp_path / "scans" / "manifest.tsv"
  path.parent.mkdir()
  path.write_text(text.format(absolute=tmp_path / "elsewhere.png"), encoding="utf-8")
  return path


def test_rows_resolve_against_the_manifest_folder(tmp_path):
  path = _write(tmp_path, MANIFEST)
  rows, report = read_manifest(path)
  folder = path.parent.resolve()
  assert rows == [
    ManifestRow(folder / "lines/one.png", "A short line.", 2),
    ManifestRow(folder / "two.png", "spaced text", 5),
    ManifestRow((tmp_path / "elsewhere.png").resolve(), "Absolute, too", 10),
  ]
  assert report.items == [
    ("manifest.tsv:6", "no tab: expected image<TAB>transcription"),
    ("manifest.tsv:7", "empty image field"),
    ("manifest.tsv:8", "empty transcription"),
    ("manifest.tsv:9", "empty transcription"),
  ]


def test_empty_manifest_has_no_rows(tmp_path):
  rows, report = read_manifest(_write(tmp_path, "# only a header\n\n"))
  assert rows == [] and len(report) == 0


def test_a_byte_order_mark_is_not_part_of_the_first_image(tmp_path):
  path = _write(tmp_path, "\ufeffa.png\tok\n")
  assert read_manifest(path)[0][0].image.name == "a.png"


def test_missing_or_non_utf8_manifest_raises_data_error(tmp_path):
  with pytest.raises(DataError, match="missing file") as e:
    read_manifest(tmp_path / "nope.tsv")
  assert e.value.path == str(tmp_path / "nope.tsv")
  bad = tmp_path / "latin1.tsv"
  bad.write_bytes(b"a.png\tcaf\xe9\n")
  with pytest.raises(DataError, match="not UTF-8 text"):
    read_manifest(bad)
