"""The figures of a trained model, as data: nats and SSE of a writer (Graves 2013, Tables 3-4),
CER / WER of a reader (on a prepared split or a manifest of image files), and the legibility of
a writer read back by a reader.

  evaluate_writer("synthesis-iam-ondb-small", data="prepared/iam-ondb").nats_per_sequence
  evaluate_reader(images="scans/manifest.tsv").cer
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from handwriting import pretrained
from handwriting.api.reader import Reader
from handwriting.data.report import DataError, SkipReport
from handwriting.recognition.lm import CharLM

LM = CharLM | str | os.PathLike[str] | None


@dataclasses.dataclass
class WriterEvaluation:
  """Mean log-loss per sequence and per point, and the mixture mean's squared error per point,
  in the units of the normalised data (Tables 3-4)."""

  model: str
  step: int
  split: str
  lines: int
  nats_per_sequence: float
  nats_per_point: float
  sse_per_point: float
  # The units: the lines were normalised with the model's statistics (those of the split it was
  # trained on) and encoded with its alphabet, whatever folder they come from.
  stroke_mean: tuple[float, float] = (0.0, 0.0)
  stroke_std: tuple[float, float] = (1.0, 1.0)
  alphabet_size: int = 0
  dropped: int = 0  # lines that had characters outside the model's alphabet dropped
  skipped: int = 0  # lines longer than the model's max_points

@dataclasses.dataclass
class ReaderEvaluation:
  """Corpus-level CER / WER (total edits / total reference length, as papers report them)."""

  model: str
  step: int
  source: str  # the split, or the manifest read
  lines: int
  skipped: int
  cer: float
  wer: float
  chars: int
  char_edits: int
  decoding: str  # "greedy" | "beam 10" | "beam 10 + LM"
  norm: str | None  # the image normalisation (offline readers)
  rows: list[tuple[str, str, str, float]]  # (name, reference, hypothesis, line CER)
  report: SkipReport = dataclasses.field(default_factory=SkipReport, repr=False)
  notes: list[str] = dataclasses.field(default_factory=list)  # e.g. what the LM was trained on


def _decoding(beam: int, lm: LM) -> str:
  if beam <= 1 and lm is None:
    return "greedy"
  return f"beam {beam}" + (" + LM" if lm is not None else "")


def evaluate_writer(model: str | None = None, *, data: str, split: str = "valid",
                    kind: str = "synthesis") -> WriterEvaluation:
  """A synthesis (or `kind` "prediction") network on `split` of a prepared stroke folder."""
  from handwriting.synthesis import inference
  workdir = pretrained.resolve(model, kind)
  r = inference.evaluate(workdir, data, split, kind)
  return WriterEvaluation(workdir, int(r["step"]), split, int(r["lines"]), float(r["nll"]),
                          float(r["nll_per_point"]), float(r["sse"]),
                          tuple(r["stroke_mean"]), tuple(r["stroke_std"]), int(r["alphabet_size"]),
                          int(r["dropped"]), int(r["skipped"]))


def evaluate_reader(model: str | Reader | None = None, *, data: str | None = None,
                    split: str = "valid", images: str | os.PathLike[str] | None = None,
                    beam: int = 1, lm: LM = None, lm_weight: float = 0.5,
                    insertion_bonus: float = 0.0, norm: str | None = None,
                    hypotheses: str | os.PathLike[str] | None = None) -> ReaderEvaluation:
  """A recognizer on `split` of a prepared folder (`data`), or on the line images of a
  manifest (`images`: rows `image<TAB>transcription`, texts compared in natural form).
  With `images`, `hypotheses` names a TSV for the per-line readings."""
  reader = model if isinstance(model, Reader) else Reader.load(model, norm)
  decoder = reader.decoder(beam, lm, lm_weight, insertion_bonus)
  how = _decoding(beam, lm)
  if images is not None:
    from handwriting.recognition.files import evaluate_images
    report = SkipReport()
    r = evaluate_images(reader.core, images, decoder, report, hypotheses)
    return ReaderEvaluation(reader.workdir, r.step, str(images), r.lines, r.skipped, r.cer, r.wer,
                            r.chars, r.char_edits, how, r.norm, r.rows, report, reader.notes)
  if not data:
    raise DataError("data", "evaluating a reader needs a prepared folder (data) or a manifest "
                            "of images (images)")
  from handwriting.recognition.inference import evaluate
  r = evaluate(reader.workdir, data, split, decoder)
  rows = [(f"{split}:{i}", ref, hyp, float("nan")) for i, (ref, hyp) in enumerate(r["examples"])]
  return ReaderEvaluation(reader.workdir, int(r["step"]), split, int(r["lines"]),
                          int(r["skipped"]), float(r["cer"]), float(r["wer"]), int(r["chars"]),
                          int(r["char_edits"]), how,
                          reader.norm if reader.kind == "images" else None, rows,
                          notes=[*reader.notes, *([r["units"]] if r.get("units") else [])])


def evaluate_legibility(synthesis: str | None = None, reader: str | None = None, *,
                        texts: str | os.PathLike[str] | Sequence[str],
                        biases: Sequence[float] = (0.0, 0.5, 1.0, 2.0), seed: int = 0,
                        beam: int = 1, lm: LM = None, lm_weight: float = 0.5,
                        insertion_bonus: float = 0.0, out: str | os.PathLike[str] | None = None,
                        retries: int = 0):
  """Writes each text at each bias, reads it back and scores the reading (legibility.py);
  returns a `BiasScore` per bias. `texts`: a file (one per line) or a list. With `out`, the
  table (legibility.json), its plot and a sample SVG per bias are written there. `retries`:
  as in `Writer.write`; the default 0 scores what the network writes at its first try."""
  from handwriting import legibility
  synthesis_dir = pretrained.resolve(synthesis, "synthesis")
  reader_dir = pretrained.resolve(reader or pretrained.reader_for(synthesis_dir), "recognizer")
  decoder = Reader(reader_dir).decoder(beam, lm, lm_weight, insertion_bonus)
  return legibility.run(synthesis_dir, reader_dir, texts, biases, out, decoder, seed=seed,
                        retries=retries)
