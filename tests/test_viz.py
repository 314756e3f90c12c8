"""Plots that summarise several runs: they are written, readable, and drawn from the numbers given."""

import pytest
from PIL import Image

from gmgan.evaluate.run import summarise_sweep
from gmgan.viz import save_group_curves, save_quality_diversity


def test_group_curves_average_each_group_and_skip_missing_metrics(tmp_path):
    results = {f"s{i}": [{"epochs": e, "fid": 30 - e + i, **({"purity": 0.5} if i < 2 else {})} for e in (1, 2, 3)]
               for i in range(3)}
    path = save_group_curves(results, {"A": ["s0", "s1"], "B": ["s2"]}, ("fid", "purity"), tmp_path / "c.png")
    with Image.open(path) as im:
        assert im.size[0] > im.size[1]  # one panel per metric, side by side
        two_panels = im.size[0]
    # a metric no run has (purity of models without a mixture) gets no empty panel
    path = save_group_curves(results, {"A": ["s0"]}, ("fid", "purity", "mean_purity"), tmp_path / "d.png")
    with Image.open(path) as im:
        assert im.size[0] == two_panels


def test_group_curves_continue_a_longer_run_on_its_own_past_the_shortest(tmp_path, monkeypatch):
    import gmgan.viz as viz
    figs = []
    monkeypatch.setattr(viz, "_save", lambda fig, path, dpi: figs.append(fig) or path)
    results = {"s0": [{"epochs": e, "fid": 60.0 + e} for e in (1, 2, 3, 4)],
               "s1": [{"epochs": e, "fid": 40.0 + e} for e in (1, 2)]}
    save_group_curves(results, {"A": ["s0", "s1"]}, ("fid",), tmp_path / "c.png")
    mean, extension = figs[0].axes[0].get_lines()
    assert list(mean.get_ydata()) == [51.0, 52.0]  # the mean only where both runs have a point
    assert list(extension.get_xdata()) == [2, 3, 4] and list(extension.get_ydata()) == [62.0, 63.0, 64.0]
    assert extension.get_linestyle() == "--" and "1 of 2 runs past 2 epochs" in extension.get_label()


def test_quality_diversity_draws_bands_from_the_summary(tmp_path):
    rows = [{"model": m, "run": f"{m}{s}", "scale": sc, "q": 0.3 - 0.05 * sc + 0.01 * s, "d": 0.8 + 0.05 * sc,
             "is": 7.0 + s} for m in ("GAN", "GM") for s in (0, 1) for sc in (0.5, 1.0)]
    summary = summarise_sweep(rows)
    assert len(summary) == 4 and summary[0]["is_se"] == pytest.approx(0.5)
    path = save_quality_diversity(rows, tmp_path / "s.png", summary=summary)
    with Image.open(path) as im:
        im.verify()
