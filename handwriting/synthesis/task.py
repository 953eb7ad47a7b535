"""The prediction / synthesis networks as a `Task` of the shared training loop: the model spec
(spec.py), the input pipeline (input_pipeline.py) and the loss (loss.py), composed."""

from __future__ import annotations

import ml_collections

from handwriting.data.pipeline import Splits
from handwriting.data.prepared import Prepared
from handwriting.synthesis.input_pipeline import input_pipeline
from handwriting.synthesis.loss import sequence_loss
from handwriting.synthesis.spec import ModelSpec, build_model
from handwriting.train.task import TrainingTask

__all__ = ["ModelSpec", "SequenceTask", "build_model", "sequence_loss"]


class SequenceTask(TrainingTask):
  """Training task of `config`: its spec, the train and eval splits of `config.data` and
  `sequence_loss`."""

  def __init__(self, config: ml_collections.ConfigDict):
    splits = Splits.of(config)
    data = Prepared(splits.folder)
    mean, std = data.stroke_stats
    super().__init__(ModelSpec(config, data.alphabet, mean, std),
                     input_pipeline(config, data, splits), sequence_loss)
