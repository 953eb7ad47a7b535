"""`handwriting evaluate`: a model on a prepared split or on line images, or its legibility."""

from __future__ import annotations

import argparse
from pathlib import Path

from handwriting.cli._common import (
  EXIT_OK,
  add_command,
  add_decoder_args,
  add_norm_arg,
  decoding,
  skipped_exit,
)


def add_evaluate(sub: argparse._SubParsersAction) -> None:
  p = add_command(sub, "evaluate", "evaluate a trained model")
  models = p.add_subparsers(dest="model", required=True)
  for kind in ("synthesis", "prediction"):
    e = add_command(models, kind, f"nats/sequence and SSE of a {kind} network on a prepared split "
                              "(Graves 2013, Tables 3-4)")
    e.add_argument("--workdir", help=f"trained {kind} network's workdir or shipped name "
                                     "(default: the shipped model)")
    e.add_argument("--data", required=True, help="prepared stroke folder")
    e.add_argument("--split", default="valid", help="split of --data")

  r = add_command(models, "recognizer", "CER/WER of a reader on a prepared split or on a manifest "
                                    "of line images")
  r.add_argument("--workdir", help="trained recognizer's workdir or shipped name (default: the "
                                   "shipped offline reader)")
  r.add_argument("--data", help="prepared folder (same preparation as training)")
  r.add_argument("--split", default="valid", help="split of --data")
  r.add_argument("--images", help="a manifest of line images (rows `image<TAB>transcription`, "
                                  "paths relative to it) instead of --data")
  r.add_argument("--hypotheses", help="with --images: TSV of the per-line readings (default: "
                                      "hypotheses_<manifest name>.tsv in the current folder)")
  add_norm_arg(r)
  add_decoder_args(r)

  g = add_command(models, "legibility", "write each text, read it back, score the reading per bias")
  g.add_argument("--synthesis", help="synthesis workdir or shipped model name (default: the "
                                     "shipped synthesis model)")
  g.add_argument("--reader", help="recognizer workdir or shipped model name (default: the "
                                  "shipped reader of the synthesis model's data)")
  g.add_argument("--texts", required=True, help="file of texts to write, one per line")
  g.add_argument("--bias", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0],
                 help="sampling biases to score")
  g.add_argument("--seed", type=int, default=0, help="sampling seed (the same for every bias)")
  g.add_argument("--out", default="legibility", help="folder for the table, plot and samples")
  g.add_argument("--retries", type=int, default=0,
                 help="rewrite a line whose window stalled up to this many times (0: score "
                      "the network's first try)")
  add_decoder_args(g)


def evaluate(args: argparse.Namespace) -> int | None:
  from handwriting.api import evaluation
  if args.model == "legibility":
    return _legibility(args)
  if args.model == "recognizer":
    return _evaluate_reader(args)
  r = evaluation.evaluate_writer(args.workdir, data=args.data, split=args.split, kind=args.model)
  print(f"{args.model} step {r.step} on {r.split} ({r.lines} lines): "
        f"log-loss {r.nats_per_sequence:.1f} nats/sequence, {r.nats_per_point:.4f} nats/point, "
        f"SSE {r.sse_per_point:.4f} per point (normalised offsets)")
  mean, std = (", ".join(f"{v:.3f}" for v in a) for a in (r.stroke_mean, r.stroke_std))
  print(f"  units: the model's own: offsets normalised with its training split's mean ({mean}) "
        f"and std ({std}), texts in its alphabet of {r.alphabet_size} characters")
  if r.dropped or r.skipped:
    print(f"  {r.dropped} lines had characters outside that alphabet dropped from their text; "
          f"{r.skipped} lines skipped as longer than its max_points")
  return None


def _evaluate_reader(args: argparse.Namespace) -> int:
  from handwriting.api import evaluation
  from handwriting.data.report import DataError
  if not args.images and not args.data:
    raise DataError("--data", "evaluate recognizer needs --data PREPARED_DIR or --images "
                              "MANIFEST")
  out = None
  if args.images:
    out = args.hypotheses or f"hypotheses_{Path(args.images).stem}.tsv"
  r = evaluation.evaluate_reader(args.workdir, data=args.data, split=args.split,
                                 images=args.images, norm=args.norm, hypotheses=out,
                                 **decoding(args))
  for note in r.notes:
    print(note)
  if args.images:
    r.report.print()
  for _, ref, hyp, _ in r.rows[:5]:
    print(f"  ref: {ref}\n  hyp: {hyp}")
  if args.images:
    print(f"recognizer step {r.step} on {args.images} ({r.lines} lines, {r.skipped} skipped; "
          f"{r.norm} normalisation, {r.decoding}): CER {100 * r.cer:.2f}% WER {100 * r.wer:.2f}%")
    print(f"wrote {out}")
  else:
    print(f"recognizer step {r.step} on {args.split} ({r.lines} lines, {r.skipped} skipped): "
          f"CER {100 * r.cer:.2f}% WER {100 * r.wer:.2f}%")
  return skipped_exit(r.skipped, "line") if args.images else EXIT_OK


def _legibility(args: argparse.Namespace) -> None:
  from handwriting import legibility
  from handwriting.api import evaluation
  scores = evaluation.evaluate_legibility(args.synthesis, args.reader, texts=args.texts,
                                          biases=args.bias, seed=args.seed, out=args.out,
                                          retries=args.retries, **decoding(args))
  for s in scores:
    for text, read in s.examples[:2]:
      label = f"bias {s.bias:g}:"
      print(f"  {label} written {text!r}\n  {'':{len(label)}} read    {read!r}")
  print(legibility.table(scores))
  print(f"wrote {args.out}/legibility.json, legibility.png and written_bias*.svg")
