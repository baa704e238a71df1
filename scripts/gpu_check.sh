#!/usr/bin/env bash
# One prepared GPU check: every CUDA path of seqgen tested and measured in under nine minutes.
#
#   bash scripts/gpu_check.sh            # on a machine with an NVIDIA GPU: venv, pytest -m gpu, a CUDA smoke
#                                        #   of every family, the GPU benchmarks (--quick), DDP if 2 GPUs
#   bash scripts/gpu_check.sh --plan     # print what would run, with each part's time budget; runs nothing
#   bash scripts/gpu_check.sh --wheels   # here, with a package index: fetch the wheels a machine without
#                                        #   one needs (hydra-core, omegaconf, antlr4, pydivsufsort) into .whl/
#
# Without CUDA it prints one line saying so and exits 0, with nothing measured. With CUDA it writes
# gpu_check.json (the figures, one object per part) and gpu_check.log (every command's output) into
# $OUT if set, else outputs/gpu_check/. The whole run stops itself before 9 minutes (SEQGEN_GPU_BUDGET
# seconds, default 530, counted from this script's start): each part has a budget and is skipped, with
# a note, when too little time is left for it (seqgen/bench/gpu_check.py owns the plan and the budgets).
#
# The venv: a fresh one in $SEQGEN_GPU_VENV (default /tmp/seqgen_gpu_venv) that sees the packages of
# $PYTHON (default python3) behind its own, so a CUDA torch already installed there is used as it is: a
# lent device may reach no package index at all. Without a CUDA torch it installs one through
# scripts/setup.sh's GPU path (torch==$SEQGEN_TORCH_VERSION, the CUDA build of the default index).
# seqgen's own missing dependencies come from .whl/ when that folder exists (see --wheels), else from
# the index; seqgen itself is imported from this checkout (PYTHONPATH), not installed.
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
PY=${PYTHON:-python3}
DEPS="hydra-core>=1.3,<1.4 omegaconf>=2.2,<2.4 antlr4-python3-runtime==4.9.3"
# compiled: a CPython 3.12 x86-64 manylinux wheel (the lent device's Python), fetched as a binary
BIN_DEPS="pydivsufsort>=0.0.14"

if [ "${1:-}" = "--wheels" ]; then
  # for a device with Python 3.12 on x86-64 Linux; all three are pure Python (antlr4 ships only a
  # source archive, so it is built into a wheel here); .whl/ is git-ignored: name it in the device's carry
  mkdir -p .whl
  # shellcheck disable=SC2086
  "$PY" -m pip wheel --quiet --no-deps -w .whl $DEPS || exit 1
  # shellcheck disable=SC2086
  exec "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl $BIN_DEPS
fi

if [ "${1:-}" = "--plan" ]; then
  PLAN_PY=$PY
  [ -x .venv/bin/python ] && PLAN_PY=.venv/bin/python
  PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$PLAN_PY" scripts/gpu_check.py --plan "${@:2}"
fi

if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
  echo "gpu_check: no CUDA device on this machine (nvidia-smi finds no GPU): nothing measured"
  exit 0
fi

OUT_DIR=${OUT:-outputs/gpu_check}
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/gpu_check.log"
VENV=${SEQGEN_GPU_VENV:-/tmp/seqgen_gpu_venv}
say() { echo "[gpu_check] $*" | tee -a "$LOG"; }
: > "$LOG"
say "$(nvidia-smi -L | tr '\n' ' ')"

rm -rf "$VENV"
VPY="$VENV/bin/python"
if "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>>"$LOG"; then
  # $PY may itself be a venv's python, whose packages --system-site-packages would not show: a .pth
  # file puts its site folders after the new venv's own (pip included, so no ensurepip is needed)
  "$PY" -m venv --without-pip "$VENV" || { say "error: could not create a venv with $PY"; exit 1; }
  SITE=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  "$PY" -c "import site, sysconfig as s; p = s.get_paths()
print('\n'.join(dict.fromkeys([*site.getsitepackages(), p['purelib'], p['platlib']])))" > "$SITE/_base_site.pth"
else
  say "no CUDA torch in $PY: a bare venv, torch through scripts/setup.sh's GPU path"
  "$PY" -m venv "$VENV" || { say "error: could not create a venv with $PY"; exit 1; }
  SEQGEN_VENV="$VENV" timeout 300 bash scripts/setup.sh 2>&1 | tee -a "$LOG"
fi
if ! "$VPY" -c "import hydra, omegaconf, pydivsufsort" 2>/dev/null; then
  if [ -d .whl ]; then
    say "installing seqgen's missing dependencies from .whl/"
    # shellcheck disable=SC2086
    "$VPY" -m pip install --quiet --no-index --find-links .whl --no-deps $DEPS $BIN_DEPS 2>&1 | tee -a "$LOG"
  else
    say "installing seqgen's missing dependencies from the package index"
    # shellcheck disable=SC2086
    timeout 120 "$VPY" -m pip install --quiet --timeout 10 --retries 1 $DEPS $BIN_DEPS 2>&1 | tee -a "$LOG"
  fi
fi
say "venv ready in $(( $(date +%s) - T0 )) s: $("$VPY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1)"

# the driver appends every command's output to the log and prints one line per part
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 \
  exec "$VPY" scripts/gpu_check.py --out "$OUT_DIR" --t0 "$T0" --budget "${SEQGEN_GPU_BUDGET:-530}" "$@"
