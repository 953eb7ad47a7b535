"""`handwriting show`, `demo` and `plot-metrics`."""

from __future__ import annotations

import argparse

from handwriting.cli._common import add_command


def add_show(sub: argparse._SubParsersAction) -> None:
  p = add_command(sub, "show", "plot one prepared line: strokes and rendered image")
  p.add_argument("prepared", help="a prepared data folder")
  p.add_argument("--index", type=int, default=0, help="line of the split")
  p.add_argument("--split", default="train", help="split of the folder")
  p.add_argument("-o", "--output", required=True, help="PNG to write")


def show(args: argparse.Namespace) -> None:
  from handwriting.draw.show import show
  text = show(args.prepared, args.split, args.index, args.output)
  print(f"wrote {args.output}: {text!r}")


def add_demo(sub: argparse._SubParsersAction) -> None:
  p = add_command(sub, "demo", "the main job on built-in data (no download)")
  p.add_argument("--out", default="demo_out", help="folder for the outputs")
  p.add_argument("--lines", type=int, default=300, help="synthetic lines to prepare")
  p.add_argument("--seed", type=int, default=0, help="seed of data and sampling")
  p.add_argument("--text", help="text to write with the shipped synthesis models "
                                "(default: a sentence about this toolkit)")


def demo(args: argparse.Namespace) -> None:
  from handwriting import demo
  demo.run(args.out, lines=args.lines, seed=args.seed, text=args.text or demo.DEFAULT_TEXT)


def add_plot_metrics(sub: argparse._SubParsersAction) -> None:
  p = add_command(sub, "plot-metrics", "training curves of a workdir's metrics.jsonl as PNG")
  p.add_argument("workdir", help="a training workdir or a shipped model's name")
  p.add_argument("-o", "--output", required=True, help="PNG to write")
  p.add_argument("--keys", nargs="*", help="metrics to draw (default: the evaluated ones)")


def plot_metrics(args: argparse.Namespace) -> None:
  from handwriting import pretrained
  from handwriting.draw.curves import plot_curves
  workdir = pretrained.resolve(args.workdir, "")
  keys = plot_curves(f"{workdir}/metrics.jsonl", args.output, args.keys or None,
                     title=args.workdir)
  print(f"wrote {args.output}: {', '.join(keys)}")
