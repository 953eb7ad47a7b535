"""`handwriting prepare render`: prepared pen-stroke folders -> a scan-like offline image set.

Every line of the first folder's splits is drawn as a scan (data/scanlike.py) and normalised
the way `read` normalises a real scan (data/line_norm.py), so the recognizer trains on what it
will read. The training split gets `copies` renderings per line (each with its own pen, paper
and distortions, and pieces of two other lines of the same split above and below); other splits
get one, with a fixed seed, so evaluation figures are comparable between runs. Further folders
(e.g. lines written by the synthesis network) add their training lines to the training split.

The output is an ordinary prepared folder (store.py) with images_<split>.npz only; its meta.json
records `image_norm: "scan"`, which the recognizer keeps in its checkpoint so that `read` and
`evaluate` normalise real images the same way.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handwriting.data import store
from handwriting.data.line_norm import BlankImage
from handwriting.data.prepared import Prepared
from handwriting.data.render import RenderError
from handwriting.data.report import DataError, SkipReport
from handwriting.data.scanlike import render_for_training
from handwriting.data.strokes import offsets_to_strokes

IMAGE_NORM = "scan"  # the name `line_norm.normalize_line` with its defaults is recorded under

_Job = tuple[str, list[np.ndarray], list[list[np.ndarray]], tuple[int, ...], int]


def _render_one(job: _Job) -> tuple[str, np.ndarray | None, str]:
  name, strokes, neighbours, seed, height = job
  try:
    img = render_for_training(strokes, np.random.default_rng(seed), height, neighbours)
    return name, img, ""
  except (RenderError, BlankImage) as e:
    return name, None, str(e)


def _jobs(data: Prepared, split: str, copies: int, seed: int, height: int, prefix: str
          ) -> tuple[list[_Job], list[str]]:
  ragged = data.raw_strokes(split)
  strokes = [offsets_to_strokes(ragged[i]) for i in range(len(ragged))]
  texts, jobs = [str(t) for t in ragged.texts], []
  n = len(strokes)
  for c in range(copies):
    for i in range(n):
      line_id = str(ragged.ids[i])
      rng = np.random.default_rng([seed, zlib.crc32(line_id.encode()), c, 3])
      others = [strokes[j] for j in rng.integers(0, n, size=2)] if n > 1 else []
      name = f"{prefix}{line_id}" + (f"#{c}" if copies > 1 else "")
      jobs.append((name, strokes[i], others, (seed, zlib.crc32(line_id.encode()), c, 4), height))
  return jobs, texts * copies


def render_prepared(sources: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                    height: int = 64, copies: int = 2, seed: int = 0, workers: int | None = None,
                    report: SkipReport | None = None) -> dict[str, Any]:
  """Renders the stroke folders `sources` into the image folder `out`; returns a summary.

  A line that cannot be drawn is skipped and counted in `report`. Raises DataError when a
  source has no strokes or a later source's alphabet is not part of the first's.
  """
  start = time.perf_counter()
  report = SkipReport() if report is None else report
  first = Prepared(sources[0])
  alphabet = first.alphabet
  extra = [Prepared(s) for s in sources[1:]]
  for d in extra:
    unknown = set(d.alphabet.chars) - set(alphabet.chars)
    if unknown:
      raise DataError(d.folder, f"characters not in {first.folder}'s alphabet: "
                                f"{''.join(sorted(unknown))!r}")
  train = first.meta.get("train_split") or "train"
  counts: dict[str, int] = {}
  out_dir = Path(out)
  out_dir.mkdir(parents=True, exist_ok=True)
  with mp.get_context("spawn").Pool(workers or os.cpu_count() or 1) as pool:
    for split in first.splits:
      if not first.has_strokes(split):
        raise DataError(first.folder, f"split {split!r} has no strokes to render")
      n_copies = copies if split == train else 1
      jobs, texts = _jobs(first, split, n_copies, seed, height, "")
      if split == train:
        for k, d in enumerate(extra):
          more_jobs, more_texts = _jobs(d, d.meta.get("train_split") or "train", n_copies, seed,
                                        height, f"src{k + 1}/")
          jobs, texts = jobs + more_jobs, texts + more_texts
      images, kept_texts, ids = [], [], []
      for (name, img, why), text in zip(pool.imap(_render_one, jobs, chunksize=16), texts):
        if img is None:
          report.skip(f"{split}/{name}", f"cannot render: {why}")
          continue
        images.append(np.ascontiguousarray(img.T))
        kept_texts.append(text)
        ids.append(name)
      store.save_ragged(store.images_path(out_dir, split), store.Ragged.from_items(
        images, kept_texts, ids, height=np.array(height)))
      counts[split] = len(ids)
  meta = {k: v for k, v in first.meta.items() if k not in ("splits", "images")}
  meta.update(splits=counts, image_height=height, image_norm=IMAGE_NORM, render="scanlike",
              render_copies=copies, render_seed=seed,
              render_sources=[str(Path(s).resolve().name) for s in sources])
  store.write_meta(out_dir, meta)
  report.write(out_dir / "skipped.txt")
  return {"splits": counts, "skipped": len(report), "seconds": time.perf_counter() - start}
