"""`handwriting demo`: the main job on the built-in data, with nothing downloaded.

Prepares the synthetic Hershey handwriting set and draws a few of its lines (strokes and the
rendered images). Later stages add the shipped synthesis and recognition models to it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def run(out: str | os.PathLike[str], lines: int = 300, seed: int = 0, shown: int = 3) -> Path:
  from handwriting.data import synthetic
  from handwriting.draw.show import show

  start = time.perf_counter()
  out = Path(out)
  data_dir = out / "synthetic"
  synthetic.prepare(str(data_dir), lines=lines, seed=seed)
  for i in range(shown):
    png = out / f"line_{i}.png"
    text = show(data_dir, "train", i, png)
    print(f"wrote {png}: {text!r}")
  print(f"demo finished in {time.perf_counter() - start:.1f} s; outputs in {out}/")
  return out
