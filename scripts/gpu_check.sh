#!/usr/bin/env bash
# CUDA checks for a GPU machine, in one pass (each step time-boxed, logs under $OUT):
#   tests: tests/test_cuda.py (CPU/CUDA agreement, training and resume on the GPU, every suite's smoke run on cuda);
#   bench: the GW-term / GWAE-step benchmark and every model's steps/s at the ood and paper sizes, GWAE's critic
#          passes official and fused;
#   ood:   the ood suite's default preset, seed 0 of every model, on cuda.
# Usage: OUT=gpu-out bash scripts/gpu_check.sh [tests] [bench] [ood]   (no argument: all three)
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
parts=${*:-tests bench ood}
step() { local name=$1 limit=$2; shift 2; echo "== $name (limit ${limit}s): $*"; local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$OUT/$name.txt"; echo "== $name: rc ${PIPESTATUS[0]}, $((SECONDS - t0)) s"; }

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)"
  nproc; } 2>&1 | tee "$OUT/machine.txt"
if [[ $parts == *tests* ]]; then
  step test_cuda 200 python -m pytest -q -p no:cacheprovider tests/test_cuda.py
fi
if [[ $parts == *bench* ]]; then
  step bench_gwae_step 60 python scripts/bench_gwae_step.py --device cuda --steps 10
  for passes in official fused; do
    step bench_models 120 python scripts/bench_models.py --device cuda --suite ood --presets default --steps 30 \
      --set critic_passes=$passes
    step bench_models 120 python scripts/bench_models.py --device cuda --suite generation --presets paper \
      --steps 20 --set critic_passes=$passes
  done
fi
if [[ $parts == *ood* ]]; then
  step ood_default_cuda 300 python -m benchmark run --suite ood --preset default --seeds 0 --device cuda \
    --out /tmp/gpu-runs --no-progress
  tar czf "$OUT/ood_default_cuda_runs.tgz" -C /tmp/gpu-runs --exclude='*.pt' . 2>/dev/null
fi
