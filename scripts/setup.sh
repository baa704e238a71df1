#!/usr/bin/env bash
# Set up seqgen in ./.venv: a torch build that fits this machine, then seqgen with its dev extras.
#
#   CPU-only machine: installs torch==$SEQGEN_TORCH_VERSION+cpu and never a CUDA build. If your package
#     index has no CPU build, point SEQGEN_TORCH_INDEX_URL at PyTorch's CPU wheel index (the URL
#     PyTorch's "get started" selector gives for pip / Linux / CPU) and rerun.
#   NVIDIA GPU (nvidia-smi works): installs torch==$SEQGEN_TORCH_VERSION (the default Linux wheel is a
#     CUDA build); set SEQGEN_TORCH_INDEX_URL to pick a specific CUDA variant.
#   SEQGEN_SKIP_TORCH=1 keeps whatever torch the venv already has.
#   SEQGEN_VENV=DIR sets up that venv instead of ./.venv (scripts/gpu_check.sh uses its own).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=${SEQGEN_TORCH_VERSION:-2.13.0}
VENV=${SEQGEN_VENV:-.venv}
INDEX_ARGS=()
[ -n "${SEQGEN_TORCH_INDEX_URL:-}" ] && INDEX_ARGS=(--index-url "$SEQGEN_TORCH_INDEX_URL")

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)

if [ -z "${SEQGEN_SKIP_TORCH:-}" ] && ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "[setup] NVIDIA GPU found: installing torch==$TORCH_VERSION (CUDA build)"
    "${PIP[@]}" "${INDEX_ARGS[@]}" "torch==$TORCH_VERSION"
  else
    echo "[setup] no GPU: installing the CPU build torch==$TORCH_VERSION+cpu"
    if ! "${PIP[@]}" "${INDEX_ARGS[@]}" "torch==$TORCH_VERSION+cpu"; then
      echo "[setup] error: no CPU build of torch $TORCH_VERSION on your package index, and seqgen will" >&2
      echo "        not pull a multi-GB CUDA build onto a CPU-only machine. Set SEQGEN_TORCH_INDEX_URL" >&2
      echo "        to PyTorch's CPU wheel index (see README, 'Install') and run this again." >&2
      exit 1
    fi
  fi
fi
# torch is already there, so resolving seqgen's "torch>=2.4" installs no other build
"${PIP[@]}" -e ".[dev]"
# the demo's browser test drives the distribution's chromium (Playwright's own browser download is not
# used): installed here when running as root with apt-get (CI containers); elsewhere the test skips and
# says why. SEQGEN_NO_CHROMIUM=1 leaves the system alone.
if [ -z "${SEQGEN_NO_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing chromium (apt-get) for the demo's browser test"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "[setup] warning: apt-get could not install chromium; the browser test will skip"
  else
    echo "[setup] note: no chromium; the demo's browser test will skip (sudo apt-get install chromium)"
  fi
fi
"$VENV/bin/python" -c "import torch, seqgen; print(f'[setup] ok: seqgen {seqgen.__version__}, torch {torch.__version__}, cuda {torch.cuda.is_available()}')"
