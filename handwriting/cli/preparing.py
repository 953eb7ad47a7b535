"""`handwriting prepare ...`: datasets to prepared folders."""

from __future__ import annotations

import argparse
import time

from handwriting.cli._common import add_command, skipped_exit


def add_prepare(sub: argparse._SubParsersAction) -> None:
  p = add_command(sub, "prepare", "read a dataset and write a prepared folder")
  kinds = p.add_subparsers(dest="dataset", required=True)

  o = add_command(kinds, "iam-ondb", "IAM-OnDB pen strokes (lineStrokes + ascii)")
  o.add_argument("--strokes", required=True, help="lineStrokes-all.tar.gz or its unpacked folder")
  o.add_argument("--ascii", required=True, help="ascii-all.tar.gz or its unpacked folder")
  o.add_argument("--splits", help="folder with trainset.txt, testset_v.txt, testset_t.txt, ...")
  o.add_argument("--protocol", default="graves", choices=["graves", "official"],
                 help="graves: train = trainset+testset_t+testset_f, valid = testset_v "
                      "(or a slice carved by form when testset_v is absent)")
  o.add_argument("--valid-fraction", type=float, default=0.05,
                 help="fraction of forms carved as valid when there is no validation list")
  o.add_argument("--seed", type=int, default=0, help="seed of the carved validation slice")
  o.add_argument("--render-height", type=int, default=0,
                 help="also draw every line as an image of this height (offline IAM-OnDB)")
  o.add_argument("--out", required=True, help="prepared folder to write")

  i = add_command(kinds, "iam", "IAM offline handwriting lines (lines.txt + line images)")
  i.add_argument("--lines-txt", required=True, help="IAM's ascii/lines.txt")
  i.add_argument("--images", help="folder holding lines/a01/a01-000u/a01-000u-00.png ...")
  i.add_argument("--splits", help="folder of split lists (LWRT or Aachen), line or form ids")
  i.add_argument("--height", type=int, default=64, help="normalised image height in pixels")
  i.add_argument("--drop-err", action="store_true", help="skip lines segmented as 'err'")
  i.add_argument("--valid-fraction", type=float, default=0.05,
                 help="fraction of forms carved as valid when there is no validation list")
  i.add_argument("--seed", type=int, default=0, help="seed of the carved validation slice")
  i.add_argument("--out", required=True, help="prepared folder to write")

  s = add_command(kinds, "synthetic", "built-in Hershey script handwriting (no download)")
  s.add_argument("--out", required=True, help="prepared folder to write")
  s.add_argument("--lines", type=int, default=2000, help="lines to generate")
  s.add_argument("--seed", type=int, default=0, help="generator seed")
  s.add_argument("--height", type=int, default=64, help="image height in pixels")
  s.add_argument("--spacing", type=float, default=None,
                 help="pen sample spacing in x-heights (default 0.5; 0.25 = IAM-OnDB density)")

  r = add_command(kinds, "render", "prepared pen strokes -> scan-like line images for the offline "
                               "recognizer (normalised as `read` normalises scans)")
  r.add_argument("--from", dest="sources", action="append", required=True,
                 help="a prepared stroke folder; repeat to add further folders' training lines")
  r.add_argument("--height", type=int, default=64, help="normalised image height in pixels")
  r.add_argument("--copies", type=int, default=2, help="renderings per training line")
  r.add_argument("--seed", type=int, default=0, help="rendering seed")
  r.add_argument("--workers", type=int, default=0, help="processes (0: one per CPU core)")
  r.add_argument("--out", required=True, help="prepared folder to write")

  t = add_command(kinds, "texts", "IAM lines.txt -> natural-form texts, one per line (for --lm), "
                              "leaving out the forms of a measuring set")
  t.add_argument("--lines-txt", required=True, help="IAM lines.txt or a file of texts")
  t.add_argument("--exclude-forms", action="append", default=[],
                 help="a file naming IAM ids (e.g. a manifest): their forms are left out")
  t.add_argument("--out", required=True, help="text file to write")

  w = add_command(kinds, "written", "texts written by a synthesis network in styles primed from a "
                                "stroke folder (extra training lines)")
  w.add_argument("--lines-txt", required=True,
                 help="IAM lines.txt (its texts, in natural form) or a file of texts, one per line")
  w.add_argument("--exclude-forms", action="append", default=[],
                 help="a file naming IAM ids (e.g. a measuring set's manifest): their forms' "
                      "texts are left out; repeatable")
  w.add_argument("--synthesis", help="synthesis workdir or shipped name (default: shipped)")
  w.add_argument("--styles", required=True, help="prepared stroke folder to take styles from")
  w.add_argument("--lines", type=int, default=0, help="write at most this many texts (0: all)")
  w.add_argument("--batch", type=int, default=32, help="lines written per batch")
  w.add_argument("--seed", type=int, default=0, help="sampling seed")
  w.add_argument("--out", required=True, help="prepared folder to write")


def prepare(args: argparse.Namespace) -> int:
  from handwriting.data.report import count
  start = time.perf_counter()
  skipped = 0
  if args.dataset == "iam-ondb":
    from handwriting.data import iam_ondb
    summary = iam_ondb.prepare(args.strokes, args.ascii, args.splits, args.out,
                               protocol=args.protocol, valid_fraction=args.valid_fraction,
                               seed=args.seed, render_height=args.render_height)
    skipped = summary["skipped"]
  elif args.dataset == "iam":
    from handwriting.data import iam_lines
    summary = iam_lines.prepare(args.lines_txt, args.images, args.splits, args.out,
                                height=args.height, drop_err=args.drop_err, seed=args.seed,
                                valid_fraction=args.valid_fraction)
    skipped = summary["skipped"]
  elif args.dataset == "render":
    from handwriting.data.render_set import render_prepared
    from handwriting.data.report import SkipReport
    report = SkipReport()
    summary = render_prepared(args.sources, args.out, height=args.height, copies=args.copies,
                              seed=args.seed, workers=args.workers or None, report=report)
    for split, n in summary["splits"].items():
      print(f"  {split}: {n} line images")
    report.print(saved_to=f"{args.out}/skipped.txt")
    skipped = len(report)
  elif args.dataset == "written":
    from handwriting.api.preparing import prepare_written
    w = prepare_written(args.lines_txt, args.styles, args.out, synthesis=args.synthesis,
                        exclude_forms=args.exclude_forms, lines=args.lines, batch=args.batch,
                        seed=args.seed)
    print(f"wrote {count(w.texts, 'text')} ({count(w.forms_left_out, 'form')} excluded) with "
          f"{w.synthesis}")
    print(f"  train: {w.lines} written lines")
    w.report.print(saved_to=f"{args.out}/skipped.txt")
    skipped = len(w.report)
  elif args.dataset == "texts":
    from handwriting.api.preparing import prepare_texts
    t = prepare_texts(args.lines_txt, args.out, args.exclude_forms)
    print(f"wrote {count(t.texts, 'text')} to {t.out} ({count(t.forms_left_out, 'form')} left "
          "out)")
    t.report.print()
    skipped = len(t.report)
  else:
    from handwriting.data import synthetic
    spacing = {"spacing": args.spacing} if args.spacing else {}
    synthetic.prepare(args.out, lines=args.lines, seed=args.seed, height=args.height, **spacing)
  print(f"prepared {args.out} in {time.perf_counter() - start:.1f} s")
  return skipped_exit(skipped, "item")
