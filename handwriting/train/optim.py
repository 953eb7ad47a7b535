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
  # Cosine decay of the rate over this many updates (counted from the end of the warm-up) to
  # final_lr_fraction * learning_rate, then held there; 0 keeps the rate constant. Long runs
  # and fine-tuning end lower than they start: a constant Adam rate leaves the validation loss
  # on a plateau that a smaller final step goes under.
  cfg.decay_steps = 0
  cfg.final_lr_fraction = 0.1
  return cfg


def learning_rate_schedule(cfg: ml_collections.ConfigDict) -> float | optax.Schedule:
  """The rate of `cfg`: constant, linear warm-up, cosine decay, or warm-up then decay."""
  peak, warmup, decay = cfg.learning_rate, cfg.get("warmup_steps", 0), cfg.get("decay_steps", 0)
  if not decay:
    return optax.linear_schedule(0.0, peak, warmup) if warmup else peak
  cosine = optax.cosine_decay_schedule(peak, decay, alpha=cfg.get("final_lr_fraction", 0.1))
  if not warmup:
    return cosine
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), cosine], [warmup])


def make_optimizer(cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """The optimizer named by `cfg.name`, with optional global-norm clipping, warm-up and decay."""
  lr = learning_rate_schedule(cfg)
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
