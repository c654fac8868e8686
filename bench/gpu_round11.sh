#!/usr/bin/env bash
# Round 11 of issue 11's device calls (nvidia-h200-x2, carry .speed, ~7 min). Round 10 measured
# Inductor's CUDA graphs through its environment variable: 365k tok/s on one H200 against 311-326k
# without, 619k on two against 530-590k, one run each, the 1-GPU loss 0.018 from the compiled
# default's at steps 45-50. Here: the CUDA tests of tests/training/test_speed.py (the new
# test_cuda_graphs_replay_the_eager_loss_and_gradients among them), then the config option
# (model.cuda_graphs, with the trainer's step marker) and the default, each on 1 and 2 GPUs, twice;
# the default now reads row groups ahead (bench/data_speed.py).
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE (then give each
# new run a `call` field).
set -uo pipefail
BENCH_TIMEOUT=430 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_r11,tibcpt_compiled_ddp2_r11,tibcpt_compiled_1gpu_cgcfg,tibcpt_compiled_ddp2_cgcfg,tibcpt_compiled_1gpu_r11_b,tibcpt_compiled_ddp2_r11_b,tibcpt_compiled_1gpu_cgcfg_b,tibcpt_compiled_ddp2_cgcfg_b
