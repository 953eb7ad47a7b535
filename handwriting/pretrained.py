"""Models shipped inside the package (`handwriting/models/<name>/`, each a workdir holding one
Orbax checkpoint, its metrics.jsonl and a README with the command that trained it).

Inference commands use them when no --workdir is given, so text can be written right after
install. Loading reads arrays and JSON only; nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).parent / "models"
# The model each command uses by default, by checkpoint kind.
# Real handwriting (IAM-OnDB, non-commercial licence) by default: its writer is now the more
# legible one (experiments/RESULTS.md, legibility); the synthetic-data models stay shipped as the
# licence-free alternative (the demo also writes with it, in styles primed from synthetic lines).
# Its default writer is the largest (3 x 400, Graves' size) of the IAM-OnDB ones, for its lower NLL;
# `synthesis-iam-ondb-medium` (3 x 256, its starting point) and `-small` (2 x 128) stay shipped as
# the faster ones.
# The default offline reader reads real scans (trained on scan-like renderings, see its README).
DEFAULTS = {"synthesis": "synthesis-iam-ondb-large", "recognizer": "recognizer-scans-medium",
            "prediction": "prediction-iam-ondb-small"}
SYNTHETIC_SYNTHESIS = "synthesis-synthetic-small"
# The shipped reader trained on the same data as each shipped synthesis model: it reads that
# model's writing back (the demo; the default reader of `evaluate legibility`).
READER_FOR = {"synthesis-synthetic-small": "recognizer-synthetic-small",
              "synthesis-iam-ondb-small": "reader-iam-ondb-online-medium",
              "synthesis-iam-ondb-medium": "reader-iam-ondb-online-medium",
              "synthesis-iam-ondb-large": "reader-iam-ondb-online-medium"}


def reader_for(synthesis: str) -> str:
  """The shipped reader of a synthesis model's data (its folder name); the default recognizer
  for a model that is not shipped."""
  return READER_FOR.get(Path(synthesis).name, DEFAULTS["recognizer"])


def available() -> list[str]:
  if not MODELS_DIR.is_dir():
    return []
  return sorted(p.name for p in MODELS_DIR.iterdir() if (p / "checkpoints").is_dir())


def resolve(workdir: str | None, kind: str) -> str:
  """`workdir` itself, or the shipped model named by it, or the default shipped model of `kind`."""
  if workdir:
    named = MODELS_DIR / workdir
    if not Path(workdir).exists() and (named / "checkpoints").is_dir():
      return str(named)
    return workdir
  if kind not in DEFAULTS or DEFAULTS[kind] not in available():
    shipped = ", ".join(available()) or "none"
    raise FileNotFoundError(f"no shipped {kind} model (shipped: {shipped}); "
                            "pass --workdir of a trained one")
  return str(MODELS_DIR / DEFAULTS[kind])
