"""Graves 2013, Table 4: the handwriting synthesis network (section 5) on IAM-OnDB.

Three LSTM layers of 400 cells with the soft attention window over the text (K = 10
Gaussians) and M = 20 mixture components (`--preset graves`), Graves' RMSProp, data prepared
with Graves' protocol (train = trainset + testset_t + testset_f; our copy has no testset_v, so
`prepare` carves the validation forms). The figure is the mean log-loss in nats per sequence on
the validation set, and the SSE per point.

  python experiments/graves2013_table4.py --data-root ../shared/data --work runs/
  python experiments/graves2013_table4.py --variant cpu_smoke --work runs/exp_runs

Rerunning the same command resumes training from the workdir's checkpoint.
"""

from __future__ import annotations

import reproduce
from reproduce import Evaluation, Experiment, Options

TABLE = "Graves 2013, Table 4"
PAPER = "-1096.9 nats (paper, Graves 2013 Table 4, no adaptive weight noise)"
SMOKE_STEPS = 40


def build(opts: Options) -> list[Experiment]:
  reproduce.check_variant(opts.variant)
  data = reproduce.iam_ondb_data(opts, "graves")
  name = "table4_synthesis" + ("_smoke" if opts.smoke else "")
  workdir = str(opts.work / name)
  if opts.smoke:
    train = reproduce.train("synthesis", data, workdir, "tiny", opts,
                            {"num_steps": SMOKE_STEPS, "eval_every": 20})
    network = f"1 x 32 LSTM, K=2, M=3 (tiny preset), {SMOKE_STEPS} steps"
  else:
    train = reproduce.train("synthesis", data, workdir, "graves", opts)
    network = "3 x 400 LSTM, K=10, M=20 (`--preset graves`)"
  evaluate = Evaluation("valid", "synthesis", workdir, data.prepared, "valid")
  return [Experiment(name=name, table=TABLE, variant=opts.variant, network=network, data=data,
                     train=train, evaluations=(evaluate,), paper=PAPER)]


if __name__ == "__main__":
  reproduce.main(build, __doc__)
