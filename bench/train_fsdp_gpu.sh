#!/usr/bin/env bash
# One lent-GPU call (kind nvidia-h200-x2) of bench/train_fsdp.py: the Llama-2-7B shape, FSDP on 2 GPUs,
# tibcpt vs the HF Trainer (full + freeze) and tibcpt's resume. Needs the shard folder in .fsdp/shards
# (carry it: 10 MB); tibcpt importable through two links (no install needed), no extra wheels.
# Usage: bash bench/train_fsdp_gpu.sh [RUN[,RUN...]]   (results: $OUT/train_fsdp.json, $OUT/logs.tgz)
# The model (13.8 GB bf16) and checkpoints go to /tmp/train-fsdp (local disk); a warm machine reuses the model.
set -uo pipefail
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
# This copy of the tree only: tibcpt.training / tibcpt.pipeline resolve as pyproject's package-dir maps them.
ln -sfn ../training tibcpt/training && ln -sfn ../pipeline tibcpt/pipeline
export PYTHONPATH=$PWD:/tmp/site
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv
df -h /tmp | tail -1
python3 -c "import torch, transformers, accelerate; print('torch', torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__, 'gpus', torch.cuda.device_count())"
timeout "${BENCH_TIMEOUT:-510}" python3 bench/train_fsdp.py --shards .fsdp/shards --work /tmp/train-fsdp \
  --out "$OUT/train_fsdp.json" --deadline "${BENCH_DEADLINE:-490}" --timeout "${RUN_TIMEOUT:-200}" ${1:+--runs "$1"}
echo "bench rc=$?"
(cd /tmp/train-fsdp && tar czf "$OUT/logs.tgz" ./*.log runs/*/train_log.jsonl 2>/dev/null)
du -sh /tmp/train-fsdp/runs/* 2>/dev/null
ls -la "$OUT"
