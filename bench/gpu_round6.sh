#!/usr/bin/env bash
# Round 6 of issue 11's device calls, back to back on one warm nvidia-h200-x2 machine:
#   1. bash bench/gpu_round6.sh speed   carry .speed   (~6 min)
#   2. bash bench/gpu_round6.sh fsdp    carry .fsdp    (~4 min)
# speed: the DDP candidates after round 5 (gc schedule, gradients as bucket views, static graph), each
# against its 1-GPU run in this call, and tibcpt's and the HF Trainer's eager runs side by side.
# fsdp: the 7B freeze run and its resume from step 6 after the optimizer-state fix (round 5: the
# resumed run's Adam started from zero moments; gap 0.051 against a run-to-run spread of 0.0007).
# Merge: python bench/train_speed.py / train_fsdp.py --out bench/results/... --merge FILE.
set -uo pipefail
case "${1:-}" in
  speed)
    SPEED_TESTS=0 BENCH_TIMEOUT=540 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_r6,tibcpt_compiled_ddp2_r6,tibcpt_compiled_1gpu_gc,tibcpt_compiled_ddp2_gc,tibcpt_compiled_ddp2_gc_bucketview,tibcpt_compiled_ddp2_bucketview,tibcpt_compiled_ddp2_gc_bucketview_static,tibcpt_eager,hf_eager
    ;;
  speed_b)  # what the device time left after speed and fsdp allowed (~4 min)
    SPEED_TESTS=0 BENCH_TIMEOUT=300 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_r6b,tibcpt_compiled_ddp2_bucketview_r6b,tibcpt_compiled_ddp2_bucketview_nobcast
    ;;
  fsdp)
    RUN_TIMEOUT=240 BENCH_TIMEOUT=560 BENCH_DEADLINE=550 bash bench/train_fsdp_gpu.sh tibcpt_freeze,tibcpt_freeze_resumed
    ;;
  *) echo "usage: bash bench/gpu_round6.sh speed|speed_b|fsdp" >&2; exit 2 ;;
esac
