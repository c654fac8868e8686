#!/usr/bin/env bash
# Round 22 (nvidia-h200-x2, carry .speed, ~3 min): one 1-GPU / DDP pair over 280 measured steps.
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE
set -uo pipefail
SPEED_TESTS=0 BENCH_TIMEOUT=250 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_long_r22,tibcpt_compiled_ddp2_long_r22
