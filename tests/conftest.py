"""Suite-wide setup: one persistent XLA compilation cache for the whole run.

Most of the suite's time is XLA compiling small models, and many files build the same ones
(the tiny synthesis and recognition presets, the shipped models): the second build of an equal
program, in the same worker or the other xdist worker, then loads it from disk instead of
compiling it again. The cache lives for one run only: the first process of a run (xdist's
controller, which loads this file before it starts the workers, or the one process without
xdist) names a fresh folder, its workers inherit the name, and it removes the folder at the
end, so a run never reads what an earlier one wrote.
HANDWRITING_TEST_COMPILE_CACHE=0 turns it off.

XLA also compiles the suite's programs with LLVM's optimisations off
(--xla_backend_optimization_level=0): the suite's programs are small and run for moments, so
optimising their machine code cost more than it saved (the recognizer's CLI round trip took
29 s with it, 21 s without). The flags are those of the program, not its maths: the same HLO
is run, and no benchmark or training run sees them. Tests that start processes of their own
pass on HANDWRITING_TEST_XLA_FLAGS. HANDWRITING_TEST_FAST_COMPILE=0 turns this off.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid

import jax

if os.environ.get("HANDWRITING_TEST_FAST_COMPILE", "1") != "0":
  # Set before the first computation, which is when XLA reads its flags; xdist's workers
  # inherit both variables, so the flags are added once.
  os.environ.setdefault("HANDWRITING_TEST_XLA_FLAGS", "--xla_backend_optimization_level=0")
  _flags = os.environ.get("XLA_FLAGS", "")
  if os.environ["HANDWRITING_TEST_XLA_FLAGS"] not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} {os.environ['HANDWRITING_TEST_XLA_FLAGS']}".strip()
else:
  os.environ["HANDWRITING_TEST_XLA_FLAGS"] = ""

_ENABLED = os.environ.get("HANDWRITING_TEST_COMPILE_CACHE", "1") != "0"
CACHE_DIR = os.environ.setdefault(
  "HANDWRITING_TEST_COMPILE_CACHE_DIR",
  os.path.join(tempfile.gettempdir(), f"handwriting-test-xla-cache-{uuid.uuid4().hex}"))

if _ENABLED:
  jax.config.update("jax_compilation_cache_dir", CACHE_DIR)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_sessionfinish(session, exitstatus):
  if not hasattr(session.config, "workerinput"):  # the controller, or a run without xdist
    shutil.rmtree(CACHE_DIR, ignore_errors=True)
