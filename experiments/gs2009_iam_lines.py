"""Graves & Schmidhuber 2009's MDLSTM hierarchy on IAM offline text lines.

Data: `prepare iam --lines-txt ... --images ... --splits ...` with the standard split lists
(the LWRT task's trainset.txt, validationset1.txt, testset.txt: train on trainset, validate on
validationset1, test once on testset); without --iam-splits, train/valid/test are carved by form.
Network: the RNNLIB hierarchy with the horizontal reduction IAM lines need (`--preset iam`).
Figures: CER and WER on the test split, greedy and with beam 10 plus a 4-gram character language
model trained on the training transcriptions only.

  python experiments/gs2009_iam_lines.py --iam-images iam/ --iam-splits iam/splits --work runs/
  python experiments/gs2009_iam_lines.py --variant cpu_smoke --work runs/exp_runs

The IAM line images are not on the development machine (only lines.txt). Without --iam-images,
cpu_smoke writes STAND-IN DATA IN THE IAM LAYOUT (synthetic Hershey lines rendered as PNGs, a
lines.txt index and LWRT-style lists) to exercise the same commands; its numbers are labelled as
such and are never IAM results. The full variant needs the real images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import reproduce
from PIL import Image
from reproduce import Data, Experiment, ExperimentError, Options, Prepare

TABLE = "Graves & Schmidhuber 2009, MDLSTM + CTC"
PAPER = "(none: the 2009 paper reports Arabic IFN/ENIT words only, 91.4 % accuracy)"
LWRT = ("trainset", "validationset1", "testset")  # split list stems: train, valid, test
CARVED = ("train", "valid", "test")  # split names without lists
STANDIN_NOTE = "STAND-IN DATA IN IAM LAYOUT, NOT IAM (synthetic Hershey lines)"
SMOKE_STEPS = 40
SMOKE_FORMS = 20  # cpu_smoke: forms of stand-in data, or the first forms of a real lines.txt
LINES_PER_FORM = 8
RENDER_HEIGHT = 96  # stand-in PNG height before `prepare` normalises it (IAM lines: ~120 px)


def make_iam_standin(folder: Path, forms: int = SMOKE_FORMS, seed: int = 0) -> None:
  """Stand-in data in the official IAM layout, NOT IAM: synthetic Hershey lines (data/synthetic.py)
  rendered dark on white (data/render.py) as lines/zNN/zNN-FFF/zNN-FFF-LL.png, a lines.txt with
  IAM's header and fields, and LWRT-style split lists of form ids (70 / 15 / 15 % of the forms).
  """
  from handwriting.data.render import RenderError, RenderJitter, render_random
  from handwriting.data.report import SkipReport
  from handwriting.data.synthetic import make_synthetic

  report = SkipReport()
  lines = make_synthetic(forms * LINES_PER_FORM, seed, report=report)
  rows, form_ids = [], []
  for i, line in enumerate(lines):
    form = f"z{i // LINES_PER_FORM // 100:02d}-{i // LINES_PER_FORM % 100:03d}"
    line_id = f"{form}-{i % LINES_PER_FORM:02d}"
    try:
      ink_HxW = render_random(line.strokes, np.random.default_rng([seed, i, 1]), RenderJitter(),
                              RENDER_HEIGHT)
    except RenderError as e:
      report.skip(line_id, f"cannot render: {e}")
      continue
    path = folder / "lines" / form[:3] / form / f"{line_id}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(255 - ink_HxW).save(path)  # IAM scans: dark ink on white paper
    h, w = ink_HxW.shape
    rows.append(f"{line_id} ok 176 {len(line.strokes)} 0 0 {w} {h} {'|'.join(line.text.split())}")
    form_ids += [form] if form not in form_ids else []
  header = ("#--- lines.txt (STAND-IN: synthetic Hershey lines, NOT the IAM database) ---#\n"
            "#\n# format: a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|Gaitskell\n#\n")
  (folder / "lines.txt").write_text(header + "".join(r + "\n" for r in rows))
  n_valid = n_test = max(1, round(0.15 * len(form_ids)))
  parts = {LWRT[0]: form_ids[:-n_valid - n_test], LWRT[1]: form_ids[-n_valid - n_test:-n_test],
           LWRT[2]: form_ids[-n_test:]}
  (folder / "splits").mkdir(exist_ok=True)
  for stem, ids in parts.items():
    (folder / "splits" / f"{stem}.txt").write_text("".join(f + "\n" for f in ids))
  print(f"stand-in IAM layout (not IAM) in {folder}: {len(rows)} lines, {len(form_ids)} forms, "
        f"{len(report)} skipped")


def subset_lines_txt(src: Path, dst: Path, forms: int) -> None:
  """lines.txt with only the rows of its first `forms` forms (cpu_smoke on the real index)."""
  kept, seen = [], []
  for row in src.read_text("utf-8").splitlines():
    if not row.strip():
      continue
    form = "-".join(row.split(" ", 1)[0].split("-")[:2])
    if not row.startswith("#") and form not in seen:
      if len(seen) == forms:
        continue
      seen.append(form)
    kept.append(row)
  dst.parent.mkdir(parents=True, exist_ok=True)
  dst.write_text("".join(r + "\n" for r in kept), "utf-8")


def iam_data(opts: Options) -> tuple[Data, tuple[str, str, str], str]:
  """(the data, its train/valid/test split names, a note for the row)."""
  prepared_root = opts.work / "prepared"
  if opts.iam_images is None:
    if not opts.smoke:
      raise ExperimentError("the full variant needs the IAM line images: --iam-images FOLDER (the "
                            "folder holding lines/); only cpu_smoke runs on stand-in data")
    raw, out = prepared_root / "iam-standin-raw", prepared_root / "iam-standin-smoke"
    prepare = Prepare("iam", {"lines_txt": raw / "lines.txt", "images": raw,
                              "splits": raw / "splits", "out": out})
    label = (f"{SMOKE_FORMS * LINES_PER_FORM} synthetic lines written as PNGs + lines.txt + "
             "LWRT-style lists and read by `prepare iam`")
    return Data(prepare, label, lambda: make_iam_standin(raw)), LWRT, STANDIN_NOTE
  lines_txt = opts.lines_txt or opts.data_root / "iam" / "lines.txt"
  if opts.smoke:
    small = prepared_root / "iam-lines-smoke-index" / "lines.txt"
    prepare = Prepare("iam", {"lines_txt": small, "images": opts.iam_images, "splits": None,
                              "out": prepared_root / "iam-lines-smoke"})
    label = f"IAM lines, cpu_smoke slice: the first {SMOKE_FORMS} forms, carved by form"
    return (Data(prepare, label, lambda: subset_lines_txt(lines_txt, small, SMOKE_FORMS)),
            CARVED, "")
  prepare = Prepare("iam", {"lines_txt": lines_txt, "images": opts.iam_images,
                            "splits": opts.iam_splits, "out": prepared_root / "iam-lines"})
  if opts.iam_splits is not None:
    label = f"IAM lines, lists {'/'.join(LWRT)} from {opts.iam_splits}"
    return Data(prepare, label), LWRT, ""
  return Data(prepare, "IAM lines, train/valid/test carved by form"), CARVED, ""


def build(opts: Options) -> list[Experiment]:
  reproduce.check_variant(opts.variant)
  data, (train_split, valid_split, test_split), note = iam_data(opts)
  name = "gs2009_iam_lines" + ("_smoke" if opts.smoke else "")
  workdir = str(opts.work / name)
  train, network = reproduce.mdlstm_train(opts, data, workdir, train_split, valid_split,
                                          SMOKE_STEPS)
  return [Experiment(name=name, table=TABLE, variant=opts.variant, network=network, data=data,
                     train=train, paper=PAPER, lm_split=train_split, note=note,
                     evaluations=reproduce.recognizer_evaluations(workdir, data.prepared,
                                                                  test_split))]


if __name__ == "__main__":
  reproduce.main(build, __doc__)
