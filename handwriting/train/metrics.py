"""Metric bookkeeping: (total, count) pairs, host-side averaging, and the metrics.jsonl log.

Every metric travels as a pair (total, count) so that averages over batches of different sizes
are right: the reported value is sum(total) / sum(count) (see `handwriting.train.task`).

`metrics.jsonl` holds one JSON object per line and per logged event:
  {"step": 100, "split": "train", "time": 1718000000.5, "loss": 1.23, "grad_norm": 4.5, ...}
`step` counts completed parameter updates (the first train entry is step 1; an eval entry at step
k evaluates the parameters after k updates), `split` is "train" or "eval", `time` is the Unix wall
time; the rest are the metric values. Read it with `read_metrics` (or pandas.read_json(...,
lines=True)) to plot a training curve.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping

import jax
import jax.numpy as jnp

from handwriting.train.task import Metrics

SumCount = tuple[jax.Array, jax.Array]
RESERVED = ("step", "split", "time")  # keys of a log entry that are not metrics


def as_sums(metrics: Metrics) -> dict[str, SumCount]:
  """Turns every metric into a float32 (total, count) pair; a plain scalar counts once. Jittable."""
  out = {}
  for name, value in metrics.items():
    if name in RESERVED:
      raise ValueError(f"metric name {name!r} is reserved for the log entry itself")
    if isinstance(value, tuple):
      total, count = value
    else:
      total, count = value, 1.0
    out[name] = (jnp.asarray(total, jnp.float32).reshape(()),
                 jnp.asarray(count, jnp.float32).reshape(()))
  return out


class Averager:
  """Accumulates (total, count) pairs on the host, in float64, and reports their ratios."""

  def __init__(self) -> None:
    self.totals: dict[str, list[float]] = {}

  def add(self, sums: Mapping[str, SumCount]) -> None:
    for name, (total, count) in jax.device_get(dict(sums)).items():
      acc = self.totals.setdefault(name, [0.0, 0.0])
      acc[0] += float(total)
      acc[1] += float(count)

  def result(self) -> dict[str, float]:
    return {name: (t / c if c else math.nan) for name, (t, c) in self.totals.items()}


def host_values(sums: Mapping[str, SumCount]) -> dict[str, float]:
  """total / count of one step's metrics, as Python floats."""
  averager = Averager()
  averager.add(sums)
  return averager.result()


class MetricsLog:
  """Appends entries to `path` (flushed per line, so a killed run keeps what it logged)."""

  def __init__(self, path: str | os.PathLike[str], enabled: bool = True):
    self.path = os.fspath(path)
    self.enabled = enabled  # False on the non-primary processes of a multi-host run

  def write(self, step: int, split: str, values: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    entry = {"step": int(step), "split": split, "time": time.time()}
    entry.update({k: float(v) for k, v in values.items()})
    with open(self.path, "a", encoding="utf-8") as f:
      f.write(json.dumps(entry) + "\n")

  def truncate_after(self, step: int) -> None:
    """Drops entries past `step` (and a torn last line), so a resumed run logs no step twice."""
    if not self.enabled or not os.path.exists(self.path):
      return
    kept = [e for e in read_metrics(self.path) if e["step"] <= step]
    tmp = self.path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
      f.writelines(json.dumps(e) + "\n" for e in kept)
    os.replace(tmp, self.path)  # atomic: a kill here leaves the old or the new file, whole


def read_metrics(path: str | os.PathLike[str], split: str | None = None) -> list[dict]:
  """The entries of a metrics.jsonl file (optionally of one split); skips a torn last line."""
  entries = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      try:
        entry = json.loads(line)
      except json.JSONDecodeError:
        continue  # a line cut short by a kill mid-write
      if split is None or entry.get("split") == split:
        entries.append(entry)
  return entries
