"""Offline readers on real scans: the dev-set table of RESULTS.md, one row per reader.

    python experiments/scan_dev.py --images ../shared/data/iam-scans-dev/manifest.tsv \
        --lm-texts TEXTS.txt --reader "shipped, legacy=recognizer-iam-ondb-small:legacy" \
        --reader "shipped + normalisation=recognizer-iam-ondb-small:scan" [--tesseract] \
        [--out DIR]

Each `--reader LABEL=WORKDIR[:NORM]` (a workdir or shipped name; NORM scan|legacy, default the
reader's own) is scored greedy and with beam search (`--beam`, default 10) plus a 4-gram
character LM trained on `--lm-texts` (e.g. `handwriting prepare texts` of IAM lines.txt with
the measuring set's forms left out). With `--tesseract`, Debian's tesseract (`--psm 7`) reads
the same lines as an outside reference (experiments/tesseract_dev.py). Per-line hypotheses go
to `--out` (default: a temporary folder, never the repository: they hold measuring-set text).

This set is for measuring only: nothing here trains, tunes or picks a checkpoint.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import handwriting

LM_WEIGHT = 0.5  # the CLI's default; not tuned on this set


def _reader_arg(text: str) -> tuple[str, str, str | None]:
  label, _, target = text.partition("=")
  workdir, _, norm = target.partition(":")
  if not label or not workdir:
    raise argparse.ArgumentTypeError(f"expected LABEL=WORKDIR[:NORM], got {text!r}")
  return label, workdir, norm or None


def score_reader(label: str, workdir: str, norm: str | None, manifest: str,
                 lm_texts: str | None, beam: int, out: Path) -> list[dict[str, Any]]:
  """Greedy and beam + LM figures of one reader (`evaluate_reader` on the manifest) as rows."""
  reader = handwriting.Reader.load(workdir, norm)  # loaded once for both decodings
  decodings: list[tuple[str, dict[str, Any]]] = [("greedy", {})]
  if lm_texts:
    decodings.append((f"beam {beam} + 4-gram LM",
                      {"beam": beam, "lm": lm_texts, "lm_weight": LM_WEIGHT}))
  rows = []
  for name, decoder in decodings:
    safe = "".join(c if c.isalnum() else "_" for c in f"{label}_{name}")
    r = handwriting.evaluate_reader(reader, images=manifest, hypotheses=out / f"{safe}.tsv",
                                    **decoder)
    rows.append({"reader": label, "workdir": Path(workdir).name, "norm": r.norm,
                 "step": r.step, "decoding": name, "lines": r.lines, "skipped": r.skipped,
                 "cer": r.cer, "wer": r.wer})
  return rows


def table(rows: list[dict[str, Any]]) -> str:
  lines = ["| reader | normalisation | decoding | lines | CER | WER |",
           "| --- | --- | --- | --- | --- | --- |"]
  for r in rows:
    step = f", step {r['step']}" if r["step"] else ""
    lines.append(f"| {r['reader']} (`{r['workdir']}`{step}) | {r['norm']} | "
                 f"{r['decoding']} | {r['lines']} | {100 * r['cer']:.1f} % | "
                 f"{100 * r['wer']:.1f} % |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--images", required=True, help="manifest of the real line images")
  p.add_argument("--reader", action="append", type=_reader_arg, default=[],
                 help="LABEL=WORKDIR[:NORM]; repeatable")
  p.add_argument("--lm-texts", help="texts for the character LM (one per line)")
  p.add_argument("--beam", type=int, default=10)
  p.add_argument("--tesseract", action="store_true", help="also score Debian's tesseract")
  p.add_argument("--out", help="folder for the per-line hypotheses (default: a temp folder)")
  args = p.parse_args(argv)
  out = Path(args.out or tempfile.mkdtemp(prefix="scan_dev_"))
  rows = []
  for label, workdir, norm in args.reader:
    rows += score_reader(label, workdir, norm, args.images, args.lm_texts, args.beam, out)
  if args.tesseract:
    import tesseract_dev
    figures = tesseract_dev.evaluate(args.images, out / "tesseract", verbose=False)
    rows.append({"reader": "Tesseract 5 (outside reference)", "workdir": "tesseract --psm 7",
                 "norm": "its own", "step": 0, "decoding": "its own", "lines": figures["lines"],
                 "skipped": figures.get("skipped", 0), "cer": figures["cer"],
                 "wer": figures["wer"]})
  print(table(rows))
  print(f"per-line hypotheses in {out}")
  return rows


if __name__ == "__main__":
  main()
