"""Data parallelism: batch split along axis 0, state replicated, same numbers on 1 and 4 devices."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from handwriting.train import sharding

REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: the host-device count must be set before jax is imported.
FOUR_DEVICES = r"""
import sys
sys.path.insert(0, sys.argv[1])
import jax
import numpy as np
from flax import nnx
from handwriting.train import sharding
from handwriting.train.loop import train_and_evaluate
from handwriting.train.metrics import read_metrics
from toy_task import ToyTask, toy_config

assert jax.device_count() == 4, jax.devices()
task = ToyTask()
cfg = toy_config(num_steps=2, log_every=1, eval_every=2, checkpoint_every=0)
one_device = sharding.make_mesh(jax.devices()[:1])
one = train_and_evaluate(cfg, sys.argv[2] + "/one", task, mesh=one_device)
four = train_and_evaluate(cfg, sys.argv[2] + "/four", task)
for a, b in zip(jax.tree.leaves(nnx.state(one.model, nnx.Param)),
                jax.tree.leaves(nnx.state(four.model, nnx.Param))):
  assert len(b.sharding.device_set) == 4 and b.sharding.is_fully_replicated, b.sharding
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
for split in ("train", "eval"):
  for x, y in zip(read_metrics(sys.argv[2] + "/one/metrics.jsonl", split),
                  read_metrics(sys.argv[2] + "/four/metrics.jsonl", split)):
    np.testing.assert_allclose(x["loss"], y["loss"], rtol=1e-5)
assert one.eval and np.allclose(one.eval["mse"], four.eval["mse"], rtol=1e-5)
cfg.batch_size = 6
try:
  train_and_evaluate(cfg, sys.argv[2] + "/six", task)
  raise AssertionError("batch 6 on 4 devices was accepted")
except ValueError as e:
  assert "batch_size 6 is not divisible by the 4 devices" in str(e), e
print("FOUR DEVICES OK")
"""


def test_four_devices_match_one_device(tmp_path):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4 "
             + os.environ.get("HANDWRITING_TEST_XLA_FLAGS", ""),
             JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
  proc = subprocess.run([sys.executable, "-c", FOUR_DEVICES, str(Path(__file__).parent),
                         str(tmp_path)], env=env, cwd=REPO, capture_output=True, text=True,
                        check=False, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "FOUR DEVICES OK" in proc.stdout


def test_batch_is_split_along_axis_0_and_state_replicated():
  mesh = sharding.make_mesh()
  assert mesh.axis_names == ("data",) and mesh.size == jax.device_count()
  batch = sharding.shard_batch({"x": np.ones((4, 3), np.float32), "m": np.ones(4)}, mesh)
  assert batch["x"].sharding == sharding.batch_sharding(mesh)
  assert batch["x"].sharding.spec == jax.sharding.PartitionSpec("data")
  state = sharding.replicate({"w": np.zeros(3)}, mesh)
  assert state["w"].sharding.is_fully_replicated


def test_bad_batches_are_clear_errors():
  mesh = sharding.make_mesh()
  with pytest.raises(ValueError, match="same batch size on axis 0"):
    sharding.shard_batch({"x": np.ones((4, 3)), "y": np.ones(5)}, mesh)
  with pytest.raises(ValueError, match="same batch size on axis 0"):
    sharding.shard_batch({"x": np.ones((4, 3)), "t": np.float32(1.0)}, mesh)


def test_batch_size_must_divide_over_devices():
  class FakeMesh:  # only .size is read; a real 3-device mesh needs 3 devices
    size = 3
  sharding.check_batch_size(6, FakeMesh())
  with pytest.raises(ValueError, match=r"batch_size 8 is not divisible by the 3 devices.*"
                     r"--config.batch_size=6"):
    sharding.check_batch_size(8, FakeMesh())
