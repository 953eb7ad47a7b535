"""Multi-host training (train/distributed.py): 2 CPU processes on this machine with a local
coordinator, each feeding its half of every batch, against 1 process with the whole batch."""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from handwriting import cli
from handwriting.data import synthetic
from handwriting.synthesis import inference
from handwriting.train.checkpoint import restore_model

STEPS = 3


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _train_args(data, workdir):
  return ["train", "synthesis", "--data", str(data), "--workdir", str(workdir), "--preset",
          "tiny", f"--config.num_steps={STEPS}", "--config.batch_size=4",
          "--config.max_points=300", "--config.pad_multiple=320", "--config.checkpoint_every=2",
          "--config.eval_split=",  # one batch shape, no evaluation: one compilation
          "--config.log_every=1"]


def _run_two(tmp_path, args):
  """The command as 2 processes with a local coordinator; their outputs."""
  port = _free_port()
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": os.environ.get("HANDWRITING_TEST_XLA_FLAGS", "")}
  logs = [tmp_path / f"process{i}.log" for i in range(2)]
  procs = []
  for i, log in enumerate(logs):
    with open(log, "w") as f:  # files, not pipes: a full pipe would stall a process
      procs.append(subprocess.Popen(
        [sys.executable, "-m", "handwriting.cli", *args, "--coordinator", f"127.0.0.1:{port}",
         "--num-processes", "2", "--process-id", str(i)], stdout=f, stderr=subprocess.STDOUT,
        env=env))
  codes = [p.wait(timeout=240) for p in procs]
  outs = [log.read_text() for log in logs]
  for code, out in zip(codes, outs):
    assert code == 0, out[-3000:]
  return outs


def _params(workdir):
  _, spec = inference.read_spec(workdir)
  model, meta = restore_model(workdir, spec)
  from flax import nnx
  return meta["step"], [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]


@pytest.mark.slow  # two training processes, twice: a minute of both cores (run with -m slow)
def test_two_processes_train_like_one_with_the_whole_batch(tmp_path):
  data = tmp_path / "data"
  synthetic.prepare(str(data), lines=24, seed=0, valid_fraction=0.2, test_fraction=0.1)
  one = tmp_path / "one"
  assert cli.main(_train_args(data, one)) == 0

  two = tmp_path / "two"
  outs = _run_two(tmp_path, _train_args(data, two))
  # Progress and the metrics log come from process 0 only; the checkpoint is written once.
  assert "trained synthesis to step 3" in outs[0]
  assert "step 3/3" in outs[0] and "step 3/3" not in outs[1]
  rows = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows if r["split"] == "train"] == [1, 2, 3]

  step_one, params_one = _params(one)
  step_two, params_two = _params(two)
  assert step_one == step_two == STEPS
  for a, b in zip(params_one, params_two):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
  losses = [r["loss"] for r in rows if r["split"] == "train"]
  assert len(set(losses)) == 3  # the steps did train

  # Resume on both hosts: 2 more steps from the shared checkpoint.
  more = [a.replace(f"num_steps={STEPS}", "num_steps=5") for a in _train_args(data, two)]
  outs = _run_two(tmp_path, more)
  assert "resuming synthesis" in outs[0] and "step 5/5" in outs[0]
  assert _params(two)[0] == 5
