#!/usr/bin/env bash
# GPU smoke + throughput run of the trainer (run on a machine with >= 1 GPU, 2 for the DDP part).
# Inputs (made here with `tibcpt tokenizer/pack` on the sample corpus, SmolLM2 base):
#   out/gpu/shards, out/gpu/replay-shards, out/gpu/base-config (SmolLM2 config + tokenizer).
# Writes logs/eval/plots of each run into ${OUT:-out/gpu-results} as one tarball.
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
R=${OUT:-out/gpu-results}; mkdir -p "$R"; W=/tmp/gpu-runs; mkdir -p $W
nvidia-smi --query-gpu=name,memory.total --format=csv | tee $W/nvidia-smi.txt
python3 -c "import torch,transformers,accelerate,peft;print('torch',torch.__version__,'transformers',transformers.__version__,'accelerate',accelerate.__version__,'peft',peft.__version__)" | tee $W/versions.txt
python3 bench/random_model.py out/gpu/base-config $W/base
COMMON="--config configs/train/smollm2-135m.yaml model.model_name_or_path=$W/base data.shards=out/gpu/shards
  data.replay_shards=out/gpu/replay-shards data.replay_ratio=0.1 data.general_eval_shards=out/gpu/replay-shards
  data.eval_max_sequences=64 optim.learning_rate=6e-4 optim.warmup_ratio=0.05 logging_steps=10"
run() { name=$1; shift; echo "=== $name"; /usr/bin/time -v "$@" > $W/$name.log 2>&1; rc=$?; tail -25 $W/$name.log; echo "rc=$rc"; }
# 1. bf16, full fine-tuning, one GPU: throughput, MFU, loss curve, eval (Tibetan + English forgetting).
run bf16 python3 -m tibcpt.cli train $COMMON output_dir=$W/bf16 mixed_precision=bf16 model.finetuning_type=full \
  per_device_train_batch_size=16 gradient_accumulation_steps=1 max_steps=200 eval_steps=100 save_steps=100
# 2. fp16 with loss scaling (the V100 path), freeze tuning as in the seed.
run fp16 python3 -m tibcpt.cli train $COMMON output_dir=$W/fp16 mixed_precision=fp16 \
  per_device_train_batch_size=8 gradient_accumulation_steps=2 max_steps=40 eval_steps=40 save_steps=40
# 3. DDP on 2 GPUs through accelerate launch, stopped at step 30, then resumed to 60.
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
  run ddp_a accelerate launch --config_file configs/accelerate/ddp.yaml -m tibcpt.training.train $COMMON output_dir=$W/ddp \
    mixed_precision=bf16 model.finetuning_type=full per_device_train_batch_size=8 max_steps=30 save_steps=30 eval_steps=30
  run ddp_b accelerate launch --config_file configs/accelerate/ddp.yaml -m tibcpt.training.train $COMMON output_dir=$W/ddp \
    mixed_precision=bf16 model.finetuning_type=full per_device_train_batch_size=8 max_steps=60 save_steps=30 eval_steps=30 \
    resume_from_checkpoint=auto
  run fsdp accelerate launch --config_file configs/accelerate/fsdp.yaml -m tibcpt.training.train $COMMON output_dir=$W/fsdp \
    mixed_precision=bf16 model.finetuning_type=full per_device_train_batch_size=8 max_steps=20 save_steps=20 eval_steps=20
fi
# 4. generate from the bf16 model.
run generate python3 -m tibcpt.cli generate --model $W/bf16 "བོད་ཀྱི་" --max-new-tokens 30 --seed 0
cd $W && tar czf "$R/gpu-runs.tgz" --exclude='*.safetensors' --exclude='*.pt' --exclude='*.bin' --exclude='base' . && ls -la "$R"
