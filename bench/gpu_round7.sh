#!/usr/bin/env bash
# Round 7 of issue 11's device calls, back to back on one nvidia-h200-x2 machine.
# speed (carry .speed, ~7 min): where the 2-GPU step waits. Rounds 5-6 put DDP at 1.716-1.817x
# one GPU, with NCCL kernels at 2.9 ms of a 113 ms step and no DDP option beyond the call-to-call
# spread; round 5's profile summed GPU annotations into device time (fixed in training/profile.py)
# and covered rank 0 only. Here: both ranks' profiles (kernels only) against the 1-GPU step's, two
# unprofiled pairs for this call's spread, and Inductor's C++ wrapper (host launch cost) on 1 and
# 2 GPUs.
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE (then give each
# new run a `call` field, as rounds 5-6 have).
# fsdp (carry .fsdp, ~7 min): the resume check for full fine-tuning on the 7B shape (round 6 showed it
# for the freeze recipe: gap 0.00036); the checkpoint is ~84 GB on the machine's 128 GB disk.
# Merge: python bench/train_fsdp.py --out bench/results/train_fsdp.json --merge FILE.
set -uo pipefail
case "${1:-}" in
  speed)
    SPEED_TESTS=0 BENCH_TIMEOUT=540 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_prof_r7,tibcpt_compiled_ddp2_prof_r7,tibcpt_compiled_1gpu_r7,tibcpt_compiled_ddp2_r7,tibcpt_compiled_1gpu_r7b,tibcpt_compiled_ddp2_r7b,tibcpt_compiled_1gpu_cppwrap,tibcpt_compiled_ddp2_cppwrap
    ;;
  fsdp)
    RUN_TIMEOUT=280 BENCH_TIMEOUT=570 BENCH_DEADLINE=560 bash bench/train_fsdp_gpu.sh tibcpt_full_ckpt,tibcpt_full_resumed
    ;;
  *) echo "usage: bash bench/gpu_round7.sh speed|fsdp" >&2; exit 2 ;;
esac
