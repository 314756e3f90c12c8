#!/bin/bash
# the responsibility model's Table III on MNIST (Section III-C) on the CPU, resumable:
# the responsibility model (C shared, the default), the dynamic GM-GAN and the GAN, 3 seeds each, 27,000 steps =
# 28.8 epochs (Fig. 7's length), every 1,000th checkpoint kept. The responsibility model's step is 6.6x a
# GM-GAN step (K = 10 fakes per real image), so this is ~12 CPU hours: each call trains for at most 2.5 hours
# (--train-timeout), evaluates what it reached, and the same call continues from the latest checkpoints.
#   bench/jobs/table3.sh train      # repeat until every run is at 27,000 steps (runs/i17/batch.json);
#                                   # TRAIN_TIMEOUT=<seconds> caps this call (default 9000) to fit a time limit
#   bench/jobs/table3.sh curves     # convergence curves (5,000 samples every 3,000 steps) and the best FID / IS
#                                   # over training (the paper's Table III protocol) -> docs/results/
#   bench/jobs/table3.sh table      # Table III over seeds (parameters, epochs, FID, KID, IS, ...) -> docs/results/table3
#   bench/jobs/table3.sh train-size # then the size experiment (Section III-D): the responsibility model and the
#                                   # GAN at half width (model.width=32), 3 seeds, 27,000 steps, same caps
#   SEED=N bench/jobs/table3.sh train-size-seed # one half-width responsibility seed alone, 2 threads, from scratch
#                                   # or its latest checkpoint (~2 h to 27,000 steps: fits a 3-hour slot when the run
#                                   # folders do not outlive it; curves-size --reuse keeps what earlier ones scored)
#   bench/jobs/table3.sh table-size # its table beside the full-width rows -> docs/results/table3-size (needs the
#                                   # full-width run folders of `train` too)
#   bench/jobs/table3.sh curves-size # the half-width runs along training beside the full-width curves recorded in
#                                   # docs/results/convergence-table3.json (no full-width folders needed), up to
#                                   # UNTIL (default 27000), with tables at AT (default 3000,6000,...,27000);
#                                   # FORGET="runs/i17/size/resp-half-s1" for a seed retrained by train-size-seed
#   bench/jobs/table3.sh train-kl   # ours: the responsibility model with C trained by KL, 3 seeds, same caps
# On a GPU the whole issue is one batch instead (bench/jobs/issue17.txt's header).
set -e
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python D="${MNIST_DIR:?set MNIST_DIR to the folder holding the MNIST IDX files}"
RESP="runs/i17/resp-s0 runs/i17/resp-s1 runs/i17/resp-s2" DYN="runs/i17/gmdyn-s0 runs/i17/gmdyn-s1 runs/i17/gmdyn-s2"
GAN="runs/i17/gan-s0 runs/i17/gan-s1 runs/i17/gan-s2"
group() { echo "$1=${2// /,}"; }
case "$1" in
train)
  $PY bench/run_batch.py bench/jobs/issue17.txt --only resp-s0,resp-s1,resp-s2,gmdyn-s0,gmdyn-s1,gmdyn-s2,gan-s0,gan-s1,gan-s2 \
    --out runs/i17 --data-dir $D --steps 27000 --parallel 9 --eval-n 5000 --train-timeout "${TRAIN_TIMEOUT:-9000}" ;;
curves)
  $PY bench/convergence_curve.py $RESP $DYN $GAN --every 3000 --n 5000 --data-dir $D --reuse \
    --label "responsibility=${RESP// /,}" --label "GM-GAN dynamic=${DYN// /,}" --label "GAN=${GAN// /,}" --metrics fid,is,recall,q,mean_purity --out docs/results/convergence-table3 ;;
table)
  $PY bench/seeds_table.py --group "$(group responsibility "$RESP")" --group "$(group "GM-GAN dynamic" "$DYN")" \
    --group "$(group GAN "$GAN")" --data-dir $D --out docs/results/table3 ;;
train-size)
  $PY bench/run_batch.py bench/jobs/issue17.txt --only resp-half-s0,resp-half-s1,resp-half-s2,gan-half-s0,gan-half-s1,gan-half-s2 \
    --out runs/i17/size --data-dir $D --steps 27000 --parallel 6 --eval-n 5000 --train-timeout "${TRAIN_TIMEOUT:-9000}" ;;
train-size-seed)
  case "$SEED" in 0|1|2) ;; *) echo "train-size-seed needs SEED=0, 1 or 2, e.g. SEED=1 $0 train-size-seed" >&2; exit 2 ;; esac
  OMP_NUM_THREADS=2 $PY bench/run_batch.py bench/jobs/issue17.txt --only "resp-half-s$SEED" \
    --out runs/i17/size --data-dir $D --steps 27000 --parallel 1 --eval-n 5000 --train-timeout "${TRAIN_TIMEOUT:-9000}" ;;
train-kl)
  # ours: C trained with KL (with the paper's MI, C merged components; RESULTS, Table III section), same caps
  $PY bench/run_batch.py bench/jobs/issue17.txt --only resp-kl-s0,resp-kl-s1,resp-kl-s2 \
    --out runs/i17 --data-dir $D --steps 27000 --parallel 3 --eval-n 5000 --train-timeout "${TRAIN_TIMEOUT:-9000}" ;;
table-size)
  S=runs/i17/size
  $PY bench/seeds_table.py --group "$(group "responsibility, full width" "$RESP")" \
    --group "responsibility, 1/2 width=$S/resp-half-s0,$S/resp-half-s1,$S/resp-half-s2" \
    --group "$(group "GAN, full width" "$GAN")" --group "GAN, 1/2 width=$S/gan-half-s0,$S/gan-half-s1,$S/gan-half-s2" \
    --data-dir $D --out docs/results/table3-size ;;
curves-size)
  F=(); for r in $FORGET; do F+=(--forget "$r"); done   # FORGET="RUN ...": runs trained anew, scored afresh
  HALF_R="runs/i17/size/resp-half-s0 runs/i17/size/resp-half-s1 runs/i17/size/resp-half-s2"
  HALF_G="runs/i17/size/gan-half-s0 runs/i17/size/gan-half-s1 runs/i17/size/gan-half-s2"
  $PY bench/convergence_curve.py $HALF_R $HALF_G --every 3000 --n 5000 --data-dir $D --reuse "${F[@]}" \
    --label "$(group "responsibility, 1/2 width" "$HALF_R")" --label "$(group "GAN, 1/2 width" "$HALF_G")" \
    --include docs/results/convergence-table3.json --until "${UNTIL:-27000}" \
    --at "${AT:-3000,6000,9000,12000,15000,18000,21000,24000,27000}" --metrics fid,is,recall,q,mean_purity \
    --out docs/results/convergence-size ;;
*) echo "usage: $0 train | curves | table | train-size | train-size-seed | table-size | curves-size | train-kl" >&2; exit 2 ;;
esac
