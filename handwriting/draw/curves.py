"""Training curves from a run's metrics.jsonl (written by the shared loop)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from handwriting.data.report import DataError


def plot_curves(metrics_path: str | os.PathLike[str], path: str | os.PathLike[str],
                keys: Sequence[str] | None = None, title: str = "") -> list[str]:
  """One panel per metric: train values (thin) and evaluations (dots) against the step.
  Returns the metrics drawn; `keys` None draws every metric the evaluations report."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from handwriting.train.metrics import RESERVED, read_metrics
  if not os.path.exists(metrics_path):
    raise DataError(metrics_path, "no metrics file: train a model in this workdir first")
  entries = read_metrics(metrics_path)
  train = [e for e in entries if e["split"] == "train"]
  evals = [e for e in entries if e["split"] == "eval"]
  if not entries:
    raise DataError(metrics_path, "no metrics logged yet")
  if keys is None:
    source = evals or train
    keys = [k for k in source[-1] if k not in RESERVED and k != "steps_per_sec"]
    # A run with a moving average also evaluates the optimizer's own parameters (<key>_raw):
    # drawn in the panel of <key>, not in one of their own.
    keys = [k for k in keys if not (k.endswith("_raw") and k[:-4] in keys)]
  fig, axes = plt.subplots(len(keys), 1, figsize=(8, 2.6 * len(keys)), sharex=True,
                           squeeze=False)
  for ax, key in zip(axes[:, 0], keys):
    for rows, name, style, label in ((train, key, "-", "train"), (evals, key, "o-", "eval"),
                                     (evals, f"{key}_raw", "x--",
                                      "eval, optimizer's parameters")):
      pts = [(e["step"], e[name]) for e in rows if name in e]
      if pts:
        ax.plot(*zip(*pts), style, lw=1, ms=3, label=label)
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
  axes[-1, 0].set_xlabel("step")
  if title:
    axes[0, 0].set_title(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return list(keys)
