"""Damaged checkpoints: resume and inference fall back to the newest intact step and name the bad
file; a workdir whose only step is damaged is a one-line CheckpointError naming it."""

import re
import shutil
from pathlib import Path

import pytest

from handwriting.train import checkpoint as ckpt
from handwriting.train.loop import train_and_evaluate
from handwriting.train.metrics import read_metrics

from .toy_task import shared_task, toy_config

# A damaged array file must fail in our synchronous check, not inside Orbax's asyncio reads,
# whose leftover TensorStore callbacks print "Event loop is closed" tracebacks later.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


def _config(num_steps: int = 4):
  return toy_config(num_steps=num_steps, eval_every=0, checkpoint_every=2)


@pytest.fixture(scope="module")
def intact(tmp_path_factory) -> Path:
  """Checkpoints of steps 2 and 4, and a best model (step 4: the only evaluation)."""
  workdir = tmp_path_factory.mktemp("intact")
  train_and_evaluate(_config(), str(workdir), shared_task())
  return workdir


def _truncate(path: Path) -> Path:
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])
  return path


def _empty(path: Path) -> Path:
  path.write_bytes(b"")
  return path


def _array_file(step_dir: Path) -> Path:
  """The model's array data (the OCDBT file that restoring reads), cut in half."""
  files = sorted((step_dir / "model" / "d").iterdir(), key=lambda p: p.stat().st_size)
  return _truncate(files[-1])


# The ways a committed step gets damaged after the fact; each returns the file it damaged.
DAMAGE = {
  "truncated array file": _array_file,
  "empty model/_METADATA": lambda d: _empty(d / "model" / "_METADATA"),
  "empty _CHECKPOINT_METADATA": lambda d: _empty(d / "_CHECKPOINT_METADATA"),
  "truncated meta JSON": lambda d: _truncate(d / "meta" / "metadata"),
}


def _damaged_copy(intact: Path, tmp_path: Path, how: str, drop_older: bool = False
                  ) -> tuple[Path, Path]:
  workdir = tmp_path / "run"
  shutil.copytree(intact, workdir)
  directory = ckpt.checkpoint_dir(workdir)
  if drop_older:
    shutil.rmtree(directory / "2")
  return workdir, DAMAGE[how](directory / "4")


@pytest.mark.parametrize("how", DAMAGE)
def test_resume_falls_back_to_the_newest_intact_step(intact, tmp_path, capsys, how):
  workdir, bad = _damaged_copy(intact, tmp_path, how)
  capsys.readouterr()
  result = train_and_evaluate(_config(num_steps=6), str(workdir), shared_task())
  out = capsys.readouterr().out
  assert re.search(rf"checkpoint step 4 is damaged: {re.escape(str(bad))} .*; using step 2 "
                   rf"instead \(moved to .*/checkpoints/4\.damaged\)", out), out
  assert f"resuming toy from {ckpt.checkpoint_dir(workdir)}/2 " in out
  assert result.step == 6
  # Steps 3 and 4 were trained again (logged once each) and step 4 saved afresh.
  assert [e["step"] for e in read_metrics(workdir / "metrics.jsonl", "train")] == list(range(1, 7))
  manager = ckpt.make_manager(workdir, read_only=True)
  assert manager.all_steps() == [4, 6]
  manager.close()
  assert (ckpt.checkpoint_dir(workdir) / "4.damaged").is_dir()


@pytest.mark.parametrize("how", DAMAGE)
def test_inference_falls_back_with_a_warning(intact, tmp_path, how):
  workdir, bad = _damaged_copy(intact, tmp_path, how)
  with pytest.warns(ckpt.CheckpointWarning, match=rf"step 4 is damaged: {re.escape(str(bad))} "
                    r".*; using step 2 instead"):
    _, meta = ckpt.restore_model(workdir, shared_task())
  assert meta["step"] == 2
  if how == "truncated array file":  # only restore_model reads the arrays
    assert ckpt.read_checkpoint_meta(workdir)["step"] == 4
  else:
    with pytest.warns(ckpt.CheckpointWarning, match=re.escape(str(bad))):
      assert ckpt.read_checkpoint_meta(workdir)["step"] == 2
  with pytest.raises(ckpt.DamagedCheckpointError, match=re.escape(str(bad))):
    ckpt.restore_model(workdir, shared_task(), step=4)  # a step asked for never falls back


@pytest.mark.parametrize("how", DAMAGE)
def test_a_single_damaged_step_is_a_one_line_error(intact, tmp_path, how):
  workdir, bad = _damaged_copy(intact, tmp_path, how, drop_older=True)
  with pytest.raises(ckpt.CheckpointError, match=rf"^checkpoint step 4 is damaged: "
                     rf"{re.escape(str(bad))} ") as inference:
    ckpt.restore_model(workdir, shared_task())
  with pytest.raises(ckpt.CheckpointError, match=rf"^cannot resume: checkpoint step 4 is "
                     rf"damaged: {re.escape(str(bad))} .*delete .* to train from scratch$"
                     ) as resume:
    train_and_evaluate(_config(num_steps=6), str(workdir), shared_task())
  for e in (inference, resume):
    short = str(e.value).replace(str(tmp_path), "TMP")  # the paths' length is the machine's
    assert "\n" not in short and len(short) < 300
  assert sorted(p.name for p in ckpt.checkpoint_dir(workdir).iterdir()) == ["4"]  # nothing moved


def test_a_damaged_best_model_is_replaced(intact, tmp_path, capsys):
  workdir = tmp_path / "run"
  shutil.copytree(intact, workdir)
  bad = _truncate(ckpt.checkpoint_dir(workdir / "best") / "4" / "meta" / "metadata")
  capsys.readouterr()
  train_and_evaluate(_config(num_steps=6), str(workdir), shared_task())
  assert f"checkpoint step 4 is damaged: {bad} " in capsys.readouterr().out
  _, meta = ckpt.restore_model(workdir / "best", shared_task())
  assert meta["step"] == 6
