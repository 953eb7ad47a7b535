import functools
import itertools

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from handwriting.data.render import render_strokes
from handwriting.data.ink import label_components, otsu_threshold
from handwriting.data.segment import find_lines, split_lines
from handwriting.data.synthetic import X_HEIGHT, make_synthetic

HEIGHT = 40  # rendered line height: small, so every page here is a few hundred pixels
MARGIN, PEN = 0.06, 0.04  # render_strokes' defaults, spelled out for the row mapping below
LEFT = 8  # columns of paper left of every line on a page


@functools.cache
def _line(text: str, seed: int = 0, font: str = "scripts",
          margin: float = MARGIN) -> tuple[np.ndarray, tuple[int, int]]:
  """An ink-convention rendering of `text` and its core rows (the middle half of the x-height).

  y_range is the ink's own y range (render_strokes' default, passed explicitly), so data y maps
  to row margin + pen / 2 + (y_hi - y) * k with k = (H - 2 margin - pen) / (y_hi - y_lo).
  """
  line = make_synthetic(1, seed, texts=[text], fonts=[font])[0]
  y_N = np.concatenate([s[:, 1] for s in line.strokes])
  y_lo, y_hi = float(y_N.min()), float(y_N.max())
  ink_HxW = render_strokes(line.strokes, height=HEIGHT, pen_width=PEN, margin=margin,
                           y_range=(y_lo, y_hi))
  k = (HEIGHT - 2 * margin * HEIGHT - PEN * HEIGHT) / (y_hi - y_lo)
  x_height = X_HEIGHT * line.params["scale"]

  def row(y: float) -> int:
    return round(margin * HEIGHT + PEN * HEIGHT / 2 + (y_hi - y) * k)

  ink_HxW.setflags(write=False)
  return ink_HxW, (row(0.75 * x_height), row(0.25 * x_height) + 1)


def _place(lines: list[np.ndarray], tops: list[int],
           shape: tuple[int, int] | None = None) -> np.ndarray:
  """Ink-convention page with line i's rendering at row tops[i] (overlaps keep the darker)."""
  H, W = shape or (max(t + im.shape[0] for im, t in zip(lines, tops)) + 10,
                   max(im.shape[1] for im in lines) + 2 * LEFT)
  ink_HxW = np.zeros((H, W), np.uint8)
  for im, t in zip(lines, tops):
    sub = ink_HxW[t:t + im.shape[0], LEFT:LEFT + im.shape[1]]
    np.maximum(sub, im, out=sub)
  return ink_HxW


def _paper(ink_HxW: np.ndarray, paper: int = 255, ink: int = 0) -> np.ndarray:
  """Ink convention -> paper convention, full ink drawn at grey `ink` on paper grey `paper`."""
  grey = paper - ink_HxW.astype(np.float64) / 255 * (paper - ink)
  return np.floor(grey + 0.5).astype(np.uint8)


def _check_bands(bands: list[tuple[int, int]], cores: list[tuple[int, int]], H: int) -> None:
  """One band per line, tiling [0, H) top to bottom, each holding its own core and no other."""
  assert len(bands) == len(cores), (bands, cores)
  assert bands[0][0] == 0 and bands[-1][1] == H
  assert all(b[1] == nxt[0] for b, nxt in itertools.pairwise(bands))
  for i, (top, bottom) in enumerate(bands):
    for j, (core_top, core_bottom) in enumerate(cores):
      inside = top <= core_top and core_bottom <= bottom
      disjoint = core_bottom <= top or bottom <= core_top
      assert inside if i == j else disjoint, (i, j, bands, cores)


def _page(texts: list[str], tops: list[int]) -> tuple[np.ndarray, list[tuple[int, int]]]:
  """Ink page of the lines `texts` at rows `tops`, and each line's core rows on the page."""
  rendered = [_line(t, seed=i) for i, t in enumerate(texts)]
  cores = [(t + c0, t + c1) for (_, (c0, c1)), t in zip(rendered, tops)]
  return _place([im for im, _ in rendered], tops), cores


PAGE_TEXTS = ["The quick brown fox", "gypsy jog", "Tall Black fjords quay", "Hello"]


def _n_comps(ink_HxW: np.ndarray) -> int:
  return ndimage.label(ink_HxW > 128, structure=np.ones((3, 3)))[1]


def _ink_sum(paper_HxW: np.ndarray, paper: int = 255) -> int:
  return int((paper - paper_HxW.astype(np.int64)).sum())


# --- Otsu and labelling: against slow obvious references --------------------------------------

def test_otsu_maximises_between_class_variance():
  rng = np.random.default_rng(0)
  img = np.concatenate([rng.normal(70, 15, 300), rng.normal(210, 20, 900)])
  img_HxW = np.clip(img, 0, 255).astype(np.uint8).reshape(30, 40)

  def between(t: int) -> float:  # w0 w1 (mu0 - mu1)^2 for ink < t, straight from the pixels
    dark, light = img_HxW[img_HxW < t], img_HxW[img_HxW >= t]
    if dark.size == 0 or light.size == 0:
      return 0.0
    w0 = dark.size / img_HxW.size
    return w0 * (1 - w0) * (dark.mean() - light.mean()) ** 2

  t = otsu_threshold(img_HxW)
  assert t is not None and 100 < t < 180
  assert between(t) == pytest.approx(max(between(s) for s in range(1, 256)), rel=1e-9)


def test_otsu_two_levels_and_no_ink():
  two_HxW = np.full((10, 10), 200, np.uint8)
  two_HxW[3:5, 2:8] = 60
  t = otsu_threshold(two_HxW)
  assert t is not None and 60 < t <= 200
  assert otsu_threshold(np.full((8, 8), 255, np.uint8)) is None
  rng = np.random.default_rng(1)
  assert otsu_threshold(rng.integers(240, 256, (20, 20)).astype(np.uint8)) is None  # noise


@pytest.mark.parametrize("density", [0.2, 0.45, 0.6])
def test_label_components_matches_scipy(density):
  mask_HxW = np.random.default_rng(2).random((37, 53)) < density
  labels_HxW, n = label_components(mask_HxW)
  ref_HxW, n_ref = ndimage.label(mask_HxW, structure=np.ones((3, 3)))
  assert n == n_ref
  assert np.array_equal(labels_HxW == 0, ref_HxW == 0)
  # The same partition: each of our labels meets exactly one reference label, and back.
  pairs = set(zip(labels_HxW[mask_HxW].tolist(), ref_HxW[mask_HxW].tolist()))
  assert len(pairs) == n


# --- single lines: exactly one band -----------------------------------------------------------

@pytest.mark.parametrize("text,font", [
  ("gypsy jog", "scripts"), ("Tall Black fjords", "cursive"), ("THE TALL TOWER", "scriptc"),
  ("ill", "futural"), ("jumping lazy dogs", "timesr"), ("Hello", "scripts"), ("a", "futural"),
  ("Sphinx of black quartz, judge my vow.", "rowmans"),
])
def test_single_line_is_one_band(text, font):
  ink_HxW, _ = _line(text, font=font)
  for paper_HxW in (_paper(ink_HxW), _paper(np.pad(ink_HxW, 25))):  # tight, and blank margins
    H = paper_HxW.shape[0]
    assert find_lines(paper_HxW) == [(0, H)]
    (only,) = split_lines(paper_HxW)
    assert np.array_equal(only, paper_HxW)


@pytest.mark.parametrize("text,font", [
  ("THE TALL TOWER", "scripts"), ("jumping lazy dogs", "timesr"),
  ("Sphinx of black quartz, judge my vow.", "futural"),
])
@pytest.mark.parametrize("guard", [
  {"max_cross": 1.0, "min_ink": 0.0, "min_height": 0.0},  # the valley depth alone
  {"max_valley": 1.0, "min_ink": 0.0, "min_height": 0.0},  # the cut-through-letters check alone
])
def test_each_guard_alone_keeps_a_line_whole(text, font, guard):
  # Switching off every guard splits these lines: the valley test is not the only safeguard.
  paper_HxW = _paper(_line(text, font=font)[0])
  off = {"max_valley": 1.0, "max_cross": 1.0, "min_ink": 0.0, "min_height": 0.0}
  assert len(find_lines(paper_HxW, **off)) > 1
  assert len(find_lines(paper_HxW, **guard)) == 1


def test_descender_touching_the_bottom_is_one_band():
  ink_HxW, _ = _line("jolly pygmy", margin=0.0)
  assert ink_HxW[-1].max() > 128 and ink_HxW[0].max() > 128  # the ink fills the image
  assert find_lines(_paper(ink_HxW)) == [(0, HEIGHT)]


def test_underline_is_not_a_line():
  line = make_synthetic(1, 3, texts=["gypsy jog"])[0]
  xs = np.concatenate([s[:, 0] for s in line.strokes])
  y_low = min(float(s[:, 1].min()) for s in line.strokes) - 4.0
  underline = np.array([[xs.min(), y_low], [xs.max(), y_low]])
  paper_HxW = _paper(np.pad(render_strokes([*line.strokes, underline], height=HEIGHT), 4))
  rows = np.flatnonzero((paper_HxW < 128).any(axis=1))
  assert (np.diff(rows) > 1).any()  # a blank gap parts the underline from the letters
  assert len(find_lines(paper_HxW)) == 1


# --- pages ------------------------------------------------------------------------------------

def test_page_bands_hold_their_cores():
  tops = [5, 50, 95, 140]
  ink_HxW, cores = _page(PAGE_TEXTS, tops)
  _check_bands(find_lines(_paper(ink_HxW)), cores, ink_HxW.shape[0])


def test_uneven_spacing_and_lengths():
  tops = [30, 72, 140, 182]  # gaps of 2, 28 and 2 blank rows between the 40-row renderings
  ink_HxW, cores = _page(["a b", "The quick brown fox jumps", "Hi", "gypsy jog"], tops)
  _check_bands(find_lines(_paper(ink_HxW)), cores, ink_HxW.shape[0])


@pytest.mark.parametrize("texts,pitch", [
  (["The quick brown fox jumps", "a b", "The quick brown fox jumps"], 36),
  (["The quick brown fox jumps", "yes"], 30),
  (["yes", "Tall Black fjords quay"], 30),
])
def test_tight_lines_with_a_short_one(texts, pitch):
  # Renderings overlap (pitch < HEIGHT): a short line's gap is only clear over its own columns.
  tops = [5 + pitch * i for i in range(len(texts))]
  ink_HxW, cores = _page(texts, tops)
  paper_HxW = _paper(ink_HxW)
  bands = find_lines(paper_HxW)
  _check_bands(bands, cores, ink_HxW.shape[0])
  ink_H = (paper_HxW < otsu_threshold(paper_HxW)).sum(axis=1)
  for (_, core_bottom), (core_top, _), (cut, _) in zip(cores, cores[1:], bands[1:]):
    assert ink_H[cut] == ink_H[core_bottom:core_top].min()  # cut at the emptiest row between


def test_grey_paper_and_grey_ink():
  tops = [5, 50, 95, 140]
  ink_HxW, cores = _page(PAGE_TEXTS, tops)
  grey_HxW = _paper(ink_HxW, paper=200, ink=60)
  _check_bands(find_lines(grey_HxW), cores, ink_HxW.shape[0])
  lines = split_lines(grey_HxW)
  assert len(lines) == 4
  assert sum(_ink_sum(im, 200) for im in lines) == _ink_sum(grey_HxW, 200)


def test_noise_specks():
  tops = [20, 65, 110, 155]
  ink_HxW, cores = _page(PAGE_TEXTS, tops)
  rng = np.random.default_rng(4)
  H, W = ink_HxW.shape
  for r, c in zip(rng.integers(0, H - 1, 40), rng.integers(0, W - 1, 40)):
    ink_HxW[r:r + 2, c:c + int(rng.integers(1, 3))] = 255  # 2x1 and 2x2 dots, margins too
  _check_bands(find_lines(_paper(ink_HxW)), cores, H)
  single_HxW = np.pad(_line("gypsy jog")[0], 20)
  single_HxW[rng.integers(0, 80, 15), rng.integers(0, single_HxW.shape[1], 15)] = 255
  assert len(find_lines(_paper(single_HxW))) == 1


def test_dust_does_not_fill_the_gaps():
  # Pepper 5% of the paper with single dark pixels: they would fill every blank gap of the row
  # profile if specks counted there.
  ink_HxW, cores = _page(PAGE_TEXTS, [5, 50, 95, 140])
  dust_HxW = np.random.default_rng(0).random(ink_HxW.shape) < 0.05
  ink_HxW[dust_HxW & (ink_HxW == 0)] = 255
  _check_bands(find_lines(_paper(ink_HxW)), cores, ink_HxW.shape[0])


def test_reading_order_of_split_lines():
  texts = ["Hello", "The quick brown fox", "gypsy jog"]  # three different ink sums
  tops = [5, 50, 95]
  ink_HxW, _ = _page(texts, tops)
  lines = split_lines(_paper(ink_HxW))
  expected = [int(_line(t, seed=i)[0].astype(np.int64).sum()) for i, t in enumerate(texts)]
  assert [_ink_sum(im) for im in lines] == expected


@pytest.mark.parametrize("paper,ink", [(255, 0), (200, 60)])
def test_descender_crossing_the_cut_stays_with_its_line(paper, ink):
  (upper, _), (lower, _) = _line("gypsy jog", seed=1), _line("name on a card", seed=0)
  tops = [5, 5 + HEIGHT - 10]
  ink_HxW = _place([upper, lower], tops)
  alone_HxW = _place([upper], tops[:1], ink_HxW.shape)
  # A hand-made long descender: from the upper line's lowest ink, 2 columns straight down 12 rows
  # (into the lower line's top rows, above its letters).
  bottom = int(np.flatnonzero(upper.max(axis=1) > 128)[-1])
  col = LEFT + int(np.flatnonzero(upper[bottom] > 128)[0])
  for page_HxW in (ink_HxW, alone_HxW):
    page_HxW[tops[0] + bottom:tops[0] + bottom + 12, col:col + 2] = 255
  assert not np.minimum(alone_HxW, _place([lower], tops[1:], ink_HxW.shape)).any()  # no contact
  paper_HxW = _paper(ink_HxW, paper, ink)
  bands = find_lines(paper_HxW)
  assert len(bands) == 2
  cut = bands[1][0]
  assert (alone_HxW[cut:] > 128).any()  # the precondition: the descender reaches past the cut
  first, second = split_lines(paper_HxW)
  assert first.shape[0] > cut  # the first line image reaches down for its descender
  # Each image holds exactly its own line's ink; another line's pixels show as bare paper.
  assert _ink_sum(first, paper) == _ink_sum(_paper(alone_HxW, paper, ink), paper)
  assert _ink_sum(second, paper) == _ink_sum(_paper(lower, paper, ink), paper)


def test_touching_lines_share_their_joint_component_by_rows():
  (upper, _), (lower, _) = _line("gypsy jog", seed=1), _line("name on a card", seed=0)
  tops = [5, 5 + HEIGHT + 4]
  ink_HxW = _place([upper, lower], tops)
  up_HxW = _place([upper], tops[:1], ink_HxW.shape)
  low_HxW = _place([lower], tops[1:], ink_HxW.shape)
  # Join a word of each line with a 2-pixel stroke where they come closest: one component now
  # holds ink of both lines, and owning it whole would move a word to the wrong line.
  cols = np.flatnonzero((up_HxW > 128).any(axis=0) & (low_HxW > 128).any(axis=0))
  ends = [(int(np.flatnonzero(up_HxW[:, c] > 128)[-1]),
           int(np.flatnonzero(low_HxW[:, c] > 128)[0])) for c in cols]
  i = int(np.argmin([b - a for a, b in ends]))
  ink_HxW[ends[i][0]:ends[i][1] + 1, cols[i]:cols[i] + 2] = 255
  assert _n_comps(ink_HxW) < _n_comps(up_HxW) + _n_comps(low_HxW)  # the precondition: joined
  paper_HxW = _paper(ink_HxW)
  first, second = split_lines(paper_HxW)
  joint = 2 * (ends[i][1] - ends[i][0] + 1) * 255  # the joining stroke goes either way
  assert abs(_ink_sum(first) - int(upper.astype(np.int64).sum())) <= joint
  assert abs(_ink_sum(second) - int(lower.astype(np.int64).sum())) <= joint


def test_split_lines_keeps_all_ink_once():
  tops = [5, 50, 95, 140]
  ink_HxW, _ = _page(PAGE_TEXTS, tops)
  paper_HxW = _paper(ink_HxW)
  lines = split_lines(paper_HxW)
  assert len(lines) == len(find_lines(paper_HxW)) == 4
  assert all(im.dtype == np.uint8 and im.shape[1] == paper_HxW.shape[1] for im in lines)
  assert sum(_ink_sum(im) for im in lines) == _ink_sum(paper_HxW)


def test_skewed_page_is_one_band():
  tops = [5, 50, 95, 140]
  ink_HxW, _ = _page(["The quick brown fox jumps", "gypsy jog over the lazy dog",
                      "Tall Black fjords quay", "Hello there, Sphinx"], tops)
  small = Image.fromarray(ink_HxW).rotate(1.0, expand=True, resample=Image.Resampling.BILINEAR)
  assert len(find_lines(_paper(np.asarray(small)))) == 4  # a slight skew still cuts
  steep = Image.fromarray(ink_HxW).rotate(8.0, expand=True, resample=Image.Resampling.BILINEAR)
  assert len(find_lines(_paper(np.asarray(steep)))) == 1


# --- degenerate images ------------------------------------------------------------------------

@pytest.mark.parametrize("paper_HxW", [
  np.full((1, 30), 255, np.uint8), np.array([[255, 0, 255, 0, 0, 255]], np.uint8),
  np.full((20, 30), 255, np.uint8), np.zeros((20, 30), np.uint8), np.full((50, 1), 0, np.uint8),
  np.zeros((0, 5), np.uint8),
])
def test_degenerate_images_are_one_band(paper_HxW):
  H = paper_HxW.shape[0]
  assert find_lines(paper_HxW) == [(0, H)]
  (only,) = split_lines(paper_HxW)
  assert np.array_equal(only, paper_HxW)


def test_not_a_grey_image():
  with pytest.raises(ValueError, match="grey image"):
    find_lines(np.zeros((4, 4, 3), np.uint8))
  with pytest.raises(TypeError):
    find_lines(np.zeros((4, 4), np.uint8), no_such_option=1.0)
