"""`handwriting demo`: the main job on the built-in data, with nothing downloaded.

Prepares the synthetic Hershey handwriting set and draws a few of its lines; writes a text as
handwriting with the synthesis models shipped in the package (SVG and PNG pages: real
handwriting from the IAM-OnDB model at two biases, and the synthetic-data model plain and in two
styles primed from the synthetic lines); reads every page back with the shipped reader of the
same data and prints the recognised text beside the input with its CER; saves the attention plot
and the training curves of the shipped models.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

DEFAULT_TEXT = "Handwriting synthesis, after Alex Graves."
# Characters per written line, per writer: about what its training lines hold (IAM-OnDB 35-50,
# the synthetic set at most 40).
LINE_WIDTH = {"synthesis-iam-ondb-small": 50, "synthesis-iam-ondb-medium": 50,
              "synthesis-iam-ondb-large": 50}
DEFAULT_WIDTH = 40


def run(out: str | os.PathLike[str], lines: int = 300, seed: int = 0, shown: int = 3,
        text: str = DEFAULT_TEXT) -> Path:
  from handwriting import pretrained
  from handwriting.data import synthetic
  from handwriting.draw.show import show

  start = time.perf_counter()
  out = Path(out)
  data_dir = out / "synthetic"
  synthetic.prepare(str(data_dir), lines=lines, seed=seed)
  for i in range(shown):
    png = out / f"line_{i}.png"
    print(f"wrote {png}: {show(data_dir, 'train', i, png)!r}")

  writer, synthetic_writer = pretrained.DEFAULTS["synthesis"], pretrained.SYNTHETIC_SYNTHESIS
  pages = [(f"written_bias{b:g}", writer, b, None) for b in (0.0, 1.0)]
  # The licence-free writer trained on the synthetic set, also in two styles primed from its
  # lines (section 5.5): priming needs strokes of the writer's own data.
  pages.append(("written_synthetic", synthetic_writer, 1.0, None))
  pages += [(f"written_style{s}", synthetic_writer, 1.0, str(s)) for s in (0, 1)]
  errors = {}
  for name, model, bias, style in pages:
    errors[name] = _write_and_read(text, out / f"{name}.svg", model, bias, style, data_dir, seed,
                                   attention=out / "attention.png" if name == "written_bias1"
                                   else None)
  print(f"wrote {out / 'attention.png'} (window weights over the characters)")
  print("read-back CER per page: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in errors.items()))

  from handwriting.draw.curves import plot_curves
  shown_models = [writer, pretrained.READER_FOR[writer], pretrained.DEFAULTS["recognizer"],
                  synthetic_writer, pretrained.READER_FOR[synthetic_writer]]
  for model in dict.fromkeys(shown_models):
    if model in pretrained.available():
      png = out / f"training_curve_{model}.png"
      plot_curves(f"{pretrained.MODELS_DIR / model}/metrics.jsonl", png,
                  title=f"shipped model {model}")
      print(f"wrote {png} (its training)")
  print(f"demo finished in {time.perf_counter() - start:.1f} s; outputs in {out}/")
  return out


def _write_and_read(text: str, svg: Path, model: str, bias: float, style: str | None,
                    data_dir: Path, seed: int, attention: Path | None) -> float:
  """Writes `text` with shipped `model` (SVG + PNG page), reads it back with the shipped reader
  of the same data, prints both and returns the CER."""
  from handwriting import legibility, pretrained
  from handwriting.api.page import points_to_offsets
  from handwriting.api.style import Style
  from handwriting.draw import synthesis_plots
  from handwriting.recognition.inference import Decoder
  from handwriting.recognition.metrics import char_errors

  writer = _load_writer(model)
  primer = Style.from_prepared(data_dir, int(style)) if style is not None else None
  page, = writer.write(text, bias=bias, seed=seed, style=primer,
                       width=LINE_WIDTH.get(model, DEFAULT_WIDTH))
  page.save(svg)
  page.save(svg.with_suffix(".png"))
  if attention:
    line = page.lines[0]
    synthesis_plots.plot_attention(line.phi, line.text, attention,
                                   ink_Tx3=points_to_offsets(line.points))
  how = f"style of synthetic line {style}, " if style is not None else ""
  print(f"wrote {svg} and {svg.with_suffix('.png')} ({model}, {how}bias {bias:g})")
  reader_name = pretrained.reader_for(model)
  reader = _load_reader(reader_name)
  # The reader sees the lines as legibility.py gives them: in its own input form and units.
  inputs = legibility.offsets_inputs([points_to_offsets(line.points) for line in page.lines],
                                     writer.spec.stroke_std, reader.spec)
  read = reader.transcribe(inputs, Decoder())
  for line, r in zip(page.lines, read):
    print(f"  written: {line.text!r}\n  read:    {r!r}")
  rate = char_errors([line.text for line in page.lines], read).rate
  print(f"  CER of the text read back by {reader_name}: {100 * rate:.1f}%")
  return rate


@functools.cache  # each shipped model writes or reads several pages: loaded once
def _load_writer(name: str):
  from handwriting.api.writer import Writer
  return Writer.load(name)


@functools.cache
def _load_reader(name: str):
  from handwriting import pretrained
  from handwriting.recognition.files import Reader
  return Reader(pretrained.resolve(name, "recognizer"))
