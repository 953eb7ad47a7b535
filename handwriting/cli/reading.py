"""`handwriting read`: line and page images to text with an offline reader."""

from __future__ import annotations

import argparse

from handwriting.cli._common import (
  add_command,
  add_decoder_args,
  add_norm_arg,
  decoding,
  skipped_exit,
)


def add_read(sub: argparse._SubParsersAction) -> None:
  p = add_command(sub, "read", "transcribe images of text lines or pages with a trained offline "
                               "recognizer")
  p.add_argument("images", nargs="+", help="PNG/JPEG files of text lines or of pages of several "
                                           "lines (any size or mode)")
  p.add_argument("--workdir", help="a trained MDLSTM recognizer's workdir or shipped model name "
                                   "(default: the shipped recognizer)")
  p.add_argument("--single-line", action="store_true",
                 help="read each image as one line (no search for several lines)")
  p.add_argument("--plot", help="PNG of the CTC output probabilities over the first image")
  add_norm_arg(p)
  add_decoder_args(p)


def read(args: argparse.Namespace) -> int:
  from handwriting.api.reader import Reader
  from handwriting.data.report import DataError, SkipReport
  from handwriting.train import CheckpointError
  reader = Reader.load(args.workdir, args.norm)
  if reader.kind != "images":
    raise CheckpointError(f"{reader.workdir} holds an online (pen stroke) reader: it cannot "
                          "read images")
  report = SkipReport()
  results = reader.read(args.images, pages=not args.single_line, posteriors=bool(args.plot),
                        skipped=report, **decoding(args))
  for note in reader.notes:
    print(note)
  for path, r in zip(args.images, results):
    if r is not None:
      text = r.text if args.plot else r
      print(f"{path}\t" + text.replace("\n", "\n\t"))
  if len(report):
    report.print()
  done = [(path, r) for path, r in zip(args.images, results) if r is not None]
  if not done:
    raise DataError(args.images[0] if len(args.images) == 1 else "inputs",
                    f"none of the {len(args.images)} input(s) could be read")
  if args.plot:
    from handwriting.recognition.inference import plot_posteriors
    _, first = done[0]
    plot_posteriors(first.inputs[0], first.log_probs[0], reader.alphabet,
                    first.text.split("\n")[0], args.plot)
    print(f"wrote {args.plot}")
  return skipped_exit(len(report), "input")
