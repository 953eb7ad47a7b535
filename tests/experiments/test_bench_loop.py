"""experiments/bench_loop.py reads the loop's own speed from its metrics log: the training time of
each log window is its steps over its steps/s, evaluation lines do not count."""

import json
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))
import bench_loop  # experiments/ is not a package: imported from its folder


def test_loop_seconds_sums_each_window(tmp_path):
  lines = [{"step": 25, "split": "train", "steps_per_sec": 0.5, "loss": 1.0},
           {"step": 50, "split": "train", "steps_per_sec": 1.0, "loss": 1.0},
           {"step": 50, "split": "eval", "loss": 1.0},
           {"step": 60, "split": "train", "steps_per_sec": 2.0, "loss": 1.0}]  # a short last one
  path = tmp_path / "metrics.jsonl"
  path.write_text("".join(json.dumps(e) + "\n" for e in lines))
  steps, seconds = bench_loop.loop_seconds(str(path))
  assert steps == 60
  assert seconds == pytest.approx(25 / 0.5 + 25 / 1.0 + 10 / 2.0)  # 80 s by hand
