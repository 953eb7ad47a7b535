"""The shared runner of the reproduction experiments: one short script per paper table uses it.

An `Experiment` names the paper table it reproduces and holds the calls into the `handwriting`
Python API that make its numbers (experiments/calls.py): `Prepare` (its data), `Train` (a preset
and config fields) and one or more `Evaluation`s. `run(experiment)`:
  1. prepares the data, only when the prepared folder has no meta.json yet (a rerun reuses it);
  2. trains: `train_and_evaluate` on the shared loop, which shards every batch over all visible
     devices and resumes from the workdir's latest checkpoint, so rerunning the same script
     after an interruption continues where it stopped;
  3. evaluates (`evaluate_writer` / `evaluate_reader`) and takes the figures from the returned
     fields, writes `final_eval.json` into the workdir (figures, the equivalent `handwriting`
     command lines, step, wall time, device kind and count) and prints one markdown row for
     experiments/RESULTS.md, with the paper's number labelled "paper".

Variants: "full" is the paper's configuration for a GPU/TPU; "cpu_smoke" runs the same pipeline
with a tiny model for a few dozen steps on a slice of the data (minutes on a 2-core CPU): it
proves the calls work end to end and its figures are no result.

  python experiments/reproduce.py --list
  python experiments/reproduce.py graves2013_table4 --variant cpu_smoke --work runs/exp_runs
(the same as `python experiments/graves2013_table4.py --variant cpu_smoke --work runs/exp_runs`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import importlib
import json
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from calls import Evaluation, Prepare, Train, config_fields, step
from results import ROW_HEADER, ExperimentError, figures_cell, markdown_row

VARIANTS = ("full", "cpu_smoke")
SCRIPTS = ("graves2013_table3", "graves2013_table4", "gs2009_iam_lines", "gs2009_iam_ondb_images",
           "online_blstm_iam_ondb")
EXPERIMENTS_DIR = Path(__file__).resolve().parent
DEFAULT_DATA_ROOT = EXPERIMENTS_DIR.parent.parent / "shared" / "data"
SMOKE_FORMS_PER_LIST = 8  # cpu_smoke: the first forms of each IAM-OnDB split list (~60 lines)
LM_TEXTS = "lm_train_texts.txt"  # in the workdir: the training split's transcriptions


@dataclasses.dataclass(frozen=True)
class Data:
  """A prepared folder and how to make it."""
  prepare: Prepare  # runs only while the prepared folder (its `out`) has no meta.json
  label: str  # the "data" cell of the results row
  setup: Callable[[], None] | None = None  # makes raw inputs first (subset lists, stand-in data)

  @property
  def prepared(self) -> str:
    return self.prepare.out


@dataclasses.dataclass(frozen=True)
class Experiment:
  name: str  # the workdir's name under --work
  table: str  # the paper table, e.g. "Graves 2013, Table 4"
  variant: str  # "full" or "cpu_smoke"
  network: str  # the "network" cell of the results row
  data: Data
  train: Train
  evaluations: tuple[Evaluation, ...]
  paper: str = ""  # the paper's figure with its source; "" when the paper has none to compare
  lm_split: str = ""  # write this prepared split's texts to workdir/LM_TEXTS before evaluating
  note: str = ""  # shown in the row and in final_eval.json (e.g. "stand-in data, not IAM")

  @property
  def workdir(self) -> str:
    return self.train.workdir


@dataclasses.dataclass(frozen=True)
class Options:
  """What the per-table scripts read from their command line."""
  variant: str = "full"
  work: Path = Path("runs")
  data_root: Path = DEFAULT_DATA_ROOT
  strokes: Path | None = None  # IAM-OnDB lineStrokes archive (default under data_root)
  ascii: Path | None = None  # IAM-OnDB ascii archive
  ondb_splits: Path | None = None  # folder of trainset.txt, testset_t.txt, testset_f.txt
  lines_txt: Path | None = None  # IAM lines.txt
  iam_images: Path | None = None  # folder holding IAM's lines/ (none here: stand-in for smoke)
  iam_splits: Path | None = None  # IAM split lists (LWRT: trainset, validationset1, testset)
  overrides: tuple[str, ...] = ()  # extra --config.x=y for every training run

  @property
  def smoke(self) -> bool:
    return self.variant == "cpu_smoke"

  def ondb_archive(self, stem: str) -> Path:
    """`<stem>-all.tar.gz` (the official name) or `<stem>.tar.gz` under data_root/iam-ondb."""
    folder = self.data_root / "iam-ondb"
    official = folder / f"{stem}-all.tar.gz"
    short = folder / f"{stem}.tar.gz"
    return short if short.exists() and not official.exists() else official


def check_variant(variant: str) -> None:
  if variant not in VARIANTS:
    raise ExperimentError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")


def subset_split_lists(src: Path, dst: Path, per_list: int) -> None:
  """The first `per_list` entries of every *.txt split list in `src`, written to `dst`."""
  dst.mkdir(parents=True, exist_ok=True)
  lists = sorted(Path(src).glob("*.txt"))
  if not lists:
    raise ExperimentError(f"no split lists (*.txt) in {src}")
  for path in lists:
    entries = [e.strip() for e in path.read_text().splitlines()
               if e.strip() and not e.startswith("#")]
    (dst / path.name).write_text("".join(e + "\n" for e in entries[:per_list]))


def iam_ondb_data(opts: Options, protocol: str, render_height: int = 0) -> Data:
  """IAM-OnDB prepared with `protocol` ("graves" or "official"), optionally rendered to images.

  cpu_smoke prepares only the first SMOKE_FORMS_PER_LIST forms of each split list (the archives
  are still read whole; the other forms are reported as in no list) and carves a larger
  validation slice so that it holds a few dozen lines.
  """
  name = f"iam-ondb-{protocol}" + (f"-img{render_height}" if render_height else "")
  name += "-smoke" if opts.smoke else ""
  prepared = opts.work / "prepared" / name
  splits = opts.ondb_splits or opts.data_root / "iam-ondb"
  setup = None
  if opts.smoke:
    lists = opts.work / "prepared" / f"{name}-lists"
    setup = functools.partial(subset_split_lists, splits, lists, SMOKE_FORMS_PER_LIST)
    splits = lists
  options: dict[str, Any] = {
    "strokes": opts.strokes or opts.ondb_archive("lineStrokes"),
    "ascii": opts.ascii or opts.ondb_archive("ascii"), "splits": splits, "protocol": protocol,
    "out": prepared}
  if protocol == "graves" and opts.smoke:
    options["valid_fraction"] = 0.15
  if render_height:
    options["render_height"] = render_height
  how = ("Graves protocol: train = trainset + testset_t + testset_f, valid carved by form "
         "(no testset_v here)" if protocol == "graves" else
         "official protocol: train trainset, valid testset_t, test testset_f")
  kind = f"rendered at height {render_height}" if render_height else "strokes"
  label = f"IAM-OnDB {kind}, {how}"
  if opts.smoke:
    label += f"; cpu_smoke slice: first {SMOKE_FORMS_PER_LIST} forms of each list"
  return Data(Prepare("iam-ondb", options), label, setup)


def train(model: str, data: Data, workdir: str, preset: str, opts: Options,
          fields: Mapping[str, object] | None = None, kind: str = "mdlstm") -> Train:
  """Training `model` at `preset` with config `fields` set, then the script's extra
  --config overrides (they win, as later overrides do on a command line)."""
  return Train(model, preset, data.prepared, workdir, kind,
               {**(fields or {}), **config_fields(opts.overrides)})


def mdlstm_train(opts: Options, data: Data, workdir: str, train_split: str, valid_split: str,
                 smoke_steps: int) -> tuple[Train, str]:
  """(training, network label) of the G&S 2009 MDLSTM recipe: the `iam` preset, or in
  cpu_smoke the tiny one on widths padded to multiples of 256 (few compiled shapes, so a CPU
  run is mostly training)."""
  splits = {"train_split": train_split, "eval_split": valid_split}
  if opts.smoke:
    return (train("recognizer", data, workdir, "tiny", opts,
                  {**splits, "num_steps": smoke_steps, "eval_every": 20, "max_width": 1024,
                   "pad_multiple": 256}),
            f"MDLSTM 2, 4, 8 cells (tiny preset), {smoke_steps} steps")
  return (train("recognizer", data, workdir, "iam", opts, splits),
          "MDLSTM hierarchy 2, 10, 50 cells, reduction 64 x 8 (`--preset iam`)")


def recognizer_evaluations(workdir: str, prepared: str, split: str) -> tuple[Evaluation, ...]:
  """CER/WER on `split`: greedy, and beam 10 with a 4-gram character LM on workdir/LM_TEXTS."""
  return (Evaluation("greedy", "recognizer", workdir, prepared, split),
          Evaluation("beam10_lm", "recognizer", workdir, prepared, split, beam=10,
                     lm=str(Path(workdir) / LM_TEXTS)))


# --- running -------------------------------------------------------------------------------

def write_lm_texts(prepared: str, split: str, path: Path) -> int:
  """The transcriptions of one prepared split, one per line (the text a character LM learns)."""
  from handwriting.data.prepared import Prepared
  data = Prepared(prepared)
  ragged = data.strokes(split) if data.has_strokes(split) else data.images(split)
  texts = [str(t) for t in ragged.texts]
  path.write_text("".join(t + "\n" for t in texts), "utf-8")
  return len(texts)


def device_info() -> dict[str, Any]:
  import jax
  devices = jax.devices()
  return {"kind": devices[0].device_kind, "count": len(devices), "backend": jax.default_backend()}


def run(exp: Experiment, script: str = "") -> dict[str, Any]:
  """Prepares (once), trains (resuming), evaluates; writes workdir/final_eval.json; returns it."""
  start = time.perf_counter()
  workdir = Path(exp.workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  print(f"=== {exp.name} ({exp.table}, {exp.variant}) -> {workdir}")
  reused = (Path(exp.data.prepared) / "meta.json").exists()
  if reused:
    print(f"prepared data found, not prepared again: {exp.data.prepared}")
  else:
    if exp.data.setup is not None:
      exp.data.setup()
    with step(exp.data.prepare.command()):
      exp.data.prepare.run()
  t_prepare = time.perf_counter()
  with step(exp.train.command()):
    trained = exp.train.run()
  print(f"trained to step {trained.step}")
  t_train = time.perf_counter()
  if exp.lm_split:
    n = write_lm_texts(exp.data.prepared, exp.lm_split, workdir / LM_TEXTS)
    print(f"language model texts: {n} lines of split {exp.lm_split} -> {workdir / LM_TEXTS}")
  figures = {}
  for e in exp.evaluations:
    with step(e.command()):
      figures[e.label] = e.run()
    print(figures_cell(e.label, figures[e.label]))
  t_end = time.perf_counter()
  result = {
    "experiment": exp.name, "table": exp.table, "variant": exp.variant, "data": exp.data.label,
    "network": exp.network, "note": exp.note, "paper": exp.paper, "figures": figures,
    "step": next(iter(figures.values()))["step"] if figures else trained.step,
    "train_final_eval": {k: float(v) for k, v in trained.eval.items()},
    "commands": {"script": script, "prepare": exp.data.prepare.command(),
                 "train": exp.train.command(),
                 "evaluate": [e.command() for e in exp.evaluations]},
    "prepare_reused": reused,
    "wall_s": {"prepare": round(t_prepare - start, 1), "train": round(t_train - t_prepare, 1),
               "evaluate": round(t_end - t_train, 1), "total": round(t_end - start, 1)},
    "device": device_info(),
    "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
  }
  result.update(_earlier_calls(workdir / "final_eval.json", result))
  (workdir / "final_eval.json").write_text(json.dumps(result, indent=2) + "\n")
  print(f"wrote {workdir / 'final_eval.json'}")
  return result


def _earlier_calls(path: Path, result: dict[str, Any]) -> dict[str, Any]:
  """Earlier completed calls of this experiment (a resumed run keeps their wall times) and the
  training wall time summed over all of them. A call killed mid-training wrote nothing."""
  earlier = []
  if path.exists():
    old = json.loads(path.read_text())
    earlier = old.get("earlier_calls", []) + [
      {k: old[k] for k in ("finished", "step", "wall_s") if k in old}]
  train_s = sum(c["wall_s"]["train"] for c in earlier) + result["wall_s"]["train"]
  return {"earlier_calls": earlier, "train_wall_s_all_calls": round(train_s, 1)}


# --- command line ----------------------------------------------------------------------------

def parser(description: str) -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=description,
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="Extra --config.field=value arguments go to every training "
                                     "run (e.g. --config.num_steps=1000).")
  p.add_argument("--variant", default="full", choices=VARIANTS)
  p.add_argument("--work", default="runs", help="workdirs and prepared data go under this folder")
  p.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT),
                 help="raw data: iam-ondb/{lineStrokes,ascii}(-all).tar.gz + split lists, "
                      "iam/lines.txt")
  p.add_argument("--strokes", help="IAM-OnDB lineStrokes archive or folder")
  p.add_argument("--ascii", help="IAM-OnDB ascii archive or folder")
  p.add_argument("--ondb-splits", help="folder of IAM-OnDB trainset.txt, testset_t.txt, ...")
  p.add_argument("--lines-txt", help="IAM lines.txt (default <data-root>/iam/lines.txt)")
  p.add_argument("--iam-images", help="folder holding IAM's lines/ (without it cpu_smoke uses "
                                      "stand-in data in the IAM layout)")
  p.add_argument("--iam-splits", help="IAM split lists (LWRT: trainset.txt, validationset1.txt, "
                                      "testset.txt); without them train/valid/test are carved")
  p.add_argument("--only", help="run only the experiment of this name (of a script that has "
                                "several)")
  return p


def options(args: argparse.Namespace, overrides: Sequence[str]) -> Options:
  try:
    config_fields(overrides)
  except ExperimentError as e:
    raise SystemExit(str(e)) from None
  def path(v: str | None) -> Path | None:
    return Path(v) if v else None
  return Options(variant=args.variant, work=Path(args.work), data_root=Path(args.data_root),
                 strokes=path(args.strokes), ascii=path(args.ascii),
                 ondb_splits=path(args.ondb_splits), lines_txt=path(args.lines_txt),
                 iam_images=path(args.iam_images), iam_splits=path(args.iam_splits),
                 overrides=tuple(overrides))


def load_script(name: str) -> Any:
  """A per-table script as a module (it defines `build(opts) -> list[Experiment]`)."""
  if name not in SCRIPTS:
    raise ExperimentError(f"unknown experiment script {name!r}; one of {', '.join(SCRIPTS)}")
  if str(EXPERIMENTS_DIR) not in sys.path:
    sys.path.insert(0, str(EXPERIMENTS_DIR))
  return importlib.import_module(name)


def main(build: Callable[[Options], list[Experiment]], description: str,
         argv: Sequence[str] | None = None) -> None:
  """A per-table script's entry point: one clear line and status 1 when a step fails."""
  try:
    run_script(build, description, argv)
  except ExperimentError as e:
    sys.exit(f"error: {e}")


def run_script(build: Callable[[Options], list[Experiment]], description: str,
               argv: Sequence[str] | None = None, script: str = "") -> list[dict[str, Any]]:
  """Parses a per-table script's arguments, builds its experiments, runs each, prints rows."""
  args, rest = parser(description).parse_known_args(argv)
  opts = options(args, rest)
  experiments = build(opts)
  if args.only:
    experiments = [e for e in experiments if e.name == args.only]
    if not experiments:
      raise SystemExit(f"--only {args.only}: no such experiment in this script")
  for e in experiments:  # a misspelt --config field fails now, not after hours of another run
    with step(e.train.command(), show=False):
      e.train.config()
  script = script or "python " + " ".join(shlex.quote(a) for a in sys.argv)
  results = [run(e, script=script) for e in experiments]
  print("\nRows for experiments/RESULTS.md:\n" + ROW_HEADER)
  for r in results:
    print(markdown_row(r))
  return results


def _cli(argv: Sequence[str] | None = None) -> None:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] in ("-h", "--help", "--list"):
    print(__doc__)
    print("experiment scripts: " + ", ".join(SCRIPTS))
    return
  try:
    module = load_script(argv[0])
  except ExperimentError as e:
    sys.exit(f"error: {e}")
  main(module.build, module.__doc__ or argv[0], argv[1:])


if __name__ == "__main__":
  _cli()
