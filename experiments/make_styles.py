"""Writes the style files shipped with a writer (`handwriting/models/<writer>/styles/*.json`).

A shipped style must not be a line of a licensed database, so each is a line the writer itself
wrote: texts are written at a few seeds and biases, read back by the shipped reader of the
writer's data, and the most legible distinct ones are kept. Run from the repo root:

  python experiments/make_styles.py synthesis-iam-ondb-large --count 4
  python experiments/make_styles.py synthesis-iam-ondb-medium --count 4
  python experiments/make_styles.py synthesis-iam-ondb-small --count 4
  python experiments/make_styles.py synthesis-synthetic-small --count 3
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from handwriting import Reader, Style, Writer, pretrained
from handwriting.recognition.metrics import char_errors

TEXTS = ["the quick brown fox jumps over the lazy dog", "a move to stop Mr. Gaitskell from",
         "nominating any more Labour life Peers", "when he was seven he went to school"]


def candidates(writer: Writer, reader: Reader, seeds: range, bias: float
               ) -> list[tuple[float, int, Style]]:
  """(read-back CER, seed, style) for every text at every seed."""
  out = []
  for seed in seeds:
    pages = writer.write(TEXTS, bias=bias, seed=seed, width=60)
    for page in pages:
      if not page.finished or len(page.lines) != 1:
        continue
      if reader.kind == "strokes":
        read = reader.read(page)[0]
      else:
        read = reader.read(page.image(), pages=False)[0]
      out.append((char_errors([page.text], [read]).rate, seed, Style.from_page(page)))
  return sorted(out, key=lambda c: c[0])


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("writer", help="a shipped synthesis model's name")
  p.add_argument("--count", type=int, default=4)
  p.add_argument("--seeds", type=int, default=6)
  p.add_argument("--bias", type=float, default=1.5)
  args = p.parse_args()
  writer = Writer.load(args.writer)
  reader = Reader.load(pretrained.reader_for(writer.workdir))
  folder = Path(writer.workdir) / "styles"
  shutil.rmtree(folder, ignore_errors=True)
  folder.mkdir()
  kept, texts = 0, set()
  for cer, seed, style in candidates(writer, reader, range(args.seeds), args.bias):
    if style.text in texts:  # distinct texts: distinct looks
      continue
    texts.add(style.text)
    kept += 1
    style.save(folder / f"style-{kept}.json")
    print(f"style-{kept}: seed {seed}, bias {args.bias:g}, read back at CER {100 * cer:.1f}% by "
          f"{reader.name}: {style.text!r}")
    if kept == args.count:
      break


if __name__ == "__main__":
  main()
