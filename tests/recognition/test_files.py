"""Reading image files: pages of several lines, manifests of line images, and bad input, each
bad file named with its reason while the other files are still read."""

import numpy as np
import pytest
from PIL import Image

from handwriting import cli, pretrained
from handwriting.data.render import render_strokes
from handwriting.data.synthetic import write_text
from handwriting.recognition.files import Reader, evaluate_images, read_images
from handwriting.recognition.inference import Decoder

# A shipped reader: no training needed, and its compiled forward is shared by the tests.
READER = "recognizer-synthetic-small"


@pytest.fixture(scope="module")
def reader_dir():
  return pretrained.resolve(READER, "recognizer")


@pytest.fixture(scope="module")
def reader(reader_dir):
  return Reader.load(reader_dir)


def _line_paper(text: str, seed: int, height: int = 48) -> np.ndarray:
  strokes = write_text(text, np.random.default_rng(seed)).strokes
  return 255 - render_strokes(strokes, height=height, pen_width=0.05)


def _bad_files(folder):
  """One of each kind of bad input, with the reason `load_image` / normalisation gives."""
  bad = {}
  (folder / "empty.png").write_bytes(b"")
  bad["empty.png"] = "empty file"
  (folder / "text.png").write_text("not an image at all\n")
  bad["text.png"] = "not an image"
  Image.new("L", (1, 1), 0).save(folder / "pixel.png")
  bad["pixel.png"] = "too small"
  Image.new("L", (300, 40), 255).save(folder / "blank.png")
  bad["blank.png"] = "blank image"
  bad["missing.png"] = "missing file"
  return bad


def _good_files(folder):
  """A line in every awkward format a user may have: 16-bit, RGBA, palette, very wide."""
  paper = _line_paper("the cat sat", 0)
  Image.fromarray(paper.astype(np.uint16) * 257).save(folder / "sixteen.png")
  rgba = np.dstack([paper] * 3 + [np.full_like(paper, 255)])
  Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
  Image.fromarray(paper).convert("P").save(folder / "palette.png")
  wide = np.full((60, 20_000), 255, np.uint8)
  wide[6:54, 100:100 + paper.shape[1]] = paper[:48]
  Image.fromarray(wide).save(folder / "wide.png")
  return ["sixteen.png", "rgba.png", "palette.png", "wide.png"]


def test_bad_files_are_named_and_skipped_while_the_others_are_read(reader, tmp_path):
  bad, good = _bad_files(tmp_path), _good_files(tmp_path)
  paths = [str(tmp_path / n) for n in [*bad, *good]]
  results, report = read_images(reader, paths, Decoder())
  assert [r[0] for r in results] == [str(tmp_path / n) for n in good]
  reasons = {name.split("/")[-1]: why for name, why in report.items}
  for name, why in bad.items():
    assert why in reasons[name], (name, reasons.get(name))
  assert len(report) == len(bad)


def test_manifest_scores_natural_text_and_reports_bad_rows(reader, tmp_path):
  bad, good = _bad_files(tmp_path), _good_files(tmp_path)
  rows = ["# image\ttext\tmore columns are ignored"]
  rows += [f"{n}\tthe cat sat ,\textra" for n in good]  # IAM token spaces: "sat ," is "sat,"
  rows += [f"{n}\tsomething" for n in bad]
  rows += ["a row with no tab"]
  (tmp_path / "m.tsv").write_text("\n".join(rows) + "\n")
  from handwriting.data.report import SkipReport
  report = SkipReport()
  hyp = tmp_path / "out" / "hyp.tsv"
  r = evaluate_images(reader, tmp_path / "m.tsv", Decoder(), report, hyp)
  assert r.lines == len(good) and r.skipped == len(bad) + 1
  assert all(ref == "the cat sat," for _, ref, _, _ in r.rows)
  assert r.chars == len(good) * len("the cat sat,")
  lines = hyp.read_text().splitlines()
  assert len(lines) == 1 + len(good) and lines[1].startswith(str(tmp_path / good[0]))
  assert any("no tab" in why for _, why in report.items)


def test_a_page_is_read_line_by_line(reader, tmp_path):
  lines = [_line_paper(t, i) for i, t in enumerate(["one line here", "and another", "a third"])]
  W = max(x.shape[1] for x in lines) + 20
  page = np.full((sum(x.shape[0] + 24 for x in lines) + 20, W), 255, np.uint8)
  y = 20
  for x in lines:
    page[y:y + x.shape[0], 10:10 + x.shape[1]] = x
    y += x.shape[0] + 24
  Image.fromarray(page).save(tmp_path / "page.png")
  Image.fromarray(lines[0]).save(tmp_path / "one.png")
  (_, text), (_, single) = read_images(reader, [tmp_path / "page.png", tmp_path / "one.png"],
                                       Decoder())[0]
  assert text.count("\n") == 2 and single.count("\n") == 0
  (_, flat), = read_images(reader, [tmp_path / "page.png"], Decoder(), pages=False)[0]
  assert flat.count("\n") == 0


def test_cli_evaluate_images(reader_dir, tmp_path, capsys):
  good = _good_files(tmp_path)
  (tmp_path / "m.tsv").write_text("".join(f"{n}\tthe cat sat\n" for n in good))
  out = tmp_path / "h.tsv"
  assert cli.main(["evaluate", "recognizer", "--workdir", str(reader_dir), "--images",
                   str(tmp_path / "m.tsv"), "--hypotheses", str(out)]) == 0
  printed = capsys.readouterr().out
  assert "CER" in printed and f"{len(good)} lines" in printed and out.exists()
