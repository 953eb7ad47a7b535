"""What the reproduction runner reads from `handwriting`'s printed output (the figures of an
`evaluate` summary line, the step and final evaluation of a `train` run) and how it writes a
row of experiments/RESULTS.md from a run's final_eval.json (see reproduce.py)."""

from __future__ import annotations

import re
from typing import Any

ROW_HEADER = ("| data | network | steps | paper | ours | hardware, wall time | command |\n"
              "| --- | --- | --- | --- | --- | --- | --- |")


class ExperimentError(RuntimeError):
  """A step of an experiment failed (the message names the command) or cannot be built."""


_NUMBER = r"(-?(?:\d+(?:\.\d*)?|nan|inf))"
_SEQUENCE_RE = re.compile(
  r"(?P<model>synthesis|prediction) step (?P<step>\d+) on (?P<split>\S+) \((?P<lines>\d+) "
  rf"lines\): log-loss {_NUMBER} nats/sequence, {_NUMBER} nats/point, SSE {_NUMBER} per point")
_RECOGNIZER_RE = re.compile(
  r"recognizer step (?P<step>\d+) on (?P<split>\S+) \((?P<lines>\d+) lines, (?P<skipped>\d+) "
  rf"skipped\): CER {_NUMBER}% WER {_NUMBER}%")
_TRAINED_RE = re.compile(r"trained \S+ to step (\d+) in (\d+) s(?:; eval: (.*))?$", re.MULTILINE)


def parse_figures(printed: str) -> dict[str, Any]:
  """The figures of the last `handwriting evaluate` summary line in `printed`.

  Synthesis/prediction: nats_per_sequence, nats_per_point, sse_per_point; recognizer: cer and wer
  (fractions, as printed / 100); both: step, split, lines (and skipped).
  """
  seq, rec = list(_SEQUENCE_RE.finditer(printed)), list(_RECOGNIZER_RE.finditer(printed))
  if rec and (not seq or rec[-1].start() > seq[-1].start()):
    m = rec[-1]
    cer, wer = float(m.group(5)), float(m.group(6))
    return {"step": int(m["step"]), "split": m["split"], "lines": int(m["lines"]),
            "skipped": int(m["skipped"]), "cer": cer / 100, "wer": wer / 100}
  if seq:
    m = seq[-1]
    return {"step": int(m["step"]), "split": m["split"], "lines": int(m["lines"]),
            "nats_per_sequence": float(m.group(5)), "nats_per_point": float(m.group(6)),
            "sse_per_point": float(m.group(7))}
  raise ExperimentError("no evaluation summary line in the output:\n" + printed[-2000:])


def parse_trained(printed: str) -> dict[str, Any]:
  """Step, seconds and final-eval metrics from `handwriting train`'s last line ({} if absent)."""
  found = list(_TRAINED_RE.finditer(printed))
  if not found:
    return {}
  step, seconds, shown = found[-1].groups()
  metrics = {}
  for pair in (shown or "").split(", "):
    key, _, value = pair.rpartition(" ")
    if key:
      metrics[key] = float(value)
  return {"step": int(step), "seconds": int(seconds), "eval": metrics}


def ours(figures: dict[str, dict[str, Any]]) -> str:
  """The "ours" cell: every evaluation's figures, labelled."""
  cells = []
  for label, f in figures.items():
    where = f"{f['lines']} {f['split']} lines"
    where = where if label == f["split"] else f"{label}, {where}"
    if "cer" in f:
      cells.append(f"CER {100 * f['cer']:.2f} %, WER {100 * f['wer']:.2f} % ({where})")
    else:
      cells.append(f"{f['nats_per_sequence']:.1f} nats/sequence, SSE {f['sse_per_point']:.4f} "
                   f"per point ({where})")
  return "; ".join(cells)


def markdown_row(result: dict[str, Any]) -> str:
  """One row in ROW_HEADER's columns; cpu_smoke rows say that they are no result."""
  data = f"{result['note']}: {result['data']}" if result["note"] else result["data"]
  if result["variant"] == "cpu_smoke":
    data = f"cpu_smoke pipeline check, not a result: {data}"
  device = result["device"]
  calls = len(result.get("earlier_calls", [])) + 1
  train_s = result.get("train_wall_s_all_calls", result["wall_s"]["train"])
  hardware = (f"{device['count']} x {device['kind']}, train {train_s:.0f} s"
              + (f" over {calls} calls" if calls > 1 else "")
              + f", this call {result['wall_s']['total']:.0f} s in all")
  cells = [data, result["network"], str(result["step"]), result["paper"] or "(none)",
           ours(result["figures"]), hardware, f"`{result['commands']['script']}`"]
  return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
