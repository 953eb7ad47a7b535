"""The recognizers through the shared loop and the CLI: train, evaluate, read, bad input."""

import numpy as np
import pytest
from PIL import Image

from handwriting import cli
from handwriting.data import synthetic
from handwriting.data.alphabet import Alphabet
from handwriting.data.batching import padded_length
from handwriting.data.prepared import Prepared
from handwriting.recognition.configs import get_config
from handwriting.recognition.task import RecognitionTask


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  out = tmp_path_factory.mktemp("synthetic")
  synthetic.prepare(str(out), lines=30, seed=1, valid_fraction=0.2, test_fraction=0.1)
  return out


def test_batches_pad_images_and_labels_with_masks(prepared):
  cfg = get_config("tiny", "mdlstm")
  cfg.data = str(prepared)
  task = RecognitionTask(cfg)
  batch = task.train_batch(0)
  B = cfg.batch_size
  assert batch["inputs"].shape[:2] == (B, cfg.image_height) and batch["inputs"].shape[-1] == 1
  assert batch["inputs"].shape[2] % cfg.pad_multiple == 0
  widths = batch["mask"][:, 0, :].sum(1)
  for b, i in enumerate(task.batcher.indices(0)):
    assert widths[b] == task.train["sizes"][i]
    n = len(task.train["labels"][i])
    np.testing.assert_array_equal(batch["labels"][b, :n], task.train["labels"][i])
    assert batch["label_mask"][b].sum() == n
  assert float(batch["inputs"].max()) <= 1.0


def test_a_run_compiles_few_shapes(prepared):
  # Every distinct batch shape is one more compilation (and, on CPU, ~1,500 memory maps): the
  # labels keep one length for the whole run and the widths fall into geometric buckets.
  cfg = get_config("tiny", "mdlstm")
  cfg.data, cfg.batch_size, cfg.pad_multiple = str(prepared), 1, 8
  task = RecognitionTask(cfg)
  batches = [task.train_batch(s) for s in range(len(task.train["sizes"]))]
  batches += list(task.eval_batches())
  assert len({b["labels"].shape for b in batches}) == 1
  widths = {b["inputs"].shape[2] for b in batches}
  sizes = task.train["sizes"] + task.eval["sizes"]
  assert len(widths) < len({-(-w // 8) * 8 for w in sizes})  # fewer than linear padding gives
  assert widths == {padded_length(w, 8, cfg.pad_growth) for w in sizes}


def test_unknown_characters_drop_a_training_line_but_count_as_errors_in_scoring(prepared):
  cfg = get_config("tiny", "mdlstm")
  cfg.data = str(prepared)
  task = RecognitionTask(cfg)
  task.alphabet = Alphabet(task.alphabet.chars.replace("e", ""))  # as if "e" were never seen
  data = Prepared(prepared)
  texts = [str(t) for t in data.images("valid").texts]
  dropped = task.load(data, "valid")
  assert all("e" not in t for t in dropped["texts"]) and len(dropped["texts"]) < len(texts)
  task.config.on_unknown = "score"
  scored = task.load(data, "valid")
  assert any("e" in t for t in scored["texts"])  # references keep the character
  for text, labels in zip(scored["texts"], scored["labels"]):
    assert len(labels) == len(text.replace("e", ""))


def test_infeasible_lines_are_reported_and_skipped(prepared, capsys):
  cfg = get_config("tiny", "mdlstm")
  cfg.data = str(prepared)
  cfg.model.input_block = (4, 64)  # 64 px per frame: most lines get fewer frames than letters
  cfg.train_split, cfg.eval_split = "", "train"
  task = RecognitionTask(cfg)
  lines = len(Prepared(prepared).images("train"))
  assert len(task.eval["texts"]) + len(task.report) == lines  # every line kept or reported
  reasons = [r for _, r in task.report.items]
  assert any(r.startswith("infeasible:") for r in reasons)
  assert "infeasible" in capsys.readouterr().out


def test_cli_train_evaluate_read(prepared, tmp_path, capsys):
  wd = tmp_path / "rec"
  assert cli.main(["train", "recognizer", "--data", str(prepared), "--workdir", str(wd),
                   "--preset", "tiny", "--config.num_steps=1"]) == 0
  assert cli.main(["evaluate", "recognizer", "--workdir", str(wd), "--data", str(prepared),
                   "--split", "valid", "--beam", "3", "--lm", str(prepared)]) == 0
  out = capsys.readouterr().out
  assert "CER" in out and "4-gram on" in out
  img = tmp_path / "line.png"
  rgba = np.full((40, 200, 4), 255, np.uint8)
  rgba[15:25, 20:180, :3] = 0
  Image.fromarray(rgba, "RGBA").save(img)
  empty = tmp_path / "empty.png"
  empty.write_bytes(b"")
  plot = tmp_path / "post.png"
  # Exit codes: 1 when an input was skipped (the rest read), 2 when none could be read, 0 all.
  assert cli.main(["read", str(img), str(empty), "--workdir", str(wd), "--plot", str(plot)]) == 1
  out = capsys.readouterr().out
  assert str(img) in out and "empty.png" in out and "skipped: 1" in out
  assert plot.stat().st_size > 0
  assert cli.main(["read", str(empty), str(tmp_path / "missing.png"), "--workdir", str(wd)]) == 2
  assert "none of the 2 input(s) could be read" in capsys.readouterr().err
  assert cli.main(["read", str(img), "--workdir", str(wd)]) == 0
  assert cli.main(["write", "hi", "--workdir", str(wd), "-o", str(tmp_path / "x.svg")]) == 2
  assert "not a prediction or synthesis network" in capsys.readouterr().err


def test_evaluate_leaves_the_checkpoint_config_alone(prepared, tmp_path, monkeypatch):
  from handwriting.recognition import inference
  from handwriting.train.loop import train_and_evaluate
  cfg = get_config("tiny", "online")
  cfg.data, cfg.num_steps, cfg.eval_split = str(prepared), 1, ""
  train_and_evaluate(cfg, tmp_path, RecognitionTask(cfg))
  specs = []

  def load_with_meta(workdir):
    model, spec, meta = real_load(workdir)
    specs.append((spec, spec.config.to_dict()))
    return model, spec, meta
  real_load = inference.load_with_meta
  monkeypatch.setattr(inference, "load_with_meta", load_with_meta)
  result = inference.evaluate(tmp_path, str(prepared), "valid", inference.Decoder())
  assert result["lines"] > 0 and 0.0 <= result["cer"]
  (spec, before), = specs
  assert spec.config.to_dict() == before  # evaluation names its split; the config stays
  assert before["eval_split"] == "" and before["on_unknown"] == cfg.on_unknown
