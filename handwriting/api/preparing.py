"""What `prepare texts` and `prepare written` do (the other datasets: handwriting/data/*)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from handwriting import pretrained
from handwriting.data.report import SkipReport
from handwriting.data.text import form_ids, read_texts


@dataclasses.dataclass
class TextsResult:
  out: str
  texts: int
  forms_left_out: int
  report: SkipReport


def excluded_forms(files: Sequence[str | os.PathLike[str]]) -> set[str]:
  """The IAM form ids named in `files` (manifests or id lists)."""
  return set().union(*(form_ids(f) for f in files))


def prepare_texts(lines_txt: str | os.PathLike[str], out: str | os.PathLike[str],
                  exclude_forms: Sequence[str | os.PathLike[str]] = ()) -> TextsResult:
  """IAM lines.txt (or a text file) -> natural-form texts, one per line, without the forms
  named in `exclude_forms` (a measuring set's manifest)."""
  report = SkipReport()
  excluded = excluded_forms(exclude_forms)
  texts = [t for i, t in read_texts(lines_txt, report)
           if "-".join(i.split("-")[:2]) not in excluded]
  tmp = f"{out}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.writelines(t + "\n" for t in texts)
  os.replace(tmp, out)
  return TextsResult(str(out), len(texts), len(excluded), report)


@dataclasses.dataclass
class WrittenResult:
  out: str
  synthesis: str
  texts: int
  lines: int
  forms_left_out: int
  report: SkipReport


def prepare_written(lines_txt: str | os.PathLike[str], styles: str | os.PathLike[str],
                    out: str | os.PathLike[str], *, synthesis: str | None = None,
                    exclude_forms: Sequence[str | os.PathLike[str]] = (), lines: int = 0,
                    batch: int = 32, seed: int = 0) -> WrittenResult:
  """Texts written by a synthesis network in styles primed from a prepared stroke folder, as a
  prepared folder of extra training lines (synthesis/written_set.py)."""
  from handwriting.data.prepared import Prepared
  from handwriting.synthesis.inference import read_spec
  from handwriting.synthesis.written_set import select_texts, write_set
  workdir = pretrained.resolve(synthesis, "synthesis")
  report = SkipReport()
  excluded = excluded_forms(exclude_forms)
  # Only characters both the writer and the styles' data know: the lines go into that data.
  alphabet = (set(read_spec(workdir, "synthesis")[1].alphabet.chars)
              & set(Prepared(styles).alphabet.chars))
  texts = select_texts(read_texts(lines_txt, report), alphabet, excluded, report)
  if lines and lines < len(texts):
    pick = np.random.default_rng(seed).choice(len(texts), lines, replace=False)
    texts = [texts[i] for i in sorted(pick)]
  summary = write_set(workdir, texts, str(styles), str(out), batch=batch, seed=seed,
                      report=report)
  return WrittenResult(str(out), workdir, len(texts), int(summary["lines"]), len(excluded),
                       report)
