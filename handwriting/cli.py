"""The `handwriting` command: parses arguments and dispatches. No model or data logic here.

User errors (bad data, bad config, missing checkpoint) print one clear line and exit 2 instead of
a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence


def _add_prepare(sub: argparse._SubParsersAction) -> None:
  p = sub.add_parser("prepare", help="read a dataset and write a prepared folder")
  kinds = p.add_subparsers(dest="dataset", required=True)

  o = kinds.add_parser("iam-ondb", help="IAM-OnDB pen strokes (lineStrokes + ascii)")
  o.add_argument("--strokes", required=True, help="lineStrokes-all.tar.gz or its unpacked folder")
  o.add_argument("--ascii", required=True, help="ascii-all.tar.gz or its unpacked folder")
  o.add_argument("--splits", help="folder with trainset.txt, testset_v.txt, testset_t.txt, ...")
  o.add_argument("--protocol", default="graves", choices=["graves", "official"],
                 help="graves: train = trainset+testset_t+testset_f, valid = testset_v "
                      "(or a slice carved by form when testset_v is absent)")
  o.add_argument("--valid-fraction", type=float, default=0.05)
  o.add_argument("--seed", type=int, default=0)
  o.add_argument("--out", required=True)

  i = kinds.add_parser("iam", help="IAM offline handwriting lines (lines.txt + line images)")
  i.add_argument("--lines-txt", required=True)
  i.add_argument("--images", help="folder holding lines/a01/a01-000u/a01-000u-00.png ...")
  i.add_argument("--splits", help="folder of split lists (LWRT or Aachen), line or form ids")
  i.add_argument("--height", type=int, default=64, help="normalised image height in pixels")
  i.add_argument("--drop-err", action="store_true", help="skip lines segmented as 'err'")
  i.add_argument("--valid-fraction", type=float, default=0.05)
  i.add_argument("--seed", type=int, default=0)
  i.add_argument("--out", required=True)

  s = kinds.add_parser("synthetic", help="built-in Hershey script handwriting (no download)")
  s.add_argument("--out", required=True)
  s.add_argument("--lines", type=int, default=2000)
  s.add_argument("--seed", type=int, default=0)
  s.add_argument("--height", type=int, default=64)


def _prepare(args: argparse.Namespace) -> None:
  start = time.perf_counter()
  if args.dataset == "iam-ondb":
    from handwriting.data import iam_ondb
    iam_ondb.prepare(args.strokes, args.ascii, args.splits, args.out, protocol=args.protocol,
                     valid_fraction=args.valid_fraction, seed=args.seed)
  elif args.dataset == "iam":
    from handwriting.data import iam_lines
    iam_lines.prepare(args.lines_txt, args.images, args.splits, args.out, height=args.height,
                      drop_err=args.drop_err, seed=args.seed, valid_fraction=args.valid_fraction)
  else:
    from handwriting.data import synthetic
    synthetic.prepare(args.out, lines=args.lines, seed=args.seed, height=args.height)
  print(f"prepared {args.out} in {time.perf_counter() - start:.1f} s")


def _add_show(sub: argparse._SubParsersAction) -> None:
  p = sub.add_parser("show", help="plot one prepared line: strokes and rendered image")
  p.add_argument("prepared", help="a prepared data folder")
  p.add_argument("--index", type=int, default=0)
  p.add_argument("--split", default="train")
  p.add_argument("-o", "--output", required=True, help="PNG to write")


def _show(args: argparse.Namespace) -> None:
  from handwriting.draw.show import show
  text = show(args.prepared, args.split, args.index, args.output)
  print(f"wrote {args.output}: {text!r}")


def _add_demo(sub: argparse._SubParsersAction) -> None:
  p = sub.add_parser("demo", help="the main job on built-in data (no download)")
  p.add_argument("--out", default="demo_out")
  p.add_argument("--lines", type=int, default=300, help="synthetic lines to prepare")
  p.add_argument("--seed", type=int, default=0)


def _demo(args: argparse.Namespace) -> None:
  from handwriting import demo
  demo.run(args.out, lines=args.lines, seed=args.seed)


COMMANDS = {"prepare": _prepare, "show": _show, "demo": _demo}


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
    prog="handwriting",
    description="Graves' handwriting recognition and synthesis in JAX.")
  sub = parser.add_subparsers(dest="command", required=True)
  _add_prepare(sub)
  _add_show(sub)
  _add_demo(sub)
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  from handwriting.data.report import DataError
  from handwriting.config import ConfigError
  try:
    COMMANDS[args.command](args)
  except (DataError, ConfigError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    return 130
  return 0


if __name__ == "__main__":
  sys.exit(main())
