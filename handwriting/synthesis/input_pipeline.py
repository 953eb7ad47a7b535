"""The pen-stroke lines a prediction / synthesis network trains or is scored on, and their batches.

Dimension letters: B batch, T pen steps (padded), U characters (padded).

A line is skipped (and named in the pipeline's `SkipReport`) when it has more pen points than
`max_points`, never cut; characters outside the alphabet are dropped from its text (or an
error), and a synthesis line left without text is skipped. Training (`task.SequenceTask`) and
evaluation (`inference.evaluate`) build this same pipeline, each naming its own splits.
"""

from __future__ import annotations

import dataclasses
import functools

import ml_collections
import numpy as np

from handwriting.data.alphabet import Alphabet
from handwriting.data.batching import fixed_label_length, pad_batch
from handwriting.data.pipeline import (
  SIZES,
  Collate,
  HostBatch,
  Items,
  SplitPipeline,
  Splits,
  build_pipeline,
)
from handwriting.data.prepared import Prepared, Stats
from handwriting.data.report import DataError, SkipReport

CHARS_MULTIPLE = 8  # the text of every line is padded to one multiple-of-8 length per run


@dataclasses.dataclass(frozen=True)
class LineRules:
  """Which lines of a split are kept."""

  max_points: int  # longer lines are skipped, never cut
  on_unknown: str  # characters outside the alphabet: "drop" (reported) or "error"
  needs_text: bool  # synthesis reads the text: a line with none left is skipped

  @classmethod
  def of(cls, config: ml_collections.ConfigDict, on_unknown: str | None = None) -> LineRules:
    """The rules of `config`; `on_unknown` overrides config.on_unknown."""
    return cls(config.max_points, on_unknown or config.on_unknown,
               config.model_type == "synthesis")


def load_lines(data: Prepared, split: str, alphabet: Alphabet, rules: LineRules,
               report: SkipReport, stats: Stats | None = None) -> Items:
  """The kept lines of `split`: offsets [T, 3] ("ink") normalised with `stats` (a model's; None:
  the folder's own), labels in `alphabet` ("chars"), sizes."""
  ragged = data.strokes(split, stats)
  out: Items = {"ink": [], "chars": [], SIZES: []}
  for i in range(len(ragged)):
    name = f"{data.folder}/{split}/{ragged.ids[i]}"
    ink, text = ragged[i], str(ragged.texts[i])
    if len(ink) > rules.max_points:
      report.skip(name, f"too long: {len(ink)} points > max_points {rules.max_points}")
      continue
    bad = alphabet.unknown(text)
    if bad:
      if rules.on_unknown == "error":
        raise DataError(name, f"characters not in the alphabet: {sorted(bad)}")
      report.skip(name, f"characters dropped from text: {''.join(sorted(bad))!r}")
    chars = alphabet.encode(text, on_unknown="drop")
    if len(chars) == 0 and rules.needs_text:
      report.skip(name, "empty text")
      continue
    out["ink"].append(ink)
    out["chars"].append(chars)
    out[SIZES].append(len(ink))
  return out


def pad_lines(rows: Items, weight: np.ndarray, *, multiple: int, growth: float,
              chars_length: int | None) -> HostBatch:
  """One batch: ink_BxTx3 and mask_BxT padded to a bucket of T, weight_B, and (synthesis only,
  `chars_length` given) chars_BxU padded to that length."""
  ink, mask = pad_batch(rows["ink"], multiple, growth=growth)
  batch = {"ink": ink, "mask": mask, "weight": weight.astype(np.float32)}
  if chars_length is not None:
    batch["chars"], _ = pad_batch(rows["chars"], CHARS_MULTIPLE, length=chars_length)
  return batch


def input_pipeline(config: ml_collections.ConfigDict, data: Prepared, splits: Splits,
                   rules: LineRules | None = None, *, alphabet: Alphabet | None = None,
                   stats: Stats | None = None) -> SplitPipeline:
  """The batches of `splits` for the network `config` describes; `config` is only read (line
  rules, padding, batch size, seed). The lines are encoded with `alphabet` and normalised with
  `stats`: the model's (None: the folder's own)."""
  rules = rules or LineRules.of(config)
  alphabet = alphabet or data.alphabet

  def collate_for(train: Items | None, evaluation: Items | None) -> Collate:
    chars_length = fixed_label_length(*(s["chars"] for s in (train, evaluation) if s))
    return functools.partial(
      pad_lines, multiple=config.pad_multiple, growth=config.get("pad_growth", 1.0),
      chars_length=chars_length if config.model_type == "synthesis" else None)

  return build_pipeline(
    splits, lambda split, report: load_lines(data, split, alphabet, rules, report, stats),
    collate_for, batch_size=config.batch_size, seed=config.seed)
