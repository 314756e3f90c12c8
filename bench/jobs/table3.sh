#!/bin/bash
# Issue 17, the responsibility model's Table III on MNIST (papers/002, Section III-C) on the CPU, across sessions:
# the responsibility model (C shared, the default), the dynamic GM-GAN and the GAN, 3 seeds each, 27,000 steps =
# 28.8 epochs (Fig. 7's length), every 1,000th checkpoint kept. The responsibility model's step is 6.6x a
# GM-GAN step (K = 10 fakes per real image), so this is ~12 CPU hours: each call trains for at most 2.5 hours
# (--train-timeout), evaluates what it reached, and the same call continues from the latest checkpoints.
#   bench/jobs/table3.sh train      # once per session until every run is at 27,000 steps (runs/i17/batch.json);
#                                   # TRAIN_TIMEOUT=<seconds> caps this call (default 9000) to fit a session
#   bench/jobs/table3.sh curves     # convergence curves (5,000 samples every 3,000 steps) -> docs/results/
# On a GPU the whole issue is one batch instead (bench/jobs/issue17.txt's header).
set -e
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python D=../shared/data/mnist
RESP="runs/i17/resp-s0 runs/i17/resp-s1 runs/i17/resp-s2" DYN="runs/i17/gmdyn-s0 runs/i17/gmdyn-s1 runs/i17/gmdyn-s2"
GAN="runs/i17/gan-s0 runs/i17/gan-s1 runs/i17/gan-s2"
case "$1" in
train)
  $PY bench/run_batch.py bench/jobs/issue17.txt --only resp-s0,resp-s1,resp-s2,gmdyn-s0,gmdyn-s1,gmdyn-s2,gan-s0,gan-s1,gan-s2 \
    --out runs/i17 --data-dir $D --steps 27000 --parallel 9 --eval-n 5000 --train-timeout "${TRAIN_TIMEOUT:-9000}" ;;
curves)
  $PY bench/convergence_curve.py $RESP $DYN $GAN --every 3000 --n 5000 --data-dir $D --reuse \
    --label "responsibility=${RESP// /,}" --label "GM-GAN dynamic=${DYN// /,}" --label "GAN=${GAN// /,}" --out docs/results/convergence-table3 ;;
*) echo "usage: $0 train | curves" >&2; exit 2 ;;
esac
