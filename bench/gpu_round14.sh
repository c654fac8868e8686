#!/usr/bin/env bash
# Round 14 (nvidia-h200-x2, carry .speed, ~6 min): DDP with gradient bucket views against the default,
# three interleaved triples (1 GPU, DDP, DDP + bucket views) with the corrected clock, and one profiled
# bucket-view run (kernels per step: 3,071 on a default DDP rank, 2,476 on one GPU in round 11b).
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE
set -uo pipefail
runs=$(for s in "" _b _c; do for p in 1gpu ddp2 ddp2_bucketview; do printf 'tibcpt_compiled_%s_r14%s,' "$p" "$s"; done; done)
SPEED_TESTS=0 BENCH_TIMEOUT=560 bash bench/train_speed_gpu.sh "${runs}tibcpt_compiled_ddp2_bucketview_prof_r14"
