"""Legibility of synthesized handwriting: write texts with a synthesis network, read them back
with a recognizer, and score the reading (CER / WER) per sampling bias.

Graves (2013, section 5.4) judges biased samples by eye ("more legible"); this puts a number on it.
The reader sees what the writer produced in the reader's own input form:
  * an online (BLSTM) reader gets the pen offsets, mapped from the synthesis model's data units
    to the reader's by the ratio of their training offsets' standard deviations (1 when both
    were trained on the same data), then normalised with the reader's statistics;
  * an image (MDLSTM) reader gets each line rendered at its image height.
The same key writes every bias, so the biases are compared on the same random draws.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from handwriting.data import strokes as strokes_lib
from handwriting.data.render import render_strokes
from handwriting.data.report import DataError
from handwriting.recognition import inference as reader_lib
from handwriting.recognition.metrics import char_errors, word_errors
from handwriting.recognition.spec import RecognizerSpec
from handwriting.synthesis import inference as writer_lib
from handwriting.synthesis.spec import ModelSpec


@dataclasses.dataclass
class BiasScore:
  bias: float
  cer: float  # total character edits / total reference characters (as papers report CER)
  wer: float
  lines: int
  finished: float  # fraction of lines whose end of text was detected (no stall, not cut at the cap)
  seconds: float  # writing + reading time of all lines at this bias
  examples: list[tuple[str, str]]  # (text, what the reader read), first few lines


def read_texts(path: str | os.PathLike[str]) -> list[str]:
  """One text per line of a UTF-8 file; blank lines are ignored. An empty file is an error."""
  path = Path(path)
  if not path.is_file():
    raise DataError(path, "texts file not found")
  try:
    texts = [t.strip() for t in path.read_text(encoding="utf-8").splitlines()]
  except UnicodeDecodeError as e:
    raise DataError(path, f"not UTF-8 text: {e}") from None
  texts = [t for t in texts if t]
  if not texts:
    raise DataError(path, "no texts (one per line)")
  return texts


def reader_inputs(written: Sequence[writer_lib.Written], writer: ModelSpec,
                  reader: RecognizerSpec) -> list[np.ndarray]:
  """The written lines in the reader's input form (see the module docstring)."""
  return offsets_inputs([writer_lib.raw_offsets(writer, w.ink_Nx3) for w in written],
                        writer.stroke_std, reader)


def offsets_inputs(raw_offsets: Sequence[np.ndarray], writer_std: np.ndarray,
                   reader: RecognizerSpec) -> list[np.ndarray]:
  """Lines of offsets [N, 3] in the writer's data units (std `writer_std`) in the reader's
  input form (see the module docstring)."""
  if reader.input_kind == "images":
    return [render_strokes(strokes_lib.offsets_to_strokes(raw),
                           height=reader.config.image_height) for raw in raw_offsets]
  scale = float(np.mean(reader.stroke_std / writer_std))
  out = []
  for raw in raw_offsets:
    raw = np.array(raw, np.float32)
    raw[:, :2] *= scale
    out.append(strokes_lib.normalize(raw, reader.stroke_mean, reader.stroke_std))
  return out


def score(writer: tuple, reader: tuple, texts: Sequence[str], biases: Sequence[float], *,
          decoder: reader_lib.Decoder, seed: int = 0, batch: int = 16,
          keep: int = 3, retries: int = 0
          ) -> tuple[list[BiasScore], dict[float, list[writer_lib.Written]]]:
  """CER/WER of `reader` = (model, spec) reading what `writer` = (model, spec) wrote, per bias.
  Returns the scores and, per bias, the first `keep` written lines (for drawing). `retries`
  rewrites lines that never finished (inference.write); 0 scores the network as it writes."""
  (w_model, w_spec), (r_model, r_spec) = writer, reader
  writer_lib.encode(w_spec.alphabet, texts)  # unknown characters: one clear error, before work
  # One step cap for every chunk (the longest text's), so chunks share compiled samplers.
  cap = writer_lib.STEPS_PER_CHAR * max(len(t) for t in texts)
  scores, kept = [], {}
  for bias in biases:
    start = time.perf_counter()
    written: list[writer_lib.Written] = []
    for c, first in enumerate(range(0, len(texts), batch)):
      chunk = list(texts[first:first + batch])
      key = jax.random.fold_in(jax.random.key(seed), c)  # same draws for every bias
      written += writer_lib.write(w_model, w_spec, chunk, key=key, bias=bias, max_steps=cap,
                                  retries=retries)
    read = reader_lib.transcribe(r_model, r_spec, reader_inputs(written, w_spec, r_spec),
                                 decoder)
    refs = [w.text for w in written]
    scores.append(BiasScore(
      bias=float(bias), cer=char_errors(refs, read).rate, wer=word_errors(refs, read).rate,
      lines=len(refs), finished=float(np.mean([w.finished for w in written])),
      seconds=time.perf_counter() - start, examples=list(zip(refs, read))[:keep]))
    kept[float(bias)] = written[:keep]
  return scores, kept


def table(scores: Sequence[BiasScore]) -> str:
  rows = ["| bias | CER % | WER % | lines | finished % | seconds |",
          "| --- | --- | --- | --- | --- | --- |"]
  rows += [f"| {s.bias:g} | {100 * s.cer:.2f} | {100 * s.wer:.2f} | {s.lines} | "
           f"{100 * s.finished:.0f} | {s.seconds:.1f} |" for s in scores]
  return "\n".join(rows)


def plot(scores: Sequence[BiasScore], path: str | os.PathLike[str], title: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(5, 3.2))
  b = [s.bias for s in scores]
  ax.plot(b, [100 * s.cer for s in scores], "o-", label="CER")
  ax.plot(b, [100 * s.wer for s in scores], "s--", label="WER")
  ax.set(xlabel="sampling bias b (Graves 2013, eqs 61-62)", ylabel="error rate (%)",
         ylim=(0, None))
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def run(synthesis_dir: str, reader_dir: str, texts: str | os.PathLike[str] | Sequence[str],
        biases: Sequence[float], out: str | os.PathLike[str] | None,
        decoder: reader_lib.Decoder, seed: int = 0, batch: int = 16, retries: int = 0
        ) -> list[BiasScore]:
  """`handwriting evaluate legibility`: scores per bias; with `out`, also legibility.json,
  legibility.png and a sample SVG per bias there. `texts`: a file (one per line) or a list."""
  from handwriting.draw.svg import write_svg

  text_list = read_texts(texts) if isinstance(texts, (str, os.PathLike)) else list(texts)
  if not text_list:
    raise DataError("texts", "no texts to write")
  writer = writer_lib.load(synthesis_dir, "synthesis")
  reader = reader_lib.load(reader_dir)
  scores, kept = score(writer, reader, text_list, biases, decoder=decoder, seed=seed,
                       batch=batch, retries=retries)
  if out is None:
    return scores
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  for bias, written in kept.items():
    write_svg(out / f"written_bias{bias:g}.svg", [w.strokes for w in written])
  result = {"synthesis": Path(synthesis_dir).name, "reader": Path(reader_dir).name,
            "texts": str(texts) if isinstance(texts, (str, os.PathLike)) else "list",
            "seed": seed, "retries": retries,
            "decoder": {"beam": decoder.beam, "lm": decoder.lm is not None},
            "scores": [dataclasses.asdict(s) for s in scores]}
  (out / "legibility.json").write_text(json.dumps(result, indent=1))
  plot(scores, out / "legibility.png",
       f"{Path(synthesis_dir).name}\nread by {Path(reader_dir).name}")
  return scores
