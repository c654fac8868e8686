#!/usr/bin/env bash
# The device calls still owed to issues 10 and 11, in this order on one warm nvidia-h200-x2 machine
# (fire each as soon as the last returns: the machine stays warm 30 s), about 22 minutes in all:
#   1. bash bench/gpu_round3.sh speed    carry .speed .w1   (~5 min)
#   2. bash bench/gpu_round3.sh fsdp     carry .fsdp .w2    (~7 min)
#   3. bash bench/recipes_gpu.sh next    carry .rd          (~8 min; the wheel parts wait in /root)
# .speed: liger wheel + SmolLM2-extended shards; .fsdp: Llama-2-extended shards (bench/train_fsdp.py);
# .w1/.w2: the base-model wheel split in two (`split -b 50000000`); .rd: bench/recipes_data.sh
# out/recipes-clean's shards, replay shards, held-out sets, and the gguf + liger wheels in .rd/whl.
set -uo pipefail
case "${1:-}" in
  speed)
    # The defaults after round 2: compiled (profiled), DDP 2 GPUs vs 1, cold start with the
    # evaluation at start; the eager path's profile; the Llama-3.2-1B shape (MFU and memory with the
    # compiled loss region: round 1 measured it with liger's fused loss); fp16 with the eager kernel
    # set vs plain fp16.
    [ -d .w1 ] && cp .w1/* /root/
    BENCH_TIMEOUT=540 bash bench/train_speed_gpu.sh tibcpt_compiled,tibcpt_compiled_ddp2,tibcpt_compiled_1gpu_ref,tibcpt_first_step_cold,tibcpt_eager_prof,tibcpt_1b_compiled,tibcpt_fp16_eager,tibcpt_fp16_eager_plain
    ;;
  fsdp)
    # Llama-2-7B shape on 2 GPUs: the freeze recipe under the HF Trainer, tibcpt's freeze run (saves
    # a checkpoint at step 6) and its resumption (loading a 32 GB sharded checkpoint takes > 20 s).
    [ -d .w2 ] && cp .w2/* /root/
    RUN_TIMEOUT=240 BENCH_TIMEOUT=560 BENCH_DEADLINE=550 bash bench/train_fsdp_gpu.sh hf_freeze,tibcpt_freeze,tibcpt_freeze_resumed
    ;;
  *) echo "usage: bash bench/gpu_round3.sh speed|fsdp" >&2; exit 2 ;;
esac
