#!/usr/bin/env bash
# Round 11 of issue 11's device calls, back to back on one nvidia-h200-x2 lease (carry .speed).
# a (~7 min): the CUDA tests of tests/training/test_speed.py (test_cuda_graphs_replay_the_eager_loss_
#   and_gradients among them), then the default (which now reads row groups ahead, bench/data_speed.py)
#   and model.cuda_graphs (round 10: 365k tok/s on one H200 against 311-326k, one run, loss 0.015 from
#   eager), each on 1 and 2 GPUs, twice.
# b (~6 min): the host. Round 7's profiles: 31 us of host CPU per matmul call on one GPU, 39-40 us on
#   each DDP rank. Each process bound to its own half of the physical cores (bench/pin/), two pairs,
#   and profiles of 1 GPU, 2 GPUs and 2 GPUs pinned (summary: host_cpu_ms_per_step per rank); then
#   bench/loss_kernels.py (cut-cross-entropy, not yet measured, against the compiled loss region).
#   Its JSON goes to bench/results/loss_kernels.json as it is.
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE (then give each
# new run a `call` field).
set -uo pipefail
case "${1:-}" in
  a) BENCH_TIMEOUT=400 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_r11,tibcpt_compiled_ddp2_r11,tibcpt_compiled_1gpu_cgcfg,tibcpt_compiled_ddp2_cgcfg,tibcpt_compiled_1gpu_r11_b,tibcpt_compiled_ddp2_r11_b,tibcpt_compiled_1gpu_cgcfg_b,tibcpt_compiled_ddp2_cgcfg_b ;;
  b) SPEED_TESTS=0 BENCH_TIMEOUT=420 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_pin,tibcpt_compiled_ddp2_pin,tibcpt_compiled_1gpu_pin_b,tibcpt_compiled_ddp2_pin_b,tibcpt_compiled_1gpu_r11_prof,tibcpt_compiled_ddp2_r11_prof,tibcpt_compiled_ddp2_pin_prof
     # the loss region alone: compiled (default), liger, cut-cross-entropy (its wheel is in .speed/whl)
     PYTHONPATH=$PWD:/tmp/site timeout 150 python3 bench/loss_kernels.py --out "$OUT/loss_kernels.json" ;;
  *) echo "usage: bash bench/gpu_round11.sh a|b" >&2; exit 2 ;;
esac
