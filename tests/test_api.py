"""The Python API (handwriting/api/): pages, styles, the writer and the readers, and the CLI
behaviour built on them. The shipped models are loaded once per module."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import handwriting
from handwriting import Page, Reader, Style, Writer, cli
from handwriting.api.page import Line, points_to_offsets, points_to_strokes, strokes_to_points
from handwriting.data import strokes as strokes_lib
from handwriting.data.alphabet import UnknownCharacterError
from handwriting.data.report import DataError, SkipReport
from handwriting.recognition.metrics import char_errors
from tests.data.fixtures_ondb import stroke_xml

README = Path(__file__).parent.parent / "README.md"


@pytest.fixture(scope="module")
def writer() -> Writer:
  return Writer.load()


@pytest.fixture(scope="module")
def page(writer) -> Page:
  (p,) = writer.write("hello", seed=0)
  return p


def test_public_names():
  assert {"Writer", "Reader", "Style", "Page", "evaluate_reader", "evaluate_writer",
          "evaluate_legibility", "train_and_evaluate", "get_config"} <= set(handwriting.__all__)
  for name in handwriting.__all__:
    assert getattr(handwriting, name) is not None


def test_points_layout_round_trips():
  strokes = [np.array([[0, 0], [1, 2], [3, 1]], np.float32), np.array([[5, 5]], np.float32)]
  points = strokes_to_points(strokes)
  assert points.tolist() == [[0, 0, 0], [1, 2, 0], [3, 1, 1], [5, 5, 1]]
  assert [s.tolist() for s in points_to_strokes(points)] == [s.tolist() for s in strokes]
  # Offsets: row 0 the start, then the moves, eos = pen_up (data/strokes.py's convention).
  assert points_to_offsets(points).tolist() == [[0, 0, 0], [1, 2, 0], [2, -1, 1], [2, 4, 1]]
  back = strokes_lib.offsets_to_strokes(points_to_offsets(points))
  assert [s.tolist() for s in back] == [s.tolist() for s in strokes]


def test_page_saves_svg_png_pdf_and_refuses_other_suffixes(tmp_path):
  line = Line("ab", strokes_to_points([np.array([[0, 0], [10, 5], [20, 0]], np.float32)]))
  page = Page([line, line])
  assert page.text == "ab\nab" and page._repr_svg_().count("<path") == 2
  assert page.save(tmp_path / "p.svg").read_text().startswith("<svg")
  assert page.save(tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert page.save(tmp_path / "p.pdf").read_bytes()[:5] == b"%PDF-"
  image = np.asarray(Image.open(tmp_path / "p.png"))
  assert image.min() < 128 and image.max() == 255  # ink on white paper
  with pytest.raises(ValueError, match="cannot write '.txt'"):
    page.save(tmp_path / "p.txt")
  assert not (tmp_path / "p.txt").exists()


def test_style_file_round_trip_and_bad_files(tmp_path):
  pts = np.array([[0, 0, 0], [1.5, 2, 0], [3, 1, 1], [4, 4, 1]], np.float32) + [7, 9, 0]
  style = Style.from_strokes(pts, "ab")
  assert style.rescale and style.points[0, :2].tolist() == [0, 0]  # moved to the origin
  path = style.save(tmp_path / "s.json")
  again = Style.load(path)
  assert again.text == "ab" and again.rescale
  np.testing.assert_allclose(again.points, style.points, atol=1e-3)
  assert json.loads(path.read_text())["format"] == "handwriting-style"
  (tmp_path / "bad.json").write_text("{")
  (tmp_path / "other.json").write_text('{"format": "x"}')
  (tmp_path / "nan.json").write_text(json.dumps(
    {"format": "handwriting-style", "version": 1, "text": "a",
     "points": [[0, 0, 0], [float("nan"), 0, 1]]}).replace("NaN", "NaN"))
  for name, reason in [("bad.json", "not a JSON style file"), ("other.json", "not a style file"),
                       ("nan.json", "NaN"), ("missing.json", "missing file")]:
    with pytest.raises(DataError, match=re.escape(name) + ".*" + reason):
      Style.load(tmp_path / name)
  with pytest.raises(DataError, match=r"\[N, 3\]"):
    Style.from_strokes(np.zeros((5, 2)), "a")
  with pytest.raises(DataError, match="needs the text"):
    Style.from_strokes(pts, " ")


def test_style_from_xml_is_preprocessed_as_training_lines(tmp_path):
  # A pen-down gap of 400 units (dropped samples) is filled in 3 steps of 133.3 (max step 150);
  # a pen-up jump of 3,000 (> DEFAULT_MAX_OFFSET) is removed: the second stroke starts where the
  # first ended. The same as `prepare iam-ondb` does to its lines (strokes.preprocess).
  xml = tmp_path / "a01-000-01.xml"
  xml.write_bytes(stroke_xml([[(0, 0), (10, 0), (410, 0)], [(3410, 0), (3420, 0)]]))
  style = Style.from_xml(xml, "ab")
  assert not style.rescale
  np.testing.assert_allclose(style.points[:, 0] - style.points[0, 0],
                             [0, 10, 10 + 400 / 3, 10 + 800 / 3, 410, 410, 420], atol=1e-3)
  assert style.points[:, 2].sum() == 2  # two strokes


def test_write_pages_styles_and_bad_input_before_the_model_loads(writer, page, tmp_path):
  fresh = Writer.load()
  with pytest.raises(UnknownCharacterError):
    fresh.write("caf\u00e9 \u2603")
  with pytest.raises(ValueError, match="empty"):
    fresh.write("   ")
  with pytest.raises(DataError, match="no such style"):
    fresh.write("hi", style="no-such-style")
  assert fresh._model is None  # all refused from the checkpoint's meta alone
  assert page.text == "hello" and len(page.strokes) == 1 and page.finished
  points = page.strokes[0]
  assert points.shape[1] == 3 and points[-1, 2] == 1 and points[0, :2].tolist() == [0, 0]
  phi = page.attention[0]
  assert phi.shape == (len(points) - 1, len("hello") + 1)
  # The window (eq 46-47, not normalised) starts on the first characters, ends past the last.
  assert np.argmax(phi[0]) <= 1 and np.argmax(phi[-1]) >= len("hello") - 1
  (again,) = writer.write("hello", seed=0)
  np.testing.assert_array_equal(again.strokes[0], points)  # the seed fixes the draws
  # A drawing in unknown units is rescaled to the writer's offset spread: the same drawing at
  # 3x primes exactly as at 1x, and its primer has the spread of the training offsets.
  drawn = Style.from_strokes(points, "hello")
  scaled = Style.from_strokes(points * np.array([3.0, 3.0, 1.0]), "hello")
  raw = strokes_lib.denormalize(writer._primer(scaled)[0], writer.spec.stroke_mean,
                                writer.spec.stroke_std)
  assert np.mean(raw[1:, :2].std(0)) == pytest.approx(np.mean(writer.spec.stroke_std), rel=1e-4)
  (a,) = writer.write("hello", style=drawn, seed=1)
  (b,) = writer.write("hello", style=scaled, seed=1)
  np.testing.assert_allclose(a.strokes[0], b.strokes[0], rtol=1e-3, atol=1e-2)
  (c,) = writer.write("hello", style=Style.from_page(page), seed=1)  # as is: other units
  (d,) = writer.write("hello", seed=1)
  for other in (c, d):  # the prime changes what follows it (same noise)
    assert len(other.strokes[0]) != len(a.strokes[0]) or not np.allclose(other.strokes[0],
                                                                          a.strokes[0])
  (dropped,) = writer.write("h\u2603i", seed=0, on_unknown="drop")
  assert dropped.text == "hi"


def test_shipped_writer_ships_styles(writer):
  assert len(writer.styles) >= 3
  for name in writer.styles:
    style = writer.style(name)
    assert not style.rescale and style.text.strip() and len(style.points) > 20
    writer.spec.alphabet.encode(style.text)


def test_readers_read_paths_images_arrays_and_pages(page, tmp_path):
  online = Reader.load("reader-iam-ondb-online-medium")
  assert online.kind == "strokes"
  (text,) = online.read(page)
  assert text == online.read(page.strokes[0])[0]
  assert char_errors(["hello"], [text]).rate <= 0.4, text  # the shipped pair reads it back
  offline = Reader.load()
  assert offline.kind == "images" and offline.norm == "scan"
  page.save(tmp_path / "hello.png")
  image = Image.open(tmp_path / "hello.png")
  texts = offline.read([tmp_path / "hello.png", image, np.asarray(image)])
  assert texts[0] == texts[1] == texts[2]
  report = SkipReport()
  assert offline.read([str(tmp_path / "none.png"), image], skipped=report)[0] is None
  assert len(report) == 1 and "none.png" in report.items[0][0]
  fresh = Reader.load()
  with pytest.raises(DataError, match="none.png: missing file"):
    fresh.read(tmp_path / "none.png")
  assert fresh.core._model is None  # refused before the weights were restored
  (reading,) = offline.read(image, posteriors=True)
  assert reading.text == texts[0] and reading.log_probs[0].shape[1] == len(offline.alphabet) + 1
  np.testing.assert_allclose(np.exp(reading.log_probs[0]).sum(1), 1.0, atol=1e-4)


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
  blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
  assert blocks, "the README has a Python example"
  monkeypatch.chdir(tmp_path)
  for code in blocks:
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 -- the README example is the test
  assert (tmp_path / "hello.svg").exists() and (tmp_path / "my_style.json").exists()
  printed = capsys.readouterr().out.splitlines()
  assert len(printed) == 2 and all(line.startswith("['") for line in printed)


def test_cli_write_png_styles_and_errors(tmp_path, capsys):
  png = tmp_path / "hi.png"
  style = tmp_path / "mine.json"
  assert cli.main(["write", "hi", "-o", str(png), "--save-style", str(style)]) == 0
  assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # a PNG, not SVG text
  assert Style.load(style).text == "hi"
  assert cli.main(["write", "hi there", "-o", str(tmp_path / "s.svg"), "--style",
                   str(style)]) == 0
  assert cli.main(["write", "hi", "-o", str(tmp_path / "t.svg"), "--style", "style-1"]) == 0
  capsys.readouterr()
  assert cli.main(["write", "hi", "-o", str(tmp_path / "x.txt")]) == 2
  assert "use one of .svg, .png, .pdf" in capsys.readouterr().err
  assert not (tmp_path / "x.txt").exists()
  assert cli.main(["write", "hi", "-o", str(tmp_path / "y.svg"), "--style", "3"]) == 2
  err = capsys.readouterr().err
  assert "--data PREPARED_DIR" in err and "style-1" in err
  assert cli.main(["write", "--list-styles", "x", "-o", "unused.svg"]) == 0
  assert "style-1" in capsys.readouterr().out


def test_cli_write_warns_of_a_line_that_never_finished(tmp_path, capsys, monkeypatch):
  from handwriting.api import writer as writer_lib
  real, seen = writer_lib.Writer.write, []

  def write(self, texts, **kw):  # the real lines, the first reported stalled in every try
    seen.append(kw["retries"])
    pages = real(self, texts, **kw)
    pages[0].lines[0].finished = False
    return pages
  monkeypatch.setattr(writer_lib.Writer, "write", write)
  assert cli.main(["write", "hi", "-o", str(tmp_path / "w.svg"), "--retries", "3"]) == 0
  out = capsys.readouterr().out
  assert seen == [3] and "'hi': the window stalled before the end of the text (in 4 tries)" in out
  assert "a lower --bias" in out


def test_cli_help_shows_defaults_and_own_options(capsys):
  assert cli.main(["write", "--help"]) == 0
  out = capsys.readouterr().out
  assert "(default: 1.0)" in out and "--on-unknown" in out
  assert cli.main(["evaluate", "synthesis", "--help"]) == 0
  out = capsys.readouterr().out
  assert "--data" in out and "--beam" not in out and "--texts" not in out


def test_cli_bad_configs_are_one_line_errors(tmp_path, capsys):
  base = ["train", "synthesis", "--data", str(tmp_path), "--workdir", str(tmp_path / "w")]
  assert cli.main(base + ["--preset", "huge"]) == 2
  assert "unknown preset 'huge'; choose one of graves" in capsys.readouterr().err
  for bad in ("-3", "0"):
    assert cli.main(base + ["--preset", "tiny", f"--config.batch_size={bad}"]) == 2
    assert f"batch_size must be positive, got {bad}" in capsys.readouterr().err
  assert cli.main(["train", "recognizer", "--data", str(tmp_path), "--workdir", str(tmp_path),
                   "--preset", "huge"]) == 2
  assert "unknown mdlstm preset 'huge'" in capsys.readouterr().err
