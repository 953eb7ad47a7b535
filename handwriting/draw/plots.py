"""Matplotlib figures of handwriting data (Agg backend: files only, no display needed).

Dimension letters: T = points of a line, H/W = image height/width.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # before pyplot: render to files on machines without a display

import matplotlib.pyplot as plt
import numpy as np

from handwriting.data.strokes import offsets_to_strokes


def plot_strokes_and_image(offsets: np.ndarray | None, image: np.ndarray | None, text: str,
                           path: str | os.PathLike[str]) -> None:
  """Saves a PNG: the strokes on top (one colour per pen-down stroke), the image below.

  Args:
    offsets: [T, 3] pen offsets (dx, dy, eos), y up (normalised or not: only the shape of the
      trace matters, but normalised offsets stretch x and y by different stds), or None.
    image: [H, W] uint8 in ink convention (background 0, ink 255), or None; shown inverted,
      dark ink on light paper, as one would read it.
    text: the transcription, used as the title.
    path: the PNG to write.
  """
  panels = [p for p in ("strokes", "image") if (offsets if p == "strokes" else image) is not None]
  if not panels:
    raise ValueError("nothing to plot: both offsets and image are None")
  fig, axes = plt.subplots(len(panels), 1, figsize=(12, 2.2 * len(panels)), squeeze=False)
  for ax, panel in zip(axes[:, 0], panels):
    if panel == "strokes":
      strokes = offsets_to_strokes(np.asarray(offsets))
      colours = plt.get_cmap("tab10")
      for i, pts_Nx2 in enumerate(strokes):
        # A one-point stroke is a dot; a plain line plot would draw nothing for it.
        ax.plot(pts_Nx2[:, 0], pts_Nx2[:, 1], "-o" if len(pts_Nx2) == 1 else "-",
                color=colours(i % 10), linewidth=1.2, markersize=2)
      ax.set_aspect("equal")  # y grows up in the data, as in matplotlib's default axes
      ax.set_title(f"{len(strokes)} strokes, {len(offsets)} points", fontsize=9)
    else:
      ax.imshow(255 - np.asarray(image, np.uint8), cmap="gray", vmin=0, vmax=255,
                interpolation="nearest")
      ax.set_title(f"image {image.shape[0]} x {image.shape[1]}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
  fig.suptitle(text)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
