#!/usr/bin/env bash
# The device calls still owed to issue 11 after round 4, back to back on one warm nvidia-h200-x2
# machine (it stays warm 30 s after a call):
#   1. bash bench/gpu_round5.sh speed   carry .speed   (~5 min)
#   2. bash bench/gpu_round5.sh fsdp    carry .fsdp    (~5 min)
# speed: the aligned default's DDP 2 GPUs vs 1, the same with the bf16 gradient all-reduce
# (ddp_reduce_dtype=bf16; its loss against the fp32 run's), rank 0's profile of the 2-GPU step (is the
# all-reduce exposed?), its cold start, and the HF Trainer's eager and compiled runs in the same
# call (round 2 measured those in another call). Then merge into bench/results/train_speed.json.
# fsdp: the 7B freeze run twice uninterrupted and once resumed from the first one's step-6
# checkpoint: the resume gap read against the run-to-run spread (round 3: 0.051, spread unknown).
# Merge: python bench/train_fsdp.py --out bench/results/train_fsdp.json --merge FILE.
set -uo pipefail
case "${1:-}" in
  speed)
    # BENCH_TIMEOUT 500: pip and the GPU tests (up to 150 s) run first, inside the call's 600 s
    BENCH_TIMEOUT=500 bash bench/train_speed_gpu.sh tibcpt_compiled_ddp2,tibcpt_compiled_1gpu_ref,tibcpt_compiled_ddp2_bf16reduce,tibcpt_compiled_ddp2_prof,tibcpt_first_step_cold,hf_eager,hf_compiled_prof
    ;;
  fsdp)
    RUN_TIMEOUT=240 BENCH_TIMEOUT=560 BENCH_DEADLINE=550 bash bench/train_fsdp_gpu.sh tibcpt_freeze,tibcpt_freeze_repeat,tibcpt_freeze_resumed
    ;;
  *) echo "usage: bash bench/gpu_round5.sh speed|fsdp" >&2; exit 2 ;;
esac
