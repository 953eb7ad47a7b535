"""The online BLSTM-CTC reader (Graves et al. 2009) on IAM-OnDB pen strokes, official protocol.

`handwriting train recognizer --config.model_type=online`: stacked bidirectional LSTMs read the
normalised pen offsets and a CTC layer emits characters (`--preset graves`: 3 x 100 cells per
direction, one line per update, SGD with momentum as in RNNLIB). Data: the writer-disjoint
official sets, trained on trainset, validated on testset_t, tested once on testset_f. Figures:
character and word error rates on testset_f, greedy and with beam 10 plus a 4-gram character
language model trained on the trainset transcriptions only.

  python experiments/online_blstm_iam_ondb.py --data-root ../shared/data --work runs/
  python experiments/online_blstm_iam_ondb.py --variant cpu_smoke --work runs/exp_runs

Rerunning the same command resumes training from the workdir's checkpoint. With several
devices, give a batch that they divide: --config.batch_size=8 (the preset's is 1).
"""

from __future__ import annotations

import reproduce
from reproduce import Experiment, Options

TABLE = "Graves et al. 2009 (TPAMI), online BLSTM-CTC"
# Their system read 25 hand-made features with a dictionary and a word language model: a word
# accuracy, not comparable with our character-LM CER/WER, shown for orientation only.
PAPER = ("79.7 % word accuracy (paper, Graves et al. 2009 TPAMI, IAM-OnDB, with dictionary and "
         "word LM; not comparable)")
TRAIN, VALID, TEST = "trainset", "testset_t", "testset_f"
SMOKE_STEPS = 40


def build(opts: Options) -> list[Experiment]:
  reproduce.check_variant(opts.variant)
  data = reproduce.iam_ondb_data(opts, "official")
  name = "online_blstm" + ("_smoke" if opts.smoke else "")
  workdir = str(opts.work / name)
  splits = {"train_split": TRAIN, "eval_split": VALID}
  if opts.smoke:
    train = reproduce.train("recognizer", data, workdir, "tiny", opts,
                            {**splits, "num_steps": SMOKE_STEPS, "eval_every": 20},
                            kind="online")
    network = f"1 x 8 BLSTM, 4 points per frame (tiny preset), {SMOKE_STEPS} steps"
  else:
    train = reproduce.train("recognizer", data, workdir, "graves", opts, splits, kind="online")
    network = "3 x 100 BLSTM per direction, CTC (`--config.model_type=online --preset graves`)"
  return [Experiment(name=name, table=TABLE, variant=opts.variant, network=network, data=data,
                     train=train, paper=PAPER, lm_split=TRAIN,
                     evaluations=reproduce.recognizer_evaluations(workdir, data.prepared, TEST))]


if __name__ == "__main__":
  reproduce.main(build, __doc__)
