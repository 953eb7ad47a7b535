"""Using a trained reader: load it, transcribe inputs (greedy or beam search with a character
LM), evaluate CER/WER on a prepared split (image files: recognition/files.py)."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from handwriting.data.alphabet import Alphabet
from handwriting.data.batching import pad_to_power_of_two
from handwriting.data.pipeline import Splits
from handwriting.data.prepared import Prepared
from handwriting.data.report import DataError, SkipReport
from handwriting.recognition.decode import beam_search, greedy_decode
from handwriting.recognition.input_pipeline import LineRules, input_pipeline
from handwriting.recognition.lm import CharLM
from handwriting.recognition.metrics import char_errors, word_errors
from handwriting.recognition.spec import RecognizerSpec
from handwriting.train.checkpoint import CheckpointError, read_checkpoint_meta, restore_model

BATCH = 8  # lines per forward pass when transcribing


@dataclasses.dataclass
class Decoder:
  """How frame posteriors become text: greedy (beam <= 1) or prefix beam search with an LM."""

  beam: int = 1
  lm: CharLM | None = None
  lm_weight: float = 0.0
  insertion_bonus: float = 0.0

  def __call__(self, log_probs_TxK: np.ndarray) -> np.ndarray:
    if self.beam <= 1 and self.lm is None:
      return greedy_decode(log_probs_TxK)[0]
    return beam_search(log_probs_TxK, max(self.beam, 1), self.lm, self.lm_weight,
                       self.insertion_bonus)[0][0]


def load_lm(path: str | os.PathLike[str], alphabet: Alphabet, order: int = 4,
            notes: list[str] | None = None) -> CharLM:
  """A saved LM (.json), or one trained now on a text file (one transcription per line) or on
  the training split's transcriptions of a prepared data folder. What was trained on (and
  skipped) is said in `notes`, for the caller to show."""
  notes = [] if notes is None else notes
  if str(path).endswith(".json"):
    return CharLM.load(path, alphabet)
  if Path(path).is_dir():
    data = Prepared(path)
    # The split the folder's statistics came from: never a test split (an official-protocol
    # folder has trainset / testset_t / testset_f and no "train").
    split = data.meta.get("train_split") or ("train" if "train" in data.splits else None)
    if split not in data.splits:
      raise DataError(path, f"no training split to train a language model on (splits: "
                            f"{', '.join(data.splits)}); pass a text file instead")
    ragged = data.strokes(split) if data.has_strokes(split) else data.images(split)
    texts = [str(t) for t in ragged.texts if not alphabet.unknown(str(t))]
    notes.append(f"language model: {order}-gram on {len(texts)} {split} lines of {path}")
    return CharLM.train(texts, order, alphabet)
  report = SkipReport()
  lm = CharLM.from_file(path, alphabet, order, report=report)
  if len(report):
    notes.append(f"language model: skipped {len(report)} lines of {path} with unknown "
                 "characters")
  return lm


def load(workdir: str | os.PathLike[str]) -> tuple[nnx.Module, RecognizerSpec]:
  model, spec, _ = load_with_meta(workdir)
  return model, spec


def read_spec(workdir: str | os.PathLike[str]) -> tuple[dict, RecognizerSpec]:
  """The checkpoint meta and reader spec of `workdir` (no weights read); CheckpointError when
  it holds no recognizer."""
  meta = read_checkpoint_meta(workdir)
  if meta.get("task") != "recognizer":
    raise CheckpointError(f"{workdir} holds a {meta.get('task', 'unknown')!r} checkpoint, "
                          "not a recognizer")
  return meta, RecognizerSpec.from_meta(meta)


def load_with_meta(workdir: str | os.PathLike[str]) -> tuple[nnx.Module, RecognizerSpec, dict]:
  meta, spec = read_spec(workdir)
  model, _ = restore_model(workdir, spec)
  return model, spec, meta


def posteriors(model: nnx.Module, spec: RecognizerSpec, inputs: Sequence[np.ndarray]
               ) -> list[np.ndarray]:
  """Per line, log-softmax frame posteriors [T_valid, K]; inputs as the input pipeline stores them
  (images [H, W] uint8 ink-high, or normalised strokes [T, 3])."""
  graphdef, params = nnx.split(model)
  forward = _forward(graphdef)
  out = []
  for start in range(0, len(inputs), BATCH):
    chunk = list(inputs[start:start + BATCH])
    n = len(chunk)
    # Batch sizes rounded up to a power of two (copies of the last line, dropped after): few
    # compiled shapes however many lines a call reads (widths are bucketed by `spec.batch`).
    chunk = pad_to_power_of_two(chunk)
    weight = np.ones(len(chunk))
    batch = spec.batch(chunk, [np.zeros(0, np.int32)] * len(chunk), weight)
    logp, mask = forward(params, batch["inputs"], batch["mask"])
    logp, mask = np.asarray(logp), np.asarray(mask)
    out.extend(logp[b][mask[b] > 0] for b in range(n))
  return out


@functools.lru_cache(maxsize=4)  # one compiled forward per model structure, a few kept
def _forward(graphdef: nnx.GraphDef):
  def f(params, x, mask):
    logits, frame_mask = nnx.merge(graphdef, params)(x, mask)
    return jax.nn.log_softmax(logits, axis=-1), frame_mask
  return jax.jit(f)


def transcribe(model: nnx.Module, spec: RecognizerSpec, inputs: Sequence[np.ndarray],
               decoder: Decoder) -> list[str]:
  return [spec.alphabet.decode(decoder(lp)) for lp in posteriors(model, spec, inputs)]


def evaluate(workdir: str | os.PathLike[str], data: str, split: str, decoder: Decoder
             ) -> dict[str, float]:
  """CER and WER (total edits / total reference length, as papers report them) on `split`."""
  model, spec, meta = load_with_meta(workdir)
  splits = Splits(data, eval=split)  # every line of the split; no training split
  prepared = Prepared(splits.folder)
  # The whole split is scored: lines with unknown characters are kept, those count as errors.
  rules = LineRules.of(spec.config, on_unknown="score")
  # In the reader's own units and alphabet, whatever folder the lines come from: strokes
  # normalised with its statistics, characters it cannot write counted as errors.
  pipeline = input_pipeline(spec.config, prepared, splits, rules, alphabet=spec.alphabet,
                            stats=spec.stats)
  refs = pipeline.eval["texts"]
  if not refs:
    raise DataError(data, f"split {split!r} has no usable lines")
  hyps = transcribe(model, spec, pipeline.eval["inputs"], decoder)
  c, w = char_errors(refs, hyps), word_errors(refs, hyps)
  units = None
  if spec.stats is not None:
    mean, std = (", ".join(f"{v:.3f}" for v in a) for a in spec.stats)
    units = (f"strokes normalised with the reader's own statistics (mean {mean}, std {std}); "
             f"texts scored against its alphabet of {len(spec.alphabet.chars)} characters")
  return {"cer": c.rate, "wer": w.rate, "lines": len(refs), "skipped": len(pipeline.report),
          "step": meta["step"], "units": units,
          "char_edits": c.edits, "chars": c.ref_len, "examples": list(zip(refs, hyps))[:5]}


def plot_posteriors(image_HxW: np.ndarray, log_probs_TxK: np.ndarray, chars: str, text: str,
                    path: str | os.PathLike[str]) -> None:
  """The network's input image (ink high) above its CTC output probabilities per frame (blank
  in grey; `chars[k - 1]` labels class k), as a PNG."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  probs = np.exp(log_probs_TxK)
  fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(12, 5), sharex=False)
  ax0.imshow(255 - image_HxW, cmap="gray", aspect="auto")
  ax0.set_title(text)
  ax0.axis("off")
  t = np.arange(len(probs))
  ax1.fill_between(t, probs[:, 0], color="0.85", label="blank")
  best = probs[:, 1:].argmax(1) + 1
  for k in np.unique(best):
    ax1.plot(t, probs[:, k], lw=1)
    peak = np.argmax(probs[:, k])
    if probs[peak, k] > 0.3:
      ax1.annotate(chars[k - 1], (peak, probs[peak, k]), ha="center")
  ax1.set_xlim(0, max(len(probs) - 1, 1))
  ax1.set_ylim(0, 1.05)
  ax1.set_xlabel("output frame")
  ax1.set_ylabel("p(label)")
  fig.tight_layout()
  fig.savefig(Path(path), dpi=100)
  plt.close(fig)
