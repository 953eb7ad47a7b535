"""The recognizers (MDLSTM on line images, BLSTM on pen strokes) as a `Task` of the shared loop:
the model spec (spec.py), the input pipeline (input_pipeline.py) and the CTC loss (loss.py),
composed. Both readers map (inputs, mask) to (logits_BxTxK, frame_mask_BxT) for the one CTC
head; the input kind ("images" or "strokes") picks the prepared arrays."""

from __future__ import annotations

import ml_collections

from handwriting.data.pipeline import Items, Splits
from handwriting.data.prepared import Prepared
from handwriting.recognition.input_pipeline import LineRules, input_pipeline, load_lines
from handwriting.recognition.loss import recognition_loss
from handwriting.recognition.spec import RecognizerSpec
from handwriting.train.task import TrainingTask

__all__ = ["RecognitionTask", "RecognizerSpec", "recognition_loss"]


class RecognitionTask(TrainingTask):
  """Training task of `config`: its spec, the train and eval splits of `config.data` and
  `recognition_loss`."""

  def __init__(self, config: ml_collections.ConfigDict):
    splits = Splits.of(config)
    data = Prepared(splits.folder)
    mean = std = None
    if config.model_type == "online":  # the statistics of its own training split
      mean, std = data.split_stats(splits.train) if splits.train else data.stroke_stats
    spec = RecognizerSpec(config, data.alphabet, mean, std,
                          image_norm=data.meta.get("image_norm", "legacy"))
    super().__init__(spec, input_pipeline(config, data, splits, alphabet=spec.alphabet,
                                          stats=spec.stats), recognition_loss)

  @property
  def image_norm(self) -> str:
    return self.spec.image_norm

  def load(self, data: Prepared, split: str) -> Items:
    """The kept lines of `split` under the task's alphabet and config as they are now; skipped
    lines go to the task's report."""
    return load_lines(data, split, self.alphabet, LineRules.of(self.config), self.report,
                      self.spec.stats)
