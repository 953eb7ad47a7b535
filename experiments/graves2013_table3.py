"""Graves 2013, Table 3: the handwriting prediction networks (section 4) on IAM-OnDB.

Two networks, each in its own workdir: one LSTM layer of 900 cells (`--preset graves_1x900`)
and three layers of 400 (`--preset graves`), mixture density outputs (M = 20), Graves' RMSProp,
data prepared with Graves' protocol (train = trainset + testset_t + testset_f; our copy has no
testset_v, so `prepare` carves the validation forms). The figure is the mean log-loss in nats per
sequence on the validation set (the table's "Log-Loss"), and the SSE per point.

  python experiments/graves2013_table3.py --data-root ../shared/data --work runs/
  python experiments/graves2013_table3.py --variant cpu_smoke --work runs/exp_runs
  python experiments/graves2013_table3.py --only table3_3x400 --config.num_steps=20000

Rerunning the same command resumes training from each workdir's checkpoint.
"""

from __future__ import annotations

import reproduce
from reproduce import Evaluation, Experiment, Options

TABLE = "Graves 2013, Table 3"
# Validation log-loss of the networks trained without adaptive weight noise (not implemented
# here), as printed in Graves 2013 Table 3 and quoted by Ha et al. 2016 (HyperNetworks, Table 5).
PAPER = {"1x900": "-1026 nats (paper, Graves 2013 Table 3, no weight noise)",
         "3x400": "-1041.0 nats (paper, Graves 2013 Table 3, no weight noise)"}
# (preset, cpu_smoke shape: layers, cells) per network; the smoke keeps the depth of the original.
NETWORKS = {"1x900": ("graves_1x900", 1, 64), "3x400": ("graves", 3, 24)}
SMOKE_STEPS = 40


def build(opts: Options) -> list[Experiment]:
  reproduce.check_variant(opts.variant)
  data = reproduce.iam_ondb_data(opts, "graves")
  experiments = []
  for net, (preset, layers, cells) in NETWORKS.items():
    name = f"table3_{net}" + ("_smoke" if opts.smoke else "")
    workdir = str(opts.work / name)
    if opts.smoke:
      train = reproduce.train("prediction", data, workdir, "tiny", opts, {
        "num_steps": SMOKE_STEPS, "model.num_layers": layers, "model.hidden_size": cells,
        "eval_every": 20})
      network = f"{layers} x {cells} LSTM, M=3 (tiny preset, shaped like {net}), " \
                f"{SMOKE_STEPS} steps"
    else:
      train = reproduce.train("prediction", data, workdir, preset, opts)
      network = f"{net.replace('x', ' x ')} LSTM, M=20 (`--preset {preset}`)"
    evaluate = Evaluation("valid", "prediction", workdir, data.prepared, "valid")
    experiments.append(Experiment(
      name=name, table=TABLE, variant=opts.variant, network=network, data=data, train=train,
      evaluations=(evaluate,), paper=PAPER[net]))
  return experiments


if __name__ == "__main__":
  reproduce.main(build, __doc__)
