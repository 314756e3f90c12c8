#!/bin/bash
# EMA of G and spectral norm of D against the plain GM-GAN at equal steps, on scikit-learn's digits
# (the demo preset, 5,000 steps), seeds 0 and 1; scored by gmgan evaluate (2,000 samples, classifier features).
set -e
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
for s in 0 1; do
  for v in plain ema spectral; do
    case $v in plain) extra=();; ema) extra=(--set train.ema=0.999);; spectral) extra=(--set model.d_norm=spectral);; esac
    out=runs/stab/digits-$v-s$s
    [ -f $out/checkpoints/latest ] || .venv/bin/gmgan train --preset digits --out $out --set train.seed=$s "${extra[@]}" --no-progress > /dev/null
    .venv/bin/gmgan evaluate $out --n 2000 --no-real --no-progress > /dev/null 2>&1
    .venv/bin/python -c "import json,sys; g=json.load(open('$out/evaluation.json'))['generated']; print('$v', $s, *(f'{k} {g[k]:.4f}' for k in ('fid','precision','recall','q','d') if k in g))"
  done
done
