"""The prediction / synthesis networks as a `Task` of the shared training loop: the model spec
(spec.py), the input pipeline (input_pipeline.py) and the loss (loss.py), composed."""

from __future__ import annotations

import functools

import ml_collections

from handwriting.config import ConfigError
from handwriting.data.pipeline import Splits
from handwriting.data.prepared import Prepared
from handwriting.synthesis.input_pipeline import input_pipeline
from handwriting.synthesis.loss import OBJECTIVES, sequence_loss
from handwriting.synthesis.spec import ModelSpec, build_model
from handwriting.train.checkpoint import read_checkpoint_meta
from handwriting.train.task import TrainingTask

__all__ = ["ModelSpec", "SequenceTask", "build_model", "sequence_loss"]


class SequenceTask(TrainingTask):
  """Training task of `config`: its spec, the train and eval splits of `config.data` and
  `sequence_loss`."""

  def __init__(self, config: ml_collections.ConfigDict):
    objective = config.get("objective", "sequence")
    if objective not in OBJECTIVES:
      raise ConfigError(f"config.objective must be one of {', '.join(OBJECTIVES)}, "
                        f"got {objective!r}")
    splits = Splits.of(config)
    data = Prepared(splits.folder)
    # The model's units: the statistics of its own training split, kept in its checkpoint; a
    # warm start keeps those of the model it starts from (its parameters are tuned to them).
    if config.get("init_from", ""):
      source = ModelSpec.from_meta(read_checkpoint_meta(config.init_from))
      alphabet, mean, std = source.alphabet, source.stroke_mean, source.stroke_std
    else:
      mean, std = data.split_stats(splits.train) if splits.train else data.stroke_stats
      alphabet = data.alphabet
    spec = ModelSpec(config, alphabet, mean, std)
    super().__init__(spec, input_pipeline(config, data, splits, alphabet=spec.alphabet,
                                          stats=(mean, std)),
                     functools.partial(sequence_loss, objective=objective))
