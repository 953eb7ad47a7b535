"""The shared training loop, optimizers, checkpoints and sharding.

A model implements `Task` (handwriting/train/task.py; both of ours compose a `TrainingTask` of a
model spec, an input pipeline and a loss) and calls
`train_and_evaluate(config, workdir, task)`; inference commands load it with `restore_model`.
"""

from handwriting.train.checkpoint import CheckpointError, read_checkpoint_meta, restore_model
from handwriting.train.loop import (
  NonFiniteLossError,
  TrainResult,
  default_train_config,
  train_and_evaluate,
)
from handwriting.train.metrics import read_metrics
from handwriting.train.task import Task, TrainingTask

__all__ = ["CheckpointError", "NonFiniteLossError", "Task", "TrainResult", "TrainingTask",
           "default_train_config", "read_checkpoint_meta", "read_metrics", "restore_model",
           "train_and_evaluate"]
