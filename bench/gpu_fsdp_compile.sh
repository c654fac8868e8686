#!/usr/bin/env bash
# Second GPU call: FSDP on 2 GPUs (after the uneven-eval fix) and torch.compile on one GPU.
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
W=/tmp/gpu-runs2; mkdir -p $W
python3 bench/random_model.py out/gpu/base-config $W/base
COMMON="--config configs/train/smollm2-135m.yaml model.model_name_or_path=$W/base data.shards=out/gpu/shards
  data.replay_shards=out/gpu/replay-shards data.replay_ratio=0.1 data.general_eval_shards=out/gpu/replay-shards
  data.eval_max_sequences=64 optim.learning_rate=6e-4 optim.warmup_ratio=0.05 logging_steps=10"
timeout 200 accelerate launch --config_file configs/accelerate/fsdp.yaml -m tibcpt.training.train $COMMON output_dir=$W/fsdp \
  mixed_precision=bf16 model.finetuning_type=full per_device_train_batch_size=8 max_steps=20 save_steps=20 eval_steps=20 \
  2>&1 | grep -v Loading | tee $W/fsdp.log | tail -12; echo "fsdp rc=${PIPESTATUS[0]}"
timeout 300 python3 -m tibcpt.cli train $COMMON output_dir=$W/compile mixed_precision=bf16 model.finetuning_type=full \
  model.compile=true per_device_train_batch_size=16 gradient_accumulation_steps=1 max_steps=120 eval_steps=120 save_steps=120 \
  2>&1 | grep -v Loading | tee $W/compile.log | tail -14; echo "compile rc=${PIPESTATUS[0]}"
cp $W/fsdp.log $W/compile.log "$OUT"/ 2>/dev/null; cp $W/compile/train_log.jsonl "$OUT"/compile_train_log.jsonl 2>/dev/null
cp $W/fsdp/train_log.jsonl "$OUT"/fsdp_train_log.jsonl 2>/dev/null; ls "$OUT"
