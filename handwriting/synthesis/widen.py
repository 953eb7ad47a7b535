"""Function-preserving widening: a trained prediction / synthesis network's parameters placed in a
network with more cells per layer (H -> H'), so that the wider network computes exactly what the
trained one did and training goes on from there (`--config.init_from` of a narrower model).

The shipped 3 x 256 writer took 14,350 steps over several sessions on a 2-core CPU, where a
3 x 400 step costs about 1.7 x as much; grown from the trained 3 x 256, the wider network begins
at its loss instead of at a random network's (the shipped 3 x 400 writer was made so).

Every cell's 4H gate columns are blocks of H ([i, f, g, o], nn/gates.py); the old cells keep
their first H columns of each block. What leaves a new cell is zero: its rows of the recurrent
weights, of the next layer's input weights, of the window's parameters (layer 1) and of the
output layer. So the old cells' pre-activations, the window and the mixture outputs do not
depend on the new cells at all. What enters a new cell (its columns, biases and peepholes) keeps
the wider network's fresh initialisation: new cells compute from the start, and their zero
outgoing weights get non-zero gradients (a new cell with zero inputs as well would output
exactly 0 and never learn).
"""

from __future__ import annotations

from typing import Any

import numpy as np

PyTree = Any


def _gate_columns(small: np.ndarray, fresh: np.ndarray, H: int, H2: int) -> np.ndarray:
  """fresh [..., 4 H2] with old cell j's column of each gate block from small [..., 4 H]."""
  out = np.array(fresh)
  for g in range(4):
    out[..., g * H2:g * H2 + H] = small[..., g * H:(g + 1) * H]
  return out


def _place(small: np.ndarray, fresh: np.ndarray, rows: np.ndarray, new_cells: slice,
           H: int, H2: int) -> np.ndarray:
  """fresh [R', 4 H2] with small [R, 4 H]'s row r at rows[r] (old cells' columns of each gate
  block) and the rows `new_cells` (what new cells of the layer below feed in) zero."""
  out = np.array(fresh)
  out[rows] = _gate_columns(small, out[rows], H, H2)
  out[new_cells] = 0.0
  return out


def widen_params(small: PyTree, fresh: PyTree) -> PyTree:
  """The parameters of the wider network `fresh` (a pure dict of `HandwritingNet`'s params at
  H') holding the trained `small` (the same network at H <= H'), as described above."""
  small_cells, fresh_cells = small["cells"], fresh["cells"]
  if len(small_cells) != len(fresh_cells):
    raise ValueError(f"widening keeps the layers: {len(small_cells)} against {len(fresh_cells)}")
  H = int(np.shape(small_cells[0]["w_h"])[0])
  H2 = int(np.shape(fresh_cells[0]["w_h"])[0])
  if H2 < H:
    raise ValueError(f"cannot widen {H} cells per layer to fewer ({H2})")
  out: dict[str, Any] = {"cells": {}}
  for n in sorted(small_cells):
    s = {k: np.asarray(v) for k, v in small_cells[n].items() if v is not None}
    f = {k: np.asarray(v) for k, v in fresh_cells[n].items() if v is not None}
    # Layer 1 reads x (3 rows); layers 2..L read x, h^{n-1} (H rows, H' wide) and w (V rows).
    rows = np.arange(len(s["w_x"]))
    rows[3 + H:] += H2 - H
    cell = {"w_x": _place(s["w_x"], f["w_x"], rows, slice(3 + H, 3 + H2) if n else slice(0, 0),
                          H, H2),
            "w_h": _place(s["w_h"], f["w_h"], np.arange(H), slice(H, H2), H, H2),
            "b": _gate_columns(s["b"], f["b"], H, H2)}
    if "w_c" in s:  # peepholes [3, H]: one column per cell
      cell["w_c"] = np.array(f["w_c"])
      cell["w_c"][:, :H] = s["w_c"]
    out["cells"][n] = cell
  if "window_in" in small:
    out["window_in"] = {"kernel": _gate_columns(np.asarray(small["window_in"]["kernel"]),
                                                np.asarray(fresh["window_in"]["kernel"]), H, H2)}
    kernel = np.zeros(np.shape(fresh["window_out"]["kernel"]), np.float32)
    kernel[:H] = np.asarray(small["window_out"]["kernel"])
    out["window_out"] = {"kernel": kernel, "bias": np.asarray(small["window_out"]["bias"])}
  kernel = np.zeros(np.shape(fresh["output"]["kernel"]), np.float32)
  for n in range(len(small_cells)):  # rows: layer 1's cells, then layer 2's, ...
    kernel[n * H2:n * H2 + H] = np.asarray(small["output"]["kernel"])[n * H:(n + 1) * H]
  out["output"] = {"kernel": kernel, "bias": np.asarray(small["output"]["bias"])}
  return out
