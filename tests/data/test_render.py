import numpy as np
import pytest

from handwriting.data.render import RenderError, RenderJitter, render_random, render_strokes


def _ink_rows(img):
  return np.nonzero(img.max(axis=1))[0]


def _ink_cols(img):
  return np.nonzero(img.max(axis=0))[0]


def test_horizontal_line_hand_derived_pixels():
  # height 40, margin 0.1 -> 4 px, pen 0.1 -> 4 px: the band is 40 - 8 - 4 = 28 px for the
  # y_range 0..14, so 2 px per unit. y = 7 is the middle: row 20, the pen covers rows 18..21.
  # x = 0..10 -> columns 6..26 (margin 4 + half pen 2); round caps reach columns 4..28;
  # width = ceil(20 + 8 + 4) = 32.
  img = render_strokes([np.array([[0.0, 7.0], [10.0, 7.0]])], height=40, pen_width=0.1,
                       margin=0.1, y_range=(0.0, 14.0))
  assert img.shape == (40, 32) and img.dtype == np.uint8
  assert img[18:22, 6:27].min() >= 235  # fully covered pixels are (nearly) full ink
  assert _ink_rows(img).tolist() == [18, 19, 20, 21]
  assert _ink_cols(img).tolist() == list(range(4, 28))


def _distance_to_polyline(px_Px2, line_Nx2):
  """Slow obvious reference: each pixel centre's distance to the nearest segment."""
  best = np.full(len(px_Px2), np.inf)
  for a, b in zip(line_Nx2[:-1], line_Nx2[1:]):
    ab = b - a
    t = np.clip(((px_Px2 - a) @ ab) / max(ab @ ab, 1e-12), 0, 1)
    best = np.minimum(best, np.linalg.norm(px_Px2 - (a + t[:, None] * ab), axis=1))
  return best


def test_zigzag_matches_distance_reference():
  # The documented mapping: col = (x - x_min) * k + margin + pen / 2, row = H/2 - (y - y_mid) * k.
  rng = np.random.default_rng(3)
  line = np.cumsum(rng.uniform(-1, 1, size=(8, 2)) * [2.0, 1.0] + [1.5, 0.0], axis=0)
  height, pen, margin = 48, 0.125, 0.0625  # pen 6 px, margin 3 px
  img = render_strokes([line], height=height, pen_width=pen, margin=margin)
  k = (height - 2 * 3 - 6) / np.ptp(line[:, 1])
  y_mid = (line[:, 1].min() + line[:, 1].max()) / 2
  pix = np.stack([(line[:, 0] - line[:, 0].min()) * k + 3 + 3,
                  height / 2 - (line[:, 1] - y_mid) * k], axis=1)
  rows, cols = np.mgrid[0:img.shape[0], 0:img.shape[1]]
  centres = np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5], axis=1)
  dist = _distance_to_polyline(centres, pix).reshape(img.shape)
  assert img[dist < 3 - 1.0].min() >= 200  # well inside the pen: ink
  assert img[dist > 3 + 1.0].max() == 0  # well outside: background
  assert img[dist < 3 - 1.0].size > 100


def test_y_up_puts_high_ink_on_small_rows():
  top_left = np.array([[0.0, 10.0], [2.0, 10.0]])
  bottom_right = np.array([[8.0, 0.0], [10.0, 0.0]])
  img = render_strokes([top_left, bottom_right], height=32)
  half = img.shape[1] // 2
  assert _ink_rows(img[:, :half]).mean() < 8
  assert _ink_rows(img[:, half:]).mean() > 24


def test_slant_moves_the_top_of_a_vertical_stroke_right():
  vertical = [np.array([[0.0, 0.0], [0.0, 10.0]])]

  def col_of(img, rows):
    w = img[rows].astype(float)
    return (w * np.arange(img.shape[1])).sum() / w.sum()

  upright = render_strokes(vertical, height=32)
  assert abs(col_of(upright, slice(4, 10)) - col_of(upright, slice(22, 28))) < 0.5
  leaning = render_strokes(vertical, height=32, slant=0.4)
  assert col_of(leaning, slice(4, 10)) > col_of(leaning, slice(22, 28)) + 3
  backwards = render_strokes(vertical, height=32, slant=-0.4)
  assert col_of(backwards, slice(4, 10)) < col_of(backwards, slice(22, 28)) - 3


def test_blur_spreads_ink():
  strokes = [np.array([[0.0, 0.0], [5.0, 4.0], [10.0, 0.0]])]
  sharp = render_strokes(strokes, height=32)
  soft = render_strokes(strokes, height=32, blur=0.05)
  assert sharp.shape == soft.shape
  assert (soft > 0).sum() > (sharp > 0).sum() * 1.3
  assert soft.max() < sharp.max()
  # A blur moves ink, it does not add any: totals agree up to rounding and the borders.
  assert abs(int(soft.sum()) - int(sharp.sum())) < 0.1 * sharp.sum()


def test_scale_shrinks_the_ink_band():
  strokes = [np.array([[0.0, 0.0], [3.0, 10.0]])]
  full = _ink_rows(render_strokes(strokes, height=64))
  small = _ink_rows(render_strokes(strokes, height=64, scale=0.5))
  assert np.ptp(small) < 0.6 * np.ptp(full)


@pytest.mark.parametrize("height", [8, 17, 64, 101])
def test_output_height_is_exact(height):
  rng = np.random.default_rng(height)
  strokes = [np.cumsum(rng.normal(size=(20, 2)), axis=0) for _ in range(3)]
  img = render_strokes(strokes, height=height)
  assert img.shape[0] == height and img.shape[1] >= 1 and img.max() > 0


def test_single_dot_and_dash():
  dot = render_strokes([np.array([[3.0, 4.0]])], height=32, pen_width=0.2)
  assert dot.shape[0] == 32 and dot.max() > 200
  assert abs(_ink_rows(dot).mean() - 15.5) < 1  # a dot sits in the middle
  dash = render_strokes([np.array([[0.0, 1.0], [6.0, 1.0]])], height=32, pen_width=0.1)
  assert dash.max() > 200 and abs(_ink_rows(dash).mean() - 15.5) < 1


def test_bad_input_raises_clear_errors():
  with pytest.raises(RenderError, match="nothing to render"):
    render_strokes([])
  with pytest.raises(RenderError, match="nothing to render"):
    render_strokes([np.zeros((0, 2))])
  with pytest.raises(RenderError, match="non-finite"):
    render_strokes([np.array([[0.0, np.nan], [1.0, 1.0]])])
  with pytest.raises(RenderError, match=r"shape"):
    render_strokes([np.zeros((3, 3))])
  with pytest.raises(RenderError, match="too wide"):
    render_strokes([np.array([[0.0, 0.0], [1000.0, 1.0]])], height=32)
  # The cap is a parameter: the same line renders when it is allowed.
  assert render_strokes([np.array([[0.0, 0.0], [1000.0, 1.0]])], height=32,
                        max_aspect=2000).shape[0] == 32


def test_render_random_is_deterministic_per_seed():
  strokes = [np.array([[0.0, 0.0], [4.0, 8.0], [8.0, 0.0]]), np.array([[2.0, 4.0], [6.0, 4.0]])]
  a = render_random(strokes, np.random.default_rng(7), RenderJitter(), height=32)
  b = render_random(strokes, np.random.default_rng(7), RenderJitter(), height=32)
  c = render_random(strokes, np.random.default_rng(8), RenderJitter(), height=32)
  assert a.tobytes() == b.tobytes()
  assert a.shape != c.shape or a.tobytes() != c.tobytes()
  # A jitter with empty ranges is the plain rendering with those values.
  fixed = RenderJitter(pen_width=(0.05, 0.05), blur=(0.0, 0.0), slant=(0.1, 0.1),
                       scale=(0.9, 0.9))
  np.testing.assert_array_equal(
    render_random(strokes, np.random.default_rng(0), fixed, height=32),
    render_strokes(strokes, height=32, pen_width=0.05, slant=0.1, scale=0.9))
