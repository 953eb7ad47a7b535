import pytest

from handwriting import pretrained


def test_resolve_paths_names_and_the_default(tmp_path):
  assert pretrained.resolve(str(tmp_path), "synthesis") == str(tmp_path)  # a path wins
  name = pretrained.DEFAULTS["synthesis"]
  assert name in pretrained.available()
  assert pretrained.resolve(None, "synthesis") == str(pretrained.MODELS_DIR / name)
  assert pretrained.resolve(name, "synthesis") == str(pretrained.MODELS_DIR / name)
  assert set(pretrained.DEFAULTS.values()) | set(pretrained.READER_FOR.values()) <= set(
    pretrained.available())  # every default names a shipped model
  for shipped in pretrained.available():  # every shipped model documents how it was made
    readme = (pretrained.MODELS_DIR / shipped / "README.md").read_text()
    assert "handwriting train" in readme


def test_no_shipped_model_of_a_kind_is_a_clear_error():
  with pytest.raises(FileNotFoundError, match="no shipped alignment model"):
    pretrained.resolve(None, "alignment")
