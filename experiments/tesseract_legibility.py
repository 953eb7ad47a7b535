"""Legibility judged by an outside reader: Tesseract on our written lines against real handwriting.

For each line of a prepared IAM-OnDB split (real pen strokes and their transcription), draws the
real strokes and the same text written by a synthesis network with one renderer (`Page.image`,
the same pen and line height for both), reads both images with Debian's Tesseract 5
(`tesseract IMG stdout --psm 7`, one text line) and scores both readings against the text
(corpus CER on `comparison_form`, as tesseract_dev.py does). The figure is the ratio

    CER(written) / CER(real)      <= 1.0: Tesseract reads our writing at least as well as people's

Tesseract is made for print, so both CERs are high; the ratio is what compares. Nobody here wrote
Tesseract: it cannot have been tuned to our writer.

  python experiments/tesseract_legibility.py --data runs/prepared/iam-ondb --split valid \\
      --lines 60 --biases 0.5,1,2 --out runs/tesseract_legibility

--out must lie outside the repository (it holds IAM-OnDB texts and drawings of real strokes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tesseract_dev import check_out_dir, find_tesseract, read_line, score, tesseract_version

from handwriting import Writer
from handwriting.api.page import Line, Page
from handwriting.api.style import offsets_to_points
from handwriting.data.prepared import Prepared
from handwriting.recognition.metrics import ErrorCounts

ROW_PX = 80  # line height of both drawings


def real_lines(data: str, split: str, lines: int, writer: Writer) -> list[tuple[str, np.ndarray]]:
  """(text, points in IAM-OnDB units) of the first `lines` lines whose text the writer can
  write; every line, not a chosen few."""
  ragged = Prepared(data).raw_strokes(split)
  out = []
  for i in range(len(ragged)):
    text = str(ragged.texts[i]).strip()
    if text and not writer.spec.alphabet.unknown(text):
      out.append((text, offsets_to_points(ragged[i])))
    if len(out) == lines:
      break
  return out


def read_page(exe: str, page: Page, path: Path) -> str:
  page.image(row=ROW_PX).save(path)
  return read_line(exe, path)


def main(argv: list[str] | None = None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--workdir", help="synthesis network (default: the shipped one)")
  p.add_argument("--data", required=True, help="prepared IAM-OnDB folder (real strokes)")
  p.add_argument("--split", default="valid")
  p.add_argument("--lines", type=int, default=60)
  p.add_argument("--biases", default="1", help="comma-separated sampling biases")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--retries", type=int, default=0,
                 help="rewrite lines that hit the step cap (0: the network's first try)")
  p.add_argument("--out", required=True, help="folder outside the repository")
  args = p.parse_args(argv)
  out = check_out_dir(Path(args.out))
  (out / "images").mkdir(parents=True, exist_ok=True)
  exe = find_tesseract()
  writer = Writer.load(args.workdir)
  lines = real_lines(args.data, args.split, args.lines, writer)
  start = time.perf_counter()
  rows, real = [], ErrorCounts()
  for i, (text, points) in enumerate(lines):
    hyp = read_page(exe, Page([Line(text, points)]), out / "images" / f"real-{i:03d}.png")
    chars, _ = score(text, hyp)
    real += chars
    rows.append({"line": i, "kind": "real", "text": text, "reading": hyp, "cer": chars.rate})
  results = {"engine": tesseract_version(exe), "command": "tesseract IMG stdout --psm 7",
             "writer": writer.workdir, "data": args.data, "split": args.split,
             "lines": len(lines), "real_cer": real.rate, "biases": {}}
  print(f"{results['engine']}: {len(lines)} real {args.split} lines: CER {real.rate:.1%}")
  for bias in (float(b) for b in args.biases.split(",")):
    written = ErrorCounts()
    for i, (text, _) in enumerate(lines):
      page = writer.write(text, bias=bias, seed=args.seed + i, width=10_000,
                          retries=args.retries)[0]
      hyp = read_page(exe, page, out / "images" / f"written-b{bias:g}-{i:03d}.png")
      chars, _ = score(text, hyp)
      written += chars
      rows.append({"line": i, "kind": f"written bias {bias:g}", "text": text, "reading": hyp,
                   "cer": chars.rate})
    ratio = written.rate / real.rate if real.rate else float("inf")
    results["biases"][f"{bias:g}"] = {"written_cer": written.rate, "ratio": ratio}
    print(f"  bias {bias:g}: written CER {written.rate:.1%}, ratio written / real {ratio:.2f}")
  results["seconds"] = round(time.perf_counter() - start, 1)
  (out / "lines.json").write_text(json.dumps(rows, indent=1))
  (out / "results.json").write_text(json.dumps(results, indent=1))
  print(f"wrote {out / 'results.json'} ({results['seconds']} s)")


if __name__ == "__main__":
  main()
