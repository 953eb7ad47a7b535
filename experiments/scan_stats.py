"""What differs between real scans and our renderings, measured: a figure and a table.

    python experiments/scan_stats.py --images ../shared/data/iam-scans-dev/manifest.tsv \
        --rendered PREPARED_IMAGES_DIR --strokes PREPARED_STROKES_DIR [--lines 200] \
        [--figure experiments/figures/scan_stats.png]

Sources: the real scans of a manifest; the clean renderings of a prepared image folder
(`prepare iam-ondb --render-height 64`, what the first shipped reader trained on); and the
scan-like renderings (data/scanlike.py) of a prepared stroke folder, drawn here. For each image:

- body height: rows between the first and last ink row (pixels of the file);
- ink grey and paper grey: medians of the pixels darker / lighter than Otsu's threshold;
- soft edge: pixels between 25 % and 75 % of the way from paper to ink, per ink pixel (blur);
- slant: the deslant angle line_norm finds (degrees);
- vertical margin: empty rows above + below the ink, per body height;
- stroke width at height 64, after each source's normalisation (legacy crop and resize for
  the clean renderings, the `scan` normalisation for the others, and legacy for the scans too,
  which is what the first shipped reader saw): 2 * ink area / ink perimeter.

Only aggregate statistics are written; no image or text of the measuring set.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from handwriting.data.images import line_input, load_image
from handwriting.data.line_norm import _best_angle, _points, darkness, otsu_threshold
from handwriting.data.manifest import read_manifest
from handwriting.data.prepared import Prepared
from handwriting.data.scanlike import render_scanlike
from handwriting.data.strokes import offsets_to_strokes

MEASURES = ("body height (px)", "ink grey", "paper grey", "soft edge per ink px",
            "slant (deg)", "vertical margin / body", "stroke width at h=64 (px)")


def stroke_width(ink_HxW: np.ndarray) -> float:
  """2 * area / perimeter of the binarised ink (a long stroke of width w: area / perimeter ~ w/2)."""
  m = ink_HxW > 127
  area = m.sum()
  perimeter = (np.sum(m[1:] != m[:-1]) + np.sum(m[:, 1:] != m[:, :-1]))
  return float(2 * area / max(perimeter, 1))


def measure(paper_HxW: np.ndarray, norm: str) -> list[float]:
  grey = paper_HxW.astype(np.float64)
  d = darkness(paper_HxW)
  t = otsu_threshold(d)
  ink = d > t
  rows = np.flatnonzero(ink.any(1))
  body = rows[-1] - rows[0] + 1
  ink_grey, paper_grey = np.median(grey[ink]), np.median(grey[~ink])
  soft = np.sum((d > 0.25) & (d < 0.75)) / max(ink.sum(), 1)
  x, y = _points(ink, np.random.default_rng(0))
  slant = -_best_angle(x, y, np.arange(-45, 45.1, 2.5), "cols")  # writing's lean, + = right
  margin = (paper_HxW.shape[0] - body) / body
  width = stroke_width(line_input(paper_HxW, 64, norm))
  return [float(body), float(ink_grey), float(paper_grey), float(soft), float(slant),
          float(margin), width]


def collect(args: argparse.Namespace) -> dict[str, np.ndarray]:
  out: dict[str, list[list[float]]] = {"real scans (dev)": [], "clean renderings": [],
                                       "scan-like renderings": [],
                                       "real scans, legacy normalisation": []}
  rows, _ = read_manifest(args.images)
  for row in rows:
    paper = load_image(row.image)
    out["real scans (dev)"].append(measure(paper, "scan"))
    out["real scans, legacy normalisation"].append(measure(paper, "legacy"))
  clean = Prepared(args.rendered)
  split = clean.splits[-1]
  for i in range(min(args.lines, len(clean.images(split)))):
    out["clean renderings"].append(measure(255 - clean.image(split, i), "legacy"))
  strokes = Prepared(args.strokes)
  lines = strokes.strokes(strokes.meta.get("train_split") or "train")
  rng = np.random.default_rng(0)
  for i in range(min(args.lines, len(lines))):
    pts = offsets_to_strokes(strokes.denormalized(lines[i]))
    others = [offsets_to_strokes(strokes.denormalized(lines[j]))
              for j in rng.integers(0, len(lines), 2)]
    out["scan-like renderings"].append(measure(render_scanlike(pts, rng, neighbours=others),
                                               "scan"))
  return {k: np.asarray(v) for k, v in out.items()}


def table(stats: dict[str, np.ndarray]) -> str:
  names = [k for k in stats if len(stats[k])]
  lines = ["| measure | " + " | ".join(f"{k} (n={len(stats[k])})" for k in names) + " |",
           "| --- |" + " --- |" * len(names)]
  for j, m in enumerate(MEASURES):
    cells = []
    for k in names:
      q = np.percentile(stats[k][:, j], [10, 50, 90])
      cells.append(f"{q[1]:.2f} ({q[0]:.2f}-{q[2]:.2f})")
    lines.append(f"| {m} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def figure(stats: dict[str, np.ndarray], path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(2, 4, figsize=(16, 7))
  for j, (ax, m) in enumerate(zip(axes.flat, MEASURES)):
    values = np.concatenate([v[:, j] for v in stats.values() if len(v)])
    bins = np.linspace(np.percentile(values, 1), np.percentile(values, 99), 25)
    for k, v in stats.items():
      if len(v) and (j == len(MEASURES) - 1 or "legacy" not in k):
        ax.hist(np.clip(v[:, j], bins[0], bins[-1]), bins=bins, density=True, alpha=0.45,
                label=k)
    ax.set_title(m)
  axes.flat[-1].axis("off")
  axes.flat[0].legend(fontsize=8)
  axes.flat[len(MEASURES) - 1].legend(fontsize=7)  # the only panel with the legacy scans
  fig.suptitle("real scans vs renderings (10/50/90 % in RESULTS.md)")
  fig.tight_layout()
  Path(path).parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=80)
  plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, np.ndarray]:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--images", required=True, help="manifest of real line images")
  p.add_argument("--rendered", required=True, help="prepared folder of clean renderings")
  p.add_argument("--strokes", required=True, help="prepared stroke folder to render scan-like")
  p.add_argument("--lines", type=int, default=200, help="renderings measured per source")
  p.add_argument("--figure", default="experiments/figures/scan_stats.png")
  args = p.parse_args(argv)
  stats = collect(args)
  print(table(stats))
  figure(stats, args.figure)
  print(f"wrote {args.figure}")
  return stats


if __name__ == "__main__":
  main()
