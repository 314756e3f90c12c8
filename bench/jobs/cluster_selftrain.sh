#!/bin/bash
# The clustering table with the self-training stage (ours) on MNIST, 3 seeds each, scored on the test split:
# GM-GAN Algorithm 2 (RUN, RUN-s1, RUN-s2: three GM-GAN seeds of the mnist preset) -> + self-training (+ the
# consensus of the three), and the stage started from PCA-GMM and from k-means on pixels; each also with
# over-clustering (ROW-oc: the stage at 3 x K clusters, merged to K by augmentation co-assignment, then at K).
# cluster.json of each row in runs/cluster-selftrain/ROW/. One torch thread per job, so that two rows run side by
# side on 2 cores (OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE; the over-clustering rows were timed so).
#   MNIST_DIR=... bench/jobs/cluster_selftrain.sh RUN [ROWS]
#   ROWS: any of gmgan pcagmm kmeans gmgan-oc pcagmm-oc kmeans-oc (default all)
set -e
cd "$(dirname "$0")/../.."
: "${MNIST_DIR:?set MNIST_DIR to the folder holding the MNIST IDX files}"
RUN=${1:?give the GM-GAN run of seed 0 (RUN-s1 and RUN-s2 are the other seeds)}
ROWS=${2:-gmgan pcagmm kmeans gmgan-oc pcagmm-oc kmeans-oc}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
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
    gmgan-oc)  $G cluster "$RUN" --seeds 0,1,2 --splits test --self-train --over-cluster 3 --consensus \
                 --data-dir "$MNIST_DIR" --out $O/gmgan-oc --no-progress ;;
    pcagmm-oc) $G cluster --data-dir "$MNIST_DIR" --method pca-gmm --seeds 0,1,2 --splits test --self-train \
                 --over-cluster 3 --out $O/pcagmm-oc --no-progress ;;
    kmeans-oc) $G cluster --data-dir "$MNIST_DIR" --method kmeans --seeds 0,1,2 --splits test --self-train \
                 --over-cluster 3 --out $O/kmeans-oc --no-progress ;;
    *) echo "unknown row $row" >&2; exit 2 ;;
  esac
done
