"""`handwriting write` and `sample`: handwriting from the synthesis and prediction networks."""

from __future__ import annotations

import argparse
from pathlib import Path

from handwriting.cli._common import DEFAULT_BIAS, DEFAULT_RETRIES, DEFAULT_WIDTH, add_command


def add_write(sub: argparse._SubParsersAction) -> None:
  p = add_command(sub, "write", "write text as handwriting with a synthesis network (SVG, PNG "
                                "or PDF)")
  p.add_argument("text", help="the text; long text is wrapped into lines, newlines kept")
  p.add_argument("--workdir", help="a trained synthesis network's workdir, or the name of a "
                                   "shipped model (default: the shipped synthesis model)")
  p.add_argument("-o", "--output", required=True, help="page to write: .svg, .png or .pdf")
  p.add_argument("--bias", type=float, default=DEFAULT_BIAS,
                 help="sampling bias (Graves 2013 eqs 61-62): 0 = as trained (untidy), larger "
                      "= neater")
  p.add_argument("--seed", type=int, default=0, help="sampling seed")
  p.add_argument("--retries", type=int, default=DEFAULT_RETRIES,
                 help="rewrite a line whose window stalled (no new character for 300 steps, "
                      "or the step cap) up to this many times with fresh noise")
  p.add_argument("--width", type=int, default=DEFAULT_WIDTH,
                 help="characters per line when wrapping")
  p.add_argument("--style", help="prime with a style: a shipped style's name (listed by "
                                 "--list-styles), a style file (.json, see the README), an "
                                 "IAM-OnDB stroke XML file (with --style-text), or a line index "
                                 "into --data's valid split")
  p.add_argument("--style-text", help="transcription of the --style XML file")
  p.add_argument("--data", help="prepared folder for --style N")
  p.add_argument("--save-style", help="also save the first written line as a style file "
                                      "(.json) to write in that hand again")
  p.add_argument("--list-styles", action="store_true",
                 help="print the writer's shipped styles and exit")
  p.add_argument("--on-unknown", choices=["error", "drop"], default="error",
                 help="characters the writer has no symbol for: stop, or drop them")
  p.add_argument("--stroke-width", type=float, default=2.0, help="SVG pen width")
  p.add_argument("--colour", default="black", help="SVG ink colour")
  p.add_argument("--plot-attention", help="PNG of the window weights phi (Fig. 13-style)")
  p.add_argument("--plot-density", help="PNG of the mixture density (Fig. 10-style)")


def _check_page_suffix(path: str) -> None:
  from handwriting.api.page import PAGE_SUFFIXES
  from handwriting.data.report import DataError
  if Path(path).suffix.lower() not in PAGE_SUFFIXES:
    raise DataError(path, f"cannot write {Path(path).suffix or 'a file without suffix'!r}: "
                          f"use one of {', '.join(PAGE_SUFFIXES)}")


def _style(writer, args: argparse.Namespace):
  from handwriting.api.style import Style
  from handwriting.data.report import DataError
  if args.style is None:
    return None
  if args.style.isdigit():
    data = args.data or writer.spec.config.get("data", "")
    if not data or not Path(data).is_dir():
      trained_on = f" ({writer.name} was trained on {data!r}, not found here)" if data else ""
      shipped = f"; or use a shipped style: {', '.join(writer.styles)}" if writer.styles else ""
      raise DataError("--style", f"--style {args.style} is a line of a prepared folder: pass "
                                 f"--data PREPARED_DIR{trained_on}{shipped}")
    return Style.from_prepared(data, int(args.style))
  if args.style.lower().endswith(".xml"):
    if not Path(args.style).exists():
      raise DataError(args.style, "style file not found")
    if not args.style_text:
      raise DataError(args.style, "a style stroke file needs its transcription: "
                                  "--style-text TEXT")
    return Style.from_xml(args.style, args.style_text)
  return writer.style(args.style)


def write(args: argparse.Namespace) -> None:
  from handwriting.api.writer import Writer
  writer = Writer.load(args.workdir)
  if args.list_styles:
    print("\n".join(writer.styles) or f"{writer.name} ships no styles")
    return
  _check_page_suffix(args.output)
  if args.save_style and not args.save_style.endswith(".json"):
    from handwriting.data.report import DataError
    raise DataError(args.save_style, "a style file ends in .json")
  page, = writer.write(args.text, bias=args.bias, seed=args.seed, style=_style(writer, args),
                       width=args.width, on_unknown=args.on_unknown, retries=args.retries)
  page.stroke_width, page.colour = args.stroke_width, args.colour
  page.save(args.output)
  _write_plots(writer, page, args)
  for line in page.lines:
    if not line.finished:
      print(f"warning: {line.text!r}: the window stalled before the end of the text "
            f"(in {1 + args.retries} tries); try another --seed, a lower --bias or more "
            "--retries")
  if args.save_style:
    from handwriting.api.style import Style
    Style.from_page(page).save(args.save_style)
    print(f"wrote {args.save_style} (style: {page.lines[0].text!r})")
  print(f"wrote {args.output}: {len(page.lines)} line(s)")


def _write_plots(writer, page, args: argparse.Namespace) -> None:
  from handwriting.api.page import points_to_offsets
  from handwriting.draw import synthesis_plots
  line = page.lines[0]
  if args.plot_attention:
    synthesis_plots.plot_attention(line.phi, line.text, args.plot_attention,
                                   ink_Tx3=points_to_offsets(line.points))
  if args.plot_density:
    units = (writer.spec.stroke_mean, writer.spec.stroke_std)  # the network's outputs' units
    synthesis_plots.plot_density(writer.density(line), writer.normalised(line),
                                 args.plot_density, normalisation=units,
                                 title=f"predicted density along {line.text!r}")


def add_sample(sub: argparse._SubParsersAction) -> None:
  p = add_command(sub, "sample", "unconditional handwriting from a prediction network (SVG, PNG "
                                 "or PDF)")
  p.add_argument("--workdir", help="a trained prediction network's workdir or shipped model "
                                   "name (default: the shipped prediction model)")
  p.add_argument("-o", "--output", required=True, help="page to write: .svg, .png or .pdf")
  p.add_argument("--lines", type=int, default=3, help="lines to draw")
  p.add_argument("--steps", type=int, default=700, help="pen points per line")
  p.add_argument("--bias", type=float, default=0.0, help="sampling bias (0 = as trained)")
  p.add_argument("--seed", type=int, default=0, help="sampling seed")
  p.add_argument("--stroke-width", type=float, default=2.0, help="SVG pen width")
  p.add_argument("--colour", default="black", help="SVG ink colour")


def sample(args: argparse.Namespace) -> None:
  from handwriting.api.writer import Writer
  _check_page_suffix(args.output)
  page = Writer.load(args.workdir, "prediction").sample(args.lines, args.steps, bias=args.bias,
                                                         seed=args.seed)
  page.stroke_width, page.colour = args.stroke_width, args.colour
  page.save(args.output)
  print(f"wrote {args.output}")
