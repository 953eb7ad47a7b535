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
  o.add_argument("--render-height", type=int, default=0,
                 help="also draw every line as an image of this height (offline IAM-OnDB)")
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
  s.add_argument("--spacing", type=float, default=None,
                 help="pen sample spacing in x-heights (default 0.5; 0.25 = IAM-OnDB density)")

  r = kinds.add_parser("render", help="prepared pen strokes -> scan-like line images for the "
                                      "offline recognizer (normalised as `read` normalises scans)")
  r.add_argument("--from", dest="sources", action="append", required=True,
                 help="a prepared stroke folder; repeat to add further folders' training lines")
  r.add_argument("--height", type=int, default=64, help="normalised image height in pixels")
  r.add_argument("--copies", type=int, default=2, help="renderings per training line")
  r.add_argument("--seed", type=int, default=0)
  r.add_argument("--workers", type=int, default=0, help="processes (0: one per CPU core)")
  r.add_argument("--out", required=True)

  t = kinds.add_parser("texts", help="IAM lines.txt -> natural-form texts, one per line (for "
                                     "--lm), leaving out the forms of a measuring set")
  t.add_argument("--lines-txt", required=True)
  t.add_argument("--exclude-forms", action="append", default=[],
                 help="a file naming IAM ids (e.g. a manifest): their forms are left out")
  t.add_argument("--out", required=True, help="text file to write")

  w = kinds.add_parser("written", help="texts written by a synthesis network in styles primed "
                                       "from a stroke folder (extra training lines)")
  w.add_argument("--lines-txt", required=True,
                 help="IAM lines.txt (its texts, in natural form) or a file of texts, one per line")
  w.add_argument("--exclude-forms", action="append", default=[],
                 help="a file naming IAM ids (e.g. a measuring set's manifest): their forms' "
                      "texts are left out; repeatable")
  w.add_argument("--synthesis", help="synthesis workdir or shipped name (default: shipped)")
  w.add_argument("--styles", required=True, help="prepared stroke folder to take styles from")
  w.add_argument("--lines", type=int, default=0, help="write at most this many texts (0: all)")
  w.add_argument("--batch", type=int, default=32)
  w.add_argument("--seed", type=int, default=0)
  w.add_argument("--out", required=True)


def _prepare(args: argparse.Namespace) -> None:
  start = time.perf_counter()
  if args.dataset == "iam-ondb":
    from handwriting.data import iam_ondb
    iam_ondb.prepare(args.strokes, args.ascii, args.splits, args.out, protocol=args.protocol,
                     valid_fraction=args.valid_fraction, seed=args.seed,
                     render_height=args.render_height)
  elif args.dataset == "iam":
    from handwriting.data import iam_lines
    iam_lines.prepare(args.lines_txt, args.images, args.splits, args.out, height=args.height,
                      drop_err=args.drop_err, seed=args.seed, valid_fraction=args.valid_fraction)
  elif args.dataset == "render":
    from handwriting.data.render_set import render_prepared
    from handwriting.data.report import SkipReport
    report = SkipReport()
    summary = render_prepared(args.sources, args.out, height=args.height, copies=args.copies,
                              seed=args.seed, workers=args.workers or None, report=report)
    for split, n in summary["splits"].items():
      print(f"  {split}: {n} line images")
    report.print(saved_to=f"{args.out}/skipped.txt")
  elif args.dataset == "written":
    _prepare_written(args)
  elif args.dataset == "texts":
    from handwriting.data.report import SkipReport
    from handwriting.data.text import form_ids, read_texts
    report = SkipReport()
    excluded = set().union(*(form_ids(f) for f in args.exclude_forms))
    texts = [t for i, t in read_texts(args.lines_txt, report)
             if "-".join(i.split("-")[:2]) not in excluded]
    with open(args.out, "w", encoding="utf-8") as f:
      f.writelines(t + "\n" for t in texts)
    print(f"wrote {len(texts)} texts to {args.out} ({len(excluded)} forms left out)")
    report.print()
  else:
    from handwriting.data import synthetic
    spacing = {"spacing": args.spacing} if args.spacing else {}
    synthetic.prepare(args.out, lines=args.lines, seed=args.seed, height=args.height, **spacing)
  print(f"prepared {args.out} in {time.perf_counter() - start:.1f} s")


def _prepare_written(args: argparse.Namespace) -> None:
  import numpy as np

  from handwriting import pretrained
  from handwriting.data.report import SkipReport
  from handwriting.data.text import form_ids, read_texts
  from handwriting.synthesis.inference import read_spec
  from handwriting.synthesis.written_set import select_texts, write_set
  synthesis = pretrained.resolve(args.synthesis, "synthesis")
  report = SkipReport()
  excluded = set().union(*(form_ids(f) for f in args.exclude_forms))
  from handwriting.data.prepared import Prepared
  # Only characters both the writer and the styles' data know: the lines go into that data.
  alphabet = (set(read_spec(synthesis, "synthesis")[1].alphabet.chars)
              & set(Prepared(args.styles).alphabet.chars))
  texts = select_texts(read_texts(args.lines_txt, report), alphabet, excluded, report)
  if args.lines and args.lines < len(texts):
    pick = np.random.default_rng(args.seed).choice(len(texts), args.lines, replace=False)
    texts = [texts[i] for i in sorted(pick)]
  print(f"writing {len(texts)} texts ({len(excluded)} forms excluded) with {synthesis}")
  summary = write_set(synthesis, texts, args.styles, args.out, batch=args.batch, seed=args.seed,
                      report=report)
  print(f"  train: {summary['lines']} written lines")
  report.print(saved_to=f"{args.out}/skipped.txt")


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
  p.add_argument("--text", help="text to write with the shipped synthesis model")


def _demo(args: argparse.Namespace) -> None:
  from handwriting import demo
  demo.run(args.out, lines=args.lines, seed=args.seed, text=args.text or demo.DEFAULT_TEXT)


def _add_train(sub: argparse._SubParsersAction) -> None:
  p = sub.add_parser("train", help="train a model with the shared loop (resumes from --workdir)",
                     epilog="Any config field can be overridden: --config.model.hidden_size=256; "
                            "recognizer: --config.model_type=online reads pen strokes")
  p.add_argument("model", choices=["synthesis", "prediction", "recognizer"])
  p.add_argument("--data", required=True, help="a prepared data folder")
  p.add_argument("--workdir", required=True, help="checkpoints and metrics.jsonl go here")
  p.add_argument("--preset", help="synthesis/prediction: graves (default), graves_1x900, small, "
                                  "tiny; recognizer: iam (default), arabic, small, tiny "
                                  "(online: graves, small, tiny)")


def _model_type(overrides: Sequence[str]) -> str:
  """The recognizer kind named by --config.model_type (it picks the preset table)."""
  for i, arg in enumerate(overrides):
    if arg.startswith("--config.model_type"):
      return arg.split("=", 1)[1] if "=" in arg else overrides[i + 1]
  return "mdlstm"


def _train(args: argparse.Namespace, overrides: Sequence[str]) -> None:
  from handwriting.config import apply_overrides
  from handwriting.train import train_and_evaluate

  if args.model == "recognizer":
    from handwriting.recognition.configs import get_config as recognizer_config
    from handwriting.recognition.task import RecognitionTask as Task
    kind = _model_type(overrides)
    config = recognizer_config(args.preset or ("iam" if kind == "mdlstm" else "graves"), kind)
  else:
    from handwriting.synthesis.configs import get_config
    from handwriting.synthesis.task import SequenceTask as Task
    config = get_config(args.preset or "graves", args.model)
  config.data = args.data
  apply_overrides(config, overrides)
  if config.init_from:  # a shipped model's name works too (e.g. synthesis-iam-ondb-small)
    from handwriting import pretrained
    config.init_from = pretrained.resolve(config.init_from, args.model)
  start = time.perf_counter()
  result = train_and_evaluate(config, args.workdir, Task(config))
  shown = ", ".join(f"{k} {v:.4g}" for k, v in result.eval.items())
  print(f"trained {args.model} to step {result.step} in {time.perf_counter() - start:.0f} s"
        + (f"; eval: {shown}" if shown else ""))


def _add_write(sub: argparse._SubParsersAction) -> None:
  p = sub.add_parser("write", help="write text as handwriting with a synthesis network (SVG)")
  p.add_argument("text", help="the text; long text is wrapped into lines, newlines kept")
  p.add_argument("--workdir", help="a trained synthesis network's workdir, or the name of a "
                                   "shipped model (default: the shipped synthesis model)")
  p.add_argument("-o", "--output", required=True, help="SVG to write")
  p.add_argument("--bias", type=float, default=0.0,
                 help="sampling bias (Graves 2013 eqs 61-62): 0 = as trained, larger = neater")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--width", type=int, default=40, help="characters per line when wrapping")
  p.add_argument("--style", help="prime with a real line: an index into --data's valid split, "
                                 "or an IAM-OnDB stroke XML file (with --style-text)")
  p.add_argument("--style-text", help="transcription of the --style XML file")
  p.add_argument("--data", help="prepared folder for --style N (default: the training data)")
  p.add_argument("--stroke-width", type=float, default=2.0)
  p.add_argument("--colour", default="black")
  p.add_argument("--plot-attention", help="PNG of the window weights phi (Fig. 13-style)")
  p.add_argument("--plot-density", help="PNG of the mixture density (Fig. 10-style)")


def _write(args: argparse.Namespace) -> None:
  from handwriting.synthesis.commands import write_command
  written = write_command(
    args.text, args.workdir, args.output, bias=args.bias, seed=args.seed, width=args.width,
    style=args.style, style_text=args.style_text, data=args.data,
    stroke_width=args.stroke_width, colour=args.colour, plot_attention=args.plot_attention,
    plot_density=args.plot_density)
  for w in written:
    if not w.finished:
      print(f"warning: {w.text!r} hit the step cap before the window passed its end")
  print(f"wrote {args.output}: {len(written)} line(s)")


def _add_sample(sub: argparse._SubParsersAction) -> None:
  p = sub.add_parser("sample", help="unconditional handwriting from a prediction network (SVG)")
  p.add_argument("--workdir", help="a trained prediction network's workdir or shipped model name")
  p.add_argument("-o", "--output", required=True, help="SVG to write")
  p.add_argument("--lines", type=int, default=3)
  p.add_argument("--steps", type=int, default=700, help="pen points per line")
  p.add_argument("--bias", type=float, default=0.0)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--stroke-width", type=float, default=2.0)
  p.add_argument("--colour", default="black")


def _sample(args: argparse.Namespace) -> None:
  from handwriting.synthesis.commands import sample_command
  sample_command(args.workdir, args.output, lines=args.lines, steps=args.steps, bias=args.bias,
                 seed=args.seed, stroke_width=args.stroke_width, colour=args.colour)
  print(f"wrote {args.output}")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
  p = sub.add_parser("evaluate", help="evaluate a trained model on a prepared split")
  p.add_argument("model", choices=["synthesis", "prediction", "recognizer", "legibility"])
  p.add_argument("--workdir", help="trained model's workdir (default: the shipped model)")
  p.add_argument("--data", help="prepared folder (same preparation as training)")
  p.add_argument("--split", default="valid")
  p.add_argument("--images", help="recognizer: a manifest of line images (rows "
                                  "`image<TAB>transcription`, paths relative to it) instead of "
                                  "--data")
  p.add_argument("--hypotheses", help="recognizer --images: TSV of the per-line readings "
                                      "(default: hypotheses.tsv beside the manifest's name in "
                                      "the current folder)")
  _add_norm_arg(p)
  _add_decoder_args(p)
  g = p.add_argument_group("legibility (write each text, read it back, score the reading)")
  g.add_argument("--synthesis", help="synthesis workdir or shipped model name "
                                     "(default: the shipped synthesis model)")
  g.add_argument("--reader", help="recognizer workdir or shipped model name (default: the "
                                  "shipped reader of the synthesis model's data)")
  g.add_argument("--texts", help="file of texts to write, one per line")
  g.add_argument("--bias", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
  g.add_argument("--seed", type=int, default=0)
  g.add_argument("--out", default="legibility", help="folder for the table, plot and samples")


def _add_decoder_args(p: argparse.ArgumentParser) -> None:
  p.add_argument("--beam", type=int, default=1, help="recognizer: beam width (1 = greedy)")
  p.add_argument("--lm", help="recognizer: character LM: a .json saved model, or a text file of "
                              "transcriptions (one per line) or a prepared folder (its train "
                              "split) to train a 4-gram on")
  p.add_argument("--lm-weight", type=float, default=0.5)
  p.add_argument("--insertion-bonus", type=float, default=0.0)


def _add_norm_arg(p: argparse.ArgumentParser) -> None:
  p.add_argument("--norm", choices=["scan", "legacy"],
                 help="image normalisation (default: the one the reader was trained with)")


def _decoder(args: argparse.Namespace, alphabet_of: str | None):
  from handwriting.recognition.inference import Decoder, load_lm
  from handwriting.train import read_checkpoint_meta
  lm = None
  if args.lm:
    from handwriting.data.alphabet import Alphabet
    meta = read_checkpoint_meta(alphabet_of)
    lm = load_lm(args.lm, Alphabet(meta["task_meta"]["alphabet"]))
  return Decoder(args.beam, lm, args.lm_weight if lm else 0.0, args.insertion_bonus)


def _evaluate(args: argparse.Namespace) -> None:
  if args.model == "legibility":
    _legibility(args)
    return
  if args.model == "recognizer" and args.images:
    _evaluate_images(args)
    return
  if not args.data:
    from handwriting.data.report import DataError
    raise DataError("--data", f"evaluate {args.model} needs --data PREPARED_DIR"
                              + (" or --images MANIFEST" if args.model == "recognizer" else ""))
  if args.model == "recognizer":
    from handwriting import pretrained
    from handwriting.recognition.inference import evaluate
    workdir = pretrained.resolve(args.workdir, "recognizer")
    r = evaluate(workdir, args.data, args.split, _decoder(args, workdir))
    for ref, hyp in r["examples"]:
      print(f"  ref: {ref}\n  hyp: {hyp}")
    print(f"recognizer step {r['step']} on {args.split} ({r['lines']} lines, "
          f"{r['skipped']} skipped): CER {100 * r['cer']:.2f}% WER {100 * r['wer']:.2f}%")
    return
  from handwriting.synthesis.commands import evaluate_command
  r = evaluate_command(args.model, args.workdir, args.data, args.split)
  print(f"{args.model} step {r['step']} on {args.split} ({r['lines']} lines): "
        f"log-loss {r['nll']:.1f} nats/sequence, {r['loss']:.4f} nats/point, "
        f"SSE {r['sse']:.4f} per point (normalised offsets)")


def _evaluate_images(args: argparse.Namespace) -> None:
  from pathlib import Path

  from handwriting import pretrained
  from handwriting.data.report import SkipReport
  from handwriting.recognition.files import Reader, evaluate_images
  workdir = pretrained.resolve(args.workdir, "recognizer")
  reader = Reader.load(workdir, args.norm)
  out = args.hypotheses or f"hypotheses_{Path(args.images).stem}.tsv"
  report = SkipReport()
  r = evaluate_images(reader, args.images, _decoder(args, workdir), report, out)
  report.print()
  for _, ref, hyp, _ in r.rows[:5]:
    print(f"  ref: {ref}\n  hyp: {hyp}")
  decoding = f"beam {args.beam}" + (" + LM" if args.lm else "") if args.beam > 1 or args.lm \
      else "greedy"
  print(f"recognizer step {r.step} on {args.images} ({r.lines} lines, {r.skipped} skipped; "
        f"{r.norm} normalisation, {decoding}): CER {100 * r.cer:.2f}% WER {100 * r.wer:.2f}%")
  print(f"wrote {out}")


def _legibility(args: argparse.Namespace) -> None:
  from handwriting import legibility, pretrained
  from handwriting.data.report import DataError
  if not args.texts:
    raise DataError("--texts", "evaluate legibility needs --texts FILE (one text per line)")
  synthesis = pretrained.resolve(args.synthesis, "synthesis")
  reader = pretrained.resolve(args.reader or pretrained.reader_for(synthesis), "recognizer")
  scores = legibility.run(synthesis, reader, args.texts, args.bias, args.out,
                          _decoder(args, reader), seed=args.seed)
  for s in scores:
    for text, read in s.examples[:2]:
      label = f"bias {s.bias:g}:"
      print(f"  {label} written {text!r}\n  {'':{len(label)}} read    {read!r}")
  print(legibility.table(scores))
  print(f"wrote {args.out}/legibility.json, legibility.png and written_bias*.svg")


def _add_read(sub: argparse._SubParsersAction) -> None:
  p = sub.add_parser("read", help="transcribe images of text lines or pages with a trained "
                                  "offline recognizer")
  p.add_argument("images", nargs="+", help="PNG/JPEG files of text lines or of pages of several "
                                           "lines (any size or mode)")
  p.add_argument("--workdir", help="a trained MDLSTM recognizer's workdir or shipped model name "
                                   "(default: the shipped recognizer)")
  p.add_argument("--single-line", action="store_true",
                 help="read each image as one line (no search for several lines)")
  p.add_argument("--plot", help="PNG of the CTC output probabilities over the first image")
  _add_norm_arg(p)
  _add_decoder_args(p)


def _read(args: argparse.Namespace) -> None:
  from handwriting import pretrained
  from handwriting.recognition import files, inference
  workdir = pretrained.resolve(args.workdir, "recognizer")
  reader = files.Reader.load(workdir, args.norm)
  results, report = files.read_images(reader, args.images, _decoder(args, workdir),
                                      pages=not args.single_line)
  for path, text in results:
    print(f"{path}\t" + text.replace("\n", "\n\t"))
  if len(report):
    report.print()
  if args.plot and results:
    from handwriting.data.images import load_image
    image = reader.inputs(load_image(results[0][0]), results[0][0])
    inference.plot_posteriors(reader.model, reader.spec, image, results[0][1], args.plot)
    print(f"wrote {args.plot}")


def _add_plot_metrics(sub: argparse._SubParsersAction) -> None:
  p = sub.add_parser("plot-metrics", help="training curves of a workdir's metrics.jsonl as PNG")
  p.add_argument("workdir", help="a training workdir or a shipped model's name")
  p.add_argument("-o", "--output", required=True)
  p.add_argument("--keys", nargs="*", help="metrics to draw (default: the evaluated ones)")


def _plot_metrics(args: argparse.Namespace) -> None:
  from handwriting import pretrained
  from handwriting.draw.curves import plot_curves
  workdir = pretrained.resolve(args.workdir, "")
  keys = plot_curves(f"{workdir}/metrics.jsonl", args.output, args.keys or None,
                     title=args.workdir)
  print(f"wrote {args.output}: {', '.join(keys)}")


COMMANDS = {"prepare": _prepare, "show": _show, "demo": _demo, "train": _train, "write": _write,
            "sample": _sample, "evaluate": _evaluate, "read": _read,
            "plot-metrics": _plot_metrics}
NEEDS_TRAIN_ERRORS = {"train", "write", "sample", "evaluate", "read"}
TAKES_OVERRIDES = {"train"}


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
    prog="handwriting",
    description="Graves' handwriting recognition and synthesis in JAX.")
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
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  parser = build_parser()
  args, rest = parser.parse_known_args(argv)
  if rest and args.command not in TAKES_OVERRIDES:
    parser.error(f"unrecognized arguments: {' '.join(rest)}")
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
    if args.command in TAKES_OVERRIDES:
      COMMANDS[args.command](args, rest)
    else:
      COMMANDS[args.command](args)
  except user_errors as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    return 130
  return 0


if __name__ == "__main__":
  sys.exit(main())
