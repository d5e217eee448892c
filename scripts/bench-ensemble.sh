#!/usr/bin/env bash
# What the character n-gram model costs: `veille classify` with the committed heads (the
# encoder + n-gram ensemble) beside the same heads without the n-gram model, on the same
# paragraphs, same binary, same threads, whole runs (model load included), alternated
# REPS times. Prints the CPU flags, paragraphs/s of each, and the ensemble's ratio.
#
#   scripts/bench-ensemble.sh [TEXTS.jsonl] [THREADS]
#
# TEXTS: see bench_texts in scripts/bench-common.sh. Needs scripts/setup.sh;
# BENCH_NO_BUILD=1 reuses target/release/veille; VEILLE=path runs another build (e.g. the
# dev build set-up makes: its opt-level 1 makes the n-gram model's share look larger).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-common.sh
THREADS=${2:-2}
REPS=${REPS:-3}
WORK=target/bench-ensemble
mkdir -p "$WORK/alone"

if [ -z "${BENCH_NO_BUILD:-}" ] && [ -z "${VEILLE:-}" ]; then
  cargo build --release --quiet
fi
VEILLE=${VEILLE:-target/release/veille}

bench_texts "$WORK" "${1:-}"
N=$(grep -c . "$WORK/texts.jsonl")

# The same heads without the n-gram model, named like the committed file so the same int8
# graph serves both (the graph is found by the heads file's name and checked by its delta).
HEADS=models/heads/embed.json
python3 - "$HEADS" "$WORK/alone/embed.json" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))
if not h.pop("char_ngrams", None):
    sys.exit(f"{sys.argv[1]} has no character n-gram model to leave out")
json.dump(h, open(sys.argv[2], "w"))
EOF
DELTA=$(python3 -c "import json; print(json.load(open('$HEADS')).get('encoder_delta') or '')")
[ -n "$DELTA" ] && cp "models/heads/$DELTA" "$WORK/alone/"

bench_cpu
echo "paragraphs: $N, threads: $THREADS, reps: $REPS"

run() { # label, extra args...
  local label=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$VEILLE" classify "$WORK/texts.jsonl" --threads "$THREADS" "$@" > "$WORK/$label.jsonl"
  t1=$(date +%s.%N)
  echo "$label $(echo "$t1 - $t0" | bc)" >> "$WORK/times"
}
: > "$WORK/times"
for _ in $(seq "$REPS"); do
  run alone --heads "$WORK/alone/embed.json"
  run ensemble
done
python3 - "$WORK/times" "$N" <<'EOF'
import sys, collections
times = collections.defaultdict(list)
for line in open(sys.argv[1]):
    k, v = line.split()
    times[k].append(float(v))
n = int(sys.argv[2])
best = {k: min(v) for k, v in times.items()}
for k in ("alone", "ensemble"):
    print(f"{k:9s} best {best[k]:.2f} s  {n / best[k]:.1f} paragraphs/s  (runs: {', '.join(f'{t:.2f}' for t in times[k])})")
print(f"ensemble / heads alone throughput: {best['alone'] / best['ensemble']:.3f}")
EOF
