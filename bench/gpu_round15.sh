#!/usr/bin/env bash
# Round 15 (nvidia-h200-x2, carry .speed, ~5 min): DDP with the new default (gradient bucket views,
# chosen by round 14) against one GPU, three interleaved pairs, and two DDP runs with them off.
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE
set -uo pipefail
runs=$(for s in "" _b _c; do for p in 1gpu ddp2 ddp2_nobucketview; do
  [ "$p$s" = ddp2_nobucketview_c ] || printf 'tibcpt_compiled_%s_r15%s,' "$p" "$s"; done; done)
SPEED_TESTS=0 BENCH_TIMEOUT=450 bash bench/train_speed_gpu.sh "${runs%,}"
