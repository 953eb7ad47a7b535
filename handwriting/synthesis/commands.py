"""What `handwriting write`, `sample` and `evaluate synthesis|prediction` do (cli.py parses)."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from handwriting import pretrained
from handwriting.data import strokes as strokes_lib
from handwriting.data.prepared import Prepared
from handwriting.data.report import DataError
from handwriting.draw.svg import write_svg
from handwriting.synthesis import inference
from handwriting.synthesis.task import ModelSpec


def load_style(spec: ModelSpec, style: str, style_text: str | None, data: str | None,
               split: str = "valid") -> tuple[np.ndarray, str]:
  """Priming strokes (normalised [P, 3]) and their text: `style` is a line index of a prepared
  folder's split, or an IAM-OnDB stroke XML file (its text from `style_text`)."""
  if style.isdigit():
    folder = data or spec.config.get("data", "")
    if not folder:
      raise DataError("--style", "a style index needs --data PREPARED_DIR")
    prepared = Prepared(folder)
    if split not in prepared.splits:
      split = prepared.splits[-1]
    lines = prepared.strokes(split)
    i = int(style)
    if not 0 <= i < len(lines):
      raise DataError(folder, f"style index {i} out of range: split {split!r} has {len(lines)}")
    ink = prepared.denormalized(lines[i])
    text = str(lines.texts[i])
  else:
    from handwriting.data.iam_ondb import read_stroke_xml
    path = Path(style)
    if not path.exists():
      raise DataError(path, "style file not found")
    if not style_text:
      raise DataError(path, "a style stroke file needs its transcription: --style-text TEXT")
    ink = strokes_lib.points_to_offsets(read_stroke_xml(path.read_bytes(), str(path)),
                                        name=str(path))
    text = style_text
  spec.alphabet.encode(text)  # unknown characters: a clear error now
  norm = strokes_lib.normalize(ink, spec.stroke_mean, spec.stroke_std)
  return norm.astype(np.float32), text + " "


def write_command(text: str, workdir: str | None, output: str, *, bias: float, seed: int,
                  width: int, style: str | None, style_text: str | None, data: str | None,
                  stroke_width: float, colour: str, plot_attention: str | None,
                  plot_density: str | None) -> list[inference.Written]:
  model, spec = inference.load(pretrained.resolve(workdir, "synthesis"), "synthesis")
  lines = inference.wrap(text, width)
  inference.encode(spec.alphabet, lines)  # fail before any compute on unknown characters
  primer = load_style(spec, style, style_text, data) if style is not None else None
  written = inference.write(model, spec, lines, key=jax.random.key(seed), bias=bias,
                            style=primer)
  write_svg(output, [w.strokes for w in written], stroke_width=stroke_width, colour=colour)
  from handwriting.draw import synthesis_plots
  units = (spec.stroke_mean, spec.stroke_std)  # plots in the data's own units
  if plot_attention:
    synthesis_plots.plot_attention(written[0].phi_NxU, written[0].text, plot_attention,
                                   ink_Tx3=written[0].ink_Nx3, normalisation=units)
  if plot_density:
    y = inference.teacher_forced_outputs(model, spec, written[0])
    synthesis_plots.plot_density(y, written[0].ink_Nx3, plot_density, normalisation=units,
                                 title=f"predicted density along {written[0].text!r}")
  return written


def sample_command(workdir: str | None, output: str, *, lines: int, steps: int, bias: float,
                   seed: int, stroke_width: float, colour: str) -> None:
  model, spec = inference.load(pretrained.resolve(workdir, "prediction"), "prediction")
  drawn = inference.sample_unconditional(model, spec, key=jax.random.key(seed), steps=steps,
                                         lines=lines, bias=bias)
  write_svg(output, drawn, stroke_width=stroke_width, colour=colour)


def evaluate_command(model_type: str, workdir: str | None, data: str, split: str
                     ) -> dict[str, float]:
  return inference.evaluate(pretrained.resolve(workdir, model_type), data, split, model_type)
