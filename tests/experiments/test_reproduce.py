"""The reproduction runner (experiments/reproduce.py) and the per-table scripts, without training:
every experiment x variant builds command lines that the `handwriting` parser and the presets'
configs accept, the figures printed by `handwriting evaluate` are parsed back, and a run writes
final_eval.json and reuses its prepared folder."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from handwriting import cli
from handwriting.config import ConfigError, apply_overrides
from handwriting.data import iam_lines, store
from handwriting.recognition.configs import get_config as recognizer_config
from handwriting.synthesis.configs import get_config as synthesis_config

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))
import reproduce  # noqa: E402  (experiments/ is not a package)
import results  # noqa: E402

COMBINATIONS = [(s, v) for s in reproduce.SCRIPTS for v in reproduce.VARIANTS]


def _options(tmp_path, variant, **kw):
  # iam_images: the full IAM-lines experiment refuses to build without it (tested below).
  kw.setdefault("iam_images", None if variant == "cpu_smoke" else tmp_path / "iam")
  return reproduce.Options(variant=variant, work=tmp_path / "runs", data_root=tmp_path / "data",
                           **kw)


def _train_config(train_args):
  """What `handwriting train` would build from these arguments (parser, preset, overrides)."""
  args, rest = cli.build_parser().parse_known_args(list(train_args))
  assert args.command == "train"
  if args.model == "recognizer":
    kind = "online" if "--config.model_type=online" in rest else "mdlstm"
    config = recognizer_config(args.preset or ("iam" if kind == "mdlstm" else "graves"), kind)
  else:
    config = synthesis_config(args.preset or "graves", args.model)
  config.data = args.data
  apply_overrides(config, rest)  # raises ConfigError on a misspelt field or a bad value
  return args, config


def _parse_all(args):
  parsed, rest = cli.build_parser().parse_known_args(list(args))
  assert rest == [], f"unknown arguments {rest} in {args}"
  return parsed


@pytest.mark.parametrize("script,variant", COMBINATIONS)
def test_every_experiment_builds_commands_the_cli_and_configs_accept(tmp_path, script, variant):
  experiments = reproduce.load_script(script).build(_options(tmp_path, variant))
  assert experiments
  for exp in experiments:
    assert exp.variant == variant and exp.table and exp.network and exp.data.label
    prep = _parse_all(exp.data.prepare)
    assert prep.command == "prepare" and prep.out == exp.data.prepared
    args, config = _train_config(exp.train)
    assert args.data == exp.data.prepared and args.workdir == exp.workdir
    if variant == "cpu_smoke":
      assert config.num_steps <= 100, "a cpu_smoke run trains a few dozen steps"
    assert exp.evaluations
    for ev in exp.evaluations:
      e = _parse_all(ev.args)
      assert e.command == "evaluate" and e.model == args.model
      assert e.workdir == exp.workdir and e.data == exp.data.prepared
      assert e.split != config.train_split, "figures never come from the training split"
      if e.lm:  # the LM learns the training transcriptions only, written into the workdir
        assert exp.lm_split == config.train_split
        assert Path(e.lm).parent == Path(exp.workdir)


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
  assert "--protocol" in t3.data.prepare and "graves" in t3.data.prepare
  online = by_name[f"online_blstm{suffix}"]
  images = by_name[f"gs2009_iam_ondb_images{suffix}"]
  assert "official" in online.data.prepare and "--render-height" in images.data.prepare
  assert online.data.prepared != images.data.prepared


def test_a_misspelt_override_fails_the_check(tmp_path):
  opts = _options(tmp_path, "full", overrides=("--config.model.hiden_size=3",))
  exp = reproduce.load_script("graves2013_table4").build(opts)[0]
  with pytest.raises(ConfigError, match="hiden_size"):
    _train_config(exp.train)


def test_full_iam_lines_needs_the_images(tmp_path):
  with pytest.raises(reproduce.ExperimentError, match="--iam-images"):
    reproduce.load_script("gs2009_iam_lines").build(_options(tmp_path, "full", iam_images=None))


def test_unknown_variant_is_refused(tmp_path):
  with pytest.raises(reproduce.ExperimentError, match="variant"):
    reproduce.load_script("graves2013_table4").build(_options(tmp_path, "tiny"))


def test_figures_are_parsed_from_what_evaluate_prints(monkeypatch, capsys):
  from handwriting.synthesis import commands
  monkeypatch.setattr(commands, "evaluate_command", lambda *a: {
    "step": 1200, "lines": 37, "nll": -1041.04, "loss": -1.23456, "sse": 0.41234})
  assert cli.main(["evaluate", "prediction", "--workdir", "w", "--data", "d"]) == 0
  f = results.parse_figures(capsys.readouterr().out)
  assert f == {"step": 1200, "split": "valid", "lines": 37, "nats_per_sequence": -1041.0,
               "nats_per_point": -1.2346, "sse_per_point": 0.4123}

  from handwriting import pretrained
  from handwriting.recognition import inference
  monkeypatch.setattr(pretrained, "resolve", lambda workdir, kind: workdir)
  monkeypatch.setattr(inference, "evaluate", lambda *a: {
    "cer": 0.071234, "wer": 0.2496, "lines": 410, "skipped": 3, "step": 4000,
    "examples": [("a line", "a lime")]})
  assert cli.main(["evaluate", "recognizer", "--workdir", "w", "--data", "d",
                   "--split", "testset_f"]) == 0
  f = results.parse_figures(capsys.readouterr().out)
  assert f["split"] == "testset_f" and (f["lines"], f["skipped"], f["step"]) == (410, 3, 4000)
  np.testing.assert_allclose([f["cer"], f["wer"]], [0.0712, 0.2496])


def test_the_last_summary_wins_and_missing_one_raises():
  text = ("synthesis step 5 on valid (3 lines): log-loss -1.0 nats/sequence, -0.1000 nats/point, "
          "SSE 0.5000 per point (normalised offsets)\n"
          "recognizer step 7 on test (2 lines, 0 skipped): CER nan% WER 100.00%\n")
  f = results.parse_figures(text)
  assert f["step"] == 7 and np.isnan(f["cer"]) and f["wer"] == 1.0
  with pytest.raises(reproduce.ExperimentError, match="no evaluation summary"):
    results.parse_figures("trained synthesis to step 3 in 1 s\n")


def test_train_summary_is_parsed():
  assert results.parse_trained("x\ntrained recognizer to step 40 in 12 s; eval: loss 95.14, "
                                 "ctc_per_char 3.368, infeasible 0\n") == {
    "step": 40, "seconds": 12, "eval": {"loss": 95.14, "ctc_per_char": 3.368, "infeasible": 0.0}}
  assert results.parse_trained("trained synthesis to step 3 in 1 s\n")["eval"] == {}


def _fake_experiment(tmp_path, calls):
  prepared, workdir = tmp_path / "prepared", tmp_path / "work"
  data = reproduce.Data(str(prepared), ("prepare", "synthetic", "--out", str(prepared)), "fake",
                        setup=lambda: calls.append("setup"))
  evaluate = ("evaluate", "synthesis", "--workdir", str(workdir), "--data", str(prepared))
  return reproduce.Experiment(
    name="fake", table="Graves 2013, Table 4", variant="cpu_smoke", network="tiny",
    data=data, workdir=str(workdir), train=("train", "synthesis", "--data", str(prepared),
                                            "--workdir", str(workdir), "--preset", "tiny"),
    evaluations=(reproduce.Evaluation("valid", evaluate),), paper="-1096.9 nats (paper)")


def test_run_writes_final_eval_and_reuses_the_prepared_folder(tmp_path):
  calls = []

  def fake_cli(args):
    calls.append(args[0])
    if args[0] == "prepare":
      Path(args[-1]).mkdir(parents=True)
      (Path(args[-1]) / "meta.json").write_text("{}")
    elif args[0] == "train":
      print("trained synthesis to step 40 in 9 s; eval: loss -0.5")
    else:
      print("synthesis step 40 on valid (12 lines): log-loss -300.5 nats/sequence, "
            "-0.5000 nats/point, SSE 0.9000 per point (normalised offsets)")
    return 0

  exp = _fake_experiment(tmp_path, calls)
  result = reproduce.run(exp, cli_main=fake_cli, script="python experiments/x.py")
  assert calls == ["setup", "prepare", "train", "evaluate"]
  saved = json.loads((Path(exp.workdir) / "final_eval.json").read_text())
  assert saved == result
  assert saved["step"] == 40 and saved["figures"]["valid"]["nats_per_sequence"] == -300.5
  assert saved["train_final_eval"] == {"loss": -0.5} and not saved["prepare_reused"]
  assert saved["commands"]["train"].startswith("handwriting train synthesis")
  assert saved["device"]["count"] >= 1 and saved["device"]["kind"]
  assert set(saved["wall_s"]) == {"prepare", "train", "evaluate", "total"}
  row = results.markdown_row(saved)
  assert row.count(" | ") == 6 and "not a result" in row and "-1096.9 nats (paper)" in row
  assert "-300.5 nats/sequence" in row

  calls.clear()  # a rerun (e.g. after an interruption) trains on, without preparing again
  again = reproduce.run(exp, cli_main=fake_cli)
  assert again["prepare_reused"] and calls == ["train", "evaluate"]
  assert again["earlier_calls"] == [{k: saved[k] for k in ("finished", "step", "wall_s")}]
  assert again["train_wall_s_all_calls"] == pytest.approx(
    saved["wall_s"]["train"] + again["wall_s"]["train"], abs=0.11)
  assert "over 2 calls" in results.markdown_row(again)


def test_a_failing_step_stops_the_run(tmp_path):
  exp = _fake_experiment(tmp_path, [])
  with pytest.raises(reproduce.ExperimentError, match="exited with status 2"):
    reproduce.run(exp, cli_main=lambda args: 2)
  assert not (Path(exp.workdir) / "final_eval.json").exists()


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
