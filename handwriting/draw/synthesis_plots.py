"""Figures of what the synthesis network does (Graves 2013): the attention alignment of Fig. 13
and the heat map of the predicted mixture density of Fig. 10 (matplotlib, Agg backend, PNG).

Dimension letters: T pen steps, U characters (U+1 with the position past the end, section 5.3),
Y = 1 + 6M network outputs, M mixture components, R/C rows/columns of the density grid.

Units. Offsets and mixture parameters must be in the same units. Both are usually normalised
((dx, dy) - mean) / std, as the network sees them; pass `normalisation=(mean, std)` and both are
mapped back to raw pen units first (x = x_n std + mean for the offsets and the means mu,
sigma = sigma_n std, rho unchanged: an axis-wise affine map of a bivariate normal). Without it the
inputs are used as they are, which is right for raw offsets with a raw-unit mixture; the
cumulative sum of normalised offsets drifts by `-mean/std` per step, so the shape is distorted.
"""

from __future__ import annotations

import functools
import math
import os

import matplotlib

matplotlib.use("Agg")  # before pyplot: render to files on machines without a display

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from handwriting.data.strokes import denormalize, offsets_to_strokes
from handwriting.synthesis import mdn

Normalisation = tuple[np.ndarray, np.ndarray]  # (mean [2], std [2]) of the offsets
Extent = tuple[float, float, float, float]  # (x0, x1, y0, y1), as matplotlib's imshow takes it
PathLike = str | os.PathLike[str]

# Colours below this fraction of the peak density are drawn as the floor colour: the log scale
# would otherwise spend most of its range on numerically-zero tails.
LOG_RANGE = 1e-6


def _raw_offsets(ink_Tx3: np.ndarray, normalisation: Normalisation | None) -> np.ndarray:
  ink_Tx3 = np.asarray(ink_Tx3, np.float32)
  if ink_Tx3.ndim != 2 or ink_Tx3.shape[1] != 3:
    raise ValueError(f"expected ink [T, 3], got shape {ink_Tx3.shape}")
  return ink_Tx3 if normalisation is None else denormalize(ink_Tx3, *normalisation)


def _draw_strokes(ax: plt.Axes, raw_Tx3: np.ndarray, colour: str, width: float) -> None:
  """Pen-down strokes of absolute points (cumulative offsets, y up), one line per stroke."""
  for pts_Nx2 in offsets_to_strokes(raw_Tx3):
    ax.plot(pts_Nx2[:, 0], pts_Nx2[:, 1], "-o" if len(pts_Nx2) == 1 else "-", color=colour,
            linewidth=width, markersize=width)


def _char_label(c: str) -> str:
  return {" ": "␣", "\t": "\\t"}.get(c, c)


def plot_attention(phi_TxU: np.ndarray, text: str, path: PathLike,
                   ink_Tx3: np.ndarray | None = None, *,
                   normalisation: Normalisation | None = None) -> None:
  """Saves a Graves 2013 Fig. 13-style alignment: window weights phi(t, u) (eq 46) as an image,
  pen step t along x, the characters of `text` along y (first character at the top), with the
  written line in a panel above when `ink_Tx3` is given.

  Args:
    phi_TxU: [T, U] or [T, U+1] window weights, U = len(text); column U+1 is the position past
      the end (`Samples.phi_BxNxU` and `Trace.phi_BxTxU` of a padded batch have more columns:
      slice a line's first len(text) (+1) first).
    text: the characters written.
    path: the PNG to write.
    ink_Tx3: offsets (dx, dy, eos) of the line, drawn as absolute strokes (y up).
    normalisation: (mean, std) if `ink_Tx3` is normalised (see the module docstring).
  """
  phi_TxU = np.asarray(phi_TxU, np.float32)
  U = len(text)
  if U == 0:
    raise ValueError("the text is empty: nothing to align")
  if phi_TxU.ndim != 2 or phi_TxU.shape[1] not in (U, U + 1):
    raise ValueError(f"phi has shape {phi_TxU.shape} but the text has {U} characters: expected "
                     f"[T, {U}] or [T, {U + 1}] (with the position past the end)")
  labels = [_char_label(c) for c in text] + (["end"] if phi_TxU.shape[1] == U + 1 else [])
  rows = 2 if ink_Tx3 is not None else 1
  # The image grows with the text so that every character keeps a readable tick label.
  map_height = max(2.5, 0.16 * len(labels))
  fig, axes = plt.subplots(rows, 1, figsize=(12, map_height + 2.2 * (rows - 1)), squeeze=False,
                           gridspec_kw={"height_ratios": [2.2, map_height][2 - rows:]})
  if ink_Tx3 is not None:
    ax = axes[0, 0]
    _draw_strokes(ax, _raw_offsets(ink_Tx3, normalisation), "black", 1.2)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(text, fontsize=10)
  ax = axes[-1, 0]
  T = phi_TxU.shape[0]
  # Row u of the image is character u; origin "upper" puts the first character at the top.
  im = ax.imshow(phi_TxU.T, aspect="auto", origin="upper", interpolation="nearest", cmap="Greys",
                 extent=(-0.5, T - 0.5, len(labels) - 0.5, -0.5), vmin=0.0)
  ax.set_yticks(np.arange(len(labels)))
  ax.set_yticklabels(labels, fontsize=8 if len(labels) <= 40 else 6, family="monospace")
  ax.set_xlabel("pen step t")
  ax.set_ylabel("character u")
  if ink_Tx3 is None:
    ax.set_title(text, fontsize=10)
  fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01, label="phi(t, u)")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def _grid_axes(extent: Extent, resolution: int) -> tuple[np.ndarray, np.ndarray]:
  """Cell centres (xs [C], ys [R]) of nearly square cells, `resolution` along the longer side."""
  x0, x1, y0, y1 = extent
  cell = max(x1 - x0, y1 - y0) / resolution
  C, R = max(1, round((x1 - x0) / cell)), max(1, round((y1 - y0) / cell))
  xs = x0 + (np.arange(C) + 0.5) * (x1 - x0) / C
  ys = y0 + (np.arange(R) + 0.5) * (y1 - y0) / R
  return xs, ys


def _auto_extent(points_Tx2: np.ndarray) -> Extent:
  lo, hi = points_Tx2.min(0), points_Tx2.max(0)
  span = float(np.max(hi - lo))
  pad = 0.05 * span if span > 0 else 1.0
  return (float(lo[0] - pad), float(hi[0] + pad), float(lo[1] - pad), float(hi[1] + pad))


@functools.partial(jax.jit, static_argnames=("use_max",))
def _accumulate(mix: mdn.Mixture, pos_Tx2: jax.Array, xs_C: jax.Array, ys_R: jax.Array,
                use_max: bool) -> jax.Array:
  """sum_t (or max_t) of the mixture density of step t, centred on pos_t, at every grid cell."""
  grid_RxCx2 = jnp.stack(jnp.meshgrid(xs_C, ys_R), axis=-1)

  def body(acc_RxC, inputs):
    mix_t, pos_2 = inputs
    mix_t = mix_t._replace(mu=mix_t.mu + pos_2)  # offset density -> absolute next position
    log_p_RxC = jax.nn.logsumexp(mix_t.log_pi + mdn.component_log_density(mix_t, grid_RxCx2), -1)
    p_RxC = jnp.exp(log_p_RxC)
    return (jnp.maximum(acc_RxC, p_RxC) if use_max else acc_RxC + p_RxC), None

  acc, _ = jax.lax.scan(body, jnp.zeros(grid_RxCx2.shape[:2], jnp.float32), (mix, pos_Tx2))
  return acc


def density_grid(y_hat_TxY: np.ndarray, ink_Tx3: np.ndarray, resolution: int = 400, *,
                 extent: Extent | None = None, reduce: str = "sum",
                 normalisation: Normalisation | None = None) -> tuple[np.ndarray, Extent]:
  """The Fig. 10 heat map as numbers: the predicted density of the next pen position (eq 23,
  without the end-of-stroke factor) of every step, in absolute coordinates, on one grid.

  `y_hat_TxY[t]` is the output after reading ink row t, i.e. the distribution of offset t+1
  (eq 26; the teacher-forced outputs for `ink_Tx3[:-1]` are T-1 rows: pass those). Its density is
  placed around the absolute pen position of step t, p_t = sum_{s <= t} (dx_s, dy_s), so
  grid(x) = sum_t N_mix(x - p_t | y_hat_t) (or the max over t).

  Args:
    y_hat_TxY: [T', 1+6M] network outputs, T' <= T.
    ink_Tx3: [T, 3] offsets (dx, dy, eos) of the line.
    resolution: grid cells along the longer side of the extent (cells are about square).
    extent: (x0, x1, y0, y1) of the grid; default: the line's points with a 5% margin.
    reduce: "sum" (total density, integrates to T') or "max" over steps.
    normalisation: (mean, std) if both inputs are in normalised units (module docstring).

  Returns:
    (grid [R, C], extent): grid[r, c] is the density at the centre of the cell in row r (from
    the bottom: y grows up, show with origin="lower") and column c, in 1 / (pen unit)^2.
  """
  if reduce not in ("sum", "max"):
    raise ValueError(f"reduce must be 'sum' or 'max', not {reduce!r}")
  raw_Tx3 = _raw_offsets(ink_Tx3, normalisation)
  y_hat_TxY = np.asarray(y_hat_TxY, np.float32)
  if y_hat_TxY.ndim != 2 or not 0 < len(y_hat_TxY) <= len(raw_Tx3):
    raise ValueError(f"y_hat has shape {y_hat_TxY.shape}: expected [T', 1+6M] with "
                     f"0 < T' <= {len(raw_Tx3)} (the rows of ink)")
  points_Tx2 = np.cumsum(raw_Tx3[:, :2].astype(np.float64), axis=0)
  extent = extent if extent is not None else _auto_extent(points_Tx2)
  xs_C, ys_R = _grid_axes(extent, resolution)
  mix = mdn.split_outputs(jnp.asarray(y_hat_TxY))
  if normalisation is not None:
    mean_2, std_2 = (jnp.asarray(a, jnp.float32) for a in normalisation)
    mix = mix._replace(mu=mix.mu * std_2 + mean_2, log_sigma=mix.log_sigma + jnp.log(std_2))
  # Positions relative to the grid's centre keep float32 precise for lines far from the origin.
  centre_2 = np.array([(extent[0] + extent[1]) / 2, (extent[2] + extent[3]) / 2])
  pos_Tx2 = jnp.asarray(points_Tx2[:len(y_hat_TxY)] - centre_2, jnp.float32)
  grid = _accumulate(mix, pos_Tx2, jnp.asarray(xs_C - centre_2[0], jnp.float32),
                     jnp.asarray(ys_R - centre_2[1], jnp.float32), reduce == "max")
  return np.asarray(grid), tuple(float(e) for e in extent)


def plot_density(y_hat_TxY: np.ndarray, ink_Tx3: np.ndarray, path: PathLike,
                 resolution: int = 400, *, reduce: str = "sum",
                 normalisation: Normalisation | None = None, title: str = "") -> None:
  """Saves a Graves 2013 Fig. 10-style PNG: `density_grid` on a log colour scale with the
  strokes drawn on top. Arguments as in `density_grid`; the units must agree (module docstring).
  """
  grid_RxC, extent = density_grid(y_hat_TxY, ink_Tx3, resolution, reduce=reduce,
                                  normalisation=normalisation)
  peak = float(grid_RxC.max())
  if not math.isfinite(peak) or peak <= 0.0:
    raise ValueError(f"the density grid has no positive finite values (max {peak}); is the "
                     "extent far from the line, or are the units mismatched?")
  (x0, x1, y0, y1) = extent
  aspect = (y1 - y0) / max(x1 - x0, 1e-12)
  fig, ax = plt.subplots(figsize=(12, max(1.5, min(8.0, 12 * aspect)) + 0.6))
  im = ax.imshow(np.maximum(grid_RxC, peak * LOG_RANGE), origin="lower", extent=extent,
                 cmap="inferno", norm=LogNorm(vmin=peak * LOG_RANGE, vmax=peak),
                 interpolation="bilinear", aspect="equal")
  _draw_strokes(ax, _raw_offsets(ink_Tx3, normalisation), "white", 0.6)
  ax.set_xlim(x0, x1)
  ax.set_ylim(y0, y1)
  ax.set_xticks([])
  ax.set_yticks([])
  ax.set_title(title or f"predicted density of the next pen position ({reduce} over "
               f"{len(y_hat_TxY)} steps, log scale)", fontsize=9)
  fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
