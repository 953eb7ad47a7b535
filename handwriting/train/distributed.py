"""Training on several hosts: one process per host with `jax.distributed`, one global mesh.

Every process runs the same loop on the same config. The data of a step is a pure function of
the step (train/task.py), so each process builds the batch of that step and keeps only its own
rows of it on its own devices (`sharding.shard_batch`): together they feed the global batch, and
the gradient is the mean over all of it, as on one host. Parameters start identical (same seed)
and stay so (replicated). Checkpoints go through Orbax, which writes replicated arrays once, from
the primary process, into the shared workdir; the metrics log and progress lines come from the
primary process only. Resuming reads the same checkpoint on every host.

  # host 0 (the coordinator) and host 1, same command apart from --process-id:
  handwriting train synthesis --data prepared/ --workdir /shared/runs/x --preset graves \\
      --coordinator host0:12355 --num-processes 2 --process-id 0

On TPU pods and SLURM clusters `jax.distributed.initialize()` finds these values itself:
pass `--coordinator auto`.
"""

from __future__ import annotations

import jax
from tqdm import tqdm

_initialized = False


def initialize(coordinator: str, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Joins the run's processes (call before any other JAX work); "auto" lets JAX detect the
  cluster (TPU, SLURM, ...). On CPU the cross-process collectives use Gloo."""
  global _initialized
  if _initialized:
    return
  jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives only
  if coordinator == "auto":
    jax.distributed.initialize()
  else:
    if num_processes is None or process_id is None:
      raise ValueError("--coordinator needs --num-processes and --process-id")
    if not 0 <= process_id < num_processes:
      raise ValueError(f"--process-id must be in 0..{num_processes - 1}, got {process_id}")
    jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id)
  _initialized = True


def is_primary() -> bool:
  """True on the process that logs and prints (process 0; the only one on a single host)."""
  return jax.process_index() == 0


def say(line: str) -> None:
  """A progress line, from the primary process only (the others would repeat it)."""
  if is_primary():
    tqdm.write(line)
