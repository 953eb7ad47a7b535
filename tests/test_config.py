import ml_collections
import pytest

from handwriting.config import ConfigError, apply_overrides, validate


def _cfg():
  cfg = ml_collections.ConfigDict()
  cfg.batch_size = 32
  cfg.use_peepholes = True
  cfg.name = "x"
  cfg.sizes = (400, 400)
  cfg.optimizer = ml_collections.ConfigDict({"learning_rate": 1e-4, "name": "adam"})
  return cfg


def test_overrides_parse_to_the_field_types():
  cfg = apply_overrides(_cfg(), [
    "--config.batch_size=8", "--config.use_peepholes", "false",
    "--config.optimizer.learning_rate=3e-4", "--config.sizes=(2, 3, 4)", "--config.name=y"])
  assert cfg.batch_size == 8 and isinstance(cfg.batch_size, int)
  assert cfg.use_peepholes is False
  assert cfg.optimizer.learning_rate == pytest.approx(3e-4)
  assert cfg.sizes == (2, 3, 4)
  assert cfg.name == "y"


@pytest.mark.parametrize("arg, message", [
  ("--config.batch_sise=8", "unknown config field 'batch_sise'"),
  ("--config.optimizer.lr=1", "optimizer has: learning_rate, name"),
  ("--config.batch_size=abc", "batch_size: cannot read 'abc' as int"),
  ("--config.use_peepholes=maybe", "expected true/false"),
  ("--batch_size=8", "unexpected argument"),
])
def test_bad_overrides_are_clear_errors(arg, message):
  with pytest.raises(ConfigError, match=message):
    apply_overrides(_cfg(), [arg])


def _synthesis():
  from handwriting.synthesis.configs import get_config
  return get_config("tiny")


def _recognizer():
  from handwriting.recognition.configs import get_config
  return get_config("tiny", "mdlstm")


@pytest.mark.parametrize("make, arg, message", [
  (_synthesis, "--config.batch_size=-3", "config.batch_size must be positive, got -3"),
  (_synthesis, "--config.batch_size=0", "config.batch_size must be positive, got 0"),
  (_synthesis, "--config.num_steps=0", "config.num_steps must be positive, got 0"),
  (_synthesis, "--config.optimizer.learning_rate=-1e-3",
   "config.optimizer.learning_rate must be positive, got -0.001"),
  (_synthesis, "--config.optimizer.learning_rate=nan",
   "config.optimizer.learning_rate must be positive, got nan"),
  (_synthesis, "--config.model.hidden_size=0", "config.model.hidden_size must be positive"),
  (_synthesis, "--config.eval_every=-1", "config.eval_every must be zero or more, got -1"),
  (_synthesis, "--config.checkpoint_every=-5", "config.checkpoint_every must be zero or more"),
  (_synthesis, "--config.optimizer.momentum=1.5", r"config.optimizer.momentum must be in \[0, 1\)"),
  (_recognizer, "--config.model.hidden_sizes=(2, 0, 8)",
   r"config.model.hidden_sizes must be positive, got \(2, 0, 8\)"),
  (_recognizer, "--config.model.hidden_blocks=((4, 2), (0, 1))", "config.model.hidden_blocks"),
])
def test_values_out_of_range_name_the_field(make, arg, message):
  with pytest.raises(ConfigError, match=f"^{message}"):
    apply_overrides(make(), [arg])


def test_every_preset_is_valid_and_zero_means_off_where_documented():
  from handwriting.recognition import configs as recognition
  from handwriting.synthesis import configs as synthesis
  for preset in synthesis.PRESETS:
    for model_type in ("synthesis", "prediction"):
      validate(synthesis.get_config(preset, model_type))
  for preset in recognition.MDLSTM_PRESETS:
    validate(recognition.get_config(preset, "mdlstm"))
  for preset in recognition.ONLINE_PRESETS:
    validate(recognition.get_config(preset, "online"))
  apply_overrides(_synthesis(), ["--config.eval_every=0", "--config.checkpoint_every=0",
                                 "--config.optimizer.grad_clip_norm=0", "--config.log_every=0"])
