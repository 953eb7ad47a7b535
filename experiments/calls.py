"""The calls an experiment makes into the `handwriting` Python API, as data: preparing a data
set, training, evaluating. Each runs the API directly and returns what the API returns, and
each can write its equivalent `handwriting ...` command line, built from the same fields, for
a human to rerun (paths relative to the current folder, as RESULTS.md shows them).

  Prepare("synthetic", {"out": Path("prepared/syn"), "lines": 200}).run()
  Train("synthesis", "tiny", "prepared/syn", "runs/syn", overrides={"num_steps": 40}).run()
  Evaluation("valid", "synthesis", "runs/syn", "prepared/syn", "valid").run()  # figures
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from results import ExperimentError, reader_figures, writer_figures

import handwriting

if TYPE_CHECKING:  # annotations only: handwriting.train loads JAX
  import ml_collections

  from handwriting.train import TrainResult

# `handwriting prepare <dataset>` -> the module whose `prepare` it calls.
PREPARERS = {"iam-ondb": "handwriting.data.iam_ondb", "iam": "handwriting.data.iam_lines",
             "synthetic": "handwriting.data.synthetic"}


def shown(path: str | os.PathLike[str]) -> str:
  """A path as a command line shows it: relative to the current folder (no machine's absolute
  folders in RESULTS.md)."""
  return os.path.relpath(path)


def command_line(args: Sequence[str]) -> str:
  return "handwriting " + " ".join(shlex.quote(a) for a in args)


@dataclasses.dataclass(frozen=True)
class Prepare:
  """One call of a data set's `prepare` (handwriting/data/<module>.prepare)."""

  dataset: str  # a key of PREPARERS: the `handwriting prepare` subcommand
  # The function's keyword arguments, `out` included; each is also a CLI flag of the same name
  # (`lines_txt` -> `--lines-txt`). os.PathLike values are paths; None leaves the flag out.
  options: Mapping[str, Any]

  @property
  def out(self) -> str:
    return str(self.options["out"])

  def kwargs(self) -> dict[str, Any]:
    return {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in self.options.items()}

  def run(self) -> dict[str, Any]:
    """Writes the prepared folder; returns the function's summary (its meta)."""
    module = importlib.import_module(PREPARERS[self.dataset])
    return module.prepare(**self.kwargs())

  def args(self) -> list[str]:
    args = ["prepare", self.dataset]
    for key, value in self.options.items():
      flag = "--" + key.replace("_", "-")
      if value is None or value is False:
        continue
      if value is True:
        args.append(flag)
      else:
        args += [flag, shown(value) if isinstance(value, os.PathLike) else str(value)]
    return args

  def command(self) -> str:
    return command_line(self.args())


@dataclasses.dataclass(frozen=True)
class Train:
  """`train_and_evaluate` of a preset's config with some fields set."""

  model: str  # "synthesis" | "prediction" | "recognizer"
  preset: str
  data: str  # the prepared folder
  workdir: str
  kind: str = "mdlstm"  # recognizer: "mdlstm" (images) or "online" (pen strokes)
  # Dotted config field -> value, set as `--config.<field>=<value>` would set it (the text is
  # parsed to the field's type), so the command line and the config cannot disagree.
  overrides: Mapping[str, object] = dataclasses.field(default_factory=dict)

  def override_args(self) -> list[str]:
    # The CLI picks a recognizer's preset table by model_type: it goes on the command line too.
    kind = ["--config.model_type=online"] if self.model == "recognizer" and \
        self.kind == "online" else []
    return kind + [f"--config.{k}={v}" for k, v in self.overrides.items()]

  def config(self) -> ml_collections.ConfigDict:
    """The config this call trains (ConfigError on a misspelt field or a bad value)."""
    from handwriting.config import apply_overrides
    config = handwriting.get_config(self.model, self.preset, kind=self.kind, data=self.data)
    return apply_overrides(config, self.override_args())

  def run(self) -> TrainResult:
    """Trains (resuming from the workdir's checkpoints); returns the loop's TrainResult."""
    return handwriting.train_and_evaluate(self.config(), self.workdir)

  def command(self) -> str:
    return command_line(["train", self.model, "--data", shown(self.data), "--workdir",
                         shown(self.workdir), "--preset", self.preset, *self.override_args()])


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """`evaluate_writer` (synthesis, prediction) or `evaluate_reader` (recognizer) on a split."""

  label: str  # key in final_eval.json's figures: "valid", "greedy", "beam10_lm"
  model: str  # "synthesis" | "prediction" (evaluate_writer) | "recognizer" (evaluate_reader)
  workdir: str
  data: str
  split: str
  beam: int = 1  # recognizer: beam width (1 = greedy)
  lm: str | None = None  # recognizer: texts (one per line) of a 4-gram character LM

  def run(self) -> dict[str, Any]:
    """The figures (results.writer_figures / reader_figures)."""
    if self.model == "recognizer":
      return reader_figures(handwriting.evaluate_reader(
        self.workdir, data=self.data, split=self.split, beam=self.beam, lm=self.lm))
    return writer_figures(handwriting.evaluate_writer(
      self.workdir, data=self.data, split=self.split, kind=self.model))

  def command(self) -> str:
    args = ["evaluate", self.model, "--workdir", shown(self.workdir), "--data", shown(self.data),
            "--split", self.split]
    args += ["--beam", str(self.beam)] if self.beam != 1 else []
    args += ["--lm", shown(self.lm)] if self.lm else []
    return command_line(args)


def config_fields(overrides: Sequence[str]) -> dict[str, str]:
  """`--config.a.b=v` arguments (an experiment script's extra ones) as {"a.b": "v"}."""
  fields = {}
  for arg in overrides:
    key, eq, value = arg.removeprefix("--config.").partition("=")
    if not arg.startswith("--config.") or not eq or not key:
      raise ExperimentError(f"unrecognized argument {arg!r} (config overrides look like "
                            "--config.num_steps=1000)")
    fields[key] = value
  return fields


def _user_errors() -> tuple[type[Exception], ...]:
  """What `handwriting` reports as one line (bad data, config, checkpoint), not a traceback."""
  from handwriting.config import ConfigError
  from handwriting.data.alphabet import UnknownCharacterError
  from handwriting.data.report import DataError
  from handwriting.train import CheckpointError, NonFiniteLossError
  return (ConfigError, DataError, UnknownCharacterError, FileNotFoundError, CheckpointError,
          NonFiniteLossError)


@contextlib.contextmanager
def step(command: str, show: bool = True) -> Iterator[None]:
  """Shows the command of a call; a user error inside becomes an ExperimentError naming it."""
  if show:
    print(f"\n$ {command}", flush=True)
  try:
    yield
  except _user_errors() as e:
    raise ExperimentError(f"`{command}` failed: {e}") from e
