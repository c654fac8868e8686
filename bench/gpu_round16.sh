#!/usr/bin/env bash
# Round 16 (nvidia-h200-x2, carry .speed, ~3 min): where the cold start's seconds go (target 30 s;
# round 13: 31.2 s): once plain, once under cProfile (its top functions land in the run's record).
# Merge: python bench/train_speed.py --out bench/results/train_speed.json --merge FILE
set -uo pipefail
export CUDA_VISIBLE_DEVICES=0
SPEED_TESTS=0 BENCH_TIMEOUT=300 bash bench/train_speed_gpu.sh tibcpt_first_step_cold_r16,tibcpt_first_step_cold_cprofile_r16
python3 -c "import json; r=json.load(open('$OUT/train_speed.json'))['runs']['tibcpt_first_step_cold_cprofile_r16']; print('\n'.join(f'{t:8.2f} {f}' for t, f in r.get('cprofile_cumulative_s', [])))"
