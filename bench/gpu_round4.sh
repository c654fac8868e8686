#!/usr/bin/env bash
# Round 4's two device calls, back to back on one warm nvidia-h200-x2 machine (it stays warm 30 s):
#   1. bash bench/gpu_round4.sh speed   carry .speed .w1   (~4 min)
#   2. bash bench/gpu_round4.sh gen     carry .rd .w2      (~4 min; needs call 1's /root/partaa)
# speed: the eager path with the aligned output matmul (kernels.VOCAB_ALIGN), the compiled default
# with it (profiled), and DDP 2 GPUs vs 1 with the data stream read ahead (data.Prefetch: 1.48x, so
# reverted; bench/results/train_speed.json keeps those runs as tibcpt_compiled_prefetch_*).
# gen: the default recipe with a third seed, then bench/generate_grid.py's sampling grid on its model
# (scored here: python bench/generate_grid.py score ...). Round 4 ran both; the gen call ended after
# 8 of the grid's 15 settings (RECIPES_TIMEOUT cut recipes.py's own sampling, which is not needed).
set -uo pipefail
case "${1:-}" in
  speed)
    [ -d .w1 ] && cp .w1/* /root/
    BENCH_TIMEOUT=330 bash bench/train_speed_gpu.sh tibcpt_eager,tibcpt_compiled,tibcpt_compiled_ddp2,tibcpt_compiled_1gpu_ref
    ;;
  gen)
    PARALLEL=2 RECIPES_TIMEOUT=200 bash bench/recipes_gpu.sh gen
    export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
    timeout 170 python3 bench/generate_grid.py run --model /tmp/recipe-runs/sub-lr2e-4-r20-6ep --out "$OUT/generate_grid.json"
    echo "grid rc=$?"
    ;;
  *) echo "usage: bash bench/gpu_round4.sh speed|gen" >&2; exit 2 ;;
esac
