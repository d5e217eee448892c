#!/usr/bin/env bash
# Scale benchmark: peak memory must stay flat however long the run. Classifies N (20,000)
# generated paragraphs (the corpora/labelled paragraphs under fresh ids, cycled, each
# article a document) and, side by side as the baseline, the first 2,000 of them; prints
# peak RSS (GNU time), wall time and paragraphs/s of both, the RSS ratio (target: within
# 10%), and the CPU flags. Also checks the big run's output: one record per paragraph.
# Usage: scripts/bench-scale.sh [N] [THREADS] [FORMAT]
#   VEILLE=path/to/veille to use another build (default: target/debug/veille, built here).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
THREADS=${2:-2}
FORMAT=${3:-jsonl}
BASE_N=2000
WORK=target/scale-bench
mkdir -p "$WORK"
if [ -z "${VEILLE:-}" ]; then
  cargo build --quiet --bin veille
  VEILLE=target/debug/veille
fi
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time; Debian package time)" >&2; exit 1; }

python3 - "$WORK" "$N" "$BASE_N" <<'PY'
import json, pathlib, sys
work, n, base = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
paras = []
for lang in ("en", "fr", "sv"):
    for line in open(f"corpora/labelled/{lang}.jsonl", encoding="utf-8"):
        if line.strip():
            r = json.loads(line)
            paras.append((r["doc"], r["text"]))
lines = []
for i in range(n):
    doc, text = paras[i % len(paras)]
    rnd = i // len(paras)
    lines.append(json.dumps({"id": f"b-{i:07d}", "doc": f"{doc}-r{rnd}", "text": text}, ensure_ascii=False))
(work / "all.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
(work / "base.jsonl").write_text("\n".join(lines[:base]) + "\n", encoding="utf-8")
PY

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "cpu flags (simd): $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(sse4_2|avx|avx2|fma|avx512f|avx512_vnni|avx_vnni|amx_tile)$' | tr '\n' ' ')"
echo "cores: $(nproc), threads: $THREADS, format: $FORMAT, binary: $VEILLE"

measure() { # name input -> "rss_kb seconds records"
  local name=$1 input=$2 out="$WORK/$1.out.$FORMAT"
  /usr/bin/time -f '%M %e' -o "$WORK/$name.time" \
    "$VEILLE" classify "$input" --threads "$THREADS" --format "$FORMAT" -o "$out" --force \
    2> "$WORK/$name.stderr" || { cat "$WORK/$name.stderr" >&2; exit 1; }
  local records
  records=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['counts']['records'])" "$out.manifest.json")
  echo "$(cat "$WORK/$name.time") $records"
}

read -r base_rss base_s base_n < <(measure base "$WORK/base.jsonl")
read -r all_rss all_s all_n < <(measure all "$WORK/all.jsonl")
[ "$base_n" = "$BASE_N" ] || { echo "baseline wrote $base_n records, expected $BASE_N" >&2; exit 1; }
[ "$all_n" = "$N" ] || { echo "big run wrote $all_n records, expected $N" >&2; exit 1; }

python3 - "$base_rss" "$base_s" "$base_n" "$all_rss" "$all_s" "$all_n" <<'PY'
import sys
b_rss, b_s, b_n, a_rss, a_s, a_n = map(float, sys.argv[1:])
print(f"{'run':<12}{'paragraphs':>12}{'peak RSS MiB':>14}{'seconds':>10}{'para/s':>9}")
print(f"{'first 2,000':<12}{int(b_n):>12}{b_rss/1024:>14.1f}{b_s:>10.1f}{b_n/b_s:>9.1f}")
print(f"{'whole run':<12}{int(a_n):>12}{a_rss/1024:>14.1f}{a_s:>10.1f}{a_n/a_s:>9.1f}")
ratio = a_rss / b_rss
print(f"peak RSS whole/first-2,000: {ratio:.3f} ({'flat: within 10%' if ratio <= 1.10 else 'NOT flat: over 10%'})")
sys.exit(0 if ratio <= 1.10 else 1)
PY
