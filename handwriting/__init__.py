"""handwriting: Graves' handwriting recognition and synthesis in JAX.

The Python API (documented in the README):

  from handwriting import Writer, Reader, Style
  page, = Writer.load().write("hello world", bias=1.0)   # text -> pen strokes (a Page)
  page.save("hello.svg")
  style = Style.from_strokes(points_Nx3, "what they write")  # a user's own hand
  Reader.load().read(["line.png"])                        # images -> text

and `evaluate_writer`, `evaluate_reader`, `evaluate_legibility`, `get_config`,
`train_and_evaluate`. Names are imported on first use, so `import handwriting` (and the command
line's start) does not load JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
  "Page": "handwriting.api.page", "Line": "handwriting.api.page",
  "Style": "handwriting.api.style",
  "Writer": "handwriting.api.writer",
  "Reader": "handwriting.api.reader", "Reading": "handwriting.api.reader",
  "evaluate_writer": "handwriting.api.evaluation",
  "evaluate_reader": "handwriting.api.evaluation",
  "evaluate_legibility": "handwriting.api.evaluation",
  "WriterEvaluation": "handwriting.api.evaluation",
  "ReaderEvaluation": "handwriting.api.evaluation",
  "get_config": "handwriting.api.training",
  "train_and_evaluate": "handwriting.api.training",
}
__all__ = ["Line", "Page", "Reader", "ReaderEvaluation", "Reading", "Style", "Writer",
           "WriterEvaluation", "evaluate_legibility", "evaluate_reader", "evaluate_writer",
           "get_config", "train_and_evaluate"]


def __getattr__(name: str) -> Any:
  if name in _EXPORTS:
    return getattr(importlib.import_module(_EXPORTS[name]), name)
  raise AttributeError(f"module 'handwriting' has no attribute {name!r}")


def __dir__() -> list[str]:
  return sorted(list(globals()) + __all__)
