"""Graves & Schmidhuber 2009's MDLSTM hierarchy on IAM-OnDB rendered to line images.

IAM-OnDB's pen strokes drawn as grey-scale images of height 64 (`prepare iam-ondb
--render-height 64`, random pen width, blur, slant and scale per line) make an offline data set
with the writer-disjoint official sets: train on trainset, validate on testset_t, test once on
testset_f. Network: the RNNLIB hierarchy of the 2009 paper with the horizontal reduction that
IAM-width lines need (`--preset iam`: 4-direction MDLSTM levels of 2, 10 and 50 cells, tanh
subsampling layers, CTC). Figures: CER and WER on testset_f, greedy and with beam 10 plus a
4-gram character language model trained on the trainset transcriptions only.

  python experiments/gs2009_iam_ondb_images.py --data-root ../shared/data --work runs/
  python experiments/gs2009_iam_ondb_images.py --variant cpu_smoke --work runs/exp_runs

Rerunning the same command resumes training from the workdir's checkpoint.
"""

from __future__ import annotations

import reproduce
from reproduce import Experiment, Options

TABLE = "Graves & Schmidhuber 2009, MDLSTM + CTC"
PAPER = "(none: the 2009 paper reports Arabic IFN/ENIT words only, 91.4 % accuracy)"
TRAIN, VALID, TEST = "trainset", "testset_t", "testset_f"
HEIGHT = 64
SMOKE_STEPS = 40


def build(opts: Options) -> list[Experiment]:
  reproduce.check_variant(opts.variant)
  data = reproduce.iam_ondb_data(opts, "official", render_height=HEIGHT)
  name = "gs2009_iam_ondb_images" + ("_smoke" if opts.smoke else "")
  workdir = str(opts.work / name)
  train, network = reproduce.mdlstm_train(opts, data, workdir, TRAIN, VALID, SMOKE_STEPS)
  return [Experiment(name=name, table=TABLE, variant=opts.variant, network=network, data=data,
                     train=train, paper=PAPER, lm_split=TRAIN,
                     evaluations=reproduce.recognizer_evaluations(workdir, data.prepared, TEST))]


if __name__ == "__main__":
  reproduce.main(build, __doc__)
