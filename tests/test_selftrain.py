"""The self-training stage (gmgan.selftrain): Sinkhorn, augmentations, the stage on easy images, the guard;
over-clustering (split, merge, options)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gmgan.cluster import ClusterOptions, _check_over_cluster, clustering_accuracy
from gmgan.errors import ConfigError
from gmgan.selftrain import (
    OverClusterOptions,
    SelfTrainOptions,
    self_train,
    self_train_over,
    sinkhorn,
    spectral_groups,
    split_clusters,
    strong_view,
    weak_view,
)


def tiny_opts(**kw):
    base = dict(max_rounds=4, min_rounds=2, images_per_round=2048, batch_size=64, width=8, eval_batch=512)
    return SelfTrainOptions(**{**base, **kw})


def blobs(n_per: int = 100, K: int = 4, size: int = 12, seed: int = 0):
    """K easy image classes: a bright square in a different quadrant per class, with jitter and noise."""
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    half = size // 2
    for k in range(K):
        x = torch.full((n_per, 1, size, size), -1.0)
        r0, c0 = (k // 2) * half, (k % 2) * half
        for i in range(n_per):
            dr, dc = torch.randint(0, 2, (2,), generator=g).tolist()
            x[i, 0, r0 + dr:r0 + dr + half - 2, c0 + dc:c0 + dc + half - 2] = 1.0
        x = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
        xs.append(x)
        ys.append(torch.full((n_per,), k))
    return torch.cat(xs), torch.cat(ys)


def noisy_merged_init(y: torch.Tensor, K: int, seed: int = 0) -> torch.Tensor:
    """Classes 0 and 1 share cluster 0, class 3 is split over clusters 1 and 3, 20% uniform noise; soft 0.6."""
    g = torch.Generator().manual_seed(seed)
    c = y.clone()
    c[y == 1] = 0
    threes = (y == 3).nonzero().squeeze(1)
    c[threes[torch.rand(len(threes), generator=g) < 0.5]] = 1
    noise = torch.rand(len(y), generator=g) < 0.2
    c[noise] = torch.randint(K, (int(noise.sum()),), generator=g)
    init = torch.full((len(y), K), 0.4 / (K - 1))
    init[torch.arange(len(y)), c] = 0.6
    return init


def test_sinkhorn_balances_columns_and_normalises_rows():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(3 * torch.randn(300, 5, generator=g), 1)
    p[:, 0] += 2  # a bloated cluster
    p = p / p.sum(1, keepdim=True)
    q = sinkhorn(p, iters=100)
    assert torch.allclose(q.sum(1), torch.ones(300), atol=1e-5)
    assert torch.allclose(q.sum(0), torch.full((5,), 60.0), rtol=0.02)
    target = torch.tensor([0.4, 0.3, 0.1, 0.1, 0.1])
    q2 = sinkhorn(p, target, iters=100)
    assert torch.allclose(q2.sum(0), 300 * target, rtol=0.02)
    onehot = torch.nn.functional.one_hot(torch.arange(300) % 3, 5).float()  # empty clusters: finite, no NaN
    assert torch.isfinite(sinkhorn(onehot)).all()


def test_augmentations_shape_range_and_seeding():
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    opts = SelfTrainOptions()
    for view in (lambda g: weak_view(x, g, opts.weak_shift), lambda g: strong_view(x, g, opts)):
        a = view(torch.Generator().manual_seed(1))
        b = view(torch.Generator().manual_seed(1))
        c = view(torch.Generator().manual_seed(2))
        assert a.shape == x.shape and a.min() >= -1 and a.max() <= 1
        assert torch.equal(a, b)
        assert not torch.equal(a, c)
        assert not torch.equal(a, x)
    gray = strong_view(torch.rand(4, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(0), opts)
    assert gray.shape == (4, 1, 28, 28)


def test_weak_view_is_a_whole_pixel_shift():
    x = torch.zeros(1, 1, 28, 28) - 1
    x[0, 0, 10:18, 10:18] = 1
    v = weak_view(x, torch.Generator().manual_seed(3), 0.07)
    assert float(v.sum()) == pytest.approx(float(x.sum()))  # interior square moved, not blurred
    assert set(v.unique().tolist()) <= {-1.0, 1.0}


def test_stage_improves_a_noisy_merged_init():
    x, y = blobs()
    init = noisy_merged_init(y, 4)
    before = clustering_accuracy(y.numpy(), init.argmax(1).numpy())
    res = self_train(x, init, 4, tiny_opts(), seed=0, progress=False)
    after = clustering_accuracy(y.numpy(), res.soft.argmax(1).numpy())
    assert before < 0.7
    assert after > before + 0.15, (before, after, res.info["stop_reason"])
    assert res.soft.shape == (len(x), 4)
    assert torch.allclose(res.soft.sum(1), torch.ones(len(x)), atol=1e-4)
    assert res.model is not None
    c = res.clustering()
    assert c.K == 4 and torch.allclose(c.assign(x[:10]), res.soft[:10], atol=1e-5)
    rounds = res.history[1:]
    assert len(rounds) == res.info["rounds"] >= 1
    for key in ("ce_loss", "change", "cluster_sizes", "mean_confidence", "marginal_entropy", "criterion"):
        assert key in rounds[0]
    assert res.info["stop_reason"] in ("converged", "max_rounds", "guard: criterion", "guard: collapse")


def test_y_eval_does_not_change_the_outcome():
    x, y = blobs(n_per=40)
    init = noisy_merged_init(y, 4)
    opts = tiny_opts(max_rounds=2, min_rounds=1, images_per_round=1024)
    torch.manual_seed(123)
    a = self_train(x, init, 4, opts, seed=5, progress=False)
    state_after_a = torch.random.get_rng_state()
    b = self_train(x, init, 4, opts, seed=5, progress=False, y_eval=y)
    c = self_train(x, init, 4, opts, seed=5, progress=False, x_eval=x[:20], y_eval=y[:20])
    assert torch.equal(a.soft, b.soft) and torch.equal(a.soft, c.soft)
    assert [h.get("criterion") for h in a.history] == [h.get("criterion") for h in b.history]
    assert "eval" in b.history[1] and "eval" not in a.history[1]
    assert torch.equal(state_after_a, torch.random.get_rng_state())  # the caller's global RNG is untouched
    d = self_train(x, init, 4, opts, seed=6, progress=False)
    assert not torch.equal(a.soft, d.soft)


def test_guard_rolls_back_when_the_criterion_worsens(monkeypatch):
    import gmgan.selftrain as st

    x, y = blobs(n_per=40)
    init = noisy_merged_init(y, 4)
    # size entropies of init, rounds 1, 2, 3: round 3's balance drops, so its criterion falls far below the best
    entropies = iter([1.0, 1.0, 1.0, 0.3, 0.3, 0.3])
    real = st._norm_entropy

    def fake(p):
        return real(p) if p.dim() != 1 or p.dtype != torch.float64 or p.sum() < 2 else next(entropies)

    monkeypatch.setattr(st, "_norm_entropy", fake)
    opts = tiny_opts(max_rounds=5, min_rounds=2, guard_tol=0.1)  # the guard acts after min_rounds
    res = self_train(x, init, 4, opts, seed=0, progress=False)
    assert res.info["stop_reason"] == "guard: criterion"
    assert len(res.history) - 1 == 3 and "guard" in res.history[3]
    best = 2 if res.history[2]["criterion"] >= res.history[1]["criterion"] else 1
    assert res.info["chosen_round"] == best
    # the returned soft assignments and network are the best round's, not the last one's
    assert res.history[best]["cluster_sizes"] == np.bincount(res.soft.argmax(1).numpy(), minlength=4).tolist()
    assert torch.allclose(res.assign(x), res.soft, atol=1e-5)


def test_guard_stops_on_collapse(monkeypatch):
    import gmgan.selftrain as st

    x, y = blobs(n_per=40)
    init = noisy_merged_init(y, 4)
    real_predict = st.predict
    calls = {"n": 0}

    def collapsing(model, images, batch=1000):
        calls["n"] += 1
        p = real_predict(model, images, batch)
        if calls["n"] >= 3 and len(images) == len(x):  # from round 2 on: everything in cluster 0
            p = torch.zeros_like(p)
            p[:, 0] = 1
        return p

    monkeypatch.setattr(st, "predict", collapsing)
    opts = tiny_opts(max_rounds=5, min_rounds=5, guard_tol=1.0)  # the criterion guard off: collapse alone
    res = self_train(x, init, 4, opts, seed=0, progress=False)
    assert res.info["stop_reason"] == "guard: collapse"
    stopped = len(res.history) - 1
    assert stopped in (2, 3) and "guard" in res.history[stopped]  # outside in two rounds running (round 2 forced)
    assert res.info["chosen_round"] == 1
    assert min(np.bincount(res.soft.argmax(1).numpy(), minlength=4)) > 0


@pytest.mark.parametrize("bad", [dict(keep=0), dict(keep=1.5), dict(size_prior=-0.1), dict(max_rounds=0),
                                 dict(min_rounds=9, max_rounds=3), dict(holdout=0.7), dict(scale=(1.2, 0.8)),
                                 dict(images_per_round=10, batch_size=64), dict(max_cluster=0.5)])
def test_bad_options_raise_config_error(bad):
    with pytest.raises(ConfigError, match="self-training option"):
        SelfTrainOptions(**bad).validate()


def test_bad_inputs_raise_config_error():
    x, y = blobs(n_per=10)
    init = noisy_merged_init(y, 4)
    with pytest.raises(ConfigError, match=r"init must be \(N, K\)"):
        self_train(x, init[:, :3], 4, tiny_opts(), progress=False)
    with pytest.raises(ConfigError, match="images"):
        self_train(x.flatten(1), init, 4, tiny_opts(), progress=False)
    with pytest.raises(ConfigError, match="non-negative"):
        self_train(x, -init, 4, tiny_opts(), progress=False)


def test_pixel_neighbours_are_the_image_itself_and_its_own_class():
    from gmgan.selftrain import pixel_neighbours

    x, y = blobs(n_per=30)
    idx = pixel_neighbours(x, 5, components=10, chunk=50)
    assert idx.shape == (len(x), 6)
    assert torch.equal(idx[:, 0], torch.arange(len(x)))
    assert float((y[idx[:, 1:]] == y[:, None]).float().mean()) > 0.9
    res = self_train(x, noisy_merged_init(y, 4), 4, tiny_opts(max_rounds=2, min_rounds=1, neighbours=5),
                     seed=0, progress=False)
    assert res.soft.shape == (len(x), 4)


# ---------------------------------------------------------------------------------------------- over-clustering

def test_split_keeps_each_image_inside_its_own_cluster_and_its_scores():
    x, y = blobs(30, 4, 12)
    init = torch.nn.functional.one_hot(y, 4).float() * 0.7 + 0.075
    fine = split_clusters(x, init, 3, seed=0)
    assert fine.shape == (120, 12)
    assert torch.allclose(fine.sum(1), init.sum(1) / init.sum(1), atol=1e-5)  # rows still sum to 1
    hard = fine.argmax(1)
    assert torch.equal(hard // 3, y)  # a sub-cluster of the image's own cluster
    assert torch.allclose(fine.reshape(120, 4, 3).sum(2), init / init.sum(1, keepdim=True), atol=1e-5)
    assert len(hard.unique()) == 12  # every cluster really split
    assert torch.equal(fine, split_clusters(x, init, 3, seed=0))  # deterministic given the seed


def test_spectral_groups_recover_blocks_of_an_affinity():
    g = torch.Generator().manual_seed(0)
    truth = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])  # 9 fine clusters, 3 groups, interleaved
    a = 0.02 * torch.rand(9, 9, generator=g) + torch.eye(9)
    a = a + 0.3 * (truth[:, None] == truth[None, :]).float()
    a = (a + a.T) / 2
    groups = torch.tensor(spectral_groups(a, 3, seed=0))
    assert clustering_accuracy(truth.numpy(), groups.numpy()) == 1.0


def test_over_clustering_undoes_a_merge_and_a_split_and_is_deterministic():
    x, y = blobs(50, 4, 12)
    init = noisy_merged_init(y, 4)  # classes 0 and 1 merged, class 3 split, 20% noise
    assert clustering_accuracy(y.numpy(), init.argmax(1).numpy()) < 0.7
    over = OverClusterOptions(factor=2, merge="coassign", merge_images=200)
    opts = tiny_opts(max_rounds=3, images_per_round=1024)
    r = self_train_over(x, init, 4, over, opts, seed=0, progress=False)
    assert r.soft.shape == (200, 4) and r.model is not None
    assert clustering_accuracy(y.numpy(), r.soft.argmax(1).numpy()) >= 0.95
    oc = r.info["over_cluster"]
    assert oc["K_over"] == 8 and len(oc["groups"]) == 8 and sorted(set(oc["groups"])) == [0, 1, 2, 3]
    again = self_train_over(x, init, 4, over, opts, seed=0, progress=False)
    assert torch.equal(r.soft, again.soft)


@pytest.mark.parametrize("kw", [{"factor": 1}, {"factor": 2.5}, {"merge": "labels"}, {"merge_images": 1}])
def test_bad_over_cluster_options_are_config_errors(kw):
    with pytest.raises(ConfigError):
        OverClusterOptions(**kw).validate()


@pytest.mark.parametrize("kw", [{"over_cluster": 1, "self_train": True}, {"over_cluster": -2, "self_train": True},
                                {"over_cluster": 3}, {"over_cluster": 3, "self_train": True, "merge": "x"},
                                {"over_cluster_pick": True, "self_train": True}])
def test_cluster_refuses_bad_over_cluster_settings(kw):
    with pytest.raises(ConfigError):
        _check_over_cluster(ClusterOptions(**kw))
    _check_over_cluster(ClusterOptions(over_cluster=3, self_train=True))  # the good one passes


def test_cluster_over_cluster_flag_runs_both_stages_and_records_the_merge(tmp_path, monkeypatch, capsys):
    """gmgan cluster --self-train --over-cluster 2: cluster.json records the fine stage and the merge; the flag
    without --self-train is refused with one clear message."""
    import functools
    import json

    from gmgan import selftrain
    from gmgan.cli import main

    small = functools.partial(selftrain.SelfTrainOptions, images_per_round=256, batch_size=32, max_rounds=2,
                              min_rounds=1, width=8)
    monkeypatch.setattr(selftrain, "SelfTrainOptions", small)
    out = tmp_path / "oc"
    assert main(["cluster", "--dataset", "digits", "--method", "kmeans", "--splits", "test", "--self-train",
                 "--over-cluster", "2", "--over-cluster-pick", "--out", str(out), "--no-progress"]) == 0
    result = json.loads((out / "cluster.json").read_text())
    st = result["seeds"]["0"]["fit"]["self_train"]
    oc = st.get("over_cluster") or st["over_cluster_not_kept"]
    assert oc["K_over"] == 20 and oc["merge"] == "centroids" and len(oc["groups"]) == 20
    assert result["protocol"]["self_train"]["over_cluster"]["factor"] == 2
    pick = st["pick"]  # --over-cluster-pick: the plain stage ran too, and the higher criterion was kept
    crit = pick["criterion"]
    assert crit[pick["kept"]] == max(v for v in crit.values() if v is not None) == st["criterion"]
    assert ("over_cluster" in st) == (pick["kept"] == "over_cluster")
    assert "over-clustering:" in capsys.readouterr().out
    assert main(["cluster", "--dataset", "digits", "--method", "kmeans", "--over-cluster", "2",
                 "--out", str(tmp_path / "no")]) == 2


class _Flat(torch.nn.Module):
    """A stand-in network whose features are the pixels themselves."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # places the network on a device, as a real one

    def features(self, x):
        return x.flatten(1)

    def forward(self, x):
        return x.flatten(1)


def test_manifold_assign_finds_the_clusters_of_the_features():
    g = torch.Generator().manual_seed(0)
    centres = 4 * torch.randn(4, 16, generator=g)
    y = torch.arange(4).repeat_interleave(80)
    x = (centres[y] + torch.randn(320, 16, generator=g)).view(320, 1, 4, 4)
    from gmgan.selftrain import ReclusterOptions, manifold_assign

    soft, info = manifold_assign(_Flat(), x, 4, seed=0, ro=ReclusterOptions(neighbours=10))
    assert soft.shape == (320, 4) and torch.allclose(soft.sum(1), torch.ones(320), atol=1e-4)
    assert info["embedding_dims"] == 4 and info["umap_images"] == 320
    assert clustering_accuracy(y.numpy(), soft.argmax(1).numpy()) >= 0.97
    part, info = manifold_assign(_Flat(), x, 4, seed=0, ro=ReclusterOptions(neighbours=10, fit_images=200))
    assert info["umap_images"] == 200  # the rest placed by UMAP's transform
    assert clustering_accuracy(y.numpy(), part.argmax(1).numpy()) >= 0.97


def test_recluster_never_ends_below_the_previous_stage_by_its_criterion():
    """self_train_recluster keeps the re-clustered stage only when its label-free criterion is not lower; on
    images whose features fall into several clumps per class the re-clustered start is poor, and the previous
    (perfect) stage must survive."""
    from gmgan.selftrain import ReclusterOptions, final_criterion, self_train_recluster

    x, y = blobs(60, 4, 12)
    first = self_train(x, F_one_hot(y, 4), 4, tiny_opts(max_rounds=2), seed=0, progress=False)
    assert clustering_accuracy(y.numpy(), first.soft.argmax(1).numpy()) == 1.0
    r = self_train_recluster(x, first, 4, ReclusterOptions(neighbours=10, rounds=2), tiny_opts(max_rounds=2), seed=0,
                             progress=False)
    rec = r.info["recluster"]
    first_round = rec["rounds"][0]
    assert first_round["criterion_before"] == final_criterion(first)
    assert first_round["kept"] == (first_round["criterion_after"] >= first_round["criterion_before"])
    assert rec["kept_rounds"] == sum(q["kept"] for q in rec["rounds"]) and len(rec["rounds"]) <= 2
    assert (r is first) == (rec["kept_rounds"] == 0)
    if rec["kept_rounds"]:
        assert r.info["stage_before_recluster"]["rounds"] == first.info["rounds"]
    assert clustering_accuracy(y.numpy(), r.soft.argmax(1).numpy()) >= 0.95


def test_recluster_keeps_the_previous_stage_when_the_new_one_scores_lower(monkeypatch):
    from gmgan import selftrain

    x, y = blobs(40, 4, 12)
    first = self_train(x, F_one_hot(y, 4), 4, tiny_opts(max_rounds=2), seed=0, progress=False)
    worse = selftrain.SelfTrainResult(first.soft, first.model, [{"round": 1, "criterion": -1.0}],
                                      {"chosen_round": 1, "stop_reason": "max_rounds", "rounds": 1, "seconds": 0})
    calls = []
    monkeypatch.setattr(selftrain, "self_train", lambda *a, **k: calls.append(a[3]) or worse)
    r = selftrain.self_train_recluster(x, first, 4, selftrain.ReclusterOptions(neighbours=10, rounds=3), seed=0,
                                       progress=False)
    assert r is first and r.info["recluster"]["kept_rounds"] == 0
    assert len(r.info["recluster"]["rounds"]) == 1  # the first round not kept ends the loop
    assert r.info["recluster"]["rounds"][0]["criterion_after"] == -1.0
    assert not calls[0].relabel and calls[0].size_prior == 0.0  # the network learns the mixture's partition


@pytest.mark.parametrize("kw", [{"neighbours": 1}, {"min_dist": -0.1}, {"covariance": "round"},
                                {"fit_images": 5}, {"rounds": 0}, {"gmm_inits": 0}])
def test_bad_recluster_options_are_config_errors(kw):
    from gmgan.selftrain import ReclusterOptions

    with pytest.raises(ConfigError):
        ReclusterOptions(**kw).validate()


def F_one_hot(y, K):
    return torch.nn.functional.one_hot(torch.as_tensor(y), K).float()


def test_without_relabelling_the_pseudo_labels_stay_those_of_init():
    """relabel=False, size_prior=0: every round trains on init's partition (its sizes, not balanced ones), and the
    network's predictions are what the stage returns."""
    x, y = blobs(50, 4, 12)
    init = F_one_hot(y, 4)
    init[y == 0] = F_one_hot(torch.ones(50, dtype=torch.long), 4)  # an unbalanced start: sizes 0, 100, 50, 50
    r = self_train(x, init, 4, tiny_opts(max_rounds=3, min_rounds=3, relabel=False, size_prior=0.0), seed=0,
                   progress=False)
    sizes = [h["pseudo_label_sizes"] for h in r.history[1:]]
    assert all(s == sizes[0] for s in sizes) and sizes[0][0] == 0 and sizes[0][1] == 100
    assert torch.equal(r.soft, r.assign(x))
