"""Load test of `handwriting serve` on this machine: N concurrent clients send write and read
requests to a local server for a fixed time; prints requests/s, p50/p95 latency per kind,
errors, and the server's resident memory after warm-up and at the end.

  python experiments/load_test.py --clients 16 --seconds 60

The server runs as its own process (`handwriting serve` on 127.0.0.1, a free port), so its
memory is its own; requests go to loopback only, and the loop stops by itself after `--seconds`
(and at most `--max-requests`). Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

TEXTS = ["hello world", "a quick note", "the meeting was at noon", "see you soon",
         "handwriting from a server", "one more line of text"]


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def rss_mb(pid: int) -> float:
  for line in Path(f"/proc/{pid}/status").read_text().splitlines():
    if line.startswith("VmRSS:"):
      return int(line.split()[1]) / 1024
  return float("nan")


def post(url: str, body: dict, timeout: float = 120) -> tuple[int, bytes]:
  request = urllib.request.Request(url, json.dumps(body).encode(),
                                   {"Content-Type": "application/json"})
  try:
    with urllib.request.urlopen(request, timeout=timeout) as r:
      return r.status, r.read()
  except urllib.error.HTTPError as e:
    return e.code, e.read()


def drawing(base: str) -> list:
  """A line the server writes, as a browser would send it back to be read (pixels, y down)."""
  _, body = post(base + "api/write", {"text": "simple words", "seed": 1})
  page = json.loads(body.decode().splitlines()[-1])
  strokes, current = [], []
  for i, (x, y, up) in enumerate(page["lines"][0]["points"]):
    current.append([x * 0.25 + 20, 150 - y * 0.25, 8.0 * i])
    if up > 0.5:
      strokes.append(current)
      current = []
  return strokes


def load(base: str, strokes: list, clients: int, seconds: float, max_requests: int
         ) -> tuple[list[tuple[str, float, int]], float]:
  """`clients` threads alternating write and read requests for `seconds` (at most
  `max_requests` in all): (kind, latency, status) per request, and the wall time."""
  results: list[tuple[str, float, int]] = []
  lock = threading.Lock()
  stop_at = time.time() + seconds
  count = [0]

  def client(k: int) -> None:
    i = k
    while time.time() < stop_at:
      with lock:
        if count[0] >= max_requests:
          return
        count[0] += 1
      kind = "write" if i % 2 == 0 else "read"
      start = time.perf_counter()
      if kind == "write":
        status, _ = post(base + "api/write", {"text": TEXTS[i % len(TEXTS)], "seed": i % 7})
      else:
        status, _ = post(base + "api/read/strokes", {"strokes": strokes})
      with lock:
        results.append((kind, time.perf_counter() - start, status))
      i += 1

  threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
  t0 = time.perf_counter()
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  return results, time.perf_counter() - t0


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--clients", type=int, default=16)
  p.add_argument("--seconds", type=float, default=60.0)
  p.add_argument("--warm-seconds", type=float, default=20.0)
  p.add_argument("--max-requests", type=int, default=100_000)
  p.add_argument("--server-log", default="load_test_server.log",
                 help="where the server's own output goes")
  args = p.parse_args()
  port = free_port()
  base = f"http://127.0.0.1:{port}/"
  server_log = open(args.server_log, "w")  # noqa: SIM115 -- open for the server's lifetime
  server = subprocess.Popen([sys.executable, "-m", "handwriting.cli", "serve", "--port",
                             str(port)], stdout=server_log, stderr=subprocess.STDOUT)
  try:
    deadline = time.time() + 300
    while time.time() < deadline:
      try:
        urllib.request.urlopen(base + "api/info", timeout=2).read()
        break
      except OSError:
        time.sleep(0.5)
    strokes = drawing(base)
    # Warm-up: one of each kind at each text, so compilation is not measured; then the same
    # concurrent load for `--warm-seconds`, so the server's worker threads (and their memory
    # arenas) all exist before the memory baseline is taken.
    for i, text in enumerate(TEXTS):
      post(base + "api/write", {"text": text, "seed": i})
    post(base + "api/read/strokes", {"strokes": strokes})
    load(base, strokes, args.clients, args.warm_seconds, args.max_requests)
    rss_warm = rss_mb(server.pid)
    samples: list[float] = []
    sampler_stop = threading.Event()

    def sample_rss() -> None:
      while not sampler_stop.wait(10.0):
        samples.append(rss_mb(server.pid))

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    results, wall = load(base, strokes, args.clients, args.seconds, args.max_requests)
    sampler_stop.set()
    rss_end = rss_mb(server.pid)
  finally:
    server.terminate()
    server.wait(timeout=30)
    server_log.close()
  errors = sum(1 for _, _, s in results if s != 200)
  print(f"clients {args.clients}, {wall:.1f} s, {len(results)} requests, "
        f"{len(results) / wall:.2f} requests/s, errors {errors}")
  for kind in ("write", "read"):
    times = sorted(t for k, t, _ in results if k == kind)
    if times:
      p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
      print(f"  {kind}: {len(times)} requests, p50 {statistics.median(times):.2f} s, "
            f"p95 {p95:.2f} s")
  print(f"server memory (RSS): {rss_warm:.0f} MB after warm-up, {rss_end:.0f} MB at the end "
        f"({rss_end - rss_warm:+.0f} MB); every 10 s: "
        + ", ".join(f"{m:.0f}" for m in samples))
  print(f"machine: {os.cpu_count()} cores")


if __name__ == "__main__":
  main()
