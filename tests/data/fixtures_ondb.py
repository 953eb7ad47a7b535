"""Writers of a tiny fake IAM-OnDB in the official layout (lineStrokes/ + ascii/), for tests."""

from __future__ import annotations

import dataclasses
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HEADER = """<?xml version="1.0" encoding="ISO-8859-1"?>
<WhiteboardCaptureSession>
  <WhiteboardDescription>
    <SensorLocation corner="top_left"/>
    <DiagonallyOppositeCoords x="6288" y="1992"/>
  </WhiteboardDescription>
  <StrokeSet>
"""


def stroke_xml(strokes: Sequence[Sequence[Sequence[object]]]) -> bytes:
  """An xml file in the lineStrokes format; coordinates are written as given (str())."""
  parts = [HEADER]
  t = 100.0
  for stroke in strokes:
    parts.append(f'    <Stroke colour="black" start_time="{t:.2f}" end_time="{t + 1:.2f}">\n')
    for x, y in stroke:
      parts.append(f'      <Point x="{x}" y="{y}" time="{t:.2f}"/>\n')
      t += 0.01
    parts.append("    </Stroke>\n")
  parts.append("  </StrokeSet>\n</WhiteboardCaptureSession>\n")
  return "".join(parts).encode("latin-1")


def ascii_text(csr: Sequence[str]) -> str:
  """A transcription file: free text, OCR: section, CSR: section (CRLF, blank lines, as IAM)."""
  body = ["Some free text about the form.", "", "OCR:", "", *csr, "", "CSR:", "", *csr, ""]
  return "\r\n".join(body)


def line_strokes(form_id: str, number: int) -> list[np.ndarray]:
  """Deterministic integer strokes of one line; point 0 is (100 * number, 1000 + form hash)."""
  rng = np.random.default_rng([number, sum(map(ord, form_id))])
  start = np.array([100 * number, 1000 + sum(map(ord, form_id)) % 97])
  strokes = []
  for _ in range(int(rng.integers(2, 5))):
    steps = rng.integers(-20, 21, size=(int(rng.integers(1, 6)), 2))
    steps[0] = 0 if not strokes else rng.integers(-200, 201, size=2)  # pen-up jump
    stroke = start + np.cumsum(steps, axis=0)
    strokes.append(stroke)
    start = stroke[-1]
  return strokes


@dataclasses.dataclass
class FakeForm:
  xml_lines: int  # number of xml files
  csr_lines: int | None = None  # None: same as xml_lines; 0: no ascii file
  corrupt: tuple[int, ...] = ()  # line numbers whose xml is truncated
  nan: tuple[int, ...] = ()  # line numbers with a NaN coordinate


def csr_line(form_id: str, number: int) -> str:
  return f"{form_id} line {number}: the quick fox"


def write_ondb(root: Path, forms: dict[str, FakeForm], orphans: Sequence[str] = ()) -> Path:
  """Writes root/lineStrokes/... and root/ascii/...; `orphans` get an ascii file only."""
  for form_id, f in forms.items():
    folder = f"{form_id[:3]}/{form_id[:7]}"
    xml_dir = root / "lineStrokes" / folder
    xml_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1, f.xml_lines + 1):
      strokes = [s.tolist() for s in line_strokes(form_id, n)]
      if n in f.nan:
        strokes[0][0][0] = "nan"
      data = stroke_xml(strokes)
      if n in f.corrupt:
        data = data[:len(data) // 2]
      (xml_dir / f"{form_id}-{n:02d}.xml").write_bytes(data)
    n_csr = f.xml_lines if f.csr_lines is None else f.csr_lines
    if n_csr:
      ascii_dir = root / "ascii" / folder
      ascii_dir.mkdir(parents=True, exist_ok=True)
      (ascii_dir / f"{form_id}.txt").write_bytes(
        ascii_text([csr_line(form_id, k) for k in range(1, n_csr + 1)]).encode("latin-1"))
  for form_id in orphans:
    ascii_dir = root / "ascii" / f"{form_id[:3]}/{form_id[:7]}"
    ascii_dir.mkdir(parents=True, exist_ok=True)
    (ascii_dir / f"{form_id}.txt").write_text(ascii_text([csr_line(form_id, 1)]))
  return root


def tar_folder(root: Path, top: str, archive: Path) -> Path:
  """root/top packed as archive (.tar.gz) with `top/...` member names, as the official archives."""
  with tarfile.open(archive, "w:gz") as tar:
    tar.add(root / top, arcname=top)
  return archive


def write_lists(folder: Path, lists: dict[str, Sequence[str]]) -> Path:
  folder.mkdir(parents=True, exist_ok=True)
  for name, entries in lists.items():
    (folder / f"{name}.txt").write_text("".join(e + "\n" for e in entries))
  return folder
