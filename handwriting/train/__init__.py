"""The shared training loop, optimizers, checkpoints and sharding.

A model implements `Task` (handwriting/train/task.py) and calls
`train_and_evaluate(config, workdir, task)`; inference commands load it with `restore_model`.
"""

from handwriting.train.checkpoint import CheckpointError, read_checkpoint_meta, restore_model
from handwriting.train.loop import (NonFiniteLossError, TrainResult, default_train_config,
                                    train_and_evaluate)
from handwriting.train.metrics import read_metrics
from handwriting.train.task import Task

__all__ = ["CheckpointError", "NonFiniteLossError", "Task", "TrainResult", "default_train_config",
           "read_checkpoint_meta", "read_metrics", "restore_model", "train_and_evaluate"]
