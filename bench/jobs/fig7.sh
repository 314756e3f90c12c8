#!/bin/bash
# GM-GAN Fig. 7 with seeds: GAN vs unsupervised GM-GAN, AC-GAN vs supervised GM-GAN, mnist preset
# (the papers' settings: DCGAN nets, d = 100, K = 10, c = 0.1, sigma = 0.15 as a std, b_D 64, b_G 128, fp32),
# 3 seeds each, every 1,000th checkpoint kept; then the convergence curves and the sweeps at a common step S.
# The GAN seeds were started with --steps 10000, stopped (SIGTERM: a checkpoint of the step reached) when the
# GM-GAN's FID curve showed it still falling at 10,000 steps, and resumed with --steps 27000 (bit-exact).
#   bench/jobs/fig7.sh train-unsup | train-sup | train-sup-c | eval-sup-c | train-acgan-9k | eval-acgan-9k | curves | curves-sup | sweep[-unsup|-sup|-dyn] S
#   sweep-dyn S: the dynamic GM-GAN (the model the paper's Fig. 7 names; runs/i17/gmdyn-s*, trained by
#   bench/jobs/table3.sh) against the GAN retrained in the same batch (runs/i17/gan-s*), both in the pinned
#   reference classifier -> docs/results/fig7-dyn/
#   (ran: sweep-unsup 27000, as "sweep 27000" before the panels were split)
# The unsupervised GM-GAN seeds are runs/gm-std-s{0,1,2} (same command, trained to 27,000+ steps).
set -e
: "${MNIST_DIR:?set MNIST_DIR to the folder holding the MNIST IDX files}"
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
G=.venv/bin/gmgan
M="--preset mnist --data-dir $MNIST_DIR --set train.keep_checkpoints=50 \
   --set train.checkpoint_every=1000 --no-progress"
mkdir -p runs/i17
case "$1" in
train-unsup)
  for s in 0 1 2; do
    $G train $M --steps 27000 --method gan --out runs/i17/gan-s$s --set train.seed=$s > runs/i17/gan-s$s.log 2>&1 &
  done; wait ;;
train-sup)
  for s in 0 1 2; do
    $G train $M --steps 27000 --method acgan --out runs/i17/acgan-s$s --set train.seed=$s > runs/i17/acgan-s$s.log 2>&1 &
    $G train $M --steps 27000 --supervised --out runs/i17/sup-s$s --set train.seed=$s > runs/i17/sup-s$s.log 2>&1 &
  done; wait ;;
train-sup-c|train-acgan-9k)
  # train-sup-c: README's remedy for the class-accuracy ceiling, trained: the supervised GM-GAN at c = 0.125
  # (ceiling 99.7% at sigma 1 instead of 97.6%); 9,000 steps = 9.6 epochs, where the c = 0.1 runs' curves were
  # already flat. train-acgan-9k: the AC-GAN at the same length and in the same classifier, for a like-for-like row
  if [ "$1" = train-sup-c ]; then A="--supervised --c 0.125" N=sup-c0125; else A="--method acgan" N=acgan9k; fi
  for s in 0 1 2; do
    $G train $M --steps 9000 $A --out runs/i17/$N-s$s --set train.seed=$s > runs/i17/$N-s$s.log 2>&1 &
  done; wait ;;
eval-sup-c|eval-acgan-9k)
  # each seed, 5,000 samples, in the reference classifier -> docs/results/<name>/s<seed>-scale<sigma>.json
  # (the supervised GM-GAN at sigma 1 and 1.2, the AC-GAN at 1)
  if [ "$1" = eval-sup-c ]; then N=sup-c0125 O=sup-c0125 SC="1 1.2"; else N=acgan9k O=acgan-9k SC=1; fi
  mkdir -p docs/results/$O
  for s in 0 1 2; do
    for sc in $SC; do
      $G evaluate runs/i17/$N-s$s --no-real --n 5000 --scale $sc --no-progress --data-dir $MNIST_DIR \
        --json docs/results/$O/s$s-scale$sc.json > /dev/null
    done &
  done; wait ;;
curves|curves-sup)
  # the three seeds of two models, every 3,000 steps; --reuse keeps the points already scored
  cv() { out=$1 a=$2 b=$3; A=$4 B=$5
    .venv/bin/python bench/convergence_curve.py ${A}{0,1,2} ${B}{0,1,2} --every 3000 --n 5000 \
      --label "$a=${A}0,${A}1,${A}2" --label "$b=${B}0,${B}1,${B}2" --out $out --reuse; }
  if [ "$1" = curves ]; then
    cv docs/results/convergence-unsup GAN GM-GAN runs/i17/gan-s runs/gm-std-s
  else
    cv docs/results/convergence-sup AC-GAN "supervised GM-GAN" runs/i17/acgan-s runs/i17/sup-s
  fi ;;
sweep|sweep-unsup|sweep-sup|sweep-dyn)
  S=${2:?common step}
  # one process per model (the cores are shared), merged into one figure
  sw() { out=$1; shift; $G sweep --step $S --n 2000 --no-progress --out $out --group "$@" > $out.log 2>&1; }
  if [ "$1" = sweep-dyn ]; then
    sw runs/i17/sweep-gan-pinned "GAN=runs/i17/gan-s0,runs/i17/gan-s1,runs/i17/gan-s2" &
    sw runs/i17/sweep-gmdyn "GM-GAN dynamic=runs/i17/gmdyn-s0,runs/i17/gmdyn-s1,runs/i17/gmdyn-s2" &
    wait
    .venv/bin/python bench/merge_sweeps.py runs/i17/sweep-gan-pinned runs/i17/sweep-gmdyn --out docs/results/fig7-dyn
    exit 0
  fi
  if [ "$1" != sweep-sup ]; then
    sw runs/i17/sweep-gan "GAN=runs/i17/gan-s0,runs/i17/gan-s1,runs/i17/gan-s2" &
    sw runs/i17/sweep-gm "GM-GAN=runs/gm-std-s0,runs/gm-std-s1,runs/gm-std-s2" &
    wait
    .venv/bin/python bench/merge_sweeps.py runs/i17/sweep-gan runs/i17/sweep-gm --out docs/results/fig7-unsup
  fi
  if [ "$1" != sweep-unsup ]; then
    sw runs/i17/sweep-acgan "AC-GAN=runs/i17/acgan-s0,runs/i17/acgan-s1,runs/i17/acgan-s2" &
    sw runs/i17/sweep-sup "supervised GM-GAN=runs/i17/sup-s0,runs/i17/sup-s1,runs/i17/sup-s2" &
    wait
    .venv/bin/python bench/merge_sweeps.py runs/i17/sweep-acgan runs/i17/sweep-sup --out docs/results/fig7-sup
  fi ;;
*) echo "usage: $0 train-unsup | train-sup | train-sup-c | eval-sup-c | train-acgan-9k | eval-acgan-9k | curves | curves-sup | sweep[-unsup|-sup|-dyn] S" >&2; exit 2 ;;
esac
