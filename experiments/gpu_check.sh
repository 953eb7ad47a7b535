#!/usr/bin/env bash
# One prepared check for a lent GPU machine (no network there; the repo is the working dir).
#
#   bash experiments/gpu_check.sh                     # full: about 8 minutes at most
#   GPU_CHECK_STEPS=2 bash experiments/gpu_check.sh   # dry run (also on a CPU): syntax and flags
#
# It prints the GPU's name, makes built-in synthetic data (`handwriting prepare synthetic`: the
# IAM data is not on that machine), runs both benchmarks at full size (--quick in a dry run),
# then GPU_CHECK_STEPS (default 300) training steps of the FULL configs: synthesis `--preset
# graves` (3 x 400, K=10, M=20, batch 32), the MDLSTM recognizer `--preset iam` and the online
# BLSTM reader `--preset graves`; last, a markdown table of status, steps/s and wall time per
# part. Each part runs under `timeout`, and the parts share GPU_CHECK_BUDGET seconds (default
# 470), so one slow part cannot eat the rest. Data, workdirs and logs go to GPU_CHECK_OUT
# (default runs/gpu_check in the repo, git-ignored); when $OUT is set (the device tool), the table and all logs are
# copied there as gpu_check.md and gpu_check_logs.txt.
#
# Python packages the image there lacks (ml_collections, HersheyFonts, svgwrite; all pure
# Python) are taken from a carried copy of this repo's .venv site-packages when they cannot be
# imported: carry .venv/lib/python3.11/site-packages/{ml_collections,HersheyFonts,svgwrite}.
# A dry run keeps the full model sizes but uses batch 2 and the benchmarks' --quick shapes.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
STEPS="${GPU_CHECK_STEPS:-300}"
BUDGET="${GPU_CHECK_BUDGET:-470}"
PY="${PYTHON:-python3}"
WORK="${GPU_CHECK_OUT:-$ROOT/runs/gpu_check}"
DRY=0; [ "$STEPS" -lt 10 ] && DRY=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
START=$(date +%s)
mkdir -p "$WORK"
# Only what this script writes: a rerun starts afresh (no resumed checkpoints, no stale logs).
rm -rf "$WORK"/{data,synthesis,mdlstm,online,site} "$WORK"/*.log "$WORK"/parts.tsv
: > "$WORK/parts.tsv"

echo "== GPU"
nvidia-smi --query-gpu=name --format=csv 2>/dev/null || echo "(no nvidia-smi: no NVIDIA GPU here)"

# Missing pure-Python packages: link the carried copies (only those, never the whole .venv,
# whose CPU jax would shadow the machine's CUDA jax).
SITE="$WORK/site"; mkdir -p "$SITE"
for mod in ml_collections HersheyFonts svgwrite; do
  if ! "$PY" -c "import $mod" 2>/dev/null; then
    found=$(ls -d .venv/lib/python3*/site-packages/$mod 2>/dev/null | head -1)
    if [ -n "$found" ]; then ln -s "$ROOT/$found" "$SITE/$mod"; echo "using carried $found"
    else echo "MISSING python package $mod (carry it, see the header)"; fi
  fi
done
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import jax; d = jax.devices(); \
print(f'jax {jax.__version__}: {len(d)} x {d[0].device_kind} ({jax.default_backend()})')" \
  || { echo "jax does not start"; exit 1; }

# part NAME SECONDS COMMAND...: runs under timeout (capped by the time left), logs to
# $WORK/NAME.log, shows the log's tail and records name, exit status and wall seconds.
part() {
  local name="$1" limit="$2"; shift 2
  local left=$(( BUDGET - ($(date +%s) - START) ))
  [ "$left" -lt "$limit" ] && limit="$left"
  if [ "$limit" -lt 15 ]; then
    echo "== $name: skipped, budget spent"; printf '%s\tskipped\t0\n' "$name" >> "$WORK/parts.tsv"
    return
  fi
  echo "== $name (timeout ${limit} s): $*"
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  tail -n 6 "$WORK/$name.log"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - t0 ))" >> "$WORK/parts.tsv"
}

HW=(--config.num_steps="$STEPS" --config.eval_every=0 --config.checkpoint_every=0
    --config.eval_max_lines=64 --config.log_every=$(( DRY ? 1 : 50 )))
QUICK=(); LINES=600
if [ "$DRY" = 1 ]; then
  QUICK=(--quick --repeats 1); LINES=40; HW+=(--config.batch_size=2 --config.eval_max_lines=4)
fi

part prepare 60 "$PY" -m handwriting.cli prepare synthetic --out "$WORK/data" --lines "$LINES" \
  --spacing 0.25
part bench_synthesis 100 "$PY" experiments/bench_synthesis.py "${QUICK[@]}"
part bench_recognition 100 "$PY" experiments/bench_recognition.py "${QUICK[@]}"
part train_synthesis_graves 80 "$PY" -m handwriting.cli train synthesis --data "$WORK/data" \
  --workdir "$WORK/synthesis" --preset graves "${HW[@]}"
part train_mdlstm_iam 80 "$PY" -m handwriting.cli train recognizer --data "$WORK/data" \
  --workdir "$WORK/mdlstm" --preset iam "${HW[@]}"
# The online preset trains one line per update (RNNLIB); batch 1 is kept outside a dry run.
part train_online_graves 70 "$PY" -m handwriting.cli train recognizer --data "$WORK/data" \
  --workdir "$WORK/online" --config.model_type=online --preset graves "${HW[@]}"

"$PY" - "$WORK" "$STEPS" <<'EOF' | tee "$WORK/gpu_check.md"
import json, os, statistics, sys
work, steps = sys.argv[1], sys.argv[2]
WORKDIRS = {"train_synthesis_graves": "synthesis", "train_mdlstm_iam": "mdlstm",
            "train_online_graves": "online"}
BENCH_KEYS = {"bench_synthesis": ("train_step_s", "peak_fraction", "sample_ms_per_point_b32"),
              "bench_recognition": ("fast_ms_l1", "wavefront_speedup", "ctc_ms",
                                    "beam_lines_per_s")}

def last_kv(log):
  """The benchmark's last `key=value ...` line as a dict."""
  lines = [l for l in open(log).read().splitlines() if "=" in l and " " in l and "device=" in l]
  return dict(p.split("=", 1) for p in lines[-1].split()) if lines else {}

def rate(name):
  """Median steps/s of the logged train entries after the first (which includes compilation)."""
  path = os.path.join(work, WORKDIRS[name], "metrics.jsonl")
  if not os.path.exists(path):
    return "", ""
  entries = [json.loads(l) for l in open(path) if l.strip()]
  r = [e["steps_per_sec"] for e in entries if e.get("split") == "train" and "steps_per_sec" in e]
  if not r:
    return "", ""
  done = max(e["step"] for e in entries)
  return f"{statistics.median(r[1:] or r):.3g}", f"{done} steps done"

print(f"\n## gpu_check ({steps} steps per training part)\n")
print("| part | status | steps/s (median, after compile) | wall s | notes |")
print("| --- | --- | --- | --- | --- |")
for row in open(os.path.join(work, "parts.tsv")):
  name, rc, wall = row.rstrip("\n").split("\t")
  status = {"0": "ok", "124": "timeout", "137": "killed", "skipped": "skipped"}.get(
    rc, f"exit {rc}")
  steps_s, note = rate(name) if name in WORKDIRS else ("", "")
  log = os.path.join(work, f"{name}.log")
  if name in BENCH_KEYS and os.path.exists(log):
    kv = last_kv(log)
    note = ", ".join(f"{k} {kv[k]}" for k in BENCH_KEYS[name] if k in kv)
  print(f"| {name} | {status} | {steps_s} | {wall} | {note} |")
EOF
echo "total wall $(( $(date +%s) - START )) s; logs in $WORK"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  cp "$WORK/gpu_check.md" "$OUT/"
  for f in "$WORK"/*.log; do echo "===== $f"; cat "$f"; done > "$OUT/gpu_check_logs.txt"
fi
