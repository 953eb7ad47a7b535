"""Command-line overrides for the one config system (ml_collections.ConfigDict).

`apply_overrides(cfg, ["--config.optimizer.learning_rate=3e-4", "--config.batch_size", "16"])`
sets fields in place. A value is parsed to the type of the field it replaces, so a typo in a
name or a value of the wrong type is a clear error before anything runs.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

import ml_collections

PREFIX = "--config."


class ConfigError(ValueError):
  """An override names no field or carries a value of the wrong type."""


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
  """Applies `--config.a.b=v` (or `--config.a.b v`) arguments to `cfg` in place; returns it."""
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
  return cfg
