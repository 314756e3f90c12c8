"""bench/convergence_curve.py's best-over-training table (papers/002's Table III protocol: each run's lowest FID
and highest Inception Score over its checkpoints, then mean ± std over the seeds)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "convergence_curve", Path(__file__).parent.parent / "bench" / "convergence_curve.py")
_cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cc)


def _points(*rows):
    return [{"step": s, "epochs": s / 1000, "fid": f, "is": i} for s, f, i in rows]


def test_best_takes_lowest_fid_and_highest_is_per_run_then_mean_and_std():
    results = {"a0": _points((1000, 9.0, 5.0), (2000, 4.0, 6.0), (3000, 5.0, 8.0)),
               "a1": _points((1000, 8.0, 7.0), (2000, 6.0, 6.5), (3000, 7.0, 6.0)),
               "b0": _points((1000, 3.0, 2.0))}
    table = _cc.best_over_training(results, {"A": ["a0", "a1"], "B": ["b0"]}, ["fid", "is"])
    fid, is_ = table["A"]["fid"], table["A"]["is"]
    assert [r["value"] for r in fid["runs"]] == [4.0, 6.0]
    assert [r["step"] for r in fid["runs"]] == [2000, 2000]  # the lowest FID, not the last or the first
    assert [r["value"] for r in is_["runs"]] == [8.0, 7.0]  # the highest IS
    assert [r["epochs"] for r in is_["runs"]] == [3.0, 1.0]
    assert fid["mean"] == pytest.approx(5.0) and fid["std"] == pytest.approx(2 ** 0.5)
    assert table["B"]["fid"]["std"] == 0.0  # one run: no spread rather than an error
    lines = _cc.best_lines(table, ["fid", "is"])
    assert lines[0].startswith("| model | runs | lowest fid") and "| A | 2 | 5.000 ± 1.414 (2.0/2.0)" in lines[2]


def test_best_skips_runs_and_metrics_without_points():
    results = {"a0": [{"step": 1000, "epochs": 1.0, "fid": 9.0}], "a1": []}
    table = _cc.best_over_training(results, {"A": ["a0", "a1", "missing"]}, ["fid", "is"])
    assert list(table["A"]) == ["fid"] and len(table["A"]["fid"]["runs"]) == 1
