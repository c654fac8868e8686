#!/usr/bin/env bash
# Round 12 of issue 11's device calls (nvidia-h200-x2, carry .speed), ~6 min.
# The CUDA tests of tests/training/test_speed.py (round 11: the CUDA graphs test saw Inductor skip a
# graph for "mutated inputs" when it ran after a test that left liger's in-place RoPE patched into
# transformers; the tests now restore it), then: every step's loss with model.cuda_graphs three times
# and without once (round 11's first CUDA graphs run logged steps 41-45 0.10 high), and every DDP
# option that saves host work at once, with its 1-GPU run.
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE (then give each
# new run a `call` field).
set -uo pipefail
BENCH_TIMEOUT=420 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_cgcfg_log1,tibcpt_compiled_1gpu_log1,tibcpt_compiled_1gpu_cgcfg_log1_b,tibcpt_compiled_1gpu_cgcfg_log1_c,tibcpt_compiled_1gpu_cg_all,tibcpt_compiled_ddp2_cg_all
