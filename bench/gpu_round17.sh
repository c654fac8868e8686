#!/usr/bin/env bash
# Round 17 (nvidia-h200-x2, carry .speed, ~4 min): DDP (bucket views, the default) with bf16
# all-reduce and with NCCL on high-priority streams, against the default and two 1-GPU runs.
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE
set -uo pipefail
SPEED_TESTS=0 BENCH_TIMEOUT=250 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_r17,tibcpt_compiled_ddp2_r17,tibcpt_compiled_ddp2_bf16reduce_r17,tibcpt_compiled_ddp2_ncclhigh_r17,tibcpt_compiled_1gpu_r17_b
