import ml_collections
import pytest

from handwriting.config import ConfigError, apply_overrides


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
