"""`handwriting prepare written`: texts written by a synthesis network, as a prepared stroke folder.

A reader trained only on IAM-OnDB sees ~200 writers and ~1,700 distinct texts. The synthesis
network writes any text in the style of any line it is primed with (Graves 2013, section 5.5), so
it turns a list of texts (IAM's lines.txt, say) into new training lines: each batch is primed
with a randomly chosen line of a stroke folder (a writer) and sampled at a random bias (neater
or freer). The result is an ordinary prepared folder (strokes_train.npz + meta.json) that
`prepare render --from ... --from THIS` adds to a recognizer's training images.

Lines the network did not finish (the window never reached the text's end before the step cap)
or that came out implausibly short or long for their text are skipped and counted: a training
label must match its ink.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from handwriting.data import store
from handwriting.data.prepared import Prepared
from handwriting.data.report import DataError, SkipReport
from handwriting.data.strokes import compute_stats, normalize
from handwriting.synthesis import inference

# Pen points per character of real IAM-OnDB lines are ~20-30; a line far outside this range
# for its text is a failed sample (scribble or a skipped word).
MIN_POINTS_PER_CHAR, MAX_POINTS_PER_CHAR = 8.0, 60.0
MAX_STYLE_POINTS = 600  # short priming lines: priming costs as many steps as it has points


def select_texts(texts: Sequence[tuple[str, str]], alphabet: set[str], excluded: set[str],
                 report: SkipReport, max_chars: int = 70) -> list[str]:
  """Texts (by (IAM line id, text)) that are writable and not of an excluded form, unique."""
  seen, out = set(), []
  for line_id, text in texts:
    form = "-".join(line_id.split("-")[:2])
    if form in excluded:
      continue  # silently: excluding is the point, not a problem with the data
    bad = set(text) - alphabet - {" "}
    if bad:
      report.skip(line_id, f"characters the models do not know: {''.join(sorted(bad))!r}")
    elif len(text) > max_chars:
      report.skip(line_id, f"longer than {max_chars} characters")
    elif text not in seen:
      seen.add(text)
      out.append(text)
  return out


def _styles(folder: Prepared, alphabet: set[str]) -> list[tuple[np.ndarray, str]]:
  split = folder.meta.get("train_split") or "train"
  lines = folder.raw_strokes(split)
  out = []
  for i in range(len(lines)):
    text = str(lines.texts[i])
    if len(lines[i]) <= MAX_STYLE_POINTS and not set(text) - alphabet - {" "}:
      out.append((np.asarray(lines[i]), text))
  if not out:
    raise DataError(folder.folder, f"no style line of at most {MAX_STYLE_POINTS} points")
  return out


def write_set(synthesis: str, texts: Sequence[str], styles: str | os.PathLike[str],
              out: str | os.PathLike[str], *, bias: tuple[float, float] = (0.3, 2.0),
              batch: int = 16, seed: int = 0, report: SkipReport | None = None
              ) -> dict[str, Any]:
  """Writes every text once (batches of `batch`, each in one style at one bias) into `out`."""
  start = time.perf_counter()
  report = SkipReport() if report is None else report
  model, spec = inference.load(synthesis, "synthesis")
  pool = _styles(Prepared(styles), set(spec.alphabet.chars))
  rng = np.random.default_rng(seed)
  offsets, kept, ids, style_of = [], [], [], []
  for b0 in range(0, len(texts), batch):
    chunk = list(texts[b0:b0 + batch])
    k = int(rng.integers(len(pool)))
    ink, style_text = pool[k]
    primer = (normalize(ink, spec.stroke_mean, spec.stroke_std).astype(np.float32),
              style_text + " ")
    b = float(rng.uniform(*bias))
    written = inference.write(model, spec, chunk, key=jax.random.key(seed * 100_003 + b0),
                              bias=b, style=primer)
    for j, w in enumerate(written):
      name = f"w{b0 + j:06d}"
      per_char = len(w.ink_Nx3) / max(len(w.text.replace(" ", "")), 1)
      if not w.finished:
        report.skip(name, "unfinished: the window did not reach the end of the text")
      elif not MIN_POINTS_PER_CHAR <= per_char <= MAX_POINTS_PER_CHAR:
        report.skip(name, f"implausible length: outside {MIN_POINTS_PER_CHAR:g}-"
                          f"{MAX_POINTS_PER_CHAR:g} points per character")
      else:
        offsets.append(inference.raw_offsets(spec, w.ink_Nx3))
        kept.append(w.text)
        ids.append(name)
        style_of.append(k)
  if not offsets:
    raise DataError(out, "no line was written well enough to keep")
  mean, std = compute_stats(offsets)
  out_dir = Path(out)
  out_dir.mkdir(parents=True, exist_ok=True)
  store.save_ragged(store.strokes_path(out_dir, "train"), store.Ragged.from_items(
    [normalize(o, mean, std) for o in offsets], kept, ids))
  chars = sorted(set("".join(kept)) - {" "})
  store.write_meta(out_dir, {
    "source": "written", "alphabet": "".join(chars), "stroke_mean": mean.tolist(),
    "stroke_std": std.tolist(), "splits": {"train": len(ids)}, "train_split": "train",
    "synthesis": Path(synthesis).name, "styles": Path(styles).name, "bias": list(bias),
    "seed": seed, "styles_used": len(set(style_of))})
  report.write(out_dir / "skipped.txt")
  return {"lines": len(ids), "skipped": len(report), "seconds": time.perf_counter() - start}
