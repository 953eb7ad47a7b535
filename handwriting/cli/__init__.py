"""The `handwriting` command: parses arguments, calls the Python API (handwriting/api/) and
formats what it returns. No model or data logic here. One module per command group (preparing,
tools: show/demo/plot-metrics, training, writing: write/sample, reading, evaluating, serving);
shared options and exit codes in _common.

Exit codes: 0 everything done; 1 done, but some inputs were skipped (each named, with counts);
2 nothing done: a user error (bad data, bad config, missing checkpoint, no readable input)
printed as one line instead of a traceback; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from handwriting.cli._common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_SKIPPED, Help
from handwriting.cli.evaluating import add_evaluate, evaluate
from handwriting.cli.preparing import add_prepare, prepare
from handwriting.cli.reading import add_read, read
from handwriting.cli.serving import add_serve, serve
from handwriting.cli.tools import add_demo, add_plot_metrics, add_show, demo, plot_metrics, show
from handwriting.cli.training import add_train, train
from handwriting.cli.writing import add_sample, add_write, sample, write

COMMANDS = {"prepare": prepare, "show": show, "demo": demo, "train": train, "write": write,
            "sample": sample, "evaluate": evaluate, "read": read,
            "plot-metrics": plot_metrics, "serve": serve}
NEEDS_TRAIN_ERRORS = {"train", "write", "sample", "evaluate", "read", "prepare", "serve"}
TAKES_OVERRIDES = {"train"}


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
    prog="handwriting", formatter_class=Help,
    description="Graves' handwriting recognition and synthesis in JAX.",
    epilog=f"exit codes: {EXIT_OK} done; {EXIT_SKIPPED} done, some inputs skipped (named); "
           f"{EXIT_ERROR} error, nothing done; {EXIT_INTERRUPTED} interrupted")
  sub = parser.add_subparsers(dest="command", required=True)
  add_prepare(sub)
  add_show(sub)
  add_demo(sub)
  add_train(sub)
  add_write(sub)
  add_sample(sub)
  add_evaluate(sub)
  add_read(sub)
  add_plot_metrics(sub)
  add_serve(sub)
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

