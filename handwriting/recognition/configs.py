"""Configs of the recognisers: the offline MDLSTM hierarchy (Graves & Schmidhuber 2009, RNNLIB's
Arabic config), an IAM-line variant, the online BLSTM reader, and small CPU presets.
`get_config(preset, model_type)`; the CLI overrides fields with --config.field=value.

Block sizes are (height, width) (see recognition/model.py for RNNLIB's order, x first).

Frame arithmetic of the "iam" preset (CTC needs >= 1 frame per label plus one per repeated
pair; we aim for ~2 per character). An IAM line image is about 2,000 x 120 px with ~45
characters, so at height 64 it is ~1,070 px wide, ~24 px per character. A total horizontal
reduction of 8 (input block width 2, hidden blocks 2 and 2) gives ~3 frames per character
(~130 frames for such a line); the longest lines (~90 characters) are also the widest (~1,900 px
at height 64 -> ~240 frames, 2.6 per character). Only unusually dense writing (< 16 px per
character) falls under 2 frames per character; the recognition task reports every line that
is infeasible for CTC (fewer frames than labels + repeats) by id when it loads the data.
The height reduction 4*4*4 = 64 leaves one row at the top level for 64-px lines.

The "small" preset reads the built-in synthetic lines (height 64, ~500 px, <= 40 characters,
~12 px per character): width reduction 2*2*1 = 4 gives ~125 frames, ~3 per character.
"""

from __future__ import annotations

import ml_collections

from handwriting.config import ConfigError
from handwriting.train.loop import default_train_config

MDLSTM_PRESETS = ("arabic", "iam", "medium", "small", "tiny")
ONLINE_PRESETS = ("graves", "small", "tiny")


def _mdlstm_model(preset: str) -> ml_collections.ConfigDict:
  m = ml_collections.ConfigDict()
  # RNNLIB arabic_offline: hiddenSize 2,10,50; inputBlock 3,4 and hiddenBlock 3,4;2,4 (x first).
  m.hidden_sizes = (2, 10, 50)  # cells per direction of each MDLSTM level (4 directions each)
  m.input_block = (4, 3)  # (height, width) pixels per input vector
  m.hidden_blocks = ((4, 3), (4, 2))  # (height, width) blocks after levels 1..L-1
  m.subsample_sizes = (6, 20)  # tanh units (no bias) after each hidden block (subsampleSize)
  m.combine = "concat"  # how the 4 directions join: "concat" (RNNLIB) or "sum"
  m.peephole = True  # peephole weights in every MDLSTM cell (RNNLIB's lstm)
  m.forget_bias = 0.0  # initial forget-gate bias (two forget gates per cell sum to gain ~1)
  m.lstm_clip = 0.0  # clip d loss / d gate pre-activations to [-x, x]; 0 = off (RNNLIB: off)
  m.output_clip = 0.0  # clip d loss / d logits to [-x, x]; 0 = off
  m.dropout = 0.0  # rate on the inputs of levels 2..L and of the output layer (training only)
  if preset == "iam":
    m.input_block = (4, 2)
    m.hidden_blocks = ((4, 2), (4, 2))  # reduction (64, 8): see the module docstring
  elif preset in ("medium", "small", "tiny"):
    # (cells per level, subsample units); medium, twice small's cells, reads real scans.
    m.hidden_sizes, m.subsample_sizes = {"medium": ((8, 24, 64), (16, 48)),
                                         "small": ((4, 12, 32), (8, 24)),
                                         "tiny": ((2, 4, 8), (4, 8))}[preset]
    if preset == "medium":
      # Scan-like renderings of 5,341 lines overfit the small reader (train 0.5, writer-
      # disjoint validation 1.1 nats per character); twice the cells need the regulariser.
      m.dropout = 0.2
    m.input_block = (4, 2)
    m.hidden_blocks = ((4, 2), (4, 1))  # reduction (64, 4)
    m.lstm_clip = 10.0  # cheap insurance for adam's larger early steps
    m.output_clip = 100.0
  return m


def _online_model(preset: str) -> ml_collections.ConfigDict:
  m = ml_collections.ConfigDict()
  # Graves et al. (2009, TPAMI) read IAM-OnDB with one BLSTM layer of 100 cells per direction
  # on 25 hand-made features; reading raw offsets instead, "graves" stacks three such layers.
  m.num_layers = 3  # stacked bidirectional LSTM layers
  m.hidden_size = 100  # cells per direction and layer
  m.subsample = 1  # pen points concatenated into one frame (IAM-OnDB: ~25 points per character)
  m.feature_size = 0  # tanh layer on the frames before the LSTMs; 0 = none
  m.peephole = True  # peephole LSTM (Graves 2013 eqs 7-11)
  m.forget_bias = 1.0  # initial forget-gate bias
  m.lstm_clip = 0.0  # clip d loss / d gate pre-activations to [-x, x]; 0 = off
  m.output_clip = 0.0  # clip d loss / d logits to [-x, x]; 0 = off
  if preset in ("small", "tiny"):
    small = preset == "small"
    m.num_layers = 2 if small else 1
    m.hidden_size = 64 if small else 8
    m.subsample = 3 if small else 4  # synthetic lines: ~12 points per character -> ~4 frames
    m.lstm_clip = 10.0
    m.output_clip = 100.0
  return m


def get_config(preset: str = "arabic", model_type: str = "mdlstm") -> ml_collections.ConfigDict:
  """Presets: model_type "mdlstm": arabic, iam, small, tiny; "online": graves, small, tiny."""
  presets = {"mdlstm": MDLSTM_PRESETS, "online": ONLINE_PRESETS}.get(model_type)
  if presets is None:
    raise ConfigError(f"model_type must be mdlstm or online, not {model_type!r}")
  if preset not in presets:
    raise ConfigError(f"unknown {model_type} preset {preset!r}; choose one of {', '.join(presets)}")
  cfg = default_train_config()
  cfg.model_type = model_type  # "mdlstm" (offline images) or "online" (pen strokes)
  cfg.input = "images" if model_type == "mdlstm" else "strokes"  # what the task reads
  cfg.data = ""  # prepared folder (images_<split>.npz or strokes_<split>.npz; the CLI's --data)
  cfg.train_split = "train"
  cfg.eval_split = "valid"
  cfg.eval_max_lines = 0  # evaluate on the first N lines of eval_split only; 0 = all
  cfg.image_height = 64  # normalised line height in pixels (images only)
  cfg.max_width = 4000  # images wider than this (pixels) are skipped and counted, never cut
  cfg.max_points = 3000  # stroke lines with more pen points are skipped and counted
  cfg.pad_multiple = 64  # batches are padded to a multiple of this width/length (few jit shapes)
  # Buckets also grow geometrically (<= 25 % padding): few compiled shapes however long the data.
  cfg.pad_growth = 1.25
  # Lines with characters outside the training alphabet: "drop" (skipped and counted), "error",
  # or "score": kept, the characters stay in the reference text and count as errors (what
  # `evaluate recognizer` uses, so a test set is scored whole).
  cfg.on_unknown = "drop"
  # Online reader: distort training lines (scale, aspect, slant, writing speed;
  # data/stroke_augment.py), new draws every step. Evaluation lines are never distorted.
  cfg.augment = False
  cfg.model = _mdlstm_model(preset) if model_type == "mdlstm" else _online_model(preset)

  # RNNLIB: SGD with momentum 0.9 and learning rate 1e-4, one sequence per update with the
  # summed (not averaged) loss. A batch of B averaged sequences takes a step ~B times smaller per
  # sequence, hence the larger rate with batches below.
  cfg.optimizer.name = "sgd"
  cfg.optimizer.learning_rate = 1e-4
  cfg.optimizer.momentum = 0.9
  cfg.batch_size = 1 if preset in ("arabic", "graves") else 16
  cfg.num_steps = 200_000
  cfg.log_every = 100
  cfg.eval_every = 5000
  cfg.checkpoint_every = 1000
  if preset == "iam":
    cfg.optimizer.learning_rate = 1e-3
    cfg.num_steps = 50_000
  elif preset in ("medium", "small", "tiny"):
    # Trains on a 2-core CPU in tens of minutes on the built-in synthetic lines.
    small = preset in ("medium", "small")
    cfg.batch_size = 8 if small else 2
    cfg.num_steps = 3000 if small else 5
    cfg.log_every = 25 if small else 1
    cfg.eval_every = 500 if small else 5
    cfg.checkpoint_every = 250 if small else 5
    cfg.eval_max_lines = 64 if small else 4
    cfg.max_width = 800
    cfg.max_points = 1200
    cfg.optimizer.name = "adam"  # SGD at 1e-4 needs far more updates than a CPU run can afford
    cfg.optimizer.learning_rate = 3e-3 if model_type == "mdlstm" else 2e-3
    cfg.optimizer.grad_clip_norm = 10.0
  return cfg
