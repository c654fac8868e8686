#!/usr/bin/env bash
# Round 19 (nvidia-h200-x2, carry .speed, ~6 min): DDP headroom. Two rounds of 1 GPU / DDP / DDP with
# the no-op communication hook, then twice two independent 1-GPU processes at once (one per GPU).
# Results: $OUT/train_speed.json, $OUT/conc{0,1}.json. Merge all three with
#   python bench/train_speed.py --out bench/results/train_speed.json --merge FILE...
set -uo pipefail
runs=$(python3 -c "print(','.join(f'tibcpt_compiled_{p}_r19{s}' for s in ('', '_b') for p in ('1gpu', 'ddp2', 'ddp2_noop')))")
SPEED_TESTS=0 BENCH_TIMEOUT=330 bash bench/train_speed_gpu.sh "$runs"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false PYTHONPATH=$PWD:/tmp/site
for s in "" _b; do
  for g in 0 1; do
    CUDA_VISIBLE_DEVICES=$g timeout 150 python3 bench/train_speed.py --shards .speed/shards --out "$OUT/conc$g.json" \
      --runs "tibcpt_compiled_1gpu_conc${g}_r19$s" > "/tmp/conc$g$s.txt" 2>&1 &
  done
  wait
  tail -n 2 /tmp/conc0$s.txt /tmp/conc1$s.txt
done
(cd /tmp/train-speed && tar czf "$OUT/logs.tgz" ./*.log)
