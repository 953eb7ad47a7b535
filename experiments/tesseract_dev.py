"""Tesseract on a manifest of real scanned lines: an outside reference for our readers' CER/WER.

Runs Debian's `tesseract IMG stdout --psm 7` (psm 7: treat the image as one text line) on every
row of a manifest (data/manifest.py) and scores the output the way our readers are scored:
corpus CER and WER (recognition/metrics.py) on `comparison_form` of reference and hypothesis
(data/text.py), so punctuation spacing costs nothing on either side.

  python experiments/tesseract_dev.py --images ../shared/data/iam-scans-dev/manifest.tsv

Writes hypotheses.tsv (image, reference, hypothesis, per-line CER) into --out, which must lie
outside the repository: the outputs carry the dev set's transcriptions, which are never
committed. Tesseract is an engine for print, so expect high error rates on handwriting; the
figure says how hard the scans are for an off-the-shelf reader, not how good ours are.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from handwriting.data.manifest import ManifestRow, read_manifest
from handwriting.data.report import SkipReport
from handwriting.data.text import comparison_form
from handwriting.recognition.metrics import ErrorCounts, char_errors, word_errors

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(tempfile.gettempdir()) / "handwriting_tesseract_dev"
INSTALL_HINT = "install it with `apt-get install tesseract-ocr` (Debian/Ubuntu)"
PSM_SINGLE_LINE = 7
TIMEOUT_S = 120  # per line; a normal line takes about a second


@dataclasses.dataclass(frozen=True)
class LineResult:
  """One scored line; the error counts are on comparison_form of both sides."""

  row: ManifestRow
  hypothesis: str
  chars: ErrorCounts
  words: ErrorCounts


def find_tesseract(exe: str = "tesseract") -> str:
  """The tesseract executable's path; SystemExit with the install command when it is absent."""
  found = shutil.which(exe)
  if found is None:
    raise SystemExit(f"error: {exe!r} is not on PATH: {INSTALL_HINT}")
  return found


def tesseract_version(exe: str) -> str:
  """The first line of `tesseract --version` (e.g. "tesseract 5.3.0")."""
  out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
  lines = (out.stdout or out.stderr).splitlines()
  return lines[0].strip() if lines else "unknown"


def read_line(exe: str, image: Path, psm: int = PSM_SINGLE_LINE) -> str:
  """Tesseract's reading of one line image, whitespace collapsed; RuntimeError when it fails."""
  # One thread: the machines this runs on share their cores with training jobs, and one line is
  # too small for tesseract's OpenMP threads to pay off.
  env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
  try:
    out = subprocess.run([exe, str(image), "stdout", "--psm", str(psm)], capture_output=True,
                         text=True, env=env, timeout=TIMEOUT_S, check=False)
  except subprocess.TimeoutExpired:
    raise RuntimeError(f"tesseract timed out after {TIMEOUT_S} s") from None
  if out.returncode != 0:
    last = (out.stderr.strip().splitlines() or ["no message"])[-1]
    raise RuntimeError(f"tesseract failed (exit {out.returncode}): {last}")
  return " ".join(out.stdout.split())


def score(reference: str, hypothesis: str) -> tuple[ErrorCounts, ErrorCounts]:
  """(character, word) error counts of one line on comparison_form of both sides."""
  ref, hyp = comparison_form(reference), comparison_form(hypothesis)
  return char_errors([ref], [hyp]), word_errors([ref], [hyp])


def check_out_dir(out: Path) -> Path:
  """`out` resolved; SystemExit when it lies inside the repository (no dev-set text is kept)."""
  out = out.resolve()
  if out == REPO or REPO in out.parents:
    raise SystemExit(f"error: --out {out} is inside the repository {REPO}; the hypotheses carry "
                     f"the dev set's transcriptions: choose a folder outside it")
  return out


def write_hypotheses(path: Path, results: Sequence[LineResult], folder: Path) -> None:
  """hypotheses.tsv: image (relative to the manifest's folder), reference, hypothesis, CER."""
  with open(path, "w", encoding="utf-8") as f:
    f.write("# image\treference\thypothesis\tcer\n")
    for r in results:
      image = os.path.relpath(r.row.image, folder)
      f.write(f"{image}\t{r.row.text}\t{r.hypothesis}\t{r.chars.rate:.4f}\n")


def evaluate(manifest: str | os.PathLike[str], out: str | os.PathLike[str] = DEFAULT_OUT,
             exe: str = "tesseract", psm: int = PSM_SINGLE_LINE,
             verbose: bool = True) -> dict[str, Any]:
  """Reads every manifest row with tesseract, writes hypotheses.tsv, returns the figures.

  A row whose image is missing or that tesseract cannot read is skipped and counted (it is in
  neither rate); the figures name how many lines they cover.
  """
  start = time.perf_counter()
  out_dir = check_out_dir(Path(out))
  exe = find_tesseract(exe)
  rows, report = read_manifest(manifest)
  results = _read_all(rows, exe, psm, report, verbose)
  out_dir.mkdir(parents=True, exist_ok=True)
  write_hypotheses(out_dir / "hypotheses.tsv", results, Path(manifest).resolve().parent)
  report.write(out_dir / "skipped.txt")
  chars = sum((r.chars for r in results), ErrorCounts())
  words = sum((r.words for r in results), ErrorCounts())
  return {"engine": tesseract_version(exe), "command": f"tesseract IMG stdout --psm {psm}",
          "manifest": str(manifest), "lines": len(results), "skipped": len(report),
          "skip_reasons": dict(report.reasons()), "skipped_items": list(report.items),
          "cer": chars.rate, "wer": words.rate,
          "char_edits": chars.edits, "ref_chars": chars.ref_len, "word_edits": words.edits,
          "ref_words": words.ref_len, "out": str(out_dir),
          "seconds": round(time.perf_counter() - start, 1)}


def _read_all(rows: Sequence[ManifestRow], exe: str, psm: int, report: SkipReport,
              verbose: bool) -> list[LineResult]:
  results = []
  for row in rows:
    where = f"{row.image} (manifest line {row.line})"
    if not row.image.is_file():
      report.skip(where, "missing image")
      continue
    try:
      hyp = read_line(exe, row.image, psm)
    except RuntimeError as e:
      report.skip(where, str(e))
      continue
    chars, words = score(row.text, hyp)
    results.append(LineResult(row, hyp, chars, words))
    if verbose:
      print(f"{row.image.name}  cer {chars.rate:6.1%}\n  ref: {row.text}\n  hyp: {hyp}")
  return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--images", required=True, help="manifest.tsv: image<TAB>transcription")
  parser.add_argument("--out", default=str(DEFAULT_OUT),
                      help=f"folder for hypotheses.tsv, outside the repo (default {DEFAULT_OUT})")
  parser.add_argument("--tesseract", default="tesseract", help="the tesseract executable")
  parser.add_argument("--psm", type=int, default=PSM_SINGLE_LINE,
                      help="tesseract page segmentation mode (7: a single text line)")
  parser.add_argument("--quiet", action="store_true", help="print the figures only")
  args = parser.parse_args(argv)
  figures = evaluate(args.images, args.out, args.tesseract, args.psm, verbose=not args.quiet)
  print(f"{figures['engine']}, `{figures['command']}` on {figures['lines']} lines "
        f"({figures['skipped']} skipped)")
  print(f"CER {figures['cer']:.2%} ({figures['char_edits']}/{figures['ref_chars']} chars)  "
        f"WER {figures['wer']:.2%} ({figures['word_edits']}/{figures['ref_words']} words)")
  for name, reason in figures["skipped_items"]:
    print(f"  skipped {name}: {reason}")
  print(f"hypotheses: {figures['out']}/hypotheses.tsv")
  return figures


if __name__ == "__main__":
  main()
