#!/usr/bin/env bash
# Set-up for the Spark example and its test (idempotent, registries only):
#   * a Java runtime: Debian's openjdk-17-jre-headless, installed with apt-get when missing
#     and we are root;
#   * PySpark from PyPI in its own venv, `.venv-spark` (kept apart from the torch venv).
# tests/spark.rs runs only once `.venv-spark/bin/python -c 'import pyspark'` works.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
PYSPARK_VERSION=${PYSPARK_VERSION:-4.0.1}
log() { printf '[setup-spark] %s\n' "$*" >&2; }

if ! command -v java >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing openjdk-17-jre-headless (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    log "java is missing: apt-get install openjdk-17-jre-headless (as root)"
    exit 1
  fi
fi

if [ ! -x .venv-spark/bin/python ]; then
  log "creating .venv-spark"
  "$PYTHON" -m venv .venv-spark
fi
if ! .venv-spark/bin/python -c 'import pyspark' 2>/dev/null; then
  log "installing pyspark==$PYSPARK_VERSION from PyPI (~320 MB)"
  .venv-spark/bin/pip install -q "pyspark==$PYSPARK_VERSION"
fi
log "spark ready: java $(java -version 2>&1 | head -n1 | cut -d'"' -f2), pyspark $(.venv-spark/bin/python -c 'import pyspark; print(pyspark.__version__)')"
