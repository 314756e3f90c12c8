#!/bin/bash
# EMA of G and spectral norm of D at equal steps on MNIST: the GM-GAN mnist preset in bf16,
# 4,000 steps, seeds 0 and 1, against the plain bf16 runs runs/bf16-s{0,1} of bench/jobs/bf16_quality.sh.
#   gmgan train --preset mnist --data-dir DIR --out runs/stab-mnist/ema-sN --steps 4000 --set train.seed=N \
#       --precision bf16 --set train.ema=0.999          (sn: --set model.d_norm=spectral)
set -e
cd "$(dirname "$0")/../.."
for r in runs/stab-mnist/ema-s0 runs/stab-mnist/ema-s1 runs/stab-mnist/sn-s0 runs/stab-mnist/sn-s1; do
  .venv/bin/gmgan evaluate $r --n 10000 --no-real --no-progress > /dev/null 2>&1 &
done
wait
for r in runs/bf16-s0 runs/bf16-s1 runs/stab-mnist/ema-s0 runs/stab-mnist/ema-s1 runs/stab-mnist/sn-s0 runs/stab-mnist/sn-s1; do
  .venv/bin/python -c "import json; g=json.load(open('$r/evaluation.json'))['generated']; print('$r', *(f'{k} {g[k]:.4f}' for k in ('fid','precision','recall','coverage','q','d')), 'purity', round(g['component_purity']['mean'],3))"
done
