#!/usr/bin/env bash
# The whole GPU check in one call (`make gpu-check`), on a machine with CUDA and PyTorch preinstalled and
# no registry access: installs the project's other wheels from .whl/, builds the training corpus from
# gpu-kit/ (bench/gpu_kit.py), trains the default recipe on it (bench/gpu_quality.py: a few runs at once,
# for MINUTES each), then finds the largest batch of 1-s segments and times enhancement. Everything lands
# in $OUT (or /tmp/ladle-gpu-check): results.json, one RUN.tar per run (its best.pt and logs) and log.txt.
#
#   scripts/gpu_check.sh                    # from the repository root
#   MINUTES=5 scripts/gpu_check.sh          # the training budget of each run (default 5)
#
# Made beforehand on a machine with pip access and a corpus built by `python -m bench.quality`:
#   python -m bench.gpu_kit export --data Q/data --library Q/library --out gpu-kit      # ~50 MB
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
#       webdataset braceexpand soundfile cffi pycparser soxr tinysoundfont mutagen ffmpeg-python future
# (torch, numpy, pyarrow, pyyaml, fsspec, matplotlib and tqdm are in the GPU image.)
# Back here, score the runs on the held-out pieces: tar xf OUT/default.tar -C Q, then
#   python -m bench.quality --out Q ... --run Q/default --no-train
set -uo pipefail
cd "$(dirname "$0")/.."

out="${OUT:-/tmp/ladle-gpu-check}"
work=/tmp/ladle-gpu-work
mkdir -p "$out" "$work"
exec > >(tee "$out/log.txt") 2>&1

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 - <<'PY' || exit 1
import torch
assert torch.cuda.is_available(), "torch sees no CUDA device"
print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, bf16: {torch.cuda.is_bf16_supported()}")
PY

echo "== corpus from gpu-kit/ ($(date +%T))"
python3 -m bench.gpu_kit build --kit gpu-kit --out "$work/data" --workers "$(nproc)" > "$out/corpus.json" || exit 1
cat "$out/corpus.json"

echo "== training, batch search, enhancement speed ($(date +%T))"
lossy=$(ls gpu-kit/encodes/mp3-64/*.mp3 | head -1)
python3 -m bench.gpu_quality --data "$work/data" --work "$work" --out "$out" --minutes "${MINUTES:-5}" --batch-size 16 \
    --run default='{}' \
    --run recipe-batch='{"batch_size": 4}' \
    --run wide='{"model_overrides": {"dim": 256, "n_blocks": 8}}' \
    --lossy-file "$lossy" --max-batch 2048
echo "== done ($(date +%T)); results: $out/results.json"
