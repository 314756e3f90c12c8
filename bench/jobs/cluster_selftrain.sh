#!/bin/bash
# The clustering table with the self-training stage (ours) on MNIST, 3 seeds each, scored on the test split:
# GM-GAN Algorithm 2 (RUN, RUN-s1, RUN-s2: three GM-GAN seeds of the mnist preset) -> + self-training (+ the
# consensus of the three), and the stage started from PCA-GMM and from k-means on pixels. cluster.json of each row
# in runs/cluster-selftrain/ROW/.
#   MNIST_DIR=... bench/jobs/cluster_selftrain.sh RUN [ROWS]     # ROWS: any of gmgan pcagmm kmeans (default all)
set -e
cd "$(dirname "$0")/../.."
: "${MNIST_DIR:?set MNIST_DIR to the folder holding the MNIST IDX files}"
RUN=${1:?give the GM-GAN run of seed 0 (RUN-s1 and RUN-s2 are the other seeds)}
ROWS=${2:-gmgan pcagmm kmeans}
G=.venv/bin/gmgan
O=runs/cluster-selftrain
for row in $ROWS; do
  case $row in
    gmgan)  $G cluster "$RUN" --seeds 0,1,2 --splits test --self-train --consensus --data-dir "$MNIST_DIR" \
              --out $O/gmgan --no-progress ;;
    pcagmm) $G cluster --data-dir "$MNIST_DIR" --method pca-gmm --seeds 0,1,2 --splits test --self-train \
              --out $O/pcagmm --no-progress ;;
    kmeans) $G cluster --data-dir "$MNIST_DIR" --method kmeans --seeds 0,1,2 --splits test --self-train \
              --out $O/kmeans --no-progress ;;
  esac
done
