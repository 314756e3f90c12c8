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


def _recorded(tmp_path, name, groups, runs, sha):
    import json
    path = tmp_path / name
    path.write_text(json.dumps({"groups": groups, "runs": runs, "extractors": [{"weights_sha256": sha}]}))
    return path


def test_include_adds_recorded_labels_and_refuses_another_classifier_or_a_label_twice(tmp_path):
    old = _recorded(tmp_path, "old.json", {"full": ["gone-s0", "gone-s1"]},
                    {"gone-s0": _points((3000, 9.0, 7.0)), "gone-s1": _points((3000, 11.0, 6.0))}, "aaa")
    new = {"half-s0": _points((3000, 20.0, 5.0))}
    groups, results, ex = _cc.include([old], {"half": ["half-s0"]}, new, {"aaa": {"weights_sha256": "aaa"}})
    assert list(groups) == ["half", "full"] and results["gone-s1"][0]["fid"] == 11.0 and "half-s0" in results
    assert list(ex) == ["aaa"]
    with pytest.raises(ValueError, match="another evaluation classifier"):
        _cc.include([old], {"half": ["half-s0"]}, new, {"bbb": {"weights_sha256": "bbb"}})
    with pytest.raises(ValueError, match="already given"):
        _cc.include([old], {"full": ["half-s0"]}, new, {"aaa": {}})
    # nothing new scored: the included file's classifier is the ruler the next file must share
    other = _recorded(tmp_path, "other.json", {"x": ["x0"]}, {"x0": _points((3000, 1.0, 1.0))}, "ccc")
    with pytest.raises(ValueError, match="another evaluation classifier"):
        _cc.include([old, other], {}, {}, {})


def test_a_clashing_include_is_refused_before_any_checkpoint_is_scored(tmp_path, monkeypatch, capsys):
    old = _recorded(tmp_path, "old.json", {"half": ["gone-s0"]}, {"gone-s0": _points((3000, 9.0, 7.0))}, "aaa")
    scored = []
    monkeypatch.setattr(_cc, "curve", lambda run, *a, **k: scored.append(run) or [])
    monkeypatch.setattr("sys.argv", ["convergence_curve.py", str(tmp_path / "half-s0"), "--label",
                                     f"half={tmp_path / 'half-s0'}", "--include", str(old),
                                     "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as e:
        _cc.main()
    assert e.value.code == 2 and scored == [] and "already given" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_until_and_values_at_compare_runs_over_the_same_length():
    results = {"a0": _points((3000, 9.0, 5.0), (6000, 4.0, 6.0), (9000, 2.0, 9.0)),
               "a1": _points((3000, 8.0, 7.0), (6000, 6.0, 6.5)),
               "b0": _points((3000, 3.0, 2.0))}
    cut = _cc.until_step(results, 6000)
    assert [p["step"] for p in cut["a0"]] == [3000, 6000] and _cc.until_step(results, None) is results
    best = _cc.best_over_training(cut, {"A": ["a0", "a1"]}, ["fid"])
    assert [r["value"] for r in best["A"]["fid"]["runs"]] == [4.0, 6.0]  # a0's 2.0 at 9000 is past the cut
    at = _cc.values_at(results, {"A": ["a0", "a1"], "B": ["b0"]}, 6000)
    assert at["A"]["fid"]["mean"] == pytest.approx(5.0) and at["A"]["fid"]["n"] == 2
    assert "B" not in at  # no run of B reached step 6000
    lines = _cc.at_lines(at, 6000)
    assert lines[0].startswith("| at step 6000 | runs | epochs | fid | is |")
    assert "| A | 2 | 6.0 | 5.000 ± 1.414" in lines[2]


def test_reuse_keeps_recorded_points_whose_checkpoints_or_run_folder_are_gone(tmp_path, monkeypatch):
    # a run retrained from scratch after its folder was lost: 3000 and 6000 were recorded, only 6000 and a
    # pruned-then-rewritten 9000 are on disk; nothing may be rescored and nothing recorded may be dropped
    run = tmp_path / "half-s0"
    for step in (6000, 9000):
        (run / "checkpoints" / f"step-{step:08d}").mkdir(parents=True)
        (run / "checkpoints" / f"step-{step:08d}" / "state.json").write_text("{}")
        (run / "checkpoints" / f"step-{step:08d}" / "model.safetensors").write_bytes(b"weights %d" % step)
    monkeypatch.setattr(_cc, "load_run_config", lambda r: type("C", (), {"train": type("T", (), {"steps": 9000})})())
    monkeypatch.setattr(_cc, "Evaluator", lambda *a, **k: pytest.fail("a recorded point was rescored"))
    known = _points((3000, 9.0, 5.0), (6000, 4.0, 6.0), (9000, 2.0, 9.0))
    points = _cc.curve(run, None, 3000, known)
    assert [p["step"] for p in points] == [3000, 6000, 9000] and points[0]["fid"] == 9.0
    assert [p["step"] for p in _cc.curve(tmp_path / "gone", None, 3000, known[:2])] == [3000, 6000]


def test_a_run_without_folder_or_recorded_points_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["convergence_curve.py", str(tmp_path / "typo-s0"), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as e:
        _cc.main()
    assert e.value.code == 2 and "no run folder" in capsys.readouterr().err


class _Rescored(Exception):
    pass


def test_reuse_drops_the_points_of_a_run_that_was_trained_anew(tmp_path, monkeypatch, capsys):
    # same folder name, another training (other threads, other code): its points must not join the old ones
    run = tmp_path / "half-s0"
    (run / "checkpoints" / "step-00003000").mkdir(parents=True)
    (run / "checkpoints" / "step-00003000" / "state.json").write_text("{}")
    (run / "checkpoints" / "step-00003000" / "model.safetensors").write_bytes(b"new weights")
    monkeypatch.setattr(_cc, "load_run_config", lambda r: type("C", (), {"train": type("T", (), {"steps": 9000})})())
    same = {"weights_sha256": _cc.weights_sha256(run / "checkpoints" / "step-00003000")}
    kept = [{**p, **same} for p in _points((3000, 9.0, 5.0))] + _points((6000, 4.0, 6.0))
    assert [p["step"] for p in _cc.curve(run, None, 3000, kept)] == [3000, 6000]
    monkeypatch.setattr(_cc, "EvalOptions", lambda **k: k)
    monkeypatch.setattr(_cc, "Evaluator", lambda *a, **k: (_ for _ in ()).throw(_Rescored()))
    old = [{**p, "weights_sha256": "0" * 64} for p in _points((3000, 9.0, 5.0))] + _points((6000, 4.0, 6.0))
    with pytest.raises(_Rescored):
        _cc.curve(run, type("O", (), {})(), 3000, old)
    assert "2 recorded points are dropped" in capsys.readouterr().out


def test_forget_scores_a_retrained_run_anew_and_keeps_the_others(tmp_path, monkeypatch):
    import json
    out = tmp_path / "curve"
    old = {"n": 5000, "groups": {}, "extractors": [],
           "runs": {str(tmp_path / "a"): _points((3000, 9.0, 5.0)), str(tmp_path / "b"): _points((3000, 7.0, 6.0))}}
    out.with_suffix(".json").write_text(json.dumps(old))
    (tmp_path / "a").mkdir()
    given = {}
    monkeypatch.setattr(_cc, "curve", lambda run, opts, every, known, *a: given.setdefault(str(run), known) or [])
    monkeypatch.setattr(_cc, "save_group_curves", lambda *a: None)
    monkeypatch.setattr("sys.argv", ["convergence_curve.py", str(tmp_path / "a"), str(tmp_path / "b"), "--reuse",
                                     "--forget", str(tmp_path / "a"), "--out", str(out)])
    _cc.main()
    assert given[str(tmp_path / "a")] is None and given[str(tmp_path / "b")][0]["fid"] == 7.0
    monkeypatch.setattr("sys.argv", ["convergence_curve.py", str(tmp_path / "b"), "--reuse", "--forget",
                                     str(tmp_path / "c"), "--out", str(out)])
    with pytest.raises(SystemExit) as e:
        _cc.main()
    assert e.value.code == 2


def test_unfingerprinted_points_and_checkpoints_at_their_steps_again_are_refused(tmp_path, monkeypatch, capsys):
    import json
    out = tmp_path / "curve"
    run = tmp_path / "half-s1"
    (run / "checkpoints" / "step-00003000").mkdir(parents=True)
    (run / "checkpoints" / "step-00003000" / "state.json").write_text("{}")
    old = {"n": 5000, "groups": {}, "extractors": [], "runs": {str(run): _points((3000, 9.0, 5.0), (9000, 7.0, 6.0))}}
    out.with_suffix(".json").write_text(json.dumps(old))
    monkeypatch.setattr(_cc, "curve", lambda *a, **k: pytest.fail("scored before the refusal"))
    monkeypatch.setattr("sys.argv", ["convergence_curve.py", str(run), "--reuse", "--out", str(out)])
    with pytest.raises(SystemExit) as e:
        _cc.main()
    assert e.value.code == 2 and "--forget" in capsys.readouterr().err
    assert json.loads(out.with_suffix(".json").read_text()) == old  # the recorded points are untouched
