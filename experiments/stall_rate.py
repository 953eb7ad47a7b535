"""How often a writer's lines stall, and what stall detection and retries do about it.

A stalled line is one whose attention window stops advancing: the network draws in place (tiny
strokes, or one character over and over) and rarely recovers. `synthesis/sample.py` stops such a
line after STALL_STEPS steps without a new character; `write --retries N` then writes it again
with fresh noise. Run from the repo root:

  python experiments/stall_rate.py                                   # the default writer
  python experiments/stall_rate.py --writer synthesis-iam-ondb-small --seeds 3 --retries 2 4

For each bias: the share of lines unfinished at the first try with detection off (the step cap
cut the line before its end of text) and on (stalled, or cut), the share still unfinished after
each number of retries, and the seconds of each setting (all lines of all seeds). The texts are
experiments/data/legibility_texts.txt, one line each, all in one batch per seed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax

from handwriting import Writer
from handwriting.synthesis import inference
from handwriting.synthesis.model import HandwritingNet
from handwriting.synthesis.spec import ModelSpec

TEXTS = Path(__file__).parent / "data" / "legibility_texts.txt"


def unfinished(model: HandwritingNet, spec: ModelSpec, texts: list[str], bias: float,
               seeds: int, retries: int, stall_steps: int | None,
               max_steps: int | None = None) -> tuple[float, float]:
  """(share of lines unfinished, seconds) over `seeds` batches of `texts` (one per seed)."""
  left, start = 0, time.perf_counter()
  for seed in range(seeds):
    out = inference.write(model, spec, texts, key=jax.random.key(seed), bias=bias,
                          retries=retries, stall_steps=stall_steps, max_steps=max_steps)
    left += sum(not w.finished for w in out)
  return left / (seeds * len(texts)), time.perf_counter() - start


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--writer", default=None, help="a shipped synthesis model or a workdir")
  p.add_argument("--texts", default=str(TEXTS))
  p.add_argument("--biases", type=float, nargs="+", default=[0.5, 1.0, 2.0])
  p.add_argument("--seeds", type=int, default=3)
  p.add_argument("--retries", type=int, nargs="+", default=[2, 4])
  args = p.parse_args()
  writer = Writer.load(args.writer)
  texts = [t.strip() for t in Path(args.texts).read_text().splitlines() if t.strip()]
  inference.write(writer.model, writer.spec, texts, key=jax.random.key(99))  # compile once
  print(f"{writer.name}: {len(texts)} texts x {args.seeds} seeds; unfinished lines (seconds)")
  head = ["bias", "no detection", "detection"] + [f"+{r} retries" for r in args.retries]
  print("| " + " | ".join(head) + " |\n|" + " --- |" * len(head))
  for bias in args.biases:
    cells = [f"{bias:g}"]
    for retries, stall in [(0, None), (0, inference.STALL_STEPS)] + [
        (r, inference.STALL_STEPS) for r in args.retries]:
      share, seconds = unfinished(writer.model, writer.spec, texts, bias, args.seeds, retries,
                                  stall)
      cells.append(f"{100 * share:.1f} % ({seconds:.1f} s)")
    print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
  main()
