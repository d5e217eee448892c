#!/usr/bin/env bash
# Stream benchmark (release build). All runs get the same data: the corpora/labelled
# paragraphs with `doc` removed, so that every record is its own document in both commands.
#  1. Throughput at saturation: `veille stream` against `veille classify` on THROUGHPUT_N
#     (600) paragraphs spread over the corpus. Start-up (model loading) is taken out: each
#     command also runs on a single record, and paragraphs/s = (N - 1) / (t_all - t_one).
#     The commands alternate for ROUNDS (3) rounds and the best time of each counts, so
#     that a load spike from elsewhere on the machine does not decide the comparison.
#  2. Per-record latency at a low rate: one record every INTERVAL ms (far below the
#     service time, so nothing queues), from the write to stdin to the read of its output
#     line; p50/p99 with --max-wait-ms 50 (the default) and 0 (≈ one single-paragraph
#     forward pass plus overheads: the reference for the target). The two run side by
#     side and take turns, so that both see the same machine load.
# Usage: scripts/bench-stream.sh [HEADS.json] [THREADS] [LATENCY_RECORDS] [INTERVAL_MS]
# (LATENCY_ONLY=1 skips the throughput runs.)
set -euo pipefail
cd "$(dirname "$0")/.."
HEADS=${1:-models/heads/embed.json}
THREADS=${2:-2}
LAT_N=${3:-100}
INTERVAL=${4:-250}
WORK=target/stream-bench
mkdir -p "$WORK"
cargo build --release --bin veille
BIN=target/release/veille
[ -f "$HEADS" ] || { echo "no heads at $HEADS (veille train corpora/labelled, or pass a file)" >&2; exit 1; }

python3 - "$WORK" <<'EOF'
import json, pathlib, sys
work = pathlib.Path(sys.argv[1])
out = []
for lang in ("sv", "en", "fr"):
    for line in open(f"corpora/labelled/{lang}.jsonl", encoding="utf-8"):
        r = json.loads(line)
        r.pop("doc", None)
        out.append(json.dumps(r, ensure_ascii=False))
(work / "all.jsonl").write_text("\n".join(out) + "\n", encoding="utf-8")
(work / "one.jsonl").write_text(out[0] + "\n", encoding="utf-8")
EOF
N=$(wc -l < "$WORK/all.jsonl")
TN=${THROUGHPUT_N:-600} # throughput runs use every (N / TN)-th paragraph
ROUNDS=${ROUNDS:-3}
awk -v n="$N" -v k="$TN" 'NR % int(n / k) == 0 && c < k { print; c++ }' "$WORK/all.jsonl" > "$WORK/tp.jsonl"
TN=$(wc -l < "$WORK/tp.jsonl")
COMMON=(--heads "$HEADS" --threads "$THREADS")

secs() { # seconds taken by the command
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > /dev/null 2>&1 || true # exit 1 (some error records) is expected
  t1=$(date +%s.%N)
  awk "BEGIN { print $t1 - $t0 }"
}

if [ -z "${LATENCY_ONLY:-}" ]; then
echo "== throughput on $TN paragraphs, $THREADS threads, best of $ROUNDS alternating runs" >&2
c_one=9e9; c_all=9e9; s_one=9e9; s_all=9e9
min() { awk "BEGIN { print ($1 < $2) ? $1 : $2 }"; }
for _ in $(seq "$ROUNDS"); do
  c_one=$(min "$c_one" "$(secs "$BIN" classify "$WORK/one.jsonl" "${COMMON[@]}")")
  s_one=$(min "$s_one" "$(secs sh -c "'$BIN' stream ${COMMON[*]} < '$WORK/one.jsonl'")")
  c_all=$(min "$c_all" "$(secs "$BIN" classify "$WORK/tp.jsonl" "${COMMON[@]}")")
  s_all=$(min "$s_all" "$(secs sh -c "'$BIN' stream ${COMMON[*]} < '$WORK/tp.jsonl'")")
done
python3 - "$TN" "$c_one" "$c_all" "$s_one" "$s_all" <<'EOF'
import json, sys
n, c1, ca, s1, sa = int(sys.argv[1]), *map(float, sys.argv[2:])
c, s = (n - 1) / (ca - c1), (n - 1) / (sa - s1)
print(json.dumps({"bench": "throughput", "paragraphs": n, "classify_per_s": round(c, 1),
                  "stream_per_s": round(s, 1), "stream_vs_classify": round(s / c, 3),
                  "classify_s": [round(c1, 2), round(ca, 2)], "stream_s": [round(s1, 2), round(sa, 2)]}))
EOF
fi

echo "== latency, one record every $INTERVAL ms, --max-wait-ms 50 and 0, interleaved" >&2
python3 - "$BIN" "$WORK/all.jsonl" "$LAT_N" "$INTERVAL" "${COMMON[@]}" <<'EOF'
import json, subprocess, sys, time
bin_, data, n, interval, *common = sys.argv[1:]
n, interval = int(n), int(interval) / 1000
lines = open(data, encoding="utf-8").read().splitlines()
step = max(1, len(lines) // n)
sample = lines[::step][:n]
# Both configurations run side by side and take turns, so that they see the same load.
waits = [50, 0]
procs = [subprocess.Popen([bin_, "stream", "--max-wait-ms", str(w), *common], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0) for w in waits]
def once(p, line):
    t0 = time.perf_counter()
    p.stdin.write(line.encode() + b"\n")
    p.stdin.flush()
    p.stdout.readline()
    return (time.perf_counter() - t0) * 1000
for p in procs:
    for line in sample[:3]:  # warm-up (models are loaded by then)
        once(p, line)
lat = [[] for _ in procs]
for line in sample:
    for i, p in enumerate(procs):
        lat[i].append(once(p, line))
        time.sleep(interval)
for p in procs:
    p.stdin.close()
    p.wait()
for w, l in zip(waits, lat):
    l.sort()
    q = lambda f: l[min(len(l) - 1, int(f * len(l)))]
    print(json.dumps({"bench": "latency", "max_wait_ms": w, "records": len(l),
                      "interval_ms": int(interval * 1000), "p50_ms": round(q(0.5), 1),
                      "p99_ms": round(q(0.99), 1), "max_ms": round(l[-1], 1)}))
EOF
