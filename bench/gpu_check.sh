#!/usr/bin/env bash
# One GPU session's checks (issue #15), in order, each step's output kept under $OUT even if a later one fails:
#   1. the CUDA tests (pytest -m gpu)   2. throughput vs the plain loop at 32x32 batch 64.
# Not yet here (the plain loop has no 64x64 option): the 64x64 batch 128 comparison and time to quality.
# Usage on the GPU machine, from the repo root: OUT=/some/dir bash bench/gpu_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
PY=${PY:-python3}
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
$PY -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))" > "$OUT/torch.txt" 2>&1
timeout 240 $PY -m pytest -q -m gpu tests/test_gpu.py > "$OUT/1_gpu_tests.txt" 2>&1; echo "rc=$?" >> "$OUT/1_gpu_tests.txt"
timeout 150 $PY bench/throughput.py --device cuda --rounds 5 --steps 30 > "$OUT/2_throughput_32.txt" 2>&1
echo done > "$OUT/finished"
