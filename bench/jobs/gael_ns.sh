#!/bin/bash
# GAEL's Table 1 with the non-saturating loss: GAN + encoder, mnist preset, 3 seeds, 27,000 steps
# (28.8 epochs, as the GAN baseline of Fig. 7), every score on 5,000 samples at scale 1 in the reference classifier.
#   bench/jobs/gael_ns.sh train     # run_batch: train, evaluate, reconstruct --score, fit-prior 10/50, evaluate each
#   bench/jobs/gael_ns.sh analyse   # convergence curve, the table, sample grids, the classifier margin
set -e
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python G=.venv/bin/gmgan D="${MNIST_DIR:?set MNIST_DIR to the folder holding the MNIST IDX files}" R="runs/i17/gael-s0 runs/i17/gael-s1 runs/i17/gael-s2"
case "$1" in
train)
  $PY bench/run_batch.py bench/jobs/issue17.txt --only gael-s0,gael-s1,gael-s2 --out runs/i17 --data-dir $D \
    --steps 27000 --parallel 3 --eval-n 5000 ;;
analyse)
  $PY bench/gael_table.py $R --baseline docs/results/convergence-unsup.json:GAN --out docs/results/gael-ns
  $PY bench/convergence_curve.py $R --every 9000 --n 5000 --data-dir $D \
    --label "GAN + encoder=${R// /,}" --out docs/results/convergence-gael-ns --reuse
  # sample grids of seed 0: the run's own N(0, I), and the 50-component mixture fitted last
  $G sample runs/i17/gael-s0 --n 100 --file runs/i17/gael-s0/grid-n01.png
  $G sample runs/i17/gael-s0 --n 100 --prior fitted --file runs/i17/gael-s0/grid-fit50.png
  cp runs/i17/gael-s0/grid-n01.png docs/results/gael-ns-s0-n01-samples.png
  cp runs/i17/gael-s0/grid-fit50.png docs/results/gael-ns-s0-fit50-samples.png
  # the classifier's own margin: the same samples in a second classifier of the same recipe, trained on 1 thread
  $G train-classifier --dataset mnist --data-dir $D --cache-dir runs/clf-1thread --retrain
  for r in $R; do
    $G evaluate $r --no-real --n 5000 --cache-dir runs/clf-1thread --data-dir $D --no-progress \
      --json $r/evaluation-clf-1thread.json > /dev/null
  done
  $PY bench/ruler_margin.py $R --other evaluation-clf-1thread.json --out docs/results/ruler-margin.json ;;
*) echo "usage: $0 train | analyse" >&2; exit 2 ;;
esac
