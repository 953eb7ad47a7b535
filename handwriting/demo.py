"""`handwriting demo`: the main job on the built-in data, with nothing downloaded.

Prepares the synthetic Hershey handwriting set, draws a few of its lines (strokes and rendered
images), and writes a text as handwriting with the synthesis model shipped in the package
(SVG, PNG rendering, attention plot), then reads the written lines back with the shipped
recognizer and prints the recognised text beside the input and its CER.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

DEFAULT_TEXT = "Handwriting synthesis, after Alex Graves."


def run(out: str | os.PathLike[str], lines: int = 300, seed: int = 0, shown: int = 3,
        text: str = DEFAULT_TEXT) -> Path:
  from handwriting import pretrained
  from handwriting.data import synthetic
  from handwriting.data.render import render_strokes
  from handwriting.draw.show import show
  from handwriting.synthesis.commands import write_command

  start = time.perf_counter()
  out = Path(out)
  data_dir = out / "synthetic"
  synthetic.prepare(str(data_dir), lines=lines, seed=seed)
  for i in range(shown):
    png = out / f"line_{i}.png"
    print(f"wrote {png}: {show(data_dir, 'train', i, png)!r}")
  from handwriting.recognition import inference as reader
  from handwriting.recognition.metrics import char_errors
  rec_model, rec_spec = reader.load(pretrained.resolve(None, "recognizer"))
  for bias in (0.0, 1.0):
    svg = out / f"written_bias{bias:g}.svg"
    written = write_command(text, None, str(svg), bias=bias, seed=seed, width=40, style=None,
                            style_text=None, data=None, stroke_width=2.0, colour="black",
                            plot_attention=str(out / "attention.png") if bias else None,
                            plot_density=None)
    _page_png([w.strokes for w in written], svg.with_suffix(".png"))
    print(f"wrote {svg} and {svg.with_suffix('.png')} (bias {bias:g})")
    # Read the written lines back: render each at the recognizer's height, transcribe.
    images = [render_strokes(w.strokes, height=rec_spec.config.image_height) for w in written]
    read = reader.transcribe(rec_model, rec_spec, images, reader.Decoder())
    counts = char_errors([w.text for w in written], read)
    for w, r in zip(written, read):
      print(f"  written: {w.text!r}\n  read:    {r!r}")
    print(f"  CER of the read-back text (bias {bias:g}): {100 * counts.rate:.1f}%")
  print(f"wrote {out / 'attention.png'} (window weights over the characters)")
  from handwriting.draw.curves import plot_curves
  model_dir = pretrained.resolve(None, "synthesis")
  plot_curves(f"{model_dir}/metrics.jsonl", out / "training_curve.png",
              title=f"shipped model {pretrained.DEFAULTS['synthesis']}")
  print(f"wrote {out / 'training_curve.png'} (the shipped synthesis model's training)")
  print(f"demo finished in {time.perf_counter() - start:.1f} s; outputs in {out}/")
  return out


def _page_png(lines: list[list[np.ndarray]], path: Path, row: int = 64, gap: int = 20) -> None:
  """The written lines as one grey page, all at one scale (the tallest line fills a row)."""
  from PIL import Image

  from handwriting.data.render import render_strokes

  ys = [np.concatenate(s)[:, 1] for s in lines]
  tallest = max(np.ptp(y) for y in ys)
  rows = []
  for strokes, y in zip(lines, ys):
    mid = float(y.min() + y.max()) / 2
    rows.append(255 - render_strokes(strokes, height=row,
                                     y_range=(mid - tallest / 2, mid + tallest / 2)))
  page = Image.new("L", (max(r.shape[1] for r in rows) + 2 * gap, (row + gap) * len(rows) + gap),
                   255)
  for k, r in enumerate(rows):
    page.paste(Image.fromarray(r), (gap, gap + (row + gap) * k))
  page.save(path)
