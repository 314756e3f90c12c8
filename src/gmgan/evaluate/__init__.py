"""Evaluation: metrics of generated samples against the data they should match."""

from gmgan.evaluate.toy import toy_metrics

__all__ = ["toy_metrics"]
