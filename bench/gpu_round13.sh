#!/usr/bin/env bash
# Round 13 of issue 11's device calls: the figures that round 12b could not re-measure with the
# trainer's corrected clock (training/train.py now reads an interval's clock after its GPU work;
# before, tokens/s counted the host's launches: 431k against 310k logging every step).
# speed (nvidia-h200-x2, carry .speed, ~7 min): the Llama-3.2-1B pair (MFU target 45 %), the cold
#   start (target 30 s), two DDP pairs, DDP with 100 and 200 MB gradient buckets (ddp_bucket_cap_mb).
#   Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE
# fsdp (nvidia-h200-x2, carry .fsdp, ~7 min): the 7B FSDP pairs, full and freeze, tibcpt and HF.
#   Merge: python bench/train_fsdp.py --out bench/results/train_fsdp.json --merge FILE
# Then give each new run a `call` field.
set -uo pipefail
case "${1:-}" in
  speed) SPEED_TESTS=0 BENCH_TIMEOUT=560 bash bench/train_speed_gpu.sh hf_1b_compiled_r13,tibcpt_1b_compiled_r13,tibcpt_first_step_cold_r13,tibcpt_compiled_1gpu_r13,tibcpt_compiled_ddp2_r13,tibcpt_compiled_1gpu_r13_b,tibcpt_compiled_ddp2_r13_b,tibcpt_compiled_ddp2_bucket100_r13,tibcpt_compiled_ddp2_bucket200_r13 ;;
  fsdp) RUN_TIMEOUT=200 BENCH_TIMEOUT=570 BENCH_DEADLINE=560 bash bench/train_fsdp_gpu.sh tibcpt_full_r13,hf_full_r13,tibcpt_freeze_r13,hf_freeze_r13 ;;
  *) echo "usage: bash bench/gpu_round13.sh speed|fsdp" >&2; exit 2 ;;
esac
