"""Using a trained prediction/synthesis network: load it, write text, sample, evaluate.

Everything here works from a workdir alone: the checkpoint's meta holds the config, the alphabet
and the stroke statistics (`ModelSpec`), so no prepared data folder is needed to write.
"""

from __future__ import annotations

import dataclasses
import os
import textwrap
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from handwriting.data import strokes as strokes_lib
from handwriting.data.alphabet import Alphabet
from handwriting.data.pipeline import Splits
from handwriting.data.prepared import Prepared
from handwriting.synthesis.input_pipeline import LineRules, input_pipeline
from handwriting.synthesis.loss import sequence_loss
from handwriting.synthesis.model import HandwritingNet
from handwriting.synthesis.sample import STALL_STEPS, Samples, sample
from handwriting.synthesis.spec import ModelSpec
from handwriting.train.checkpoint import CheckpointError, read_checkpoint_meta, restore_model

# Step cap per character for end-of-text detection's safety net (section 5.3): IAM-OnDB has
# ~25 points per character; 3x that leaves room for slow writers and pen-up moves.
STEPS_PER_CHAR = 75
DEFAULT_WIDTH = 40  # characters per written line when wrapping long text


def read_spec(workdir: str | os.PathLike[str], model_type: str | None = None
              ) -> tuple[dict, ModelSpec]:
  """The checkpoint meta and model spec of `workdir`; `model_type` checks the kind."""
  meta = read_checkpoint_meta(workdir)
  if "task_meta" not in meta or meta.get("task") not in ("synthesis", "prediction"):
    raise CheckpointError(f"{workdir} holds a {meta.get('task', 'unknown')!r} checkpoint, "
                          "not a prediction or synthesis network")
  if model_type is not None and meta["task"] != model_type:
    hint = "handwriting write" if meta["task"] == "synthesis" else "handwriting sample"
    raise CheckpointError(f"{workdir} holds a {meta['task']} network, not a {model_type} "
                          f"network (use `{hint}` with it)")
  return meta, ModelSpec.from_meta(meta)


def load(workdir: str | os.PathLike[str], model_type: str | None = None
         ) -> tuple[HandwritingNet, ModelSpec]:
  """The trained network of `workdir` and its spec; `model_type` checks the kind."""
  _, spec = read_spec(workdir, model_type)
  model, _ = restore_model(workdir, spec)
  return model, spec


def wrap(text: str, width: int = DEFAULT_WIDTH) -> list[str]:
  """Paragraphs (split at newlines) wrapped into lines of at most `width` characters; a word
  longer than a line is broken."""
  lines = []
  for para in text.splitlines():
    lines.extend(textwrap.wrap(para, width=width, break_long_words=True) or [])
  if not lines:
    raise ValueError("nothing to write: the text is empty")
  return lines


@dataclasses.dataclass
class Written:
  """One written line: its text, pen strokes (absolute, y up, data units) and what made them."""

  text: str
  strokes: list[np.ndarray]
  ink_Nx3: np.ndarray  # normalised offsets, the network's own units (row 0 = start row)
  phi_NxU: np.ndarray  # window weights per step over the line's characters (+1 past the end)
  finished: bool  # end-of-text detected before the step cap, with no stall (sample.py)


def raw_offsets(spec: ModelSpec, ink_Nx3: np.ndarray) -> np.ndarray:
  """A written line's offsets [N, 3] in the data's own units, ending with a pen lift (as every
  recorded line does)."""
  raw = strokes_lib.denormalize(np.asarray(ink_Nx3, np.float32), spec.stroke_mean,
                                spec.stroke_std)
  raw[-1, 2] = 1.0
  return raw


def to_strokes(spec: ModelSpec, ink_Nx3: np.ndarray) -> list[np.ndarray]:
  return strokes_lib.offsets_to_strokes(raw_offsets(spec, ink_Nx3))


def encode(alphabet: Alphabet, texts: Sequence[str]) -> list[np.ndarray]:
  """Labels of each text; characters the model has no symbol for are an error listing them."""
  return [alphabet.encode(t) for t in texts]


def write(model: HandwritingNet, spec: ModelSpec, texts: Sequence[str], *, key: jax.Array,
          bias: float = 0.0, style: tuple[np.ndarray, str] | None = None,
          max_steps: int | None = None, retries: int = 0,
          stall_steps: int | None = STALL_STEPS) -> list[Written]:
  """Writes each text as one line, all in one batch. `style` = (normalised ink [P, 3], its
  text) primes the network (section 5.5): the window reads style text + text and the inputs are
  clamped to the style strokes, which are then cut off the result.

  A line is unfinished when its window stalled (no new character for `stall_steps` steps, see
  sample.STALL_STEPS; the line is cut there) or its end of text was not detected before the
  step cap. `retries`: an unfinished line is written again with fresh noise, up to this many
  times; the batch is sampled whole again (same shapes: no new compilation) and only unfinished
  lines take the new draw: the first that finishes, else the one whose window got furthest into
  its text (the earliest of equals). 0 returns what the network wrote first (what legibility
  scores)."""
  if retries < 0:
    raise ValueError(f"retries must be >= 0, not {retries}")
  if not model.has_window:
    raise ValueError("this is a prediction network: it cannot write given text")
  style_chars = spec.alphabet.encode(style[1]) if style else np.zeros(0, np.int32)
  chars = [np.concatenate([style_chars, c]) for c in encode(spec.alphabet, texts)]
  longest = max(len(c) for c in chars)
  prime = style[0] if style else None
  cap = max_steps or STEPS_PER_CHAR * longest + (len(prime) if prime is not None else 0)
  lengths = [len(c) for c in chars]
  out: list[Written] = []
  for attempt in range(retries + 1):
    s = sample(model, jax.random.fold_in(key, attempt) if attempt else key, spec.start_row(),
               chars=chars, bias=bias, max_steps=cap, prime_ink=prime, stall_steps=stall_steps)
    lines = _split(spec, s, texts, lengths, len(style_chars))
    out = lines if attempt == 0 else [_better(o, w) for o, w in zip(out, lines)]
    if all(w.finished for w in out):
      break
  return out


def _reach(w: Written) -> int:
  """The furthest position of the text the window's weight ever peaked at (0 = the first
  character, len(text) = past the end)."""
  return int(w.phi_NxU.argmax(-1).max()) if w.phi_NxU.size else -1


def _better(kept: Written, new: Written) -> Written:
  """The draw of a line to keep after a retry: a finished one, else the one that got further."""
  if kept.finished or new.finished:
    return kept if kept.finished else new
  return new if _reach(new) > _reach(kept) else kept


def _split(spec: ModelSpec, s: Samples, texts: Sequence[str], lengths: Sequence[int],
           style_len: int) -> list[Written]:
  """Cuts each line out of the batch. Unprimed, a line is rows 0 .. n-1. Primed, the style rows
  (0 .. P-1) are dropped and the line starts at the first generated point, moved to the origin:
  its offset is the jump away from the style's last point, not part of the written text."""
  ink, mask, phi, stalled = (np.asarray(a) for a in (s.ink_BxNx3, s.mask_BxN, s.phi_BxNxU,
                                                      s.stalled_B))
  out = []
  for b, text in enumerate(texts):
    n = int(mask[b].sum())
    first = int(s.prime_B[b]) if int(s.prime_B[b]) > 1 else 0
    line = ink[b, first:n].copy()
    line[0, :2] = spec.start_row()[:2]
    # phi[t] is the window at step t (reading row t, writing row t + 1); columns: the text's
    # characters and the past-the-end position.
    out.append(Written(text, to_strokes(spec, line), line,
                       phi[b, first:n - 1, style_len:lengths[b] + 1],
                       finished=n < ink.shape[1] and not stalled[b]))
  return out


def sample_unconditional(model: HandwritingNet, spec: ModelSpec, *, key: jax.Array,
                         steps: int = 700, lines: int = 1, bias: float = 0.0
                         ) -> list[list[np.ndarray]]:
  """Lines of free handwriting from the prediction network (section 4); one batch per call."""
  if model.has_window:
    raise ValueError("this is a synthesis network: use `write` with a text")
  keys = jax.random.split(key, lines)
  return [to_strokes(spec, np.asarray(sample(model, k, spec.start_row(), bias=bias,
                                             max_steps=steps).ink_BxNx3[0]))
          for k in keys]


def teacher_forced_outputs(model: HandwritingNet, spec: ModelSpec, text: str,
                           ink_Nx3: np.ndarray) -> np.ndarray:
  """Mixture outputs y [N-1, 1+6M] along a line of `text` written as `ink_Nx3` (normalised
  offsets), for the Fig. 10-style density."""
  chars = jnp.asarray(spec.alphabet.encode(text))[None] if model.has_window else None
  y, _, _ = model(jnp.asarray(ink_Nx3[None, :-1]), chars)
  return np.asarray(y[0])


def evaluate(workdir: str | os.PathLike[str], data: str, split: str,
             model_type: str | None = None) -> dict[str, Any]:
  """Mean log-loss in nats per sequence and SSE per point on `split` (Tables 3-4 units).

  The lines are normalised with the model's own statistics and encoded with its alphabet, never
  the folder's: the figures are in the model's units whatever split the folder was prepared
  from. Characters outside the model's alphabet are dropped from the texts (counted in
  `dropped`); lines too long for the model's `max_points` are skipped (`skipped`).
  """
  meta, spec = read_spec(workdir, model_type)
  splits = Splits(data, eval=split)  # every line of the split; no training split
  prepared = Prepared(splits.folder)
  rules = LineRules.of(spec.config, on_unknown="drop")
  pipeline = input_pipeline(spec.config, prepared, splits, rules, alphabet=spec.alphabet,
                            stats=(spec.stroke_mean, spec.stroke_std))
  model, _ = restore_model(workdir, spec)
  graphdef, params = nnx.split(model)
  step = jax.jit(lambda p, b: sequence_loss(nnx.merge(graphdef, p), b, None)[1])
  totals: dict[str, list[float]] = {}
  for batch in pipeline.eval_batches():
    for name, (total, count) in step(params, batch).items():
      acc = totals.setdefault(name, [0.0, 0.0])
      acc[0] += float(total)
      acc[1] += float(count)
  if not totals:
    raise ValueError(f"split {split!r} of {data} has no usable lines")
  reasons = [r for _, r in pipeline.report.items]
  return {"lines": len(pipeline.eval["ink"]), "step": meta["step"],
          **{k: t / max(c, 1.0) for k, (t, c) in totals.items()},
          "skipped": sum(not r.startswith("characters dropped") for r in reasons),
          "dropped": sum(r.startswith("characters dropped") for r in reasons),
          "stroke_mean": spec.stroke_mean.tolist(), "stroke_std": spec.stroke_std.tolist(),
          "alphabet_size": len(spec.alphabet.chars)}
