"""IAM Handwriting Database (offline) lines: the `lines.txt` index, line images, `prepare iam`.

`lines.txt` rows (after `#` header lines), e.g.::

  a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|Gaitskell|from

are: line id, word segmentation result (ok / err), grey level to binarise the line, number of
components, bounding box x y w h in the form scan, and the transcription with `|` between words.
The transcription is field 9 onward: a token may hold a space (`M Ps`), so the fields are joined
with a space and each `|` becomes a space. `parse_row` keeps punctuation a separate token as IAM
gives it ("support , a"); `prepare` stores natural text ("support, a"; data/text.py). Line images
live at `lines/a01/a01-000u/a01-000u-00.png` (text-group prefix, form id = the first two dash
parts, line id).

Splits come from list files (LWRT's trainset.txt, validationset1.txt, ...; or form lists such as
Aachen's), whose entries are line ids or form ids (a form id stands for all its lines), or, with no
lists, from a deterministic carve by form (`carve_splits`). The recognition network of Graves &
Schmidhuber (2009) reads the height-normalised raw pixels written here (see data/images.py).

Dimension letters: H = image height (the normalised `height`), W = image width.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from handwriting.data import store
from handwriting.data.alphabet import Alphabet
from handwriting.data.images import line_input, load_image
from handwriting.data.report import DataError, SkipReport, read_bytes
from handwriting.data.splits import assign_splits, carve_by_group, read_split_lists, train_split
from handwriting.data.text import natural_text

MIN_FIELDS = 9  # id, ok/err, grey, components, x, y, w, h, transcription (1+ fields)
_NUMERIC_FIELDS = ("grey", "components", "x", "y", "w", "h")
# Without split lists, this fraction of the forms is carved out for test (see carve_splits). The
# carve keeps each form (one writer's page) on one side but is not writer-disjoint: lines.txt does
# not name the writer, and one writer may have written several forms. Use the official lists
# (LWRT) for writer-independent results.
DEFAULT_TEST_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class LineRecord:
  """One row of lines.txt."""

  id: str  # a01-000u-00
  form: str  # a01-000u
  ok: bool  # word segmentation result: True for "ok", False for "err"
  grey: int  # grey level IAM used to binarise the line
  components: int  # number of connected components
  bbox: tuple[int, int, int, int]  # x, y, w, h in the form scan
  text: str  # transcription as IAM tokenises it ("support , a"), single spaces between tokens


def id_parts(line_or_form_id: str) -> list[str] | None:
  """The dash-separated parts of an IAM id, or None unless 2 (form) or 3 (line) non-empty parts."""
  parts = line_or_form_id.split("-")
  if len(parts) not in (2, 3) or not all(parts):
    return None
  return parts


def parse_row(row: str) -> LineRecord:
  """One lines.txt row -> LineRecord; ValueError("category: detail") when it is malformed."""
  fields = row.split()
  if len(fields) < MIN_FIELDS:
    raise ValueError(f"too few fields: {len(fields)} (needs at least {MIN_FIELDS})")
  line_id, seg = fields[0], fields[1]
  parts = id_parts(line_id)
  if parts is None or len(parts) != 3:
    raise ValueError(f"bad line id: {line_id!r} (expected like a01-000u-00)")
  if seg not in ("ok", "err"):
    raise ValueError(f"bad segmentation field: {seg!r} (expected ok or err)")
  numbers = []
  for name, value in zip(_NUMERIC_FIELDS, fields[2:8]):
    try:
      numbers.append(int(value))
    except ValueError:
      raise ValueError(f"non-numeric field: {name} = {value!r}") from None
  # Join fields 9.. with a space (a token may hold one: `M Ps`), then `|` separates words;
  # empty tokens (`||`) are dropped so words are separated by exactly one space.
  words = [w for w in " ".join(fields[8:]).replace("|", " ").split(" ") if w]
  if not words:
    raise ValueError("empty transcription")
  grey, components, x, y, w, h = numbers
  return LineRecord(line_id, f"{parts[0]}-{parts[1]}", seg == "ok", grey, components,
                    (x, y, w, h), " ".join(words))


def parse_lines_txt(path: str | os.PathLike[str]) -> tuple[list[LineRecord], SkipReport]:
  """Reads lines.txt; a malformed row is skipped and reported as `path:lineno` with its reason.

  Raises DataError only when the file itself cannot be read.
  """
  path = Path(path)
  raw = read_bytes(path)
  records: list[LineRecord] = []
  report = SkipReport()
  first_seen: dict[str, int] = {}
  for lineno, line_bytes in enumerate(raw.splitlines(), start=1):
    where = f"{path}:{lineno}"
    try:
      row = line_bytes.decode("utf-8").strip()
    except UnicodeDecodeError as e:
      report.skip(where, f"not UTF-8: {e.reason} at byte {e.start}")
      continue
    if not row or row.startswith("#"):
      continue
    try:
      rec = parse_row(row)
    except ValueError as e:
      report.skip(where, str(e))
      continue
    if rec.id in first_seen:
      report.skip(where, f"duplicate id: {rec.id} (first at line {first_seen[rec.id]})")
      continue
    first_seen[rec.id] = lineno
    records.append(rec)
  return records, report


def image_path(images_dir: str | os.PathLike[str], line_id: str) -> Path:
  """Path of a line's PNG: `<images_dir>/lines/a01/a01-000u/a01-000u-00.png`.

  The official lines.tgz unpacks without the `lines/` level, so when `images_dir` has no `lines`
  folder the path is `<images_dir>/a01/a01-000u/a01-000u-00.png`.
  """
  parts = id_parts(line_id)
  if parts is None or len(parts) != 3:
    raise ValueError(f"bad line id: {line_id!r} (expected like a01-000u-00)")
  root = Path(images_dir)
  if (root / "lines").is_dir():
    root = root / "lines"
  return root / parts[0] / f"{parts[0]}-{parts[1]}" / f"{line_id}.png"


def split_lines(records: Sequence[LineRecord], lists: dict[str, list[str]], report: SkipReport,
                where: str = "split lists") -> tuple[dict[str, list[LineRecord]], int]:
  """(split name -> its lines in lines.txt order, number of lines in no list), one split per list.

  Entries are line ids or form ids (a form id stands for all its lines; a line's own id wins over
  its form's), matched by `splits.assign_splits`, which refuses an entry in two lists. An entry
  naming no line of the index is reported as `<where>/<list>.txt:<entry>`.
  """
  by_id = {r.id: r for r in records}
  assignment = assign_splits(list(by_id), lambda i: by_id[i].form, lists, protocol="official")
  for name, entries in assignment.unmatched.items():
    for entry in entries:
      report.skip(f"{where}/{name}.txt:{entry}", "not in lines.txt: no line or form with this id")
  out = {name: [by_id[i] for i in ids] for name, ids in assignment.splits.items()}
  return out, len(assignment.unlisted)


def carve_splits(records: Sequence[LineRecord], seed: int = 0, valid_fraction: float = 0.05,
                 test_fraction: float = DEFAULT_TEST_FRACTION) -> dict[str, list[LineRecord]]:
  """Train / valid / test by form, without split lists; deterministic in (forms, seed).

  `test_fraction` of the forms go to test, then `valid_fraction` of all forms (taken from the
  rest) to valid, the others to train (`splits.carve_by_group`: rounded counts, at least one form
  each when the fraction is > 0 and forms remain). All lines of a form land in one split.
  """
  if valid_fraction < 0 or test_fraction < 0 or valid_fraction + test_fraction >= 1:
    raise ValueError(f"need fractions >= 0 with valid + test < 1, got valid={valid_fraction} "
                     f"test={test_fraction}")
  by_id = {r.id: r for r in records}
  form_of = lambda i: by_id[i].form
  rest, test = carve_by_group(list(by_id), form_of, test_fraction, seed)
  train, valid = carve_by_group(rest, form_of, valid_fraction / (1 - test_fraction), seed)
  return {name: [by_id[i] for i in ids]
          for name, ids in (("train", train), ("valid", valid), ("test", test))}


def text_stats(texts: Sequence[str]) -> dict[str, float]:
  lengths = [len(t) for t in texts]
  return {"lines": len(texts), "chars": sum(lengths),
          "mean_len": round(float(np.mean(lengths)), 1) if lengths else 0.0,
          "max_len": max(lengths, default=0)}


IMAGE_NORM = "scan"  # how line images are normalised (recorded in meta.json, kept by readers)


def _load_split_images(records: Sequence[LineRecord], images: str, height: int, split: str,
                       report: SkipReport) -> tuple[list[np.ndarray], list[LineRecord]]:
  """Each line's image as ink-convention [W, height] (transposed: width is the ragged axis)."""
  items_WxH, kept = [], []
  for rec in tqdm(records, desc=f"{split} images", disable=None, file=sys.stderr):
    try:
      path = image_path(images, rec.id)
      # The one normalisation of scans (data/line_norm.py), as `read` applies it.
      img_HxW = line_input(load_image(path), height, IMAGE_NORM, path)
    except DataError as e:
      report.add(e)
      continue
    items_WxH.append(np.ascontiguousarray(img_HxW.T))
    kept.append(rec)
  return items_WxH, kept


def _split_records(records: list[LineRecord], splits: str | None, seed: int,
                   valid_fraction: float, report: SkipReport
                   ) -> tuple[dict[str, list[LineRecord]], int, str]:
  """(split name -> records, lines in no split, a description of where the splits came from)."""
  if splits is None:
    return (carve_splits(records, seed, valid_fraction), 0,
            f"carved by form (seed {seed}): test {DEFAULT_TEST_FRACTION:.0%}, valid "
            f"{valid_fraction:.0%} of the forms, train the rest")
  by_split, unassigned = split_lines(records, read_split_lists(splits), report, where=str(splits))
  return by_split, unassigned, f"from the lists in {splits}"


def prepare(lines_txt: str, images: str | None, splits: str | None, out: str, height: int = 64,
            drop_err: bool = False, seed: int = 0, valid_fraction: float = 0.05) -> dict[str, Any]:
  """`handwriting prepare iam`: index + images -> a prepared folder (format in data/store.py).

  Writes images_<split>.npz (ink-convention uint8 items [W, height], extra "height", each
  image normalised by `line_norm.normalize_line`, meta "image_norm": "scan"),
  texts_<split>.txt (one transcription per line, for a language model), meta.json and
  skipped.txt. Transcriptions are stored as natural text (`text.natural_text`: "support, a",
  not IAM's "support , a"), the text as written on the page, so a reader learns and is scored on
  that; meta.json says so ("text_form": "natural"). With `images` None only the index is read:
  texts, meta and statistics are written and no image files. Splits come from the list files in
  `splits` (one split per list, named by its file stem) or, with `splits` None, from
  `carve_splits(seed, valid_fraction)`. `drop_err` leaves out lines whose word segmentation
  failed (reported as "err segmentation"). The alphabet is that of the training split
  (`splits.train_split`), or of all splits when there is none.
  Returns a summary (split counts, skip count and reasons, alphabet, unassigned line count).
  """
  start = time.perf_counter()
  out_dir = Path(out)
  print(f"prepare iam: {lines_txt} -> {out_dir}")
  records, report = parse_lines_txt(lines_txt)
  records = [dataclasses.replace(r, text=natural_text(r.text)) for r in records]
  n_err = sum(not r.ok for r in records)
  print(f"  index: {len(records)} lines in {len({r.form for r in records})} forms "
        f"({len(records) - n_err} ok, {n_err} err)")
  by_split, unassigned, how = _split_records(records, splits, seed, valid_fraction, report)
  print(f"  splits {how}")
  if drop_err:
    by_split = _drop_err(by_split, report)
  out_dir.mkdir(parents=True, exist_ok=True)
  for stale in [*out_dir.glob("images_*.npz"), *out_dir.glob("texts_*.txt")]:
    stale.unlink()  # a previous run's splits must not outlive this run's meta.json
  if images is None:
    print("  NO IMAGES GIVEN: read the index only; writing texts_<split>.txt and no "
          "images_<split>.npz")
  else:
    print(f"  images: {images}, height {height}")
    by_split = _write_images(by_split, images, height, out_dir, report)
  texts = {split: [r.text for r in recs] for split, recs in by_split.items()}
  for split, lines in texts.items():
    (out_dir / f"texts_{split}.txt").write_text("".join(t + "\n" for t in lines), "utf-8")
  train, alphabet = _alphabet(texts)
  counts = {split: len(recs) for split, recs in by_split.items()}
  store.write_meta(out_dir, {
    "source": "iam", "text_form": "natural", "alphabet": alphabet.chars, "splits": counts,
    **({"image_norm": IMAGE_NORM} if images is not None else {}),
    "train_split": train, "drop_err": drop_err, "images": images is not None,
    "image_height": height if images is not None else None, "lines_txt": str(lines_txt),
    "split_source": how, "seed": seed, "valid_fraction": valid_fraction})
  report.write(out_dir / "skipped.txt")
  _print_summary(texts, train, alphabet, unassigned)
  report.print(saved_to=str(out_dir / "skipped.txt"))
  print(f"  done in {time.perf_counter() - start:.1f} s")
  return {"out": str(out_dir), "splits": counts, "skipped": len(report),
          "skip_reasons": dict(report.reasons()), "alphabet": alphabet.chars,
          "train_split": train, "unassigned": unassigned, "images": images is not None,
          "text_stats": {s: text_stats(t) for s, t in texts.items()}}


def _drop_err(by_split: dict[str, list[LineRecord]],
              report: SkipReport) -> dict[str, list[LineRecord]]:
  for r in (r for recs in by_split.values() for r in recs if not r.ok):
    report.skip(r.id, "err segmentation")
  return {split: [r for r in recs if r.ok] for split, recs in by_split.items()}


def _write_images(by_split: dict[str, list[LineRecord]], images: str, height: int, out_dir: Path,
                  report: SkipReport) -> dict[str, list[LineRecord]]:
  """Writes images_<split>.npz for every split (empty ones too); returns the lines kept."""
  kept_by_split = {}
  for split, recs in by_split.items():
    items_WxH, kept = _load_split_images(recs, images, height, split, report)
    store.save_ragged(store.images_path(out_dir, split), store.Ragged.from_items(
      items_WxH, [r.text for r in kept], [r.id for r in kept], height=np.array(height)))
    kept_by_split[split] = kept
  return kept_by_split


def _alphabet(texts: dict[str, list[str]]) -> tuple[str | None, Alphabet]:
  """(training split name or None, the alphabet of its texts, or of all texts when None)."""
  try:
    train = train_split(texts)
  except DataError:
    return None, Alphabet.from_texts(t for lines in texts.values() for t in lines)
  return train, Alphabet.from_texts(texts[train])


def _print_summary(texts: dict[str, list[str]], train: str | None, alphabet: Alphabet,
                   unassigned: int) -> None:
  for split, lines in texts.items():
    s = text_stats(lines)
    empty = "  (EMPTY)" if not lines else ""
    print(f"  {split}: {s['lines']} lines, {s['chars']} chars, mean length {s['mean_len']}, "
          f"max {s['max_len']}{empty}")
    missing = sorted(set().union(*map(alphabet.unknown, lines))) if lines else []
    if missing:
      print(f"    characters not in the alphabet: {''.join(missing)!r}")
  if unassigned:
    print(f"  {unassigned} lines of the index are in no split list (not used)")
  source = f"the {train} split" if train else "all splits (no training split is named)"
  print(f"  alphabet from {source}: {alphabet.size - 1} characters (+ blank): "
        f"{alphabet.chars!r}")


def load_lines(folder: str | os.PathLike[str],
               split: str) -> list[tuple[np.ndarray, str, str]]:
  """The prepared lines of `split` as (ink-convention uint8 [H, W], text, id) tuples."""
  r = store.load_ragged(store.images_path(folder, split))
  return [(np.ascontiguousarray(r[i].T), str(r.texts[i]), str(r.ids[i])) for i in range(len(r))]
