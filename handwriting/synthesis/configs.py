"""Configs of the prediction and synthesis networks (Graves 2013, Tables 3 and 4) and a small
model that trains on a laptop CPU. `get_config(preset, model_type)`; the CLI overrides fields
with --config.field=value."""

from __future__ import annotations

import ml_collections

from handwriting.config import ConfigError
from handwriting.train.loop import default_train_config

PRESETS = ("graves", "graves_1x900", "medium", "small", "tiny")


def get_config(preset: str = "graves", model_type: str = "synthesis") -> ml_collections.ConfigDict:
  if preset not in PRESETS:
    raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
  if model_type not in ("synthesis", "prediction"):
    raise ConfigError(f"model_type must be synthesis or prediction, not {model_type!r}")
  cfg = default_train_config()
  cfg.model_type = model_type  # "synthesis" (section 5, with the window) or "prediction" (4)
  cfg.data = ""  # prepared folder with strokes_<split>.npz (the CLI's --data)
  cfg.train_split = "train"
  cfg.eval_split = "valid"
  cfg.eval_max_lines = 0  # evaluate on the first N lines of eval_split only; 0 = all
  cfg.max_points = 2000  # lines with more pen points are skipped (and counted), never cut
  cfg.pad_multiple = 64  # batches are padded to a multiple of this many steps (few jit shapes)
  # Buckets also grow geometrically (<= 25 % padding): few compiled shapes however long the data.
  cfg.pad_growth = 1.25
  cfg.on_unknown = "drop"  # characters outside the training alphabet: "drop" (counted) or "error"

  cfg.model = ml_collections.ConfigDict()
  cfg.model.num_layers = 3  # hidden LSTM layers (Graves: 3 x 400, or 1 x 900 for Table 3)
  cfg.model.hidden_size = 400
  cfg.model.num_mixtures = 20  # M bivariate Gaussians in the output (Graves: 20)
  cfg.model.window_size = 10  # K Gaussians of the attention window (Graves: 10)
  cfg.model.peephole = True  # peephole LSTM (Graves 2013 eqs 7-11)
  cfg.model.lstm_clip = 10.0  # clip d loss / d gate pre-activations to [-10, 10]; 0 = off
  cfg.model.output_clip = 100.0  # clip d loss / d network outputs to [-100, 100]; 0 = off
  cfg.model.kappa_scale = 1.0  # divides exp(kappa_hat) (eq 51); Graves: 1

  # Graves 2013 eq 26: each line's NLL summed over its points, averaged over the batch's lines;
  # the derivative clips act per line (synthesis/loss.py). "point" divides by points instead.
  cfg.objective = "sequence"
  # Graves 2013 section 4: RMSProp, lr 1e-4, momentum 0.9 (train/optim.py defaults), on the
  # per-sequence objective: its gradients are large enough that eps 1e-4 inside the root is small.
  cfg.batch_size = 32
  cfg.num_steps = 50_000
  cfg.log_every = 50
  cfg.eval_every = 1000
  cfg.checkpoint_every = 500

  if preset == "graves_1x900":
    cfg.model.num_layers, cfg.model.hidden_size = 1, 900
  elif preset == "medium":
    # The largest network a 2-core CPU trains in hours (1.6 s a step at batch 16 on IAM-OnDB
    # lines, against 3.8 s for 3 x 400): the paper's depth, mixtures and window, 256 cells.
    cfg.model.hidden_size = 256
    cfg.batch_size = 16
    cfg.num_steps = 40_000
    cfg.eval_every, cfg.checkpoint_every, cfg.log_every = 500, 250, 25
    # The paper's objective (per sequence, derivative clipping per sequence) with Adam, which
    # reaches a given loss in far fewer steps than Graves' RMSProp at lr 1e-4. The global-norm
    # clip is a guard only: per-sequence gradients are ~700 x per-point ones on IAM-OnDB.
    cfg.optimizer.name = "adam"
    cfg.optimizer.learning_rate = 1e-3
    cfg.optimizer.warmup_steps = 200
    cfg.optimizer.grad_clip_norm = 5000.0
    cfg.model.kappa_scale = 10.0  # as for "small" below: the window starts at the data's pace
  elif preset in ("small", "tiny"):
    # Trains on a 2-core CPU in tens of minutes on the built-in synthetic handwriting.
    small = preset == "small"
    cfg.model.num_layers = 2 if small else 1
    cfg.model.hidden_size = 128 if small else 32
    cfg.model.num_mixtures = 10 if small else 3
    cfg.model.window_size = 5 if small else 2
    cfg.batch_size = 16 if small else 4
    cfg.num_steps = 4000 if small else 20
    cfg.eval_every = 500 if small else 10
    cfg.checkpoint_every = 250 if small else 10
    cfg.log_every = 25 if small else 5
    cfg.eval_max_lines = 64 if small else 8
    cfg.max_points = 1200
    cfg.optimizer.name = "adam"  # converges faster than RMSProp at this size on CPU
    cfg.optimizer.learning_rate = 2e-3 if small else 3e-3
    cfg.optimizer.grad_clip_norm = 10.0
    # Adam is invariant to a constant scale of the loss; the per-point mean keeps the global-norm
    # clip of 10 at the same strength whatever the data's line length (the shipped small writers
    # were trained so).
    cfg.objective = "point"
    # The window starts moving ~0.1 characters a step (exp(0) / 10), near the data's pace of
    # ~1/12 (synthetic) to ~1/25 (IAM-OnDB) characters per point; with Graves' 1 it starts an
    # order of magnitude too fast and a small model takes much longer to find the alignment.
    cfg.model.kappa_scale = 10.0
  return cfg
