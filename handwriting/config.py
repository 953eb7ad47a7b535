"""Command-line overrides for the one config system (ml_collections.ConfigDict), and checks.

`apply_overrides(cfg, ["--config.optimizer.learning_rate=3e-4", "--config.batch_size", "16"])`
sets fields in place. A value is parsed to the type of the field it replaces, so a typo in a
name or a value of the wrong type is a clear error before anything runs; `validate` (run by
`apply_overrides` and by the training loop) catches values out of range the same way.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Sequence

import ml_collections

PREFIX = "--config."


class ConfigError(ValueError):
  """An override names no field or carries a wrong value; the message names the field."""


# Numeric fields of the project's configs (train loop, optimizer, synthesis and recognition
# models), by dotted name, with what each needs. A tuple field has every element checked; a field
# a config lacks is skipped, so one table serves every model. Zero stays allowed where it means
# "off" or "only at the end" (see the fields' comments in the configs).
_RULES: tuple[tuple[str, Callable[[float], bool], tuple[str, ...]], ...] = (
  ("positive", lambda v: v > 0, (
    "batch_size", "num_steps", "optimizer.learning_rate", "optimizer.eps", "pad_multiple",
    "max_points", "max_width", "image_height", "model.num_layers", "model.hidden_size",
    "model.num_mixtures", "model.window_size", "model.kappa_scale", "model.hidden_sizes",
    "model.subsample_sizes", "model.input_block", "model.hidden_blocks", "model.subsample")),
  ("zero or more", lambda v: v >= 0, (
    "log_every", "eval_every", "checkpoint_every", "keep_checkpoints", "eval_max_lines",
    "optimizer.grad_clip_norm", "optimizer.warmup_steps", "optimizer.decay_steps",
    "model.feature_size", "model.lstm_clip", "model.output_clip", "weight_noise.init_std",
    "weight_noise.num_sequences")),
  ("at least 1", lambda v: v >= 1, ("pad_growth",)),
  ("in [0, 1)", lambda v: 0 <= v < 1, (
    "optimizer.momentum", "optimizer.decay", "model.dropout", "ema_decay")),
  ("in [0, 1]", lambda v: 0 <= v <= 1, ("optimizer.final_lr_fraction",)),
)
_MISSING = object()


def _lookup(cfg: ml_collections.ConfigDict, dotted: str) -> object:
  node: object = cfg
  for part in dotted.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return _MISSING
    node = node[part]
  return node


def _numbers(value: object) -> list[object]:
  """The scalars of a value, nested tuples and lists flattened (hidden_blocks is a pair of
  pairs)."""
  if isinstance(value, (tuple, list)):
    return [x for v in value for x in _numbers(v)]
  return [value]


def validate(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Raises ConfigError naming the first field of `cfg` whose value is out of range (a batch
  size of 0, a negative learning rate, ...) before anything is built from it; returns `cfg`."""
  for wanted, ok, names in _RULES:
    for name in names:
      value = _lookup(cfg, name)
      if value is _MISSING or value is None:
        continue
      if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                 and ok(v) for v in _numbers(value)):
        raise ConfigError(f"config.{name} must be {wanted}, got {value!r}")
  return cfg


def _parse(text: str, old: object, name: str) -> object:
  if isinstance(old, bool):
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
      return True
    if low in ("0", "false", "no", "off"):
      return False
    raise ConfigError(f"{name}: expected true/false, got {text!r}")
  try:
    if isinstance(old, int):
      return int(text)
    if isinstance(old, float):
      return float(text)
    if isinstance(old, str) or old is None:
      return text
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    raise ConfigError(f"{name}: cannot read {text!r} as {type(old).__name__}") from None
  if isinstance(old, (tuple, list)) and isinstance(value, (tuple, list)):
    return type(old)(value)
  if type(value) is not type(old):
    raise ConfigError(f"{name}: expected {type(old).__name__}, got {text!r}")
  return value


def set_field(cfg: ml_collections.ConfigDict, dotted: str, text: str) -> None:
  node = cfg
  parts = dotted.split(".")
  for i, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      where = ".".join(parts[:i]) or "config"
      known = ", ".join(sorted(node.keys())) if isinstance(node, ml_collections.ConfigDict) else ""
      raise ConfigError(f"unknown config field {dotted!r} ({where} has: {known})")
    if i < len(parts) - 1:
      node = node[part]
  node[parts[-1]] = _parse(text, node[parts[-1]], dotted)


def apply_overrides(cfg: ml_collections.ConfigDict, args: Sequence[str]
                    ) -> ml_collections.ConfigDict:
  """Applies `--config.a.b=v` (or `--config.a.b v`) arguments to `cfg` in place, then
  `validate`s the result; returns it."""
  args = list(args)
  i = 0
  while i < len(args):
    arg = args[i]
    if not arg.startswith(PREFIX):
      raise ConfigError(f"unexpected argument {arg!r} (config overrides look like --config.x=1)")
    if "=" in arg:
      key, text = arg[len(PREFIX):].split("=", 1)
    else:
      if i + 1 >= len(args):
        raise ConfigError(f"{arg} needs a value")
      key, text = arg[len(PREFIX):], args[i + 1]
      i += 1
    set_field(cfg, key, text)
    i += 1
  return validate(cfg)
