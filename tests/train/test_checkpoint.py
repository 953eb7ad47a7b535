"""Checkpoints: typed PRNG keys, atomic saves, meta, restore_model and its clear errors."""

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from handwriting.train import checkpoint as ckpt
from handwriting.train.loop import train_and_evaluate

from .toy_task import ToyTask, shared_task, toy_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("trained")
  cfg = toy_config(num_steps=6, eval_every=0, checkpoint_every=3)
  return workdir, cfg, train_and_evaluate(cfg, str(workdir), shared_task())


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_typed_keys_are_saved_as_key_data_and_wrapped_back(tmp_path, impl):
  keys = jax.random.split(jax.random.key(7, impl=impl), 3)
  tree = {"keys": keys, "w": jnp.arange(4.0), "n": {"count": jnp.asarray(5, jnp.uint32)}}
  saveable = ckpt.to_saveable(tree)
  assert saveable["keys"].dtype == jnp.uint32
  assert saveable["keys"].shape == jax.random.key_data(keys).shape
  manager = ckpt.make_manager(tmp_path)
  ckpt.save(manager, 1, {"model": tree}, {"task": "toy"})
  manager.wait_until_finished()
  template = {"keys": jax.random.split(jax.random.key(0, impl=impl), 3), "w": jnp.zeros(4),
              "n": {"count": jnp.asarray(0, jnp.uint32)}}
  restored = ckpt.restore(manager, 1, {"model": template}, shared_task())["model"]
  manager.close()
  assert jax.random.key_impl(restored["keys"]) == jax.random.key_impl(keys)
  np.testing.assert_array_equal(jax.random.key_data(restored["keys"]), jax.random.key_data(keys))
  # A restored key draws the same numbers as the original.
  np.testing.assert_array_equal(jax.random.normal(restored["keys"][1], (3,)),
                                jax.random.normal(keys[1], (3,)))
  np.testing.assert_array_equal(restored["w"], tree["w"])
  assert int(restored["n"]["count"]) == 5


def test_save_is_atomic_and_half_written_steps_are_ignored(trained, tmp_path):
  """Orbax writes <step>.orbax-checkpoint-tmp* and renames it when complete: a directory left by
  a kill mid-save is not a checkpoint, and the next training run's manager removes it."""
  workdir = tmp_path / "run"
  shutil.copytree(trained[0], workdir)
  directory = ckpt.checkpoint_dir(workdir)
  assert sorted(p.name for p in directory.iterdir()) == ["3", "6"]
  assert (directory / "6" / "commit_success.txt").exists()
  torn = directory / "9.orbax-checkpoint-tmp-1234"
  (torn / "model").mkdir(parents=True)
  (torn / "model" / "garbage").write_text("half a checkpoint")
  before = sorted(str(p) for p in directory.rglob("*"))
  manager = ckpt.make_manager(workdir, read_only=True)
  assert manager.latest_step() == 6 and manager.all_steps() == [3, 6]
  manager.close()
  _, meta = ckpt.restore_model(workdir, shared_task())
  assert meta["step"] == 6
  assert sorted(str(p) for p in directory.rglob("*")) == before  # reading wrote nothing
  manager = ckpt.make_manager(workdir)
  manager.save(7, args=ocp.args.Composite(meta=ocp.args.JsonSave({"task": "toy"})))
  manager.wait_until_finished()
  assert not torn.exists() and manager.all_steps() == [3, 6, 7]
  manager.close()


def test_meta_names_task_step_data_position_and_config(trained):
  workdir, cfg, _ = trained
  manager = ckpt.make_manager(workdir, read_only=True)
  meta = ckpt.read_meta(manager, 3)
  manager.close()
  epoch, batch = shared_task().batcher.position(3)
  assert meta["task"] == "toy" and meta["step"] == 3
  assert meta["data_position"] == {"epoch": epoch, "batch": batch}
  assert meta["config"]["optimizer"]["name"] == "adam"
  assert meta["config"]["num_steps"] == cfg.num_steps
  assert meta["format_version"] == ckpt.FORMAT_VERSION


def test_restore_model_gives_the_trained_model_in_eval_mode(trained):
  workdir, _, result = trained
  model, meta = ckpt.restore_model(workdir, shared_task())
  assert meta["step"] == 6 and model.dropout.deterministic
  want, got = nnx.state(result.model, nnx.Param), nnx.state(model, nnx.Param)
  for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
    np.testing.assert_array_equal(a, b)
  older, meta3 = ckpt.restore_model(workdir, shared_task(), step=3)
  assert meta3["step"] == 3
  assert not np.array_equal(older.out.kernel[...], model.out.kernel[...])
  with pytest.raises(ckpt.CheckpointError, match=r"no checkpoint of step 4 .* \[3, 6\]"):
    ckpt.restore_model(workdir, shared_task(), step=4)


def test_workdir_without_checkpoints_is_a_clear_error(tmp_path):
  with pytest.raises(ckpt.CheckpointError, match="no checkpoint in .*: train a model there first"):
    ckpt.restore_model(tmp_path / "nothing", shared_task())
  (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
  with pytest.raises(ckpt.CheckpointError, match="no checkpoint in"):
    ckpt.restore_model(tmp_path / "empty", shared_task())


def test_checkpoint_of_another_task_is_refused(trained):
  workdir, cfg, _ = trained
  other = ToyTask(name="synthesis")
  with pytest.raises(ckpt.CheckpointError, match="task 'toy' .* not 'synthesis'"):
    ckpt.restore_model(workdir, other)
  with pytest.raises(ckpt.CheckpointError, match="task 'toy' .* not 'synthesis'"):
    train_and_evaluate(cfg, str(workdir), other)


def test_checkpoint_of_another_model_size_is_a_clear_error(trained, tmp_path):
  workdir, _, _ = trained

  class Wider(ToyTask):
    def init_model(self, rngs):
      model = super().init_model(rngs)
      model.out = nnx.Linear(8, 2, rngs=rngs)
      return model

  with pytest.raises(ckpt.CheckpointError, match="does not fit the 'toy' model"):
    ckpt.restore_model(workdir, Wider())


class _WithMeta(ToyTask):
  def checkpoint_meta(self):
    return {"alphabet": "ab c", "stroke_std": [1.5, 2.0]}


class _Spec:
  """What an inference command rebuilds from the meta alone: a name and init_model, no data."""
  name = "toy"

  def init_model(self, rngs):
    return shared_task().init_model(rngs)


def test_task_meta_is_saved_and_read_back_without_a_task(tmp_path):
  cfg = toy_config(num_steps=2, eval_every=0, checkpoint_every=0)
  result = train_and_evaluate(cfg, str(tmp_path), _WithMeta())
  meta = ckpt.read_checkpoint_meta(tmp_path)
  assert meta["task_meta"] == {"alphabet": "ab c", "stroke_std": [1.5, 2.0]}
  assert meta["task"] == "toy" and meta["step"] == 2
  model, _ = ckpt.restore_model(tmp_path, _Spec())
  np.testing.assert_array_equal(model.hidden.kernel[...], result.model.hidden.kernel[...])
  with pytest.raises(ckpt.CheckpointError, match="no checkpoint in"):
    ckpt.read_checkpoint_meta(tmp_path / "elsewhere")
