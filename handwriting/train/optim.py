"""Optimizers from config: Graves' RMSProp (the papers' choice), Adam and SGD.

`make_optimizer(cfg)` reads a ConfigDict with the fields of `default_optimizer_config()`.
"""

from __future__ import annotations

import ml_collections
import optax


def default_optimizer_config() -> ml_collections.ConfigDict:
  cfg = ml_collections.ConfigDict()
  cfg.name = "graves_rmsprop"  # "graves_rmsprop" (Graves 2013 eqs 38-45), "adam" or "sgd"
  cfg.learning_rate = 1e-4  # Graves 2013 Tables 3-4 use 1e-4 with RMSProp
  cfg.momentum = 0.9  # RMSProp and SGD momentum (Graves: 0.9)
  cfg.decay = 0.95  # RMSProp averaging constant aleph (Graves: 0.95)
  cfg.eps = 1e-4  # RMSProp epsilon, inside the square root (Graves: 1e-4)
  cfg.grad_clip_norm = 0.0  # clip the global gradient norm to this value; 0 turns it off
  cfg.warmup_steps = 0  # linear learning-rate warm-up steps; 0 turns it off
  return cfg


def make_optimizer(cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """The optimizer named by `cfg.name`, with optional global-norm clipping and warm-up."""
  lr: float | optax.Schedule = cfg.learning_rate
  if cfg.get("warmup_steps", 0):
    lr = optax.linear_schedule(0.0, cfg.learning_rate, cfg.warmup_steps)
  if cfg.name == "graves_rmsprop":
    from handwriting.train.rmsprop import graves_rmsprop
    opt = graves_rmsprop(learning_rate=lr, decay=cfg.get("decay", 0.95),
                         momentum=cfg.get("momentum", 0.9), eps=cfg.get("eps", 1e-4))
  elif cfg.name == "adam":
    opt = optax.adam(lr)
  elif cfg.name == "sgd":
    opt = optax.sgd(lr, momentum=cfg.get("momentum", 0.0) or None)
  else:
    raise ValueError(f"unknown optimizer {cfg.name!r}: use graves_rmsprop, adam or sgd")
  if cfg.get("grad_clip_norm", 0.0):
    opt = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), opt)
  return opt
