"""A writer is evaluated in its own units and alphabet, whatever folder its lines come from:
a folder of the paper's testset_v alone (no training split, no statistics) gives the same nats as
the same lines in the folder the writer was trained from."""

import numpy as np

from handwriting import cli
from handwriting.api.evaluation import evaluate_writer
from handwriting.data import iam_ondb
from handwriting.data.prepared import Prepared
from tests.data.test_iam_ondb import LISTS, ondb, write_lists  # noqa: F401  (ondb: a fixture)


def test_testset_v_alone_is_evaluated_in_the_models_units(ondb, tmp_path, capsys):  # noqa: F811
  full = tmp_path / "full"
  iam_ondb.prepare(str(ondb), str(ondb), str(write_lists(tmp_path / "all", LISTS)), str(full))
  wd = tmp_path / "wd"
  assert cli.main(["train", "synthesis", "--data", str(full), "--workdir", str(wd), "--preset",
                   "tiny", "--config.num_steps=2", "--config.max_points=400",
                   "--config.batch_size=2", "--config.eval_every=0"]) == 0
  only_v = tmp_path / "v"
  iam_ondb.prepare(str(ondb), str(ondb), str(write_lists(tmp_path / "v_list", {
    "testset_v": LISTS["testset_v"]})), str(only_v))
  assert "stroke_mean" not in Prepared(only_v).meta
  capsys.readouterr()
  assert cli.main(["evaluate", "synthesis", "--workdir", str(wd), "--data", str(only_v),
                   "--split", "testset_v"]) == 0
  out = capsys.readouterr().out
  assert "units: the model's own" in out and "nats/sequence" in out
  alone = evaluate_writer(str(wd), data=str(only_v), split="testset_v")
  trained_from = evaluate_writer(str(wd), data=str(full), split="valid")  # graves: testset_v
  assert alone.lines == trained_from.lines == 3
  np.testing.assert_allclose(alone.nats_per_sequence, trained_from.nats_per_sequence, rtol=1e-5)
  # The statistics are the model's (its training split's), not those of either folder's lines.
  np.testing.assert_allclose(alone.stroke_std, Prepared(full).stroke_stats[1], rtol=1e-6)
