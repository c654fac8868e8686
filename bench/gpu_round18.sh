#!/usr/bin/env bash
# Round 18 (nvidia-h200-x2, carry .speed, ~8 min): three interleaved rounds of 1 GPU / DDP default /
# DDP with one 1 GB gradient bucket (all-reduce after the backward pass) / DDP with NCCL high priority.
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE
set -uo pipefail
runs=$(python3 -c "print(','.join(f'tibcpt_compiled_{p}_r18{s}' for s in ('', '_b', '_c') for p in ('1gpu', 'ddp2', 'ddp2_bucket1024', 'ddp2_ncclhigh')))")
SPEED_TESTS=0 BENCH_TIMEOUT=560 bash bench/train_speed_gpu.sh "$runs"
