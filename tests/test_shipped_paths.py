"""No shipped file names the machine that made it: the shipped models (checkpoint meta, Orbax's
commit files, metrics, READMEs), README.md and experiments/RESULTS.md hold no absolute path, and
experiments/scrub_paths.py (run after copying a trained workdir into handwriting/models) makes a
workdir so without breaking its checkpoint."""

import json
import re
import sys
from pathlib import Path

import pytest

from handwriting import pretrained
from handwriting.train.checkpoint import read_checkpoint_meta

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
sys.path.insert(0, str(EXPERIMENTS))
import scrub_paths  # experiments/ is not a package: imported from its folder

# Home and scratch folders of Linux and macOS, and this project's own machine (/work/). Written
# here, not imported from scrub_paths, so that the test does not trust the code it checks.
ABSOLUTE = re.compile(r"(?<![\w.~-])/(?:work|home|tmp|root|Users)/")
MAX_TEXT_BYTES = 1 << 20  # larger files are array data (Orbax's ocdbt blobs), not text


def _text(path: Path) -> str | None:
  """The file's text, or None for a large or binary (non-UTF-8) file."""
  if path.stat().st_size > MAX_TEXT_BYTES:
    return None
  try:
    return path.read_bytes().decode("utf-8")
  except UnicodeDecodeError:
    return None


def _shipped_text_files() -> list[Path]:
  # The shipped models, and the unfinished runs kept for a later session to continue.
  folders = (pretrained.MODELS_DIR, EXPERIMENTS / "checkpoints")
  files = [p for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()]
  return files + [ROOT / "README.md", EXPERIMENTS / "RESULTS.md"]


def test_the_pattern_finds_absolute_paths_only():
  for held in ['"data": "/work/prepared/x"', "to /home/me/runs", "--work /tmp/a", "/root/x",
               "/Users/me/x", "(/work/shared)"]:
    assert ABSOLUTE.search(held), held
  for clean in ['"data": "iam-ondb"', "--data-root ../shared/data", "runs/tmp/x", "a/home/b",
                "~/work/x", "prepared/iam-ondb", "http://example.org/home/x"]:
    assert not ABSOLUTE.search(clean), clean


def test_no_shipped_text_file_holds_an_absolute_path():
  held = {}
  for path in _shipped_text_files():
    text = _text(path)
    match = ABSOLUTE.search(text) if text is not None else None
    if match:
      line = text[:match.start()].count("\n") + 1
      held[str(path.relative_to(ROOT))] = f"line {line}: {text[match.start():][:60]!r}"
  assert not held, ("absolute paths (run `python experiments/scrub_paths.py` on a shipped "
                    f"model; write commands relative to the repository root): {held}")


def test_every_text_file_of_a_shipped_model_is_read():
  # The walk above would pass vacuously if it read nothing: the meta and commit files are text.
  names = {p.name for p in _shipped_text_files() if _text(p) is not None}
  assert {"metadata", "commit_success.txt", "_CHECKPOINT_METADATA", "metrics.jsonl",
          "README.md", "RESULTS.md"} <= names


@pytest.mark.parametrize("name", pretrained.available())
def test_shipped_meta_reads_and_names_no_folder_of_the_machine(name):
  meta = read_checkpoint_meta(pretrained.MODELS_DIR / name)
  for key in ("data", "init_from"):
    value = meta["config"].get(key, "")
    assert not Path(value).is_absolute(), (key, value)


def _fake_workdir(root: Path) -> Path:
  """A copied workdir as Orbax and our training loop write it, with absolute paths."""
  step = root / "model" / "checkpoints" / "100"
  for folder in ("meta", "model"):
    (step / folder).mkdir(parents=True)
    (step / folder / "commit_success.txt").write_text(
      f"Checkpoint commit was successful to /work/runs/x/best/checkpoints/100.tmp/{folder}")
  (step / "commit_success.txt").write_text(
    "Checkpoint commit was successful to /work/runs/x/best/checkpoints/100")
  meta = {"format_version": 1, "task": "synthesis", "step": 100,
          "config": {"data": "/work/prepared/iam-ondb/", "init_from": "/home/me/runs/a/best",
                     "seed": 0, "optimizer": {"name": "adam"}},
          "task_meta": {"alphabet": " !\"#&'()+,-./0123"}}
  (step / "meta" / "metadata").write_text(json.dumps(meta))
  (step / "_CHECKPOINT_METADATA").write_text(json.dumps({"item_handlers": {}, "metrics": {}}))
  return root / "model"


def test_scrub_makes_a_workdir_clean_and_keeps_its_meta(tmp_path):
  workdir = _fake_workdir(tmp_path)
  assert scrub_paths.main([str(workdir), "--check"]) == 1  # --check reports, changes nothing
  assert "/work/prepared" in (workdir / "checkpoints/100/meta/metadata").read_text()
  assert scrub_paths.main([str(workdir)]) == 0
  for path in workdir.rglob("*"):
    if path.is_file():
      assert not ABSOLUTE.search(path.read_text()), path
  meta = json.loads((workdir / "checkpoints/100/meta/metadata").read_text())
  assert meta["config"]["data"] == "iam-ondb"  # the prepared folder's name
  assert meta["config"]["init_from"] == "a/best"  # a run's best/ keeps its run's name
  assert meta["config"]["seed"] == 0 and meta["task_meta"]["alphabet"] == " !\"#&'()+,-./0123"
  assert set(meta["paths_note"]["scrubbed"]) == {"config.data", "config.init_from"}
  assert (workdir / "checkpoints/100/meta/commit_success.txt").read_text() == (
    "Checkpoint commit was successful to checkpoints/100/meta")
  before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
  assert scrub_paths.main([str(workdir)]) == 0  # a second run changes nothing
  assert before == {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}


def test_scrub_reports_a_path_it_cannot_rewrite(tmp_path, capsys):
  workdir = _fake_workdir(tmp_path)
  (workdir / "README.md").write_text("made with --data /work/prepared/iam-ondb\n")
  assert scrub_paths.main([str(workdir)]) == 1  # the README is the author's to rewrite
  assert "README.md" in capsys.readouterr().out
