#!/bin/bash
# GAEL's Table 1 with WGAN-GP: GAN and GAN + encoder, mnist preset with Gulrajani et al.'s image settings
# (n_critic 5, lr 1e-4, betas 0.5/0.9, penalty 10), 3 seeds each, 5,400 generator steps = 27,000 critic batches =
# 28.8 epochs (the non-saturating rows' data budget), every score on 5,000 samples at scale 1 in the reference
# classifier.
#   bench/jobs/gael_wgan.sh train     # run_batch: train, evaluate; GAEL runs: reconstruct --score, fit-prior 10/50
#   bench/jobs/gael_wgan.sh analyse   # convergence curves of both, the table with the GAN as baseline, grids
set -e
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python G=.venv/bin/gmgan D="${MNIST_DIR:?set MNIST_DIR to the folder holding the MNIST IDX files}"
B="runs/i17/wgan-s0 runs/i17/wgan-s1 runs/i17/wgan-s2"
R="runs/i17/wgan-gael-s0 runs/i17/wgan-gael-s1 runs/i17/wgan-gael-s2"
case "$1" in
train)
  $PY bench/run_batch.py bench/jobs/issue17.txt --only wgan-s0,wgan-s1,wgan-s2,wgan-gael-s0,wgan-gael-s1,wgan-gael-s2 \
    --out runs/i17 --data-dir $D --steps 5400 --parallel 6 --eval-n 5000 ;;
analyse)
  $PY bench/convergence_curve.py $B $R --every 2000 --n 5000 --data-dir $D \
    --label "WGAN-GP=${B// /,}" --label "WGAN-GP + encoder=${R// /,}" --out docs/results/convergence-gael-wgan --reuse
  $PY bench/gael_table.py $R --baseline-runs $B --out docs/results/gael-wgan
  $G sample runs/i17/wgan-s0 --n 100 --file runs/i17/wgan-s0/grid-n01.png
  $G sample runs/i17/wgan-gael-s0 --n 100 --file runs/i17/wgan-gael-s0/grid-n01.png
  $G sample runs/i17/wgan-gael-s0 --n 100 --prior fitted --file runs/i17/wgan-gael-s0/grid-fit50.png
  cp runs/i17/wgan-s0/grid-n01.png docs/results/wgan-s0-samples.png
  cp runs/i17/wgan-gael-s0/grid-n01.png docs/results/gael-wgan-s0-n01-samples.png
  cp runs/i17/wgan-gael-s0/grid-fit50.png docs/results/gael-wgan-s0-fit50-samples.png ;;
*) echo "usage: $0 train | analyse" >&2; exit 2 ;;
esac
