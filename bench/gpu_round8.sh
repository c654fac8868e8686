#!/usr/bin/env bash
# Round 8 of issue 11's device calls (nvidia-h200-x2, carry .speed, ~6 min). Round 7's profiles of
# the 2-GPU step: the rank that runs ahead spends 54 ms per step in NCCL kernels waiting for the
# other, and its matmuls take 8.6 ms longer than on 1 GPU (a waiting all-reduce holds one SM per
# channel). Here: 2, 4 and 8 NCCL channels against the default, each twice, against two 1-GPU runs.
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE (then give each
# new run a `call` field).
set -uo pipefail
SPEED_TESTS=0 BENCH_TIMEOUT=560 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_r8,tibcpt_compiled_ddp2_r8,tibcpt_compiled_ddp2_nch2,tibcpt_compiled_ddp2_nch4,tibcpt_compiled_ddp2_nch8,tibcpt_compiled_1gpu_r8b,tibcpt_compiled_ddp2_nch4_r8b,tibcpt_compiled_ddp2_nch2_r8b,tibcpt_compiled_ddp2_nch8_r8b,tibcpt_compiled_ddp2_r8b
