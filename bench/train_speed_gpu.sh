#!/usr/bin/env bash
# One lent-GPU call of bench/train_speed.py (the device machine has torch, transformers and triton but
# no liger-kernel and no pip index): liger-kernel from wheels carried in .speed/whl, the shard folder
# in .speed/shards, tibcpt importable through two links (no install needed).
# SHARDS=folder picks another shard folder (token ids only matter for the loss, not the speed).
# Usage: bash bench/train_speed_gpu.sh RUN[,RUN...]   (results: $OUT/train_speed.json, $OUT/logs.tgz)
set -uo pipefail
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .speed/whl/*.whl || exit 1
# This copy of the tree only: tibcpt.training / tibcpt.pipeline resolve as pyproject's package-dir maps them.
ln -sfn ../training tibcpt/training && ln -sfn ../pipeline tibcpt/pipeline
export PYTHONPATH=$PWD:/tmp/site
nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.sm --format=csv
# where the ranks' host threads can run (round 7: a DDP rank's host is ~30 % slower per op)
lscpu | grep -E '^(CPU\(s\)|Thread|Core|Socket|NUMA node)' ; nvidia-smi topo -m 2>/dev/null | head -6
python3 -c "import torch, transformers, triton, liger_kernel; print('torch', torch.__version__, 'transformers', transformers.__version__, 'triton', triton.__version__)"
# (the refusal test needs ../shared, which the device lacks; CI runs it)
if [ "${SPEED_TESTS:-1}" = 1 ]; then
  timeout 150 python3 -m pytest -q -p no:cacheprovider tests/training/test_speed.py -k "not trainer and not freeze_and_lora and not refused" 2>&1 | tail -6
fi
timeout "${BENCH_TIMEOUT:-400}" python3 bench/train_speed.py --shards "${SHARDS:-.speed/shards}" --out "$OUT/train_speed.json" --runs "$1"
(cd /tmp/train-speed && tar czf "$OUT/logs.tgz" ./*.log)
ls -la "$OUT"
