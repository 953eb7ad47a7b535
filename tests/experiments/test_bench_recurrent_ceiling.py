"""experiments/bench_recurrent_ceiling.py runs at its smoke size and reports every row as a
fraction of the matmul peak on its last line."""

import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))
import bench_recurrent_ceiling  # experiments/ is not a package: imported from its folder


@pytest.mark.slow  # a benchmark's smoke run (about 13 s): `-m slow`
def test_quick_run_reports_each_fraction(monkeypatch, capsys):
  monkeypatch.setattr(sys, "argv", ["bench_recurrent_ceiling.py", "--quick", "--repeats", "1"])
  bench_recurrent_ceiling.main()
  last = capsys.readouterr().out.strip().splitlines()[-1]
  kv = dict(pair.split("=") for pair in last.split())
  assert float(kv["matmul_flops_s"]) > 0
  for row in ("projection", "recurrent", "gates", "sweep", "sweep_grad"):
    assert 0.0 < float(kv[f"{row}_fraction"]) < 5.0, (row, kv)
