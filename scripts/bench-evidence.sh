#!/usr/bin/env bash
# What `classify --evidence` costs: paragraphs/s with and without it, side by side, on the
# sample corpus and on the labelled corpus's test split (320 paragraphs, a steadier figure).
# The two commands alternate for ROUNDS (3) rounds and the best time of each counts, so a load
# spike from elsewhere on the machine does not decide the comparison. Start-up (model loading)
# is included in both and taken out by also timing a one-paragraph run.
# Usage: scripts/bench-evidence.sh [BIN] [THREADS]   (BIN defaults to target/debug/veille)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/veille}
THREADS=${2:-2}
ROUNDS=${ROUNDS:-3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
[ -x "$BIN" ] || cargo build --bin veille

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "cpu flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|avx2|avx512f|fma|sse4_2|f16c)$' | tr '\n' ' ')"
echo "binary: $BIN, threads $THREADS, best of $ROUNDS alternating runs"

python3 - "$WORK" <<'EOF'
import json, pathlib, sys
work = pathlib.Path(sys.argv[1])
rows = []
for lang in ("sv", "en", "fr"):
    for line in open(f"corpora/labelled/{lang}.jsonl", encoding="utf-8"):
        r = json.loads(line)
        if r["split"] == "test":
            rows.append(json.dumps(r, ensure_ascii=False))
(work / "test.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
(work / "one.jsonl").write_text(rows[0] + "\n", encoding="utf-8")
EOF

secs() { # seconds taken by the command (exit 1, some error records, is fine)
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > "$WORK/out" 2>/dev/null || true
  t1=$(date +%s.%N)
  awk "BEGIN { print $t1 - $t0 }"
}
min() { awk "BEGIN { print ($1 < $2) ? $1 : $2 }"; }

one_plain=9e9; one_ev=9e9
for _ in $(seq "$ROUNDS"); do
  one_plain=$(min "$one_plain" "$(secs "$BIN" classify "$WORK/one.jsonl" --threads "$THREADS")")
  one_ev=$(min "$one_ev" "$(secs "$BIN" classify "$WORK/one.jsonl" --threads "$THREADS" --evidence)")
done

echo "start-up (one paragraph): plain ${one_plain}s, evidence ${one_ev}s"
printf '%-22s %6s %9s %9s %9s %11s %7s %10s\n' corpus paras plain_s evid_s plain/s evidence/s ratio labelled
for corpus in ${CORPORA:-corpora/sample "$WORK/test.jsonl"}; do
  "$BIN" classify "$corpus" > "$WORK/records.jsonl" 2>/dev/null || true
  n=$(wc -l < "$WORK/records.jsonl")
  labelled=$(python3 -c "
import json
rs = [json.loads(l) for l in open('$WORK/records.jsonl')]
print(sum(1 for r in rs if r['labels'] and not r['error']))")
  plain=9e9; ev=9e9
  for _ in $(seq "$ROUNDS"); do
    plain=$(min "$plain" "$(secs "$BIN" classify "$corpus" --threads "$THREADS")")
    ev=$(min "$ev" "$(secs "$BIN" classify "$corpus" --threads "$THREADS" --evidence)")
  done
  name=$(basename "$corpus")
  awk -v name="$name" -v n="$n" -v p="$plain" -v e="$ev" -v op="$one_plain" -v oe="$one_ev" -v l="$labelled" 'BEGIN {
    # Rates leave start-up out; under heavy machine load start-up varies more than a small
    # corpus takes, and the rate is then not measurable (n/a): read the wall times.
    if (p > op && e > oe) {
      rp = (n - 1) / (p - op); re = (n - 1) / (e - oe);
      printf "%-22s %6d %9.2f %9.2f %9.1f %11.1f %7.2f %10s\n", name, n, p, e, rp, re, re / rp, l "/" n
    } else {
      printf "%-22s %6d %9.2f %9.2f %9s %11s %7s %10s\n", name, n, p, e, "n/a", "n/a", "n/a", l "/" n
    }
  }'
done
