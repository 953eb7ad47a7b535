"""`handwriting train`: the shared training loop from a preset and --config overrides."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from handwriting.cli._common import add_command


def add_train(sub: argparse._SubParsersAction) -> None:
  p = add_command(sub, "train", "train a model with the shared loop (resumes from --workdir)",
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


def train(args: argparse.Namespace, overrides: Sequence[str]) -> None:
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
