import numpy as np
import pytest
from PIL import Image

from handwriting.draw.synthesis_plots import density_grid, plot_attention, plot_density


def _y_hat(pi_hat, mu1, mu2, sigma1, sigma2, rho):
  """Network outputs [T, 1+6M] from per-step, per-component values ([T, M] each), in the order
  of mdn.split_outputs: [e_hat, pi_hat, mu1, mu2, log_sigma1, log_sigma2, rho_hat]."""
  cols = [np.zeros((len(pi_hat), 1)), pi_hat, mu1, mu2, np.log(sigma1), np.log(sigma2),
          np.arctanh(rho)]
  return np.concatenate([np.asarray(c, np.float64) for c in cols], axis=1).astype(np.float32)


def _bivariate(x1, x2, mu1, mu2, s1, s2, rho):
  """The textbook bivariate normal density (Graves 2013 eqs 24-25), written out directly."""
  d1, d2 = (x1 - mu1) / s1, (x2 - mu2) / s2
  z = d1 ** 2 + d2 ** 2 - 2 * rho * d1 * d2
  return np.exp(-z / (2 * (1 - rho ** 2))) / (2 * np.pi * s1 * s2 * np.sqrt(1 - rho ** 2))


def _reference(params, pos_Tx2, x1, x2):
  """Per-step mixture densities [T] of the next absolute position at the point (x1, x2)."""
  pi_hat, mu1, mu2, s1, s2, rho = params
  pi = np.exp(pi_hat) / np.exp(pi_hat).sum(-1, keepdims=True)
  out = []
  for t, (px, py) in enumerate(pos_Tx2):
    out.append(sum(pi[t, j] * _bivariate(x1, x2, px + mu1[t, j], py + mu2[t, j], s1[t, j],
                                         s2[t, j], rho[t, j]) for j in range(pi.shape[1])))
  return np.array(out)


def _centres(extent, shape):
  x0, x1, y0, y1 = extent
  R, C = shape
  return (x0 + (np.arange(C) + 0.5) * (x1 - x0) / C, y0 + (np.arange(R) + 0.5) * (y1 - y0) / R)


# Two steps, two components with unequal sigmas and correlations of both signs.
PARAMS = (np.array([[0.3, -0.2], [1.0, 0.0]]),  # pi_hat
          np.array([[1.0, -0.5], [0.4, 1.2]]),  # mu1
          np.array([[-0.6, 0.8], [0.3, -0.9]]),  # mu2
          np.array([[0.5, 0.9], [0.7, 0.4]]),  # sigma1
          np.array([[0.3, 0.6], [0.5, 0.8]]),  # sigma2
          np.array([[0.4, -0.7], [0.0, 0.5]]))  # rho
INK = np.array([[1.0, 0.5, 0.0], [2.0, -1.0, 1.0], [0.5, 0.5, 0.0]], np.float32)
POS = np.cumsum(INK[:, :2], axis=0)  # absolute pen positions p_t = (1, .5), (3, -.5), (3.5, 0)
EXTENT = (-2.0, 8.0, -5.0, 5.0)


def test_one_component_peaks_at_pen_position_plus_mean():
  # p_0 = (3, 1); mean offset (2.05, -0.95) -> the density peaks at (5.05, 0.05), the centre of
  # cell (row 50, column 50) of a 100 x 100 grid of 0.1-wide cells over [0, 10] x [-5, 5].
  y_hat = _y_hat([[0.0]], [[2.05]], [[-0.95]], [[0.4]], [[0.2]], [[0.6]])
  ink = np.array([[3.0, 1.0, 0.0], [2.0, -1.0, 0.0]], np.float32)
  grid, extent = density_grid(y_hat, ink, 100, extent=(0.0, 10.0, -5.0, 5.0))
  assert grid.shape == (100, 100) and extent == (0.0, 10.0, -5.0, 5.0)
  assert np.unravel_index(np.argmax(grid), grid.shape) == (50, 50)
  peak = 1 / (2 * np.pi * 0.4 * 0.2 * np.sqrt(1 - 0.36))
  np.testing.assert_allclose(grid[50, 50], peak, rtol=1e-4)


def test_sum_matches_direct_bivariate_density_at_cells():
  y_hat = _y_hat(*PARAMS)
  grid, extent = density_grid(y_hat, INK, 60, extent=EXTENT)
  xs, ys = _centres(extent, grid.shape)
  assert grid.shape == (60, 60)
  for r, c in [(30, 24), (25, 31), (28, 40), (33, 20), (0, 0), (45, 50)]:
    want = _reference(PARAMS, POS[:2], xs[c], ys[r]).sum()
    np.testing.assert_allclose(grid[r, c], want, rtol=1e-4, atol=1e-9)
  # Each step's density integrates to one, and the extent holds nearly all the mass.
  cell_area = (xs[1] - xs[0]) * (ys[1] - ys[0])
  np.testing.assert_allclose(grid.sum() * cell_area, 2.0, rtol=2e-3)


def test_max_reduction_is_the_pointwise_max_over_steps():
  grid, extent = density_grid(_y_hat(*PARAMS), INK, 40, extent=EXTENT, reduce="max")
  xs, ys = _centres(extent, grid.shape)
  for r, c in [(20, 14), (18, 20), (22, 25), (5, 35)]:
    want = _reference(PARAMS, POS[:2], xs[c], ys[r]).max()
    np.testing.assert_allclose(grid[r, c], want, rtol=1e-4, atol=1e-9)


def test_normalised_inputs_are_mapped_back_to_raw_units():
  mean, std = np.array([0.5, -0.2], np.float32), np.array([2.0, 0.5], np.float32)
  pi_hat, mu1, mu2, s1, s2, rho = PARAMS
  ink_n = INK.copy()
  ink_n[:, :2] = (INK[:, :2] - mean) / std
  y_hat_n = _y_hat(pi_hat, (mu1 - mean[0]) / std[0], (mu2 - mean[1]) / std[1], s1 / std[0],
                   s2 / std[1], rho)
  grid, _ = density_grid(y_hat_n, ink_n, 50, extent=EXTENT, normalisation=(mean, std))
  raw, _ = density_grid(_y_hat(*PARAMS), INK, 50, extent=EXTENT)
  np.testing.assert_allclose(grid, raw, rtol=1e-3, atol=1e-7)


def test_default_extent_covers_the_line_with_square_cells():
  # A wide line: 100 cells along x, about a tenth as many along y.
  ink = np.array([[0, 0, 0], [5, 1, 0], [5, -1, 1], [10, 0.5, 0]], np.float32)
  grid, (x0, x1, y0, y1) = density_grid(_y_hat(*PARAMS), ink, 100)
  pts = np.cumsum(ink[:, :2], axis=0)
  assert x0 < pts[:, 0].min() and x1 > pts[:, 0].max()
  assert y0 < pts[:, 1].min() and y1 > pts[:, 1].max()
  assert grid.shape[1] == 100
  assert abs((x1 - x0) / grid.shape[1] - (y1 - y0) / grid.shape[0]) < 0.2 * (x1 - x0) / 100


def test_density_rejects_bad_arguments():
  with pytest.raises(ValueError, match="rows of ink"):
    density_grid(_y_hat(*PARAMS), INK[:1], 10)
  with pytest.raises(ValueError, match="reduce"):
    density_grid(_y_hat(*PARAMS), INK, 10, reduce="mean")
  with pytest.raises(ValueError, match=r"ink \[T, 3\]"):
    density_grid(_y_hat(*PARAMS), INK[:, :2], 10)


def test_plot_density_writes_a_png(tmp_path):
  path = tmp_path / "density.png"
  plot_density(_y_hat(*PARAMS), INK, str(path), resolution=80)
  with Image.open(path) as png:
    assert png.format == "PNG"
    assert png.size[0] >= 600


def _phi(T, U):
  # A diagonal alignment: step t attends to character t * U / T.
  t, u = np.meshgrid(np.arange(T), np.arange(U), indexing="ij")
  return np.exp(-0.5 * (u - t * U / T) ** 2).astype(np.float32)


@pytest.mark.parametrize("extra", [0, 1])
def test_attention_accepts_u_and_u_plus_one_columns(tmp_path, extra):
  text = "hello world"
  path = tmp_path / f"attention{extra}.png"
  plot_attention(_phi(30, len(text) + extra), text, str(path), ink_Tx3=INK)
  with Image.open(path) as png:
    assert png.format == "PNG"
    w, h = png.size
  assert w >= 600 and h >= 300  # the written line above the alignment map


def test_attention_without_ink_is_one_panel(tmp_path):
  plot_attention(_phi(20, 4), "abcd", str(tmp_path / "a.png"))
  plot_attention(_phi(20, 4), "abcd", str(tmp_path / "b.png"), ink_Tx3=INK)
  with Image.open(tmp_path / "a.png") as a, Image.open(tmp_path / "b.png") as b:
    assert a.size[1] < b.size[1]


def test_attention_rejects_a_mismatched_text():
  with pytest.raises(ValueError, match="text has 5 characters"):
    plot_attention(_phi(10, 3), "hello", "unused.png")
  with pytest.raises(ValueError, match="text has 2 characters"):
    plot_attention(_phi(10, 4), "hi", "unused.png")
  with pytest.raises(ValueError, match="empty"):
    plot_attention(_phi(10, 1), "", "unused.png")
