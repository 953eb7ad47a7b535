"""The `handwriting` command: parses arguments, calls the Python API (handwriting/api/) and
formats what it returns. No model or data logic here.

Exit codes: 0 everything done; 1 done, but some inputs were skipped (each named, with counts);
2 nothing done: a user error (bad data, bad config, missing checkpoint, no readable input)
printed as one line instead of a traceback; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_SKIPPED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_BIAS = 1.0  # = api/writer.py DEFAULT_BIAS (kept here so --help needs no JAX import)
DEFAULT_WIDTH = 40


class _Help(argparse.ArgumentDefaultsHelpFormatter):
  """Every option's default shown in --help (unset options and off switches say nothing)."""

  def _get_help_string(self, action: argparse.Action) -> str:
    if action.default is None or action.default is False or "(default" in (action.help or ""):
      return action.help or ""
    return super()._get_help_string(action)


def _parser(sub: argparse._SubParsersAction, name: str, help: str, **kwargs
            ) -> argparse.ArgumentParser:
  return sub.add_parser(name, help=help, description=help, formatter_class=_Help, **kwargs)


# -- prepare -------------------------------------------------------------------------------

def _add_prepare(sub: argparse._SubParsersAction) -> None:
  p = _parser(sub, "prepare", "read a dataset and write a prepared folder")
  kinds = p.add_subparsers(dest="dataset", required=True)

  o = _parser(kinds, "iam-ondb", "IAM-OnDB pen strokes (lineStrokes + ascii)")
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

  i = _parser(kinds, "iam", "IAM offline handwriting lines (lines.txt + line images)")
  i.add_argument("--lines-txt", required=True, help="IAM's ascii/lines.txt")
  i.add_argument("--images", help="folder holding lines/a01/a01-000u/a01-000u-00.png ...")
  i.add_argument("--splits", help="folder of split lists (LWRT or Aachen), line or form ids")
  i.add_argument("--height", type=int, default=64, help="normalised image height in pixels")
  i.add_argument("--drop-err", action="store_true", help="skip lines segmented as 'err'")
  i.add_argument("--valid-fraction", type=float, default=0.05,
                 help="fraction of forms carved as valid when there is no validation list")
  i.add_argument("--seed", type=int, default=0, help="seed of the carved validation slice")
  i.add_argument("--out", required=True, help="prepared folder to write")

  s = _parser(kinds, "synthetic", "built-in Hershey script handwriting (no download)")
  s.add_argument("--out", required=True, help="prepared folder to write")
  s.add_argument("--lines", type=int, default=2000, help="lines to generate")
  s.add_argument("--seed", type=int, default=0, help="generator seed")
  s.add_argument("--height", type=int, default=64, help="image height in pixels")
  s.add_argument("--spacing", type=float, default=None,
                 help="pen sample spacing in x-heights (default 0.5; 0.25 = IAM-OnDB density)")

  r = _parser(kinds, "render", "prepared pen strokes -> scan-like line images for the offline "
                               "recognizer (normalised as `read` normalises scans)")
  r.add_argument("--from", dest="sources", action="append", required=True,
                 help="a prepared stroke folder; repeat to add further folders' training lines")
  r.add_argument("--height", type=int, default=64, help="normalised image height in pixels")
  r.add_argument("--copies", type=int, default=2, help="renderings per training line")
  r.add_argument("--seed", type=int, default=0, help="rendering seed")
  r.add_argument("--workers", type=int, default=0, help="processes (0: one per CPU core)")
  r.add_argument("--out", required=True, help="prepared folder to write")

  t = _parser(kinds, "texts", "IAM lines.txt -> natural-form texts, one per line (for --lm), "
                              "leaving out the forms of a measuring set")
  t.add_argument("--lines-txt", required=True, help="IAM lines.txt or a file of texts")
  t.add_argument("--exclude-forms", action="append", default=[],
                 help="a file naming IAM ids (e.g. a manifest): their forms are left out")
  t.add_argument("--out", required=True, help="text file to write")

  w = _parser(kinds, "written", "texts written by a synthesis network in styles primed from a "
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


def _prepare(args: argparse.Namespace) -> int:
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
  return _skipped_exit(skipped, "item")


def _skipped_exit(skipped: int, what: str) -> int:
  """EXIT_SKIPPED (with a line saying so on stderr) when anything was skipped."""
  if skipped:
    print(f"warning: {skipped} {what}{'s' if skipped != 1 else ''} skipped (named above): "
          f"exit code {EXIT_SKIPPED}", file=sys.stderr)
    return EXIT_SKIPPED
  return EXIT_OK


# -- show, demo, plot-metrics --------------------------------------------------------------

def _add_show(sub: argparse._SubParsersAction) -> None:
  p = _parser(sub, "show", "plot one prepared line: strokes and rendered image")
  p.add_argument("prepared", help="a prepared data folder")
  p.add_argument("--index", type=int, default=0, help="line of the split")
  p.add_argument("--split", default="train", help="split of the folder")
  p.add_argument("-o", "--output", required=True, help="PNG to write")


def _show(args: argparse.Namespace) -> None:
  from handwriting.draw.show import show
  text = show(args.prepared, args.split, args.index, args.output)
  print(f"wrote {args.output}: {text!r}")


def _add_demo(sub: argparse._SubParsersAction) -> None:
  p = _parser(sub, "demo", "the main job on built-in data (no download)")
  p.add_argument("--out", default="demo_out", help="folder for the outputs")
  p.add_argument("--lines", type=int, default=300, help="synthetic lines to prepare")
  p.add_argument("--seed", type=int, default=0, help="seed of data and sampling")
  p.add_argument("--text", help="text to write with the shipped synthesis models "
                                "(default: a sentence about this toolkit)")


def _demo(args: argparse.Namespace) -> None:
  from handwriting import demo
  demo.run(args.out, lines=args.lines, seed=args.seed, text=args.text or demo.DEFAULT_TEXT)


def _add_plot_metrics(sub: argparse._SubParsersAction) -> None:
  p = _parser(sub, "plot-metrics", "training curves of a workdir's metrics.jsonl as PNG")
  p.add_argument("workdir", help="a training workdir or a shipped model's name")
  p.add_argument("-o", "--output", required=True, help="PNG to write")
  p.add_argument("--keys", nargs="*", help="metrics to draw (default: the evaluated ones)")


def _plot_metrics(args: argparse.Namespace) -> None:
  from handwriting import pretrained
  from handwriting.draw.curves import plot_curves
  workdir = pretrained.resolve(args.workdir, "")
  keys = plot_curves(f"{workdir}/metrics.jsonl", args.output, args.keys or None,
                     title=args.workdir)
  print(f"wrote {args.output}: {', '.join(keys)}")


# -- train ---------------------------------------------------------------------------------

def _add_train(sub: argparse._SubParsersAction) -> None:
  p = _parser(sub, "train", "train a model with the shared loop (resumes from --workdir)",
              epilog="Any config field can be overridden: --config.model.hidden_size=256; "
                     "recognizer: --config.model_type=online reads pen strokes")
  p.add_argument("model", choices=["synthesis", "prediction", "recognizer"],
                 help="what to train")
  p.add_argument("--data", required=True, help="a prepared data folder")
  p.add_argument("--workdir", required=True, help="checkpoints and metrics.jsonl go here")
  p.add_argument("--preset", help="synthesis/prediction: graves (default), graves_1x900, "
                                  "medium, small, tiny; recognizer: iam (default), arabic, medium, "
                                  "small, tiny (online: graves, small, tiny)")
  g = p.add_argument_group("several hosts (jax.distributed: one process per host, same command "
                           "and a shared --workdir)")
  g.add_argument("--coordinator", help="HOST:PORT of process 0, or auto (TPU pods, SLURM)")
  g.add_argument("--num-processes", type=int, help="number of processes (hosts)")
  g.add_argument("--process-id", type=int, help="this process's index, 0 .. N-1")


def _model_type(overrides: Sequence[str]) -> str:
  """The recognizer kind named by --config.model_type (it picks the preset table)."""
  for i, arg in enumerate(overrides):
    if arg.startswith("--config.model_type"):
      return arg.split("=", 1)[1] if "=" in arg else overrides[i + 1]
  return "mdlstm"


def _train(args: argparse.Namespace, overrides: Sequence[str]) -> None:
  if args.coordinator:  # before anything else touches JAX
    from handwriting.train import distributed
    distributed.initialize(args.coordinator, args.num_processes, args.process_id)
  from handwriting.api.training import get_config, train_and_evaluate
  from handwriting.config import apply_overrides
  config = get_config(args.model, args.preset, kind=_model_type(overrides), data=args.data)
  apply_overrides(config, overrides)
  start = time.perf_counter()
  result = train_and_evaluate(config, args.workdir)
  shown = ", ".join(f"{k} {v:.4g}" for k, v in result.eval.items())
  print(f"trained {args.model} to step {result.step} in {time.perf_counter() - start:.0f} s"
        + (f"; eval: {shown}" if shown else ""))


# -- write, sample ---------------------------------------------------------------------------

def _add_write(sub: argparse._SubParsersAction) -> None:
  p = _parser(sub, "write", "write text as handwriting with a synthesis network (SVG, PNG "
                            "or PDF)")
  p.add_argument("text", help="the text; long text is wrapped into lines, newlines kept")
  p.add_argument("--workdir", help="a trained synthesis network's workdir, or the name of a "
                                   "shipped model (default: the shipped synthesis model)")
  p.add_argument("-o", "--output", required=True, help="page to write: .svg, .png or .pdf")
  p.add_argument("--bias", type=float, default=DEFAULT_BIAS,
                 help="sampling bias (Graves 2013 eqs 61-62): 0 = as trained (untidy), larger "
                      "= neater")
  p.add_argument("--seed", type=int, default=0, help="sampling seed")
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


def _write(args: argparse.Namespace) -> None:
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
                       width=args.width, on_unknown=args.on_unknown)
  page.stroke_width, page.colour = args.stroke_width, args.colour
  page.save(args.output)
  _write_plots(writer, page, args)
  for line in page.lines:
    if not line.finished:
      print(f"warning: {line.text!r} hit the step cap before the window passed its end")
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


def _add_sample(sub: argparse._SubParsersAction) -> None:
  p = _parser(sub, "sample", "unconditional handwriting from a prediction network (SVG, PNG "
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


def _sample(args: argparse.Namespace) -> None:
  from handwriting.api.writer import Writer
  _check_page_suffix(args.output)
  page = Writer.load(args.workdir, "prediction").sample(args.lines, args.steps, bias=args.bias,
                                                         seed=args.seed)
  page.stroke_width, page.colour = args.stroke_width, args.colour
  page.save(args.output)
  print(f"wrote {args.output}")


# -- read ----------------------------------------------------------------------------------

def _add_decoder_args(p: argparse.ArgumentParser) -> None:
  g = p.add_argument_group("decoding")
  g.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")
  g.add_argument("--lm", help="character LM: a .json saved model, a text file of "
                              "transcriptions (one per line, e.g. what `prepare texts` writes) "
                              "or a prepared folder (its train split) to train a 4-gram on")
  g.add_argument("--lm-weight", type=float, default=0.5, help="weight of the LM's log-prob")
  g.add_argument("--insertion-bonus", type=float, default=0.0,
                 help="added per emitted character (balances the LM's shortening)")


def _decoding(args: argparse.Namespace) -> dict:
  return {"beam": args.beam, "lm": args.lm, "lm_weight": args.lm_weight,
          "insertion_bonus": args.insertion_bonus}


def _add_norm_arg(p: argparse.ArgumentParser) -> None:
  p.add_argument("--norm", choices=["scan", "legacy"],
                 help="image normalisation (default: the one the reader was trained with)")


def _add_read(sub: argparse._SubParsersAction) -> None:
  p = _parser(sub, "read", "transcribe images of text lines or pages with a trained offline "
                           "recognizer")
  p.add_argument("images", nargs="+", help="PNG/JPEG files of text lines or of pages of several "
                                           "lines (any size or mode)")
  p.add_argument("--workdir", help="a trained MDLSTM recognizer's workdir or shipped model name "
                                   "(default: the shipped recognizer)")
  p.add_argument("--single-line", action="store_true",
                 help="read each image as one line (no search for several lines)")
  p.add_argument("--plot", help="PNG of the CTC output probabilities over the first image")
  _add_norm_arg(p)
  _add_decoder_args(p)


def _read(args: argparse.Namespace) -> int:
  from handwriting.api.reader import Reader
  from handwriting.data.report import DataError, SkipReport
  from handwriting.train import CheckpointError
  reader = Reader.load(args.workdir, args.norm)
  if reader.kind != "images":
    raise CheckpointError(f"{reader.workdir} holds an online (pen stroke) reader: it cannot "
                          "read images")
  report = SkipReport()
  results = reader.read(args.images, pages=not args.single_line, posteriors=bool(args.plot),
                        skipped=report, **_decoding(args))
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
  return _skipped_exit(len(report), "input")


# -- evaluate --------------------------------------------------------------------------------

def _add_evaluate(sub: argparse._SubParsersAction) -> None:
  p = _parser(sub, "evaluate", "evaluate a trained model")
  models = p.add_subparsers(dest="model", required=True)
  for kind in ("synthesis", "prediction"):
    e = _parser(models, kind, f"nats/sequence and SSE of a {kind} network on a prepared split "
                              "(Graves 2013, Tables 3-4)")
    e.add_argument("--workdir", help=f"trained {kind} network's workdir or shipped name "
                                     "(default: the shipped model)")
    e.add_argument("--data", required=True, help="prepared stroke folder")
    e.add_argument("--split", default="valid", help="split of --data")

  r = _parser(models, "recognizer", "CER/WER of a reader on a prepared split or on a manifest "
                                    "of line images")
  r.add_argument("--workdir", help="trained recognizer's workdir or shipped name (default: the "
                                   "shipped offline reader)")
  r.add_argument("--data", help="prepared folder (same preparation as training)")
  r.add_argument("--split", default="valid", help="split of --data")
  r.add_argument("--images", help="a manifest of line images (rows `image<TAB>transcription`, "
                                  "paths relative to it) instead of --data")
  r.add_argument("--hypotheses", help="with --images: TSV of the per-line readings (default: "
                                      "hypotheses_<manifest name>.tsv in the current folder)")
  _add_norm_arg(r)
  _add_decoder_args(r)

  g = _parser(models, "legibility", "write each text, read it back, score the reading per bias")
  g.add_argument("--synthesis", help="synthesis workdir or shipped model name (default: the "
                                     "shipped synthesis model)")
  g.add_argument("--reader", help="recognizer workdir or shipped model name (default: the "
                                  "shipped reader of the synthesis model's data)")
  g.add_argument("--texts", required=True, help="file of texts to write, one per line")
  g.add_argument("--bias", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0],
                 help="sampling biases to score")
  g.add_argument("--seed", type=int, default=0, help="sampling seed (the same for every bias)")
  g.add_argument("--out", default="legibility", help="folder for the table, plot and samples")
  _add_decoder_args(g)


def _evaluate(args: argparse.Namespace) -> int | None:
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
                                 **_decoding(args))
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
  return _skipped_exit(r.skipped, "line") if args.images else EXIT_OK


def _legibility(args: argparse.Namespace) -> None:
  from handwriting import legibility
  from handwriting.api import evaluation
  scores = evaluation.evaluate_legibility(args.synthesis, args.reader, texts=args.texts,
                                          biases=args.bias, seed=args.seed, out=args.out,
                                          **_decoding(args))
  for s in scores:
    for text, read in s.examples[:2]:
      label = f"bias {s.bias:g}:"
      print(f"  {label} written {text!r}\n  {'':{len(label)}} read    {read!r}")
  print(legibility.table(scores))
  print(f"wrote {args.out}/legibility.json, legibility.png and written_bias*.svg")


# -- serve ----------------------------------------------------------------------------------

def _add_serve(sub: argparse._SubParsersAction) -> None:
  p = _parser(sub, "serve", "a local web page: write text, read drawings and scans, write in "
                            "your own hand (needs: pip install '.[serve]')")
  p.add_argument("--host", default="127.0.0.1",
                 help="address to bind (the default answers this machine only)")
  p.add_argument("--port", type=int, default=8000, help="port to listen on")
  p.add_argument("--synthesis", help="synthesis workdir or shipped name (default: shipped)")
  p.add_argument("--online-reader", help="reader of drawings (default: the shipped reader of "
                                         "the synthesis model's data)")
  p.add_argument("--reader", help="reader of scans (default: the shipped offline reader)")
  p.add_argument("--lm", help="character LM for the page's 'language model' option (as --lm "
                              "of read)")


def _serve(args: argparse.Namespace) -> None:
  try:
    from handwriting.serve.app import serve
  except ImportError as e:
    from handwriting.data.report import DataError
    raise DataError("serve", f"the web page needs its extra: pip install '.[serve]' ({e})") \
        from None
  print(f"serving on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
  serve(args.host, args.port, synthesis=args.synthesis, online_reader=args.online_reader,
        offline_reader=args.reader, lm=args.lm)


# -- main ----------------------------------------------------------------------------------

COMMANDS = {"prepare": _prepare, "show": _show, "demo": _demo, "train": _train, "write": _write,
            "sample": _sample, "evaluate": _evaluate, "read": _read,
            "plot-metrics": _plot_metrics, "serve": _serve}
NEEDS_TRAIN_ERRORS = {"train", "write", "sample", "evaluate", "read", "prepare", "serve"}
TAKES_OVERRIDES = {"train"}


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
    prog="handwriting", formatter_class=_Help,
    description="Graves' handwriting recognition and synthesis in JAX.",
    epilog=f"exit codes: {EXIT_OK} done; {EXIT_SKIPPED} done, some inputs skipped (named); "
           f"{EXIT_ERROR} error, nothing done; {EXIT_INTERRUPTED} interrupted")
  sub = parser.add_subparsers(dest="command", required=True)
  _add_prepare(sub)
  _add_show(sub)
  _add_demo(sub)
  _add_train(sub)
  _add_write(sub)
  _add_sample(sub)
  _add_evaluate(sub)
  _add_read(sub)
  _add_plot_metrics(sub)
  _add_serve(sub)
  return parser


def _message(e: Exception, command: str) -> str:
  from handwriting.data.alphabet import UnknownCharacterError
  if isinstance(e, UnknownCharacterError) and command == "write":
    shown = " ".join(repr(c) for c in e.chars)
    return f"characters not in the alphabet: {shown}; remove them or pass --on-unknown drop"
  return str(e)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
  """Library warnings (e.g. a damaged checkpoint step passed over) as one line."""
  print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
  parser = build_parser()
  try:  # usage errors (exit 2) and --help (exit 0) return their code like every command
    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in TAKES_OVERRIDES:
      parser.error(f"unrecognized arguments: {' '.join(rest)}")
  except SystemExit as e:
    return int(e.code or 0)
  from handwriting.config import ConfigError
  from handwriting.data.alphabet import UnknownCharacterError
  from handwriting.data.report import DataError
  user_errors: tuple[type[Exception], ...] = (DataError, ConfigError, UnknownCharacterError,
                                              FileNotFoundError)
  if args.command in NEEDS_TRAIN_ERRORS:
    from handwriting.train import CheckpointError, NonFiniteLossError
    user_errors += (CheckpointError, NonFiniteLossError)
  if args.command in {"write", "sample"}:
    user_errors += (ValueError,)  # empty text, text for a prediction network, ...
  try:
    with warnings.catch_warnings():
      warnings.showwarning = _show_warning
      if args.command in TAKES_OVERRIDES:
        code = COMMANDS[args.command](args, rest)
      else:
        code = COMMANDS[args.command](args)
  except user_errors as e:
    print(f"error: {_message(e, args.command)}", file=sys.stderr)
    return EXIT_ERROR
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED
  return code or EXIT_OK


if __name__ == "__main__":
  sys.exit(main())
