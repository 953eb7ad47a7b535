"""Configs and training from Python: `get_config` and `train_and_evaluate(config, workdir)`.

  config = get_config("synthesis", "small", data="prepared/iam-ondb")
  result = train_and_evaluate(config, "runs/syn")      # resumes from the workdir's checkpoint
  result.eval["nll"]                                   # the final evaluation's figures
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections

from handwriting.config import ConfigError, validate
from handwriting.train.loop import TrainResult

MODELS = ("synthesis", "prediction", "recognizer")
RECOGNIZER_TYPES = ("mdlstm", "online")


def get_config(model: str, preset: str | None = None, kind: str = "mdlstm",
               **fields: Any) -> ml_collections.ConfigDict:
  """The config of `model` ("synthesis" | "prediction" | "recognizer") at `preset` (default:
  the paper's: graves; recognizer: iam, online graves), `kind` the recognizer's ("mdlstm"
  images | "online" pen strokes); keyword `fields` set top-level fields (e.g. data=...)."""
  if model == "recognizer":
    from handwriting.recognition.configs import get_config as recognizer_config
    config = recognizer_config(preset or ("iam" if kind == "mdlstm" else "graves"), kind)
  elif model in ("synthesis", "prediction"):
    from handwriting.synthesis.configs import get_config as sequence_config
    config = sequence_config(preset or "graves", model)
  else:
    raise ConfigError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
  for key, value in fields.items():
    if key not in config:
      raise ConfigError(f"{model} config has no field {key!r}")
    config[key] = value
  return config


def task_for(config: ml_collections.ConfigDict):
  """The training task of a config (by its model_type), built on its data folder."""
  if config.model_type in RECOGNIZER_TYPES:
    from handwriting.recognition.task import RecognitionTask
    return RecognitionTask(config)
  from handwriting.synthesis.task import SequenceTask
  return SequenceTask(config)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike[str],
                       **kwargs: Any) -> TrainResult:
  """Trains the config's model on `config.data` in `workdir` (resuming from its checkpoints)
  and returns the step reached, the last train metrics and the final evaluation."""
  from handwriting.train.loop import train_and_evaluate as loop
  validate(config)  # one-line errors before the data is read
  if config.get("init_from", ""):  # a shipped model's name works too
    from handwriting import pretrained
    kind = "recognizer" if config.model_type in RECOGNIZER_TYPES else config.model_type
    config.init_from = pretrained.resolve(config.init_from, kind)
  return loop(config, workdir, task_for(config), **kwargs)
