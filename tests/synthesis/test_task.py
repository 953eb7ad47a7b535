"""Training the prediction and synthesis networks: one step, memorisation, the loop, the CLI."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from handwriting import cli
from handwriting.data import synthetic
from handwriting.synthesis.configs import get_config
from handwriting.synthesis.task import SequenceTask, build_model, sequence_loss


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  out = tmp_path_factory.mktemp("synthetic")
  synthetic.prepare(str(out), lines=40, seed=0, valid_fraction=0.2, test_fraction=0.1)
  return out


def _tiny(prepared, model_type="synthesis"):
  cfg = get_config("tiny", model_type)
  cfg.data = str(prepared)
  cfg.max_points = 400
  cfg.on_unknown = "drop"
  return cfg


@pytest.mark.parametrize("model_type", ["synthesis", "prediction"])
def test_memorises_one_batch(prepared, model_type):
  task = SequenceTask(_tiny(prepared, model_type))
  batch = {k: jnp.asarray(v) for k, v in task.train_batch(0).items()}
  model = build_model(task.config, task.alphabet.size, nnx.Rngs(0))
  graphdef, params = nnx.split(model)
  tx = optax.adam(1e-2)

  @jax.jit
  def step(params, opt):
    loss, grads = jax.value_and_grad(
      lambda p: sequence_loss(nnx.merge(graphdef, p), batch, None)[0])(params)
    updates, opt = tx.update(grads, opt)
    return optax.apply_updates(params, updates), opt, loss

  opt = tx.init(params)
  losses = []
  for _ in range(25):
    params, opt, loss = step(params, opt)
    losses.append(float(loss))
  assert np.all(np.isfinite(losses))
  assert losses[-1] < losses[0] - 0.5  # nats per point


def test_metrics_are_per_sequence_and_per_point(prepared):
  task = SequenceTask(_tiny(prepared))
  batch = next(iter(task.eval_batches()))
  model = build_model(task.config, task.alphabet.size, nnx.Rngs(0))
  batch = {k: jnp.asarray(v) for k, v in batch.items()}
  lines = float(batch["weight"].sum())
  points = float((batch["mask"][:, 1:] * batch["weight"][:, None]).sum())
  loss, m = sequence_loss(model, batch, None, objective="point")
  assert float(m["nll"][1]) == lines and float(m["loss"][1]) == points
  np.testing.assert_allclose(float(m["nll"][0]) / points, float(loss), rtol=1e-5)
  seq_loss, m = sequence_loss(model, batch, None)  # the paper's: nats per sequence
  assert float(m["loss"][1]) == lines and float(m["nll_per_point"][1]) == points
  np.testing.assert_allclose(float(m["nll"][0]) / lines, float(seq_loss), rtol=1e-5)
  with pytest.raises(ValueError, match="objective"):
    sequence_loss(model, batch, None, objective="token")


def test_cli_train_write_evaluate_and_errors(prepared, tmp_path, capsys):
  wd = tmp_path / "wd"
  base = ["train", "synthesis", "--data", str(prepared), "--workdir", str(wd), "--preset", "tiny",
          "--config.num_steps=2", "--config.max_points=400"]
  assert cli.main(base) == 0
  rows = [json.loads(line) for line in (wd / "metrics.jsonl").read_text().splitlines()]
  assert rows[-1]["split"] == "eval" and rows[-1]["step"] == 2
  svg = tmp_path / "out.svg"
  assert cli.main(["write", "hello there", "--workdir", str(wd), "-o", str(svg), "--bias", "2",
                   "--plot-attention", str(tmp_path / "att.png"),
                   "--plot-density", str(tmp_path / "dens.png")]) == 0
  assert svg.read_text().count("<path") > 0
  assert (tmp_path / "att.png").stat().st_size > 0 and (tmp_path / "dens.png").stat().st_size > 0
  styled = tmp_path / "styled.svg"  # primed with line 0 of the valid split (section 5.5)
  assert cli.main(["write", "hello", "--workdir", str(wd), "-o", str(styled), "--style", "0",
                   "--data", str(prepared)]) == 0
  assert styled.read_text().count("<path") > 0
  assert cli.main(["evaluate", "synthesis", "--workdir", str(wd), "--data", str(prepared),
                   "--split", "valid"]) == 0
  assert "nats/sequence" in capsys.readouterr().out
  # Clear one-line errors, no traceback.
  assert cli.main(["write", "\u00e9t\u00e9", "--workdir", str(wd), "-o", str(svg)]) == 2
  assert cli.main(["write", "  ", "--workdir", str(wd), "-o", str(svg)]) == 2
  assert cli.main(["sample", "--workdir", str(wd), "-o", str(svg)]) == 2
  assert cli.main(["write", "hi", "--workdir", str(tmp_path / "none"), "-o", str(svg)]) == 2
  assert cli.main(base + ["--config.model.hidden_sise=3"]) == 2
  err = capsys.readouterr().err
  assert "characters not in the alphabet" in err and "text is empty" in err
  assert "--on-unknown drop" in err  # the error names the flag that drops them
  assert "not a prediction network" in err and "no checkpoint" in err
  assert "unknown config field" in err


def test_cli_sample_from_a_prediction_network(prepared, tmp_path, capsys):
  wd = tmp_path / "pred"
  assert cli.main(["train", "prediction", "--data", str(prepared), "--workdir", str(wd),
                   "--preset", "tiny", "--config.num_steps=2", "--config.max_points=400",
                   "--config.eval_split="]) == 0
  svg = tmp_path / "free.svg"
  assert cli.main(["sample", "--workdir", str(wd), "-o", str(svg), "--lines", "2",
                   "--steps", "30"]) == 0
  assert svg.read_text().count("<g ") == 2
  assert cli.main(["write", "hi", "--workdir", str(wd), "-o", str(svg)]) == 2
  assert "not a synthesis network" in capsys.readouterr().err


def test_write_uses_the_shipped_model_without_workdir(tmp_path):
  from handwriting import pretrained
  assert pretrained.DEFAULTS["synthesis"] in pretrained.available()
  svg = tmp_path / "shipped.svg"
  assert cli.main(["write", "a b", "-o", str(svg), "--seed", "3"]) == 0
  assert svg.read_text().count("<path") > 0


def test_evaluate_leaves_the_checkpoint_config_alone(prepared, tmp_path, monkeypatch):
  from handwriting.synthesis import inference
  from handwriting.train.loop import train_and_evaluate
  cfg = _tiny(prepared, "prediction")
  cfg.num_steps, cfg.eval_split = 1, ""
  train_and_evaluate(cfg, tmp_path, SequenceTask(cfg))
  specs = []

  def read_spec(*args, **kwargs):
    meta, spec = real_read_spec(*args, **kwargs)
    specs.append((spec, spec.config.to_dict()))
    return meta, spec
  real_read_spec = inference.read_spec
  monkeypatch.setattr(inference, "read_spec", read_spec)
  result = inference.evaluate(tmp_path, str(prepared), "valid")
  assert result["lines"] > 0 and np.isfinite(result["nll"])
  (spec, before), = specs
  assert spec.config.to_dict() == before  # evaluation names its split; the config stays
  assert before["train_split"] == "train" and before["eval_split"] == ""
