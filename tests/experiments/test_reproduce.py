"""The reproduction runner (experiments/reproduce.py, calls.py, results.py) and the per-table
scripts: every experiment x variant builds API calls whose configs the presets accept and whose
`handwriting` command lines say the same; a run takes its figures from the fields the API
returns (stubbed with known values, so a figure from the wrong field fails), writes
final_eval.json and reuses its prepared folder; one tiny run goes through the real API."""

import inspect
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

import handwriting
from handwriting import cli
from handwriting.api.evaluation import ReaderEvaluation, WriterEvaluation
from handwriting.config import ConfigError, apply_overrides
from handwriting.data import iam_lines, store, synthetic
from handwriting.data.report import DataError
from handwriting.recognition.configs import get_config as recognizer_config
from handwriting.synthesis.configs import get_config as synthesis_config
from handwriting.train import TrainResult

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))
import calls  # experiments/ is not a package: imported from its folder
import reproduce
import results

COMBINATIONS = [(s, v) for s in reproduce.SCRIPTS for v in reproduce.VARIANTS]


def _options(tmp_path, variant, **kw):
  # iam_images: the full IAM-lines experiment refuses to build without it (tested below).
  kw.setdefault("iam_images", None if variant == "cpu_smoke" else tmp_path / "iam")
  return reproduce.Options(variant=variant, work=tmp_path / "runs", data_root=tmp_path / "data",
                           **kw)


def _argv(command):
  args = shlex.split(command)
  assert args[0] == "handwriting"
  assert not any(os.path.isabs(a) for a in args), f"an absolute path in {command}"
  return args[1:]


def _same_path(a, b):
  return os.path.abspath(a) == os.path.abspath(b)


def _cli_train_config(command):
  """What `handwriting train` builds from this command line (parser, preset, overrides)."""
  args, rest = cli.build_parser().parse_known_args(_argv(command))
  assert args.command == "train"
  if args.model == "recognizer":
    kind = "online" if "--config.model_type=online" in rest else "mdlstm"
    config = recognizer_config(args.preset or ("iam" if kind == "mdlstm" else "graves"), kind)
  else:
    config = synthesis_config(args.preset or "graves", args.model)
  config.data = args.data
  return args, apply_overrides(config, rest)


def _check_prepare(prepare):
  module = __import__(calls.PREPARERS[prepare.dataset], fromlist=["prepare"])
  inspect.signature(module.prepare).bind(**prepare.kwargs())  # the call is well-formed
  parsed = cli.build_parser().parse_args(_argv(prepare.command()))
  assert (parsed.command, parsed.dataset) == ("prepare", prepare.dataset)
  for key, value in prepare.options.items():  # the command line says the same
    if isinstance(value, os.PathLike):
      assert _same_path(getattr(parsed, key), value), key
    else:
      assert getattr(parsed, key) == value, key


@pytest.mark.parametrize("script,variant", COMBINATIONS)
def test_every_experiment_builds_calls_the_api_and_the_cli_accept(tmp_path, script, variant):
  experiments = reproduce.load_script(script).build(_options(tmp_path, variant))
  assert experiments
  for exp in experiments:
    assert exp.variant == variant and exp.table and exp.network and exp.data.label
    _check_prepare(exp.data.prepare)
    config = exp.train.config()  # raises ConfigError on a misspelt field or a bad value
    assert config.data == exp.data.prepared and exp.train.workdir == exp.workdir
    args, cli_config = _cli_train_config(exp.train.command())
    assert _same_path(args.workdir, exp.workdir) and _same_path(cli_config.data, config.data)
    cli_config.data = config.data
    assert cli_config.to_dict() == config.to_dict(), "the command line trains another config"
    if variant == "cpu_smoke":
      assert config.num_steps <= 100, "a cpu_smoke run trains a few dozen steps"
    assert exp.evaluations
    for ev in exp.evaluations:
      e = cli.build_parser().parse_args(_argv(ev.command()))
      assert e.command == "evaluate" and e.model == ev.model == exp.train.model
      assert ev.workdir == exp.workdir and ev.data == exp.data.prepared
      assert _same_path(e.workdir, ev.workdir) and _same_path(e.data, ev.data)
      assert e.split == ev.split != config.train_split, "figures never come from training"
      assert getattr(e, "beam", 1) == ev.beam  # writers' evaluate has no --beam
      if ev.lm:  # the LM learns the training transcriptions only, written into the workdir
        assert _same_path(e.lm, ev.lm) and exp.lm_split == config.train_split
        assert Path(ev.lm).parent == Path(exp.workdir)


@pytest.mark.parametrize("variant", reproduce.VARIANTS)
def test_workdirs_are_distinct_and_data_is_shared_by_protocol(tmp_path, variant):
  built = [e for s in reproduce.SCRIPTS
           for e in reproduce.load_script(s).build(_options(tmp_path, variant))]
  assert len({e.workdir for e in built}) == len(built)
  by_name = {e.name: e for e in built}
  suffix = "_smoke" if variant == "cpu_smoke" else ""
  # Tables 3 and 4 read the same Graves-protocol folder; prepared once, reused by the others.
  t3, t4 = by_name[f"table3_3x400{suffix}"], by_name[f"table4_synthesis{suffix}"]
  assert t3.data.prepared == t4.data.prepared and t3.data.prepare == t4.data.prepare
  assert t3.data.prepare.options["protocol"] == "graves"
  online = by_name[f"online_blstm{suffix}"]
  images = by_name[f"gs2009_iam_ondb_images{suffix}"]
  assert online.data.prepare.options["protocol"] == "official"
  assert online.train.config().model_type == "online"
  assert images.data.prepare.options["render_height"] == 64
  assert online.data.prepared != images.data.prepared


def test_script_overrides_reach_the_config_and_a_misspelt_one_fails(tmp_path):
  opts = _options(tmp_path, "cpu_smoke", overrides=("--config.num_steps=7",
                                                    "--config.optimizer.learning_rate=0.01"))
  exp = reproduce.load_script("graves2013_table4").build(opts)[0]
  config = exp.train.config()
  assert config.num_steps == 7 and config.optimizer.learning_rate == 0.01  # the script's 40 lost
  args = shlex.split(exp.train.command())
  assert "--config.num_steps=7" in args and "--config.num_steps=40" not in args
  assert args[-1] == "--config.optimizer.learning_rate=0.01"
  opts = _options(tmp_path, "full", overrides=("--config.model.hiden_size=3",))
  with pytest.raises(ConfigError, match="hiden_size"):
    reproduce.load_script("graves2013_table4").build(opts)[0].train.config()
  with pytest.raises(reproduce.ExperimentError, match="--config.num_steps=1000"):
    calls.config_fields(["--num-steps=3"])
  with pytest.raises(reproduce.ExperimentError):
    calls.config_fields(["--config.num_steps"])


def test_full_iam_lines_needs_the_images(tmp_path):
  with pytest.raises(reproduce.ExperimentError, match="--iam-images"):
    reproduce.load_script("gs2009_iam_lines").build(_options(tmp_path, "full", iam_images=None))


def test_unknown_variant_is_refused(tmp_path):
  with pytest.raises(reproduce.ExperimentError, match="variant"):
    reproduce.load_script("graves2013_table4").build(_options(tmp_path, "tiny"))


def _writer_eval(step=1200, split="valid"):
  return WriterEvaluation(model="w", step=step, split=split, lines=37, nats_per_sequence=-1041.04,
                          nats_per_point=-1.23456, sse_per_point=0.41234)


def _reader_eval(cer, wer, decoding="greedy", chars=5000, char_edits=356):
  return ReaderEvaluation(model="w", step=4000, source="testset_f", lines=410, skipped=3, cer=cer,
                          wer=wer, chars=chars, char_edits=char_edits, decoding=decoding,
                          norm=None, rows=[])


def test_figures_come_from_the_evaluations_fields():
  w = results.writer_figures(_writer_eval())
  assert w == {"step": 1200, "split": "valid", "lines": 37, "nats_per_sequence": -1041.04,
               "nats_per_point": -1.23456, "sse_per_point": 0.41234}
  assert results.figures_cell("valid", w) == \
      "-1041.0 nats/sequence, SSE 0.4123 per point (37 valid lines)"
  r = results.reader_figures(_reader_eval(0.071234, 0.2496))
  assert r == {"step": 4000, "split": "testset_f", "lines": 410, "skipped": 3, "cer": 0.071234,
               "wer": 0.2496, "chars": 5000, "char_edits": 356, "decoding": "greedy"}
  assert results.figures_cell("greedy", r) == \
      "CER 7.12 %, WER 24.96 % (greedy, 410 testset_f lines)"
  nan = results.reader_figures(_reader_eval(float("nan"), 1.0, chars=0, char_edits=0))
  assert np.isnan(nan["cer"]) and "CER nan %, WER 100.00 %" in results.figures_cell("x", nan)


class _FakeAPI:
  """The API calls of a run, stubbed with known results; records what they were called with."""

  def __init__(self, monkeypatch, evaluations):
    self.calls, self.evaluations = [], list(evaluations)

    def record(real, name, *args, **kw):
      inspect.signature(real).bind(*args, **kw)  # a call the real function takes
      self.calls.append((name, *args, kw))

    def prepare(**kw):
      record(real_prepare, "prepare", **kw)
      Path(kw["out"]).mkdir(parents=True)
      (Path(kw["out"]) / "meta.json").write_text("{}")
      return {}

    def train(config, workdir):
      record(real_train, "train", config, workdir)
      return TrainResult(40, {"loss": 1.5}, {"loss": np.float32(-0.5), "nll": -301.0}, None)

    def evaluate(name, real):
      def call(model, **kw):
        record(real, name, model, **kw)
        return self.evaluations.pop(0)
      return call

    real_prepare, real_train = synthetic.prepare, handwriting.train_and_evaluate
    monkeypatch.setattr(synthetic, "prepare", prepare)
    monkeypatch.setattr(handwriting, "train_and_evaluate", train)
    monkeypatch.setattr(handwriting, "evaluate_writer",
                        evaluate("writer", handwriting.evaluate_writer))
    monkeypatch.setattr(handwriting, "evaluate_reader",
                        evaluate("reader", handwriting.evaluate_reader))

  def names(self):
    return [c[0] for c in self.calls]


def _fake_experiment(tmp_path, model, evaluations, setup=None, overrides=None):
  prepared, workdir = tmp_path / "prepared", str(tmp_path / "work")
  data = reproduce.Data(calls.Prepare("synthetic", {"out": prepared, "lines": 30}), "fake", setup)
  train = reproduce.Train(model, "tiny", str(prepared), workdir,
                          overrides=overrides or {"num_steps": 40})
  return reproduce.Experiment(
    name="fake", table="Graves 2013, Table 4", variant="cpu_smoke", network="tiny", data=data,
    train=train, evaluations=tuple(evaluations), paper="-1096.9 nats (paper)")


def test_run_takes_the_figures_from_the_api_and_reuses_the_prepared_folder(
    tmp_path, monkeypatch, capsys):
  api = _FakeAPI(monkeypatch, [_writer_eval(40), _writer_eval(45)])
  setups = []
  exp = _fake_experiment(tmp_path, "synthesis", [reproduce.Evaluation(
    "valid", "synthesis", str(tmp_path / "work"), str(tmp_path / "prepared"), "valid")],
    setup=lambda: setups.append(1), overrides={"num_steps": 40, "model.hidden_size": 8})
  result = reproduce.run(exp, script="python experiments/x.py")
  assert setups == [1] and api.names() == ["prepare", "train", "writer"]
  assert api.calls[0] == ("prepare", {"out": str(tmp_path / "prepared"), "lines": 30})
  _, config, workdir, _ = api.calls[1]
  assert workdir == exp.workdir and config.data == exp.data.prepared
  assert (config.num_steps, config.model.hidden_size) == (40, 8)
  assert api.calls[2][1:] == (exp.workdir, {"data": exp.data.prepared, "split": "valid",
                                            "kind": "synthesis"})
  saved = json.loads((Path(exp.workdir) / "final_eval.json").read_text())
  assert saved == result
  assert saved["figures"] == {"valid": {
    "step": 40, "split": "valid", "lines": 37, "nats_per_sequence": -1041.04,
    "nats_per_point": -1.23456, "sse_per_point": 0.41234}}
  assert saved["step"] == 40 and saved["train_final_eval"] == {"loss": -0.5, "nll": -301.0}
  assert not saved["prepare_reused"]
  assert saved["commands"]["script"] == "python experiments/x.py"
  assert saved["commands"]["train"].startswith("handwriting train synthesis --data ")
  assert saved["commands"]["train"].endswith(
    "--preset tiny --config.num_steps=40 --config.model.hidden_size=8")
  assert saved["commands"]["prepare"].endswith("--lines 30")
  assert saved["device"]["count"] >= 1 and saved["device"]["kind"]
  assert set(saved["wall_s"]) == {"prepare", "train", "evaluate", "total"}
  row = results.markdown_row(saved)
  assert row.count(" | ") == 6 and "not a result" in row and "-1096.9 nats (paper)" in row
  assert "| 40 |" in row and "-1041.0 nats/sequence, SSE 0.4123 per point (37 valid lines)" in row
  assert "$ handwriting train synthesis" in capsys.readouterr().out

  api.calls.clear()  # a rerun (e.g. after an interruption) trains on, without preparing again
  again, = reproduce.run_script(lambda opts: [exp], "fake", ["--variant", "cpu_smoke"],
                                script="python experiments/x.py")
  assert again["prepare_reused"] and api.names() == ["train", "writer"] and setups == [1]
  assert again["step"] == 45  # the evaluation's step, not the training's
  assert again["earlier_calls"] == [{k: saved[k] for k in ("finished", "step", "wall_s")}]
  assert again["train_wall_s_all_calls"] == pytest.approx(
    saved["wall_s"]["train"] + again["wall_s"]["train"], abs=0.11)
  printed = capsys.readouterr().out
  assert results.ROW_HEADER in printed and results.markdown_row(again) in printed
  assert "over 2 calls" in results.markdown_row(again)


def test_recognizer_evaluations_pass_beam_and_lm_and_keep_their_own_figures(
    tmp_path, monkeypatch):
  api = _FakeAPI(monkeypatch, [_reader_eval(0.071234, 0.2496),
                               _reader_eval(0.0284, 0.0843, "beam 10 + LM", char_edits=142)])
  workdir, prepared = str(tmp_path / "work"), str(tmp_path / "prepared")
  exp = _fake_experiment(tmp_path, "recognizer",
                         reproduce.recognizer_evaluations(workdir, prepared, "testset_f"))
  result = reproduce.run(exp)
  assert api.names() == ["prepare", "train", "reader", "reader"]
  lm = str(Path(workdir) / reproduce.LM_TEXTS)
  assert api.calls[2][1:] == (workdir, {"data": prepared, "split": "testset_f", "beam": 1,
                                        "lm": None})
  assert api.calls[3][1:] == (workdir, {"data": prepared, "split": "testset_f", "beam": 10,
                                        "lm": lm})
  greedy, beam = result["figures"]["greedy"], result["figures"]["beam10_lm"]
  assert (greedy["cer"], greedy["wer"], beam["cer"], beam["wer"]) == (0.071234, 0.2496, 0.0284,
                                                                     0.0843)
  assert beam["decoding"] == "beam 10 + LM" and result["step"] == 4000
  assert results.ours(result["figures"]) == (
    "CER 7.12 %, WER 24.96 % (greedy, 410 testset_f lines); "
    "CER 2.84 %, WER 8.43 % (beam10_lm, 410 testset_f lines)")
  assert result["commands"]["evaluate"][1].endswith(
    f"--split testset_f --beam 10 --lm {os.path.relpath(lm)}")


def test_a_failing_step_stops_the_run_with_its_command(tmp_path, monkeypatch):
  _FakeAPI(monkeypatch, [])

  def broken(config, workdir):
    raise DataError("data", "no train split here")
  monkeypatch.setattr(handwriting, "train_and_evaluate", broken)
  exp = _fake_experiment(tmp_path, "synthesis", [])
  with pytest.raises(reproduce.ExperimentError,
                     match="`handwriting train synthesis .*` failed: .*no train split here"):
    reproduce.run(exp)
  assert not (Path(exp.workdir) / "final_eval.json").exists()


def test_a_misspelt_override_stops_a_script_before_anything_runs(tmp_path, monkeypatch):
  api = _FakeAPI(monkeypatch, [])
  build = reproduce.load_script("graves2013_table3").build
  with pytest.raises(SystemExit, match="error: `handwriting train prediction .*hiden_size"):
    reproduce.main(build, "table 3", ["--variant", "cpu_smoke", "--work", str(tmp_path),
                                      "--config.model.hiden_size=3"])
  assert api.calls == [] and not (tmp_path / "prepared").exists()


@pytest.mark.slow  # ~30 s on 2 cores, mostly compiling the tiny network's training step
def test_a_tiny_run_through_the_real_api(tmp_path):
  prepared, workdir = tmp_path / "prepared", str(tmp_path / "work")
  data = reproduce.Data(calls.Prepare("synthetic", {"out": prepared, "lines": 30, "seed": 0}),
                        "synthetic")
  train = reproduce.Train("synthesis", "tiny", str(prepared), workdir, overrides={
    "num_steps": 2, "max_points": 400, "batch_size": 4, "model.hidden_size": 8,
    "eval_every": 0, "eval_max_lines": 4})
  exp = reproduce.Experiment(
    name="tiny", table="Graves 2013, Table 4", variant="cpu_smoke", network="tiny", data=data,
    train=train, evaluations=(reproduce.Evaluation("valid", "synthesis", workdir, str(prepared),
                                                   "valid"),))
  result = reproduce.run(exp)
  direct = handwriting.evaluate_writer(workdir, data=str(prepared), split="valid")
  assert result["step"] == direct.step == 2
  assert result["figures"]["valid"] == results.writer_figures(direct)
  assert np.isfinite(result["figures"]["valid"]["nats_per_sequence"])
  assert set(result["train_final_eval"]) >= {"loss"}
  _check_prepare(exp.data.prepare)


def test_lm_texts_come_from_the_named_split(tmp_path):
  items = [np.zeros((4, 3), np.float32)] * 2
  store.save_ragged(store.strokes_path(tmp_path, "trainset"),
                    store.Ragged.from_items(items, ["a b", "c"], ["x-0", "x-1"]))
  store.save_ragged(store.strokes_path(tmp_path, "testset_f"),
                    store.Ragged.from_items(items[:1], ["secret"], ["y-0"]))
  store.write_meta(tmp_path, {"alphabet": "abcerst ", "splits": {"testset_f": 1, "trainset": 2}})
  assert reproduce.write_lm_texts(str(tmp_path), "trainset", tmp_path / "lm.txt") == 2
  assert (tmp_path / "lm.txt").read_text() == "a b\nc\n"


def test_subset_split_lists_keep_the_first_entries(tmp_path):
  src = tmp_path / "lists"
  src.mkdir()
  (src / "trainset.txt").write_text("# comment\na01-000\n\nb02-001\nc03-002\n")
  (src / "testset_f.txt").write_text("d04-003\n")
  reproduce.subset_split_lists(src, tmp_path / "out", 2)
  assert (tmp_path / "out" / "trainset.txt").read_text() == "a01-000\nb02-001\n"
  assert (tmp_path / "out" / "testset_f.txt").read_text() == "d04-003\n"


def test_iam_standin_is_read_by_prepare_iam(tmp_path):
  lines_mod = reproduce.load_script("gs2009_iam_lines")
  raw = tmp_path / "raw"
  lines_mod.make_iam_standin(raw, forms=3)
  assert "NOT the IAM database" in (raw / "lines.txt").read_text().splitlines()[0]
  summary = iam_lines.prepare(str(raw / "lines.txt"), str(raw), str(raw / "splits"),
                              str(tmp_path / "prepared"))
  assert summary["splits"] == {"testset": 8, "trainset": 8, "validationset1": 8}
  assert summary["skipped"] == 0


def test_subset_lines_txt_keeps_whole_forms(tmp_path):
  lines_mod = reproduce.load_script("gs2009_iam_lines")
  src = tmp_path / "lines.txt"
  src.write_text("# header\na01-000u-00 ok 1 1 1 1 1 1 A\na01-000u-01 ok 1 1 1 1 1 1 B\n\n"
                 "a01-003-00 ok 1 1 1 1 1 1 C\nb01-000-00 ok 1 1 1 1 1 1 D\n")
  lines_mod.subset_lines_txt(src, tmp_path / "out" / "lines.txt", 2)
  kept = (tmp_path / "out" / "lines.txt").read_text().splitlines()
  assert kept == ["# header", "a01-000u-00 ok 1 1 1 1 1 1 A", "a01-000u-01 ok 1 1 1 1 1 1 B",
                  "a01-003-00 ok 1 1 1 1 1 1 C"]
