import numpy as np
import pytest
from HersheyFonts import HersheyFonts

from handwriting.data import store, synthetic
from handwriting.data.prepared import Prepared
from handwriting.data.report import DataError, SkipReport
from handwriting.data.strokes import denormalize, offsets_to_strokes


def test_glyphs_are_flipped_to_y_up_with_baseline_zero():
  g = synthetic.font_glyphs("scripts")
  x_pts = np.concatenate(g["x"].strokes)
  # An "x" sits on the baseline and reaches the x-height.
  assert x_pts[:, 1].min() == pytest.approx(0.0) and x_pts[:, 1].max() == pytest.approx(9.0)
  assert np.concatenate(g["g"].strokes)[:, 1].min() < -3  # descender below the baseline
  assert np.concatenate(g["l"].strokes)[:, 1].max() > 15  # ascender above the x-height
  assert g[" "].strokes == () and g[" "].advance > 0


@pytest.mark.parametrize("font", synthetic.FONTS)
def test_layout_matches_the_hershey_library_own_layout(font):
  # Reference: the package's strokes_for_text places glyphs with the advance widths, y down.
  f = HersheyFonts()
  f.load_default_font(font)
  text = "Quiet fox, jazz 42!"
  ref = [np.array([(x, 9.0 - y) for x, y in s], float) for s in f.strokes_for_text(text) if s]
  ours = synthetic.layout_text(text, font)
  assert len(ours) == len(ref)
  for a, b in zip(ours, ref):
    np.testing.assert_allclose(a, b)
  # Gaps widen the advance after their character and move only the later glyphs.
  gaps = np.zeros(len(text))
  gaps[0] = 5.0
  first = len(f.all_glyphs["Q"].strokes)
  shifted = synthetic.layout_text(text, font, gaps)
  np.testing.assert_allclose(shifted[0], ours[0])
  np.testing.assert_allclose(shifted[first], ours[first] + [5.0, 0.0])


def test_missing_glyph_is_a_data_error_naming_the_character():
  with pytest.raises(DataError, match=r"line-7: no glyph in font scripts: 'é'"):
    synthetic.layout_text("café", "scripts", name="line-7")
  with pytest.raises(DataError, match="no ink"):
    synthetic.layout_text("   ", "scripts")
  report = SkipReport()
  lines = synthetic.make_synthetic(3, 0, texts=["fine", "naïve", "also fine"], report=report)
  assert [line.text for line in lines] == ["fine", "also fine"]
  assert [line.id for line in lines] == ["synthetic-000000", "synthetic-000002"]  # ids stay
  assert len(report) == 1 and report.items[0][0] == "synthetic-000001"
  assert "'ï'" in report.items[0][1]
  with pytest.raises(DataError):
    synthetic.make_synthetic(3, 0, texts=["naïve"])


def test_resample_spacing_and_ends():
  line = synthetic.resample(np.array([[0.0, 0.0], [10.0, 0.0]]), step=1.0)
  np.testing.assert_allclose(line, np.stack([np.arange(11.0), np.zeros(11)], axis=1))
  # An L of length 20 with step 2.5: 8 equal steps, corner and ends on the path.
  ell = synthetic.resample(np.array([[0.0, 0.0], [0.0, 10.0], [10.0, 10.0]]), step=2.5)
  assert len(ell) == 9
  np.testing.assert_allclose(ell[[0, 4, 8]], [[0, 0], [0, 10], [10, 10]], atol=1e-12)
  np.testing.assert_allclose(np.linalg.norm(np.diff(ell, axis=0), axis=1), 2.5)
  dot = synthetic.resample(np.array([[1.0, 2.0], [1.0, 2.0]]), step=1.0)
  np.testing.assert_array_equal(dot, [[1.0, 2.0]])


def test_make_synthetic_is_deterministic_per_seed():
  a = synthetic.make_synthetic(4, seed=11)
  b = synthetic.make_synthetic(4, seed=11)
  c = synthetic.make_synthetic(4, seed=12)
  for x, y in zip(a, b):
    assert x.text == y.text and x.font == y.font and x.params == y.params
    assert x.offsets.tobytes() == y.offsets.tobytes()
    assert all(s.tobytes() == t.tobytes() for s, t in zip(x.strokes, y.strokes))
  assert [x.offsets.tobytes() for x in a] != [x.offsets.tobytes() for x in c]
  # Line i depends on (seed, i) only: a shorter run is a prefix of a longer one.
  assert synthetic.make_synthetic(2, seed=11)[1].offsets.tobytes() == a[1].offsets.tobytes()


def test_lines_are_consistent_and_pen_like():
  lines = synthetic.make_synthetic(12, seed=5)
  assert {line.font for line in lines} <= set(synthetic.FONTS)
  for line in lines:
    assert 1 <= len(line.text) <= 40 and line.text == line.text.strip()
    off = line.offsets
    assert off.dtype == np.float32 and off.ndim == 2 and off.shape[1] == 3
    assert set(np.unique(off[:, 2]).tolist()) <= {0.0, 1.0}
    assert off[:, 2].sum() == len(line.strokes) and off[-1, 2] == 1
    back = offsets_to_strokes(off, start=line.strokes[0][0])
    assert len(back) == len(line.strokes)
    for s, t in zip(back, line.strokes):
      np.testing.assert_allclose(s, t, atol=1e-3)
    # Pen-down steps are near the requested spacing (x-height = 9 * scale units).
    step = synthetic.DEFAULT_SPACING * synthetic.X_HEIGHT * line.params["scale"]
    down = np.concatenate([np.linalg.norm(np.diff(s, axis=0), axis=1) for s in line.strokes])
    assert 0.6 * step < np.median(down) < 1.25 * step
    assert 4 < len(off) / max(len(line.text.replace(" ", "")), 1) < 60  # points per letter


def test_spacing_sets_the_number_of_points():
  coarse = synthetic.make_synthetic(3, seed=2, spacing=0.5)
  fine = synthetic.make_synthetic(3, seed=2, spacing=0.25)
  ratio = sum(len(x.offsets) for x in fine) / sum(len(x.offsets) for x in coarse)
  assert 1.5 < ratio < 2.2  # dots and tiny strokes keep at least one point


def test_corpus_lines_respect_limits_and_fonts():
  rng = np.random.default_rng(0)
  texts = [synthetic.random_line(rng, max_words=5, max_chars=25) for _ in range(300)]
  assert all(1 <= len(t.split()) <= 5 and (len(t) <= 25 or " " not in t) for t in texts)
  assert len(set(texts)) > 250  # the patterns make varied lines
  chars = set("".join(texts))
  assert set("abcdefghijklmnopqrstuvwxyz") <= chars and any(c.isdigit() for c in chars)
  for font in synthetic.FONTS:
    assert chars <= set(synthetic.font_glyphs(font))


def test_split_of_is_by_text_and_follows_fractions():
  texts = [f"line {i}" for i in range(3000)]
  splits = [synthetic.split_of(t, 0.1, 0.2) for t in texts]
  assert synthetic.split_of("line 7", 0.1, 0.2) == splits[7]
  share = {s: splits.count(s) / len(splits) for s in ("train", "valid", "test")}
  assert abs(share["valid"] - 0.1) < 0.03 and abs(share["test"] - 0.2) < 0.03


def test_prepare_writes_a_readable_folder(tmp_path, capsys):
  out = tmp_path / "synthetic"
  meta = synthetic.prepare(str(out), lines=40, seed=3, height=32, valid_fraction=0.2,
                           test_fraction=0.2)
  printed = capsys.readouterr().out
  counts = meta["splits"]
  assert f"train {counts['train']}, valid {counts['valid']}, test {counts['test']}" in printed
  assert meta["source"] == "synthetic" and meta["image_height"] == 32 and meta["seed"] == 3
  # Every line is either written or skipped with its reason (here: a capital or digit that only
  # a valid / test line has, which the training alphabet cannot encode).
  skipped = (out / "skipped.txt").read_text().splitlines()
  assert f"skipped: {len(skipped)}" in printed
  assert sum(counts.values()) + len(skipped) == 40 and counts["train"] > 0
  assert all("character not in the training alphabet" in row for row in skipped)
  data = Prepared(out)
  train = data.strokes("train")
  assert data.alphabet.chars == "".join(sorted(set("".join(train.texts))))
  # Normalised with the training split's own statistics (row 0 of a line is not a movement).
  dxy = np.concatenate([train[i][1:, :2] for i in range(len(train))])
  np.testing.assert_allclose(dxy.mean(axis=0), 0, atol=1e-3)
  np.testing.assert_allclose(dxy.std(axis=0), 1, atol=1e-3)
  # Denormalised offsets are the written lines, in the same order as their ids.
  written = synthetic.make_synthetic(40, seed=3)
  mean, std = data.stroke_stats
  for split in ("train", "valid", "test"):
    strokes, images = data.strokes(split), data.images(split)
    assert strokes.ids.tolist() == images.ids.tolist()
    assert int(images.extra["height"]) == 32
    for i, name in enumerate(strokes.ids):
      line = written[int(name.split("-")[1])]
      assert strokes.texts[i] == line.text
      assert synthetic.split_of(line.text, 0.2, 0.2) == split
      np.testing.assert_allclose(denormalize(strokes[i], mean, std), line.offsets, atol=1e-4)
      img = data.image(split, i)
      assert img.shape[0] == 32 and img.dtype == np.uint8 and img.max() > 128
  valid_texts = set(data.strokes("valid").texts) | set(data.strokes("test").texts)
  assert not valid_texts & set(train.texts)
  assert store.read_meta(out)["alphabet"] == meta["alphabet"]
