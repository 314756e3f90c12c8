"""Evaluation: metrics of generated samples against the data they should match.

* :mod:`gmgan.evaluate.metrics`: FID, KID, Inception Score, precision/recall, density/coverage, GM-GAN's q,
  d_inter, d, s, class histograms and component purity, on features already extracted;
* :mod:`gmgan.evaluate.msssim`: MS-SSIM for 8-96 px images, batched over pairs, and d_intra;
* :mod:`gmgan.evaluate.classifier`: the domain classifier whose features and classes the metrics use;
* :mod:`gmgan.evaluate.inception`: Inception-v3 FID features from a local safetensors file;
* :mod:`gmgan.evaluate.run`: ``Evaluator`` and ``evaluate_run`` / ``sweep_runs`` for trained runs;
* :mod:`gmgan.evaluate.toy`: modes covered, high-quality fraction and log-likelihood on the toy grids.
"""

from gmgan.evaluate.toy import toy_metrics

__all__ = ["toy_metrics"]
