#!/usr/bin/env bash
# Round 12b (nvidia-h200-x2, carry .speed), ~5 min. Round 12 found tibcpt's logged tokens/s read the
# clock before the interval's GPU work had finished (logging every step: 431k against 327k every 5);
# training/train.py now synchronises first. The headline pairs again with the corrected clock:
# tibcpt and the HF Trainer (whose callback always synchronised), eager and compiled, and DDP 2/1.
set -uo pipefail
SPEED_TESTS=0 BENCH_TIMEOUT=320 bash bench/train_speed_gpu.sh tibcpt_compiled_1gpu_r12,tibcpt_compiled_ddp2_r12,tibcpt_compiled_1gpu_log1_r12,hf_compiled,tibcpt_eager,hf_eager
