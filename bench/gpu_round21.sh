#!/usr/bin/env bash
# Round 21 (nvidia-h200-x2, carry .speed, ~4 min): two rounds of 1 GPU / DDP / DDP without the
# per-forward buffer broadcast (ddp_broadcast_buffers=false).
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE
set -uo pipefail
runs=$(python3 -c "print(','.join(f'tibcpt_compiled_{p}_r21{s}' for s in ('', '_b') for p in ('1gpu', 'ddp2', 'ddp2_nobcast')))")
SPEED_TESTS=0 BENCH_TIMEOUT=290 bash bench/train_speed_gpu.sh "$runs"
