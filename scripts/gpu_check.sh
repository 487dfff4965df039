#!/usr/bin/env bash
# GPU check of LadLe training on a machine with CUDA and PyTorch preinstalled and no registry access:
# installs the project's other wheels from .whl/, builds a demo-like synthetic dataset, trains `ladle`
# for some steps and prints segments/s, peak GPU memory and the largest batch that fits for 0.1-s and
# 1-s segments with and without stride (bench/gpu_train.py does the work).
#
#   scripts/gpu_check.sh                      # from the repository root; results.json in $OUT (or /tmp/ladle-gpu-bench)
#   scripts/gpu_check.sh --steps 100          # extra arguments go to bench.gpu_train
#
# .whl/ must hold what the GPU image lacks, for its Python (3.12), e.g. made on a machine with pip access:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl webdataset braceexpand
# (torch, numpy, pyyaml, matplotlib and tqdm are in the image.)
set -euo pipefail
cd "$(dirname "$0")/.."

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
fi
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 PREFECT_SERVER_ANALYTICS_ENABLED=false

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 - <<'PY'
import torch
assert torch.cuda.is_available(), "torch sees no CUDA device"
print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, bf16: {torch.cuda.is_bf16_supported()}")
PY

out="${OUT:-/tmp/ladle-gpu-bench}"
python3 -m bench.gpu_train --device cuda --out "$out" --work /tmp/ladle-gpu-work "$@"
echo "results: $out/results.json"
