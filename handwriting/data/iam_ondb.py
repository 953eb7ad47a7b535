"""IAM-OnDB reader (Liwicki & Bunke 2005), the data of Graves 2013 §4, and `prepare iam-ondb`.

Official layout, as .tar.gz archives (read as a stream, never unpacked) or unpacked folders:

  lineStrokes/a01/a01-020/a01-020x-01.xml   one text line: <WhiteboardCaptureSession> ...
      <StrokeSet><Stroke ...><Point x="458" y="1661" time="491.81"/> ...  (ISO-8859-1)
  ascii/a01/a01-020/a01-020x.txt            the form's text: free text, `OCR:`, then `CSR:`

The form id is the xml name without `-NN.xml` (`a01-020x`, or `d04-081` for forms without a
writer letter); line NN of a form is transcribed by the NN-th non-empty line after `CSR:`. A form
whose number of xml files differs from its number of CSR lines cannot be paired reliably and is
skipped whole (the real data has one: a08-551z, 9 xml files and 8 CSR lines).

Every unusable item (corrupt xml, bad points, missing transcription, count mismatch, lines in no
split list) is recorded in a SkipReport with its reason; nothing is dropped silently.
"""

from __future__ import annotations

import math
import os
import re
import tarfile
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from handwriting.data import store
from handwriting.data.alphabet import Alphabet
from handwriting.data.report import DataError, SkipReport, count
from handwriting.data.splits import SplitAssignment, assign_splits, read_split_lists, train_split
from handwriting.data.strokes import (
  DEFAULT_MAX_OFFSET,
  DEFAULT_MAX_STEP,
  compute_stats,
  offsets_to_strokes,
  preprocess,
  validate_strokes,
)

LINE_NAME = re.compile(r"^(?P<form>.+)-(?P<line>\d+)\.xml$")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class Line(NamedTuple):
  """One paired text line: raw strokes (y down, as recorded) and its CSR transcription."""

  line_id: str  # xml name without .xml, e.g. a01-020x-01
  form_id: str  # e.g. a01-020x
  strokes: list[np.ndarray]  # [N, 2] float32 per stroke
  text: str


def read_stroke_xml(data: bytes, name: str) -> list[np.ndarray]:
  """The strokes ([N, 2] float32 x, y per stroke) of one lineStrokes xml file.

  Raises DataError(name, reason) for corrupt or truncated XML, no or empty StrokeSet, a stroke
  without points, missing/non-numeric/NaN/absurd coordinates.
  """
  try:
    root = ET.fromstring(data)
  except ET.ParseError as e:
    raise DataError(name, f"corrupt XML: {e}") from None
  stroke_set = root.find(".//StrokeSet")
  if stroke_set is None:
    raise DataError(name, "no StrokeSet in the XML")
  # One flat list and one array per line: per-stroke numpy calls would dominate the read time.
  xy, counts = [], []
  for i, stroke in enumerate(stroke_set.iter("Stroke")):
    before = len(xy)
    # A missing attribute reads as "" (a conversion error below); None would silently become NaN.
    xy.extend((p.get("x", ""), p.get("y", "")) for p in stroke.iter("Point"))
    if len(xy) == before:
      raise DataError(name, f"stroke without points: stroke {i}")
    counts.append(len(xy) - before)
  if not counts:
    raise DataError(name, "empty StrokeSet")
  try:
    pts_Tx2 = np.array(xy, dtype=np.float32)
  except (TypeError, ValueError):
    raise DataError(name, "non-numeric coordinates: a point coordinate is missing or not a "
                          "number") from None
  return validate_strokes(np.split(pts_Tx2, np.cumsum(counts)[:-1]), name)


def read_csr_lines(text: str, name: str) -> list[str]:
  """The non-empty, stripped lines after the `CSR:` line; DataError if there is none or no text."""
  lines = text.replace("\r", "").split("\n")
  for i, line in enumerate(lines):
    if line.strip() == "CSR:":
      break
  else:
    raise DataError(name, "no CSR section")
  csr = [line.strip() for line in lines[i + 1:] if line.strip()]
  if not csr:
    raise DataError(name, "empty CSR section")
  return csr


def _iter_files(source: str | os.PathLike[str], top: str, suffix: str,
                report: SkipReport) -> Iterator[tuple[str, str, bytes]]:
  """(name for reports, base file name, bytes) of each `suffix` file of an archive or folder.

  `source` is a .tar.gz/.tgz/.tar (streamed) or a folder that is or contains `top`. A read error
  is recorded in `report`; a corrupt archive ends the stream there (what came before is kept).
  """
  path = Path(source)
  if path.is_dir():
    root = path / top if (path / top).is_dir() else path
    for folder, dirs, files in os.walk(root):
      dirs.sort()
      for f in sorted(files):
        if f.endswith(suffix):
          full = os.path.join(folder, f)
          try:
            data = Path(full).read_bytes()
          except OSError as e:
            report.skip(full, f"unreadable: {e.strerror}")
            continue
          yield full, f, data
  elif path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES):
    count = 0
    try:
      with tarfile.open(path, mode="r|*") as tar:
        for member in tar:
          if member.isfile() and member.name.endswith(suffix):
            data = tar.extractfile(member).read()
            count += 1
            yield f"{path}:{member.name}", os.path.basename(member.name), data
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
      report.skip(path, f"corrupt or truncated archive: stopped after {count} {suffix} files ({e})")
  else:
    raise DataError(path, f"not found: expected a {top} folder or a .tar.gz archive")


def _read_transcriptions(ascii_src: str | os.PathLike[str], report: SkipReport,
                         ) -> dict[str, tuple[str, list[str] | DataError]]:
  """form id -> (ascii file name, CSR lines or the DataError that made them unusable)."""
  texts = {}
  for name, base, data in _iter_files(ascii_src, "ascii", ".txt", report):
    form_id = base[:-len(".txt")]
    if form_id in texts:
      report.skip(name, f"duplicate transcription: {texts[form_id][0]} seen before")
      continue
    try:
      texts[form_id] = (name, read_csr_lines(data.decode("latin-1"), name))
    except DataError as e:
      texts[form_id] = (name, e)
  return texts


def _read_strokes(strokes_src: str | os.PathLike[str], report: SkipReport,
                  ) -> dict[str, dict[int, tuple[str, list[np.ndarray] | DataError]]]:
  """form id -> {line number: (line id, strokes or the DataError that made them unusable)}."""
  forms: dict[str, dict[int, tuple[str, list[np.ndarray] | DataError]]] = {}
  for name, base, data in _iter_files(strokes_src, "lineStrokes", ".xml", report):
    m = LINE_NAME.match(base)
    if m is None:
      report.skip(name, "unexpected file name: not <form>-<NN>.xml")
      continue
    lines = forms.setdefault(m["form"], {})
    number = int(m["line"])
    if number in lines:
      report.skip(name, f"duplicate line: {lines[number][0]} seen before")
      continue
    try:
      lines[number] = (base[:-len(".xml")], read_stroke_xml(data, name))
    except DataError as e:
      lines[number] = (base[:-len(".xml")], e)
  return forms


def iter_lines(strokes_src: str | os.PathLike[str], ascii_src: str | os.PathLike[str],
               report: SkipReport) -> Iterator[Line]:
  """Paired lines of IAM-OnDB, sorted by line id; every skip goes to `report`.

  Reads each archive or folder once. Skips (with reasons): corrupt/bad xml files, forms without
  a transcription file or with an unusable one, forms whose xml count differs from the CSR line
  count (or whose line numbers are not 1..n), and transcriptions without stroke files.
  """
  texts = _read_transcriptions(ascii_src, report)
  forms = _read_strokes(strokes_src, report)
  for form_id in sorted(forms):
    lines = forms[form_id]
    if form_id not in texts:
      report.skip(form_id, f"missing transcription: no ascii file {form_id}.txt "
                           f"({len(lines)} xml lines)")
      continue
    text_name, csr = texts[form_id]
    if isinstance(csr, DataError):
      report.skip(csr.path, f"{csr.reason}: {len(lines)} xml lines lost")
      continue
    if len(lines) != len(csr):
      report.skip(text_name, f"line count mismatch: {len(lines)} xml vs {len(csr)} CSR")
      continue
    if sorted(lines) != list(range(1, len(csr) + 1)):
      report.skip(text_name, f"line numbers not 1..{len(csr)}: {sorted(lines)}")
      continue
    for number in sorted(lines):
      line_id, strokes = lines[number]
      if isinstance(strokes, DataError):
        report.add(strokes)
      else:
        yield Line(line_id, form_id, strokes, csr[number - 1])
  for form_id in sorted(set(texts) - set(forms)):
    report.skip(texts[form_id][0], "no stroke files for this transcription")


def _report_unlisted(unlisted: list[str], form_of: dict[str, str], report: SkipReport) -> None:
  per_form: dict[str, int] = {}
  for line_id in unlisted:
    per_form[form_of[line_id]] = per_form.get(form_of[line_id], 0) + 1
  for form_id, n in per_form.items():
    report.skip(form_id, f"not in any split list: {n} lines")


def _render(ids: list[str], offsets: dict[str, np.ndarray], height: int, seed: int,
            report: SkipReport) -> tuple[list[np.ndarray], list[str]]:
  """Random renderings [height, W] of the lines `ids` (deterministic per seed and line); a line
  that cannot be drawn (e.g. far too wide) is skipped and reported."""
  from handwriting.data.render import RenderError, render_random
  images, kept = [], []
  for i in ids:
    rng = np.random.default_rng([seed, zlib.crc32(i.encode()), 2])
    try:
      images.append(render_random(offsets_to_strokes(offsets[i]), rng, height=height))
    except RenderError as e:
      report.skip(i, f"cannot render: {e}")
      continue
    kept.append(i)
  return images, kept


def prepare(strokes: str, ascii: str, splits: str | None, out: str, protocol: str = "graves",
            valid_fraction: float = 0.05, seed: int = 0, max_offset: float | None = None,
            max_step: float | None = DEFAULT_MAX_STEP, render_height: int = 0) -> dict[str, Any]:
  """`handwriting prepare iam-ondb`: archives or folders -> a prepared folder (data/store.py).

  Pairs lines (`iter_lines`), preprocesses them as Graves 2013 section 4 (`strokes.preprocess`:
  recording gaps longer than `max_step` filled, None: no filling; steps longer than `max_offset`
  removed, None: DEFAULT_MAX_OFFSET, math.inf: none removed), assigns splits (`splits.assign_splits`; `splits` None puts everything in train
  and carves valid), normalises with the train split's statistics and writes
  strokes_<split>.npz, meta.json and skipped.txt. With `render_height` > 0 every line is also
  drawn as a grey-scale image of that height with random pen width, blur, slant and scale
  (data/render.py), written as images_<split>.npz: IAM-OnDB as an offline data set. Prints counts
  and the skip report; returns a summary.
  """
  start = time.perf_counter()
  max_offset = DEFAULT_MAX_OFFSET if max_offset is None else float(max_offset)
  out_dir = Path(out)
  lists = read_split_lists(splits) if splits is not None else None
  print(f"prepare iam-ondb: {strokes} + {ascii} -> {out_dir}")
  report = SkipReport()
  offsets, texts, form_of = {}, {}, {}
  for line in iter_lines(strokes, ascii, report):
    try:
      offsets[line.line_id] = preprocess(line.strokes, max_step, max_offset, name=line.line_id)
    except DataError as e:
      report.add(e)
      continue
    texts[line.line_id] = line.text
    form_of[line.line_id] = line.form_id
  print(f"  paired {count(len(offsets), 'line')} of {count(len(set(form_of.values())), 'form')} "
        f"in {time.perf_counter() - start:.1f} s")

  assignment = assign_splits(list(offsets), form_of.__getitem__, lists, protocol,
                             valid_fraction, seed)
  _report_unlisted(assignment.unlisted, form_of, report)
  # Statistics and the alphabet are those of the training split, which a model trained on this
  # folder keeps; a folder of test lists alone (e.g. testset_v) has none and is read with a
  # model's. The strokes themselves are stored in IAM-OnDB units, not normalised.
  train = train_split(assignment.splits, required=False)
  stats_meta: dict[str, Any] = {}
  mean = std = None
  if train is not None:
    mean, std = compute_stats([offsets[i] for i in assignment.splits[train]])
    stats_meta = {"stroke_mean": mean.tolist(), "stroke_std": std.tolist(), "train_split": train}
  alphabet = Alphabet.from_texts(texts[i] for i in (
    assignment.splits[train] if train is not None else
    [i for ids in assignment.splits.values() for i in ids]))

  out_dir.mkdir(parents=True, exist_ok=True)
  for stale in [*out_dir.glob("strokes_*.npz"), *out_dir.glob("images_*.npz")]:
    stale.unlink()  # a previous run's splits must not outlive this run's meta.json
  counts = {}
  for name, ids in assignment.splits.items():
    if render_height:
      images, ids = _render(ids, offsets, render_height, seed, report)
    counts[name] = len(ids)
    if ids:
      store.save_ragged(store.strokes_path(out_dir, name), store.Ragged.from_items(
        [offsets[i] for i in ids], [texts[i] for i in ids], ids))
      if render_height:
        store.save_ragged(store.images_path(out_dir, name), store.Ragged.from_items(
          [img.T for img in images], [texts[i] for i in ids], ids,
          height=np.array(render_height)))
  if not any(counts.values()):
    raise DataError(out_dir, "no line is in any split: check --splits and --protocol")
  store.write_meta(out_dir, {
    "source": "iam-ondb", "alphabet": alphabet.chars, "strokes_units": "raw", **stats_meta,
    "splits": counts, "split_lists": assignment.lists_of, "protocol": protocol,
    "valid_carved": assignment.carved, "valid_fraction": valid_fraction, "seed": seed,
    "max_offset": None if math.isinf(max_offset) else max_offset, "max_step": max_step,
    **({"image_height": render_height} if render_height else {})})
  report.write(out_dir / "skipped.txt")
  _print_summary(assignment, counts, form_of, mean, std, alphabet)
  report.print(saved_to=str(out_dir / "skipped.txt"))
  seconds = time.perf_counter() - start
  print(f"  done in {seconds:.1f} s")
  return {"lines": sum(counts.values()), "splits": counts, "skipped": len(report),
          "skip_reasons": dict(report.reasons()), "unlisted": len(assignment.unlisted),
          "unmatched": {k: len(v) for k, v in assignment.unmatched.items()},
          "valid_carved": assignment.carved, "train_split": train,
          "stroke_mean": None if mean is None else mean.tolist(),
          "stroke_std": None if std is None else std.tolist(), "alphabet": alphabet.chars,
          "seconds": seconds}


def _print_summary(assignment: SplitAssignment, counts: dict[str, int], form_of: dict[str, str],
                   mean: np.ndarray | None, std: np.ndarray | None, alphabet: Alphabet) -> None:
  for name, ids in assignment.splits.items():
    how = " (carved by form from train)" if name == "valid" and assignment.carved else ""
    print(f"  {name}: {count(counts[name], 'line')}, "
          f"{count(len({form_of[i] for i in ids}), 'form')}{how}")
  if assignment.unlisted:
    print(f"  not in any split list: {len(assignment.unlisted)} lines (in skipped.txt)")
  for name, entries in assignment.unmatched.items():
    shown = ", ".join(entries[:5]) + (" ..." if len(entries) > 5 else "")
    print(f"  {name}: {len(entries)} entries name no paired line ({shown})")
  if assignment.ignored_lists:
    print(f"  lists not used by this protocol: {', '.join(assignment.ignored_lists)}")
  if mean is None or std is None:
    print(f"  no training split: strokes stored in IAM-OnDB units, to be normalised with a "
          f"model's statistics; alphabet of all lines {len(alphabet.chars)} chars")
    return
  print(f"  offsets mean {[round(float(v), 3) for v in mean]} "
        f"std {[round(float(v), 3) for v in std]} (train, raw units); "
        f"alphabet {len(alphabet.chars)} chars")
