#!/usr/bin/env bash
# The main job: set everything up (idempotent), then classify the bundled sample corpus
# into out/sample.jsonl and print a one-line summary per record.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p out
set +e
target/debug/veille classify corpora/sample -o out/sample.jsonl --force
code=$?
set -e
python3 - <<'PY' 2>/dev/null || true
import json
for line in open("out/sample.jsonl"):
    r = json.loads(line)
    status = ("ERROR " + r["error"]) if r["error"] else ",".join(r["labels"]) or "-"
    print(f'{r["id"]:<32} {r["lang"]:<4} {status}')
PY
echo "records: $(wc -l < out/sample.jsonl) in out/sample.jsonl (exit $code)"
exit $code
