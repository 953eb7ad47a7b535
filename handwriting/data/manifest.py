"""Image manifests: a `manifest.tsv` naming line images and their transcriptions.

A manifest lets a reader be measured on a folder of scans that is not in a prepared store (for
example a handful of real scanned lines). Each row is `image<TAB>transcription`; further columns
(source, writer, ...) are ignored, as are blank lines and lines starting with `#`. Image paths
are relative to the manifest's folder (absolute ones are kept), so the folder can move.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from handwriting.data.report import DataError, SkipReport, read_bytes


@dataclasses.dataclass(frozen=True)
class ManifestRow:
  """One usable row of a manifest."""

  image: Path  # resolved against the manifest's folder
  text: str  # the transcription as written in the manifest (surrounding whitespace stripped)
  line: int  # 1-based line number in the manifest, to point a user at the row


def _parse(row: str, folder: Path, line: int) -> ManifestRow:
  """One non-comment row -> ManifestRow; ValueError(reason) when it cannot be used."""
  if "\t" not in row:
    raise ValueError("no tab: expected image<TAB>transcription")
  image, text = (field.strip() for field in row.split("\t")[:2])
  if not image:
    raise ValueError("empty image field")
  if not text:
    raise ValueError("empty transcription")
  return ManifestRow((folder / image).resolve(), text, line)


def read_manifest(path: str | os.PathLike[str]) -> tuple[list[ManifestRow], SkipReport]:
  """The usable rows of a manifest, and a report naming each unusable one (`manifest.tsv:LINE`).

  A bad row costs that row only. Raises DataError when the file is missing, unreadable or not
  UTF-8 text: then no row can be trusted.
  """
  path = Path(path)
  raw = read_bytes(path)
  try:
    content = raw.decode("utf-8-sig")  # a byte-order mark from a spreadsheet export is fine
  except UnicodeDecodeError as e:
    raise DataError(path, f"not UTF-8 text: {e.reason} at byte {e.start}") from None
  folder = path.parent
  rows: list[ManifestRow] = []
  report = SkipReport()
  # Split on newlines only: str.splitlines would also split on U+2028 and friends inside a text
  # and the line numbers would no longer match an editor's.
  for line, row in enumerate(content.split("\n"), start=1):
    row = row.removesuffix("\r")
    if not row.strip() or row.lstrip().startswith("#"):
      continue
    try:
      rows.append(_parse(row, folder, line))
    except ValueError as e:
      report.skip(f"{path.name}:{line}", str(e))
  return rows, report
