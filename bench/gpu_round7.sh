#!/usr/bin/env bash
# Round 7 of issue 11's device calls (one nvidia-h200-x2 call, carry .speed, ~7 min): where the 2-GPU
# step waits. Rounds 5-6 put DDP at 1.716-1.817x one GPU with NCCL kernels at 2.9 ms of a 113 ms
# step and no DDP option beyond the call-to-call spread; round 5's profile summed GPU annotations
# into device time (fixed in training/profile.py) and covered rank 0 only. Here both ranks'
# profiles (kernels only) against the 1-GPU step's, two unprofiled pairs for this call's spread, and
# Inductor's C++ wrapper (host launch cost) on 1 and 2 GPUs.
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE (then give each
# new run a `call` field, as rounds 5-6 have).
set -uo pipefail
SPEED_TESTS=0 BENCH_TIMEOUT=540 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_prof_r7,tibcpt_compiled_ddp2_prof_r7,tibcpt_compiled_1gpu_r7,tibcpt_compiled_ddp2_r7,tibcpt_compiled_1gpu_r7b,tibcpt_compiled_ddp2_r7b,tibcpt_compiled_1gpu_cppwrap,tibcpt_compiled_ddp2_cppwrap
