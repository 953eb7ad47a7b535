"""The prediction / synthesis networks as a `Task` of the shared training loop: the model spec
(spec.py), the input pipeline (input_pipeline.py) and the loss (loss.py), composed."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from handwriting.config import ConfigError
from handwriting.data.pipeline import Splits
from handwriting.data.prepared import Prepared
from handwriting.synthesis.input_pipeline import input_pipeline
from handwriting.synthesis.loss import OBJECTIVES, sequence_loss
from handwriting.synthesis.spec import ModelSpec, build_model
from handwriting.synthesis.widen import widen_params
from handwriting.train.checkpoint import read_checkpoint_meta
from handwriting.train.task import TrainingTask

PyTree = Any

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
    source = None
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
    # A narrower source is widened (widen.py): the loop restores it with its own spec.
    self.init_source = source if source is not None and _widens(config, source) else None

  def grow(self, source_params: PyTree, fresh_params: PyTree) -> PyTree:
    """`init_source`'s trained parameters in this task's wider network (the loop's warm start)."""
    return jax.tree.map(jnp.asarray, widen_params(source_params, fresh_params))


def _widens(config: ml_collections.ConfigDict, source: ModelSpec) -> bool:
  """Whether `source` is this config's network with fewer cells per layer (and nothing else
  changed); ConfigError when it has fewer cells but differs in more than that."""
  ours, theirs = config.model, source.config.model
  if theirs.hidden_size >= ours.hidden_size:
    return False
  differ = [f"{k} ({theirs.get(k)} there, {ours.get(k)} here)" for k in sorted(ours)
            if k != "hidden_size" and theirs.get(k) != ours.get(k)]
  if source.config.model_type != config.model_type:
    differ.insert(0, f"model_type ({source.config.model_type} there, {config.model_type} here)")
  if differ:
    raise ConfigError(
      f"--config.init_from={config.init_from}: widening it from {theirs.hidden_size} to "
      f"{ours.hidden_size} cells per layer needs every other model field equal, but "
      f"{', '.join(differ)} differ; set them with --config.model.<field>=")
  return True
