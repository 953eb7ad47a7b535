"""The figures the reproduction runner takes from the API's evaluations (`evaluate_writer`,
`evaluate_reader`: fields, not printed text) and how it writes a row of experiments/RESULTS.md
from a run's final_eval.json (see reproduce.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing the API loads JAX
  from handwriting.api.evaluation import ReaderEvaluation, WriterEvaluation

ROW_HEADER = ("| data | network | steps | paper | ours | hardware, wall time | command |\n"
              "| --- | --- | --- | --- | --- | --- | --- |")


class ExperimentError(RuntimeError):
  """A step of an experiment failed (the message names the command) or cannot be built."""


def writer_figures(r: WriterEvaluation) -> dict[str, Any]:
  """final_eval.json's figures of a WriterEvaluation (Graves 2013, Tables 3-4): nats per
  sequence and per point, SSE per point, with the step, split and line count they cover."""
  return {"step": int(r.step), "split": r.split, "lines": int(r.lines),
          "nats_per_sequence": float(r.nats_per_sequence),
          "nats_per_point": float(r.nats_per_point), "sse_per_point": float(r.sse_per_point)}


def reader_figures(r: ReaderEvaluation) -> dict[str, Any]:
  """final_eval.json's figures of a ReaderEvaluation: corpus CER and WER (fractions), the
  character counts the CER is made of, and the decoding."""
  return {"step": int(r.step), "split": r.source, "lines": int(r.lines),
          "skipped": int(r.skipped), "cer": float(r.cer), "wer": float(r.wer),
          "chars": int(r.chars), "char_edits": int(r.char_edits), "decoding": r.decoding}


def figures_cell(label: str, f: dict[str, Any]) -> str:
  """One evaluation's figures as the "ours" cell shows them, with what they cover."""
  where = f"{f['lines']} {f['split']} lines"
  where = where if label == f["split"] else f"{label}, {where}"
  if "cer" in f:
    return f"CER {100 * f['cer']:.2f} %, WER {100 * f['wer']:.2f} % ({where})"
  return (f"{f['nats_per_sequence']:.1f} nats/sequence, SSE {f['sse_per_point']:.4f} "
          f"per point ({where})")


def ours(figures: dict[str, dict[str, Any]]) -> str:
  """The "ours" cell: every evaluation's figures, labelled."""
  return "; ".join(figures_cell(label, f) for label, f in figures.items())


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
