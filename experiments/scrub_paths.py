"""Removes the training machine's absolute paths from a workdir copied into handwriting/models.

  cp -r runs/NAME/best handwriting/models/NAME
  python experiments/scrub_paths.py handwriting/models/NAME   # no folder: every shipped model

A trained workdir names its machine's folders in two kinds of files, both rewritten here:
- checkpoints/<step>/meta/metadata (and _CHECKPOINT_METADATA), JSON: every string that is an
  absolute path (`config.data`, `config.init_from`) becomes its folder's name ("iam-ondb";
  a run's best/ keeps its run: "rec-scan-a/best"), and a `paths_note` says which keys were
  rewritten. A shipped model's `data` is then a name, not a folder: `--data` gives the folder.
- every commit_success.txt: Orbax only checks that it exists; its line now names its folder
  relative to the workdir.
Any other text file that still holds an absolute path (a README, a metrics line) is listed and
the exit status is 1: rewrite those by hand. `--check` lists without changing anything.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

MODELS_DIR = Path(__file__).resolve().parents[1] / "handwriting" / "models"
# An absolute path inside a text (the test, tests/test_shipped_paths.py, has its own copy).
ABSOLUTE = re.compile(r"(?<![\w.~-])/(?:work|home|tmp|root|Users)/")
COMMIT_FILE = "commit_success.txt"
COMMIT_LINE = "Checkpoint commit was successful to {}"  # Orbax's own wording
MAX_TEXT_BYTES = 1 << 20  # larger files are array data, not text
# Folder names that say nothing alone: the folder above them is kept too.
ANONYMOUS = {"best", "checkpoints", "meta", "model"}
NOTE = ("absolute paths of the training machine replaced by folder names; "
        "give a shipped model's data folder with --data")
NOT_IN_PATHS = set('"\n\t?*<>|')  # e.g. an alphabet "/0123...?" is no path


def is_absolute(value: str) -> bool:
  return len(value) > 1 and not NOT_IN_PATHS & set(value) and (
    PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute())


def neutral(path: str) -> str:
  """The folder's name, with the folders above it while the name alone is anonymous
  ("/path/to/runs/a/best" -> "a/best", "/path/to/prepared/iam-ondb/" -> "iam-ondb")."""
  parts = (PureWindowsPath if "\\" in path else PurePosixPath)(path).parts[1:]
  keep = 1
  while keep < len(parts) and (parts[-keep] in ANONYMOUS or parts[-keep].isdigit()):
    keep += 1
  return "/".join(parts[-keep:]) if parts else ""


def scrub_tree(tree: Any, where: str = "") -> tuple[Any, list[str]]:
  """`tree` (parsed JSON) with every absolute-path string made neutral, and their key paths."""
  if isinstance(tree, dict):
    out, changed = {}, []
    for key, value in tree.items():
      out[key], more = scrub_tree(value, f"{where}.{key}" if where else str(key))
      changed += more
    return out, changed
  if isinstance(tree, list):
    pairs = [scrub_tree(v, f"{where}[{i}]") for i, v in enumerate(tree)]
    return [v for v, _ in pairs], [k for _, more in pairs for k in more]
  if isinstance(tree, str) and is_absolute(tree):
    return neutral(tree), [where]
  return tree, []


def _scrub_json(path: Path) -> str | None:
  """The file's new text, or None when it holds no absolute path."""
  meta, changed = scrub_tree(json.loads(path.read_text("utf-8")))
  if not changed:
    return None
  if path.name == "metadata":  # our checkpoint meta: say what was rewritten
    note = meta.get("paths_note", {})
    meta["paths_note"] = {"note": NOTE,
                          "scrubbed": sorted(set(note.get("scrubbed", [])) | set(changed))}
  return json.dumps(meta)  # as Orbax's JsonCheckpointHandler writes it


def _new_text(path: Path, workdir: Path) -> str | None:
  """What `path` should hold instead (None: leave it)."""
  if path.name == COMMIT_FILE:
    text = COMMIT_LINE.format(path.parent.relative_to(workdir).as_posix())
    return text if path.read_text("utf-8") != text else None
  if path.name == "_CHECKPOINT_METADATA" or (path.name, path.parent.name) == ("metadata", "meta"):
    return _scrub_json(path)  # Orbax's step metadata; our meta (the JSON item "meta")
  return None


def _text(path: Path) -> str | None:
  if path.stat().st_size > MAX_TEXT_BYTES:
    return None
  try:
    return path.read_bytes().decode("utf-8")
  except UnicodeDecodeError:
    return None


def scrub(workdir: Path, check: bool = False) -> tuple[list[Path], list[Path]]:
  """Rewrites (unless `check`) the files of `workdir` that name absolute paths; returns the
  files rewritten (or to rewrite) and the text files still holding one."""
  rewritten, left = [], []
  for path in sorted(p for p in workdir.rglob("*") if p.is_file()):
    new = _new_text(path, workdir)
    if new is not None:
      rewritten.append(path)
      if not check:
        path.write_text(new, "utf-8")
    if ABSOLUTE.search(new if new is not None else _text(path) or ""):
      left.append(path)  # e.g. a path inside a longer string, or in a README
  return rewritten, left


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("workdirs", nargs="*", type=Path,
                      help="copied workdirs (default: every model in handwriting/models)")
  parser.add_argument("--check", action="store_true", help="list only, change nothing")
  args = parser.parse_args(argv)
  workdirs = args.workdirs or sorted(p for p in MODELS_DIR.iterdir() if p.is_dir())
  status = 0
  for workdir in workdirs:
    rewritten, left = scrub(workdir, args.check)
    for path in rewritten:
      print(f"{'to rewrite' if args.check else 'rewritten'}: {path}")
      status = 1 if args.check else status
    for path in left:
      print(f"still holds an absolute path (rewrite it by hand): {path}")
      status = 1
  return status


if __name__ == "__main__":
  sys.exit(main())
