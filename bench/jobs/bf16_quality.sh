#!/bin/bash
# bf16 vs fp32 at equal steps: the GM-GAN mnist preset, seeds 0 and 1, 4,000 steps each.
# fp32: the checkpoints at step 4,000 of the long fp32 runs runs/gm-std-s{0,1} (same config, same seeds);
# bf16: runs/bf16-s{0,1} (gmgan train --preset mnist --data-dir DIR --out runs/bf16-sN --steps 4000
#       --set train.seed=N --precision bf16). Scores: gmgan evaluate, 10,000 samples, classifier features.
set -e
cd "$(dirname "$0")/../.."
for s in 0 1; do
  q=runs/q/fp32-s$s
  mkdir -p $q/checkpoints
  cp runs/gm-std-s$s/config.yaml $q/
  [ -d $q/checkpoints/step-00004000 ] || cp -al runs/gm-std-s$s/checkpoints/step-00004000 $q/checkpoints/
  echo step-00004000 > $q/checkpoints/latest
  for r in $q runs/bf16-s$s; do
    .venv/bin/gmgan evaluate $r --n 10000 --no-real --no-progress > $r.evaluation.txt 2>&1
    grep -E "^(fid|recall|precision|q |d |s )" $r.evaluation.txt | tr -s ' ' | tr '\n' ';'; echo " <- $r"
  done
done
