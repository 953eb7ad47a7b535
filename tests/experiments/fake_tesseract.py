"""A stand-in `tesseract` for the tests of the Tesseract experiments: a shell script that answers
like the real binary, so the tests need neither tesseract nor real images."""

import stat
from pathlib import Path


def install(tmp_path: Path, script: str) -> Path:
  """Writes `script` as an executable `tmp_path/bin/tesseract` and returns its path."""
  exe = tmp_path / "bin" / "tesseract"
  exe.parent.mkdir()
  exe.write_text(script)
  exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
  return exe
