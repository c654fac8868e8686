#!/usr/bin/env bash
# Round 20 (nvidia-h200-x2, carry .speed, ~7 min): three interleaved rounds of 1 GPU / 1 GPU with
# gc_interval_steps=20 / DDP / DDP with gc_interval_steps=20.
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE
set -uo pipefail
runs=$(python3 -c "print(','.join(f'tibcpt_compiled_{p}_r20{s}' for s in ('', '_b', '_c') for p in ('1gpu', '1gpu_gc20', 'ddp2', 'ddp2_gc20')))")
SPEED_TESTS=0 BENCH_TIMEOUT=560 bash bench/train_speed_gpu.sh "$runs"
