#!/usr/bin/env bash
# The test suite: set everything up (idempotent), then every unit and integration test.
# The HTML report test renders with headless Chromium (Debian package `chromium`), which
# is installed here when missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[test] installing chromium (Debian) for the HTML report test" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "[test] could not install chromium; the HTML rendering test will fail" >&2
  else
    echo "[test] chromium is missing (apt-get install chromium); the HTML rendering test will fail" >&2
  fi
fi
# Java and PySpark for tests/spark.rs (which says SKIPPED without them).
scripts/setup-spark.sh || echo "[test] Spark set-up failed; tests/spark.rs will skip" >&2
cargo fmt --check
# Real news (../shared/realnews, beside the checkout): how the committed classifier does
# on what users feed it. Printed for the record; tests/train.rs guards the figure.
if [ -f ../shared/realnews/sv.jsonl ]; then
  echo "[test] veille eval ../shared/realnews (held-out real news; nothing is fitted on it)" >&2
  target/debug/veille eval ../shared/realnews || true
fi
cargo test -- --test-threads=2
