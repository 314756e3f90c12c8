#!/bin/bash
# At the longest training reached: the three GM-GAN seeds (mnist preset, the papers'
# settings) at a common step S (argument), then the purity curve and the clustering table.
#   runs/gm-std-sN: gmgan train --preset mnist --data-dir $MNIST_DIR --out runs/gm-std-sN --steps 50000 \
#                   --set train.seed=N --set train.keep_checkpoints=50 --set train.checkpoint_every=1000
#                   (stopped with Ctrl-C past step S; every 1,000th step's checkpoint kept)
set -e
: "${MNIST_DIR:?set MNIST_DIR to the folder holding the MNIST IDX files}"
cd "$(dirname "$0")/../.."
S=${1:?common step}
name=$(printf "step-%08d" "$S")
for s in 0 1 2; do
  dst=runs/final/gmgan$([ $s = 0 ] || echo "-s$s")
  mkdir -p $dst/checkpoints
  # the copy's length is S: gmgan cluster would otherwise resume a seed's run to the original --steps
  sed "s/^  steps: .*/  steps: $S/" runs/gm-std-s$s/config.yaml > $dst/config.yaml
  [ -d $dst/checkpoints/$name ] || cp -al runs/gm-std-s$s/checkpoints/$name $dst/checkpoints/
  echo $name > $dst/checkpoints/latest
done
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
# the purity curve, one process per seed, every 2,000 steps (and the last), merged below
for s in 0 1 2; do
  [ -f runs/final/purity-s$s.json ] || .venv/bin/python bench/purity_curve.py runs/gm-std-s$s --every 2000 \
      --n-per-component 500 --out runs/final/purity-s$s > runs/final/purity-s$s.log 2>&1 &
done
.venv/bin/python bench/cluster_mnist.py --data-dir $MNIST_DIR --out runs/final/cluster --keep-rows \
  --skip-existing \
  --route "GM-GAN, classifier route (Alg. 2), $S steps=runs/final/gmgan:classifier --consensus" \
  > runs/final/cluster.log 2>&1
wait
.venv/bin/python - <<'PY'
import json
runs = {}
for s in (0, 1, 2):
    runs.update(json.load(open(f"runs/final/purity-s{s}.json"))["runs"])
json.dump({"n_per_component": 500, "runs": runs}, open("docs/results/purity-curve-long.json", "w"))
PY
.venv/bin/python bench/purity_curve.py runs/gm-std-s0 runs/gm-std-s1 runs/gm-std-s2 --every 2000 --reuse \
    --n-per-component 500 --label "GM-GAN, paper settings=runs/gm-std-s0,runs/gm-std-s1,runs/gm-std-s2" \
    --out docs/results/purity-curve-long
echo final-done
