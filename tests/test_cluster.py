"""Clustering: ACC/NMI/ARI, the three routes on a well-separated toy mixture, baselines, the CLI."""

import itertools
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from torch import nn

from gmgan import cluster as cl
from gmgan.checkpoint import checkpoint_step, latest_checkpoint
from gmgan.cli import main
from gmgan.losses import align_outputs
from gmgan.methods import ResponsibilityGMGAN, UnsupervisedGAN
from gmgan.nets import Discriminator
from gmgan.priors import GaussianMixture


def brute_force_acc(y, c):
    K = max(y.max(), c.max()) + 1
    return max(np.mean(np.array(perm)[c] == y) for perm in itertools.permutations(range(K)))


def test_acc_is_one_for_any_relabelling_and_matches_brute_force():
    rng = np.random.RandomState(0)
    y = rng.randint(0, 5, 200)
    for _ in range(5):
        perm = rng.permutation(5)
        assert cl.clustering_accuracy(y, perm[y]) == 1.0
    for _ in range(20):
        y = rng.randint(0, 4, 30)
        c = rng.randint(0, 4, 30)
        assert cl.clustering_accuracy(y, c) == pytest.approx(brute_force_acc(y, c))
    # more clusters than classes: the unmatched cluster counts as wrong
    assert cl.clustering_accuracy(np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])) == pytest.approx(0.75)


def _nmi_eq13(y, c):
    """GM-GAN Eq. 13 written out: I(y; c) / sqrt(H(y) H(c)) from the counts, natural logs."""
    n = len(y)
    joint = np.zeros((y.max() + 1, c.max() + 1))
    np.add.at(joint, (y, c), 1.0 / n)
    py, pc = joint.sum(1), joint.sum(0)
    nz = joint > 0
    mi = (joint[nz] * np.log(joint[nz] / np.outer(py, pc)[nz])).sum()
    h = lambda p: -(p[p > 0] * np.log(p[p > 0])).sum()
    return mi / np.sqrt(h(py) * h(pc)), mi / ((h(py) + h(pc)) / 2)


def test_nmi_is_eq13s_geometric_normalisation_and_ari_is_scikit_learns():
    rng = np.random.RandomState(1)
    y, c = rng.randint(0, 3, 100), rng.randint(0, 4, 100)
    s = cl.scores(y, c)
    geometric, arithmetic = _nmi_eq13(y, c)
    assert s["nmi"] == pytest.approx(geometric)
    assert s["nmi_arithmetic"] == pytest.approx(arithmetic) == pytest.approx(normalized_mutual_info_score(y, c))
    assert s["nmi"] != pytest.approx(s["nmi_arithmetic"])  # the two differ when H(y) != H(c)
    assert s["ari"] == pytest.approx(adjusted_rand_score(y, c))
    perfect = cl.scores(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0]))
    assert perfect == {"acc": 1.0, "nmi": pytest.approx(1.0), "nmi_arithmetic": pytest.approx(1.0),
                       "ari": pytest.approx(1.0)}


def _toy(n_per: int = 200, seed: int = 0):
    """4 well-separated 2-D clusters and the latent mixture a 'generator' maps onto them."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[-4.0, -4.0], [-4.0, 4.0], [4.0, -4.0], [4.0, 4.0]])
    y = torch.arange(4).repeat_interleave(n_per)
    x = centres[y] + 0.3 * torch.randn(len(y), 2, generator=g)
    prior = GaussianMixture(K=4, d=2, c=0.0, sigma=0.09)
    with torch.no_grad():
        prior.mu.copy_(centres[[2, 0, 3, 1]] / 2)  # component k sits on cluster [2, 0, 3, 1][k], in latent units
    G = nn.Linear(2, 2)
    with torch.no_grad():  # G(z) = 2 z: a generator that maps each component onto one cluster
        G.weight.copy_(2 * torch.eye(2))
        G.bias.zero_()
    return x, y, prior, G


def test_classifier_route_recovers_a_toy_mixture():
    x, y, prior, G = _toy()
    D = Discriminator(nn.Sequential(nn.Linear(2, 8)), 8)
    method = UnsupervisedGAN(prior, G, D)
    c = cl.fit_classifier_route(method, samples_per_component=300, steps=300, seed=0)
    pred = c.assign(x).argmax(1).numpy()
    assert cl.clustering_accuracy(y.numpy(), pred) > 0.99
    assert c.info["accuracy_on_held_out_generated"] > 0.99


def test_mixture_route_recovers_a_toy_mixture_by_inversion():
    x, y, prior, G = _toy(100)
    method = UnsupervisedGAN(prior, G, Discriminator(nn.Sequential(nn.Linear(2, 8)), 8))
    c = cl.fit_mixture_route(method, x, K=4, seed=0, inversion_steps=200)
    assert c.info["route"] == "inversion"
    assert cl.clustering_accuracy(y.numpy(), c.assign(x).argmax(1).numpy()) > 0.99


def test_responsibility_route_reads_c():
    x, y, prior, G = _toy()
    D = Discriminator(nn.Sequential(nn.Identity()), 2)
    method = ResponsibilityGMGAN(prior, G, D, encoding="shared")
    head = method.D.heads["responsibility"][1]
    with torch.no_grad():  # C = the true posterior of equal isotropic clusters: logits linear in x
        centres = prior.mu * 2
        head.weight.copy_(centres / 0.09)
        head.bias.copy_(-(centres ** 2).sum(1) / (2 * 0.09))
    c = cl.fit_responsibility_route(method)
    assert cl.clustering_accuracy(y.numpy(), c.assign(x).argmax(1).numpy()) > 0.99
    with pytest.raises(Exception, match="--method responsibility"):
        cl.fit_responsibility_route(UnsupervisedGAN(prior, G, D))


@pytest.mark.parametrize("name", cl.BASELINES)
def test_baselines_recover_a_toy_mixture(name):
    x, y, _, _ = _toy()
    c = cl.fit_baseline(name, x, 4, seed=0)
    soft = c.assign(x)
    assert soft.shape == (len(x), 4) and torch.allclose(soft.sum(1), torch.ones(len(x)), atol=1e-5)
    assert cl.clustering_accuracy(y.numpy(), soft.argmax(1).numpy()) > 0.99


def test_summary_reports_mean_std_and_best():
    s = cl.summarize({0: {"test": {"acc": 0.5}}, 1: {"test": {"acc": 0.7}}, 2: {"test": {"acc": 0.9}}})
    acc = s["test"]["acc"]
    assert acc["mean"] == pytest.approx(0.7) and acc["std"] == pytest.approx(0.2) and acc["best"] == 0.9
    assert acc["per_seed"] == {"0": 0.5, "1": 0.7, "2": 0.9}


def test_cluster_cli_on_digits(tmp_path):
    run = tmp_path / "resp"
    assert main(["train", "--preset", "digits", "--method", "responsibility", "--steps", "5", "--out", str(run),
                 "--set", "model.width=8", "--set", "train.b_D=16", "--no-progress"]) == 0
    assert main(["cluster", str(run), "--method", "responsibility"]) == 0
    out = run / "cluster" / "responsibility"
    result = json.loads((out / "cluster.json").read_text())
    assert set(result["summary"]) == {"train", "test"} and 0 <= result["summary"]["test"]["acc"]["mean"] <= 1
    for f in ("clusters-train.csv", "clusters-test.csv", "confusion-test.png", "members-test.png"):
        assert (out / f).is_file()
    assert main(["cluster", str(run), "--method", "classifier", "--samples-per-component", "20",
                 "--classifier-steps", "5", "--splits", "test"]) == 0
    # seeds: a second seed trains RUN-s1 with the same config; the summary then has a spread
    assert main(["cluster", str(run), "--method", "responsibility", "--seeds", "0,1", "--splits", "test",
                 "--out", str(tmp_path / "seeds")]) == 0
    assert (tmp_path / "resp-s1" / "config.yaml").is_file()
    seeds = json.loads((tmp_path / "seeds" / "cluster.json").read_text())
    assert set(seeds["summary"]["test"]["acc"]["per_seed"]) == {"0", "1"}
    # RUN stopped before its configured length: another seed trains as long as RUN did, not to the config's
    assert main(["train", "--out", str(run), "--resume", "--steps", "9", "--no-progress"]) == 0
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("steps: 9", "steps: 50"))
    assert main(["cluster", str(run), "--method", "responsibility", "--seeds", "2", "--splits", "test",
                 "--out", str(tmp_path / "seed2")]) == 0
    assert checkpoint_step(latest_checkpoint(tmp_path / "resp-s2")) == 9
    # baselines need no run
    assert main(["cluster", "--dataset", "digits", "--method", "pca-kmeans", "--out", str(tmp_path / "km")]) == 0
    km = json.loads((tmp_path / "km" / "cluster.json").read_text())
    assert km["summary"]["test"]["acc"]["mean"] > 0.5  # k-means on PCA of digits: a sanity floor
    assert main(["cluster", "--method", "classifier"]) == 2  # a model route without a run: one clear message


def _posterior_head(prior, centres, var=0.09):
    """Logits of the true posterior of equal isotropic clusters at ``centres`` (one row per output)."""
    head = nn.Linear(2, len(centres))
    with torch.no_grad():
        head.weight.copy_(centres / var)
        head.bias.copy_(-(centres**2).sum(1) / (2 * var))
    return head


@pytest.mark.parametrize("measure", ["mi", "kl"])
def test_responsibility_output_k_means_component_k_even_when_c_is_permuted(measure):
    """Eq. 4's mutual information does not care which output is which; C's outputs are matched to components
    on generated images, so column k of the responsibilities is component k."""
    x, y, prior, G = _toy()
    method = ResponsibilityGMGAN(prior, G, Discriminator(nn.Sequential(nn.Identity()), 2), measure=measure)
    perm = torch.tensor([2, 0, 3, 1])  # C's output j stands for component perm^-1[j]
    method.D.heads["responsibility"][1] = _posterior_head(prior, (prior.mu * 2)[perm.argsort()])
    resp = method.responsibilities(x)
    z, k = prior.sample(400, generator=torch.Generator().manual_seed(0))
    gen = method.responsibilities(G(z))
    if measure == "mi":
        assert method.output_alignment().tolist() == perm.tolist()
        assert float((gen.argmax(1) == k).float().mean()) > 0.99  # output k = component k
    else:  # KL pins output k to component k in training; nothing is re-matched afterwards
        assert method.output_alignment() is None
        assert float((gen.argmax(1) == k).float().mean()) < 0.1
    assert cl.clustering_accuracy(y.numpy(), resp.argmax(1).numpy()) > 0.99  # ACC does not care either way


def test_align_outputs_undoes_a_permutation():
    w = torch.eye(3).repeat(4, 1)  # p(k | z) of 12 fakes: one-hot
    c_fake = w[:, [1, 2, 0]]  # C's output 0 answers component 1, ...
    assert torch.equal(c_fake[:, align_outputs(w, c_fake)], w)


@pytest.mark.parametrize("measure", ["mi", "kl"])
def test_eq6_in_training_reads_c_through_the_alignment(measure):
    """With MI, a C whose outputs are relabelled gives D and G exactly the losses of the C that is not: Eq. 6
    weighs the fake of component k by the output matched to k. KL has no such freedom (the losses differ)."""
    x, _, prior, G = _toy(16)

    def losses_with(order):
        torch.manual_seed(0)  # the same adversarial head both times
        method = ResponsibilityGMGAN(prior, G, Discriminator(nn.Sequential(nn.Identity()), 2), measure=measure)
        method.D.heads["responsibility"][1] = _posterior_head(prior, (prior.mu * 2)[order], var=4.0)
        d, _ = method.d_step(x, generator=torch.Generator().manual_seed(0))
        g, _ = method.g_step(0, generator=torch.Generator().manual_seed(0), real=x)
        return float(d.detach()), float(g.detach())

    same, relabelled = losses_with(torch.arange(4)), losses_with(torch.tensor([1, 3, 0, 2]))
    if measure == "mi":
        assert relabelled == pytest.approx(same, rel=1e-5)
    else:
        assert relabelled != pytest.approx(same, rel=1e-3)


def test_batchnorm_statistics_are_re_estimated_on_the_real_images():
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4))
    D = Discriminator(trunk, 4)
    D.add_head("component", nn.Linear(4, 3))
    D.train()
    for _ in range(50):  # running statistics of alternating "real" and "fake" batches, as in GAN training
        D(torch.randn(64, 2) + 5.0)
        D(torch.randn(64, 2) - 5.0)
    before = D.trunk[1].running_mean.clone()
    real = torch.randn(2000, 2) * 2 + 3.0
    method = UnsupervisedGAN(GaussianMixture(3, 2), nn.Linear(2, 2), D)
    Dr = cl.real_statistics_discriminator(method, real, batch_size=250)
    torch.testing.assert_close(D.trunk[1].running_mean, before)  # the run's own D is untouched
    feats = D.trunk[0](real).detach()
    torch.testing.assert_close(Dr.trunk[1].running_mean, feats.mean(0), atol=1e-4, rtol=0)
    torch.testing.assert_close(Dr.trunk[1].running_var, feats.var(0), rtol=0.02, atol=1e-4)
    assert not Dr.training
    # read in eval mode, real images are normalised as a whole real batch would be in train mode
    with torch.no_grad():
        D.train()
        batch_mode = D(real, heads=("component",))["component"]
        eval_mode = Dr(real, heads=("component",))["component"]
    torch.testing.assert_close(eval_mode, batch_mode, atol=2e-2, rtol=0)


def test_head_route_reads_the_component_head_and_refuses_runs_without_one():
    x, y, prior, G = _toy()
    method = UnsupervisedGAN(prior, G, Discriminator(nn.Sequential(nn.Identity()), 2)).with_component_head(1.0)
    method.D.heads["component"] = _posterior_head(prior, prior.mu * 2)
    c = cl.fit_head_route(method, x)
    assert cl.clustering_accuracy(y.numpy(), c.assign(x).argmax(1).numpy()) > 0.99
    with pytest.raises(Exception, match="--info"):
        cl.fit_head_route(UnsupervisedGAN(prior, G, Discriminator(nn.Sequential(nn.Identity()), 2)), x)


def test_the_component_head_makes_g_keep_the_component_recoverable(tmp_path):
    """info.weight trains a head on D to read k back from G(z), and G to keep it readable: on the toy grid
    the cross-entropy falls far below log K within a few hundred steps, for D's head and for G."""
    from gmgan.config import make_config
    from gmgan.train import Trainer

    cfg = make_config("toy-grid3", {"info": {"weight": 1.0}, "train": {"steps": 300, "log_every": 50,
                                                                      "sample_every": 0}})
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    first, last = logs[0], logs[-1]
    assert first["component_ce_G"] > 1.0  # log 9 = 2.2 at the start
    assert last["component_ce_G"] < 0.3 and last["component_ce_D"] < 0.3


def test_cluster_trains_the_routes_recipe_when_no_run_is_given_then_resumes_and_reuses(tmp_path):
    out = tmp_path / "c"
    opts = cl.ClusterOptions(method="head", dataset="digits", out=str(out), steps=4, seeds=(0,), progress=False,
                             splits=("test",))
    first = cl.run_clustering(opts)
    assert first["seeds"]["0"]["fit"]["run_status"] == "trained"
    assert (out / "models" / "seed-0" / "config.yaml").is_file() and (out / "cluster.json").is_file()
    assert first["protocol"]["recipe"] == cl.RECIPES["head"]
    again = cl.run_clustering(opts)
    assert again["seeds"]["0"]["fit"]["run_status"] == "found"
    longer = cl.run_clustering(cl.ClusterOptions(**{**opts.__dict__, "steps": 6}))  # an interrupted run resumes
    assert longer["seeds"]["0"]["fit"]["run_status"] == "resumed" and longer["seeds"]["0"]["fit"]["step"] == 6
    with pytest.raises(Exception, match="other settings"):  # another route's model is never mixed in
        cl.run_clustering(cl.ClusterOptions(**{**opts.__dict__, "method": "classifier"}))
    # the CLI only parses and calls: the same options give the same table
    assert main(["cluster", "--dataset", "digits", "--method", "head", "--steps", "6", "--splits", "test",
                 "--out", str(out), "--no-progress"]) == 0
    cli = json.loads((out / "cluster.json").read_text())
    assert cli["summary"] == longer["summary"]


def test_refine_self_labels_confident_real_images_without_reading_labels():
    """A route that is right on the easy images and wrong near one boundary: training a CNN on its confident
    assignments fixes the boundary cases; the labels are only used to score."""
    from gmgan.data import load_dataset

    data = load_dataset("digits", None, "train")
    x, y = data.x[:600], data.y[:600]
    noisy = y.clone()
    flip = torch.Generator().manual_seed(0)
    wrong = torch.rand(len(y), generator=flip) < 0.2  # 20% wrong, and unsure where wrong
    noisy[wrong] = (y[wrong] + 1) % 10
    soft = torch.nn.functional.one_hot(noisy, 10).float() * torch.where(wrong, 0.5, 0.99)[:, None]
    soft = soft + (1 - soft.sum(1, keepdim=True)) / 10
    c = cl.Clustering(10, lambda images: soft if images is x else None)
    refined = cl.refine(c, x, keep=0.7, steps=300, seed=0)
    acc_before = cl.clustering_accuracy(y.numpy(), noisy.numpy())
    acc_after = cl.clustering_accuracy(y.numpy(), refined.assign(x).argmax(1).numpy())
    assert acc_before == pytest.approx(0.8, abs=0.05) and acc_after > acc_before + 0.1
    assert refined.info["refine"]["images"] == pytest.approx(0.7 * 600, abs=10)


def test_consensus_undoes_errors_the_seeds_do_not_share():
    """Three clusterings of 4 groups, each with its own mistake (a merge and a split): their consensus is
    exact, without labels; an error all three share stays."""
    import torch.nn.functional as F

    from gmgan.cluster import Clustering, consensus

    truth = torch.arange(4).repeat_interleave(50)
    x = truth.float().unsqueeze(1)  # the "images": each carries its group, for the fake clusterings to read

    def fake(table):  # group -> cluster id, and half of one group sent to a spare id
        def assign(images):
            g = images[:, 0].long()
            ids = torch.tensor(table[0])[g]
            split_group, spare = table[1]
            half = (g == split_group) & (torch.arange(len(g)) % 2 == 0)
            ids = torch.where(half, torch.full_like(ids, spare), ids)
            return F.one_hot(ids, 4).float()
        return Clustering(4, assign, {})

    seeds = [fake(([0, 0, 1, 2], (3, 3))),   # merges groups 0, 1; splits 3
             fake(([0, 1, 2, 2], (0, 3))),   # merges 2, 3; splits 0
             fake(([0, 1, 1, 2], (2, 3)))]   # merges 1, 2; splits 2
    pred = consensus(seeds, x, 4).assign(x).argmax(1).numpy()
    assert cl.clustering_accuracy(truth.numpy(), pred) == 1.0
    shared = [fake(([0, 0, 1, 2], (3, 3)))] * 3  # every seed merges 0 and 1: no vote can split them
    pred = consensus(shared, x, 4).assign(x).argmax(1).numpy()
    assert cl.clustering_accuracy(truth.numpy(), pred) < 1.0


def test_cluster_consensus_flag_writes_the_combined_clustering(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["cluster", "--dataset", "digits", "--method", "kmeans", "--seeds", "0,1", "--consensus",
                 "--out", str(out)]) == 0
    result = json.loads((out / "cluster.json").read_text())
    assert result["consensus"]["info"]["members"] == 2
    assert 0 < result["consensus"]["scores"]["test"]["acc"] <= 1
    assert (out / "clusters-test-consensus.csv").is_file()
    assert "consensus of seeds 0,1" in capsys.readouterr().out


def test_cluster_self_train_stage_runs_from_a_route_and_records_both(tmp_path, monkeypatch, capsys):
    """--self-train: the stage starts from the route's assignment; cluster.json keeps the route's scores beside
    the stage's, the stage's history, and picks the seed by the stage's label-free criterion."""
    import functools

    from gmgan import selftrain

    small = functools.partial(selftrain.SelfTrainOptions, images_per_round=256, batch_size=32, max_rounds=2,
                              min_rounds=1, width=8)
    monkeypatch.setattr(selftrain, "SelfTrainOptions", small)
    out = tmp_path / "st"
    assert main(["cluster", "--dataset", "digits", "--method", "kmeans", "--seeds", "0,1", "--self-train",
                 "--out", str(out), "--no-progress"]) == 0
    result = json.loads((out / "cluster.json").read_text())
    assert set(result["summary_before_self_train"]["test"]["acc"]["per_seed"]) == {"0", "1"}
    stage = result["seeds"]["0"]["fit"]["self_train"]
    assert stage["history"][0]["round"] == 0 and stage["stop_reason"]
    assert "stage's criterion" in result["protocol"]["selected_seed"]
    assert "self-training:" in capsys.readouterr().out


def test_cluster_without_method_runs_the_recommended_pipeline_and_resumes(tmp_path, monkeypatch, capsys):
    """gmgan cluster --data-dir/--dataset without --method: k-means -> over-clustered stage -> re-clustering,
    seeds 0,1,2 unless given; the stage's finished steps are kept, so running the same command again does not
    train them again."""
    import functools

    from gmgan import selftrain

    small = functools.partial(selftrain.SelfTrainOptions, images_per_round=256, batch_size=32, max_rounds=2,
                              min_rounds=1, width=8)
    monkeypatch.setattr(selftrain, "SelfTrainOptions", small)
    monkeypatch.setattr(selftrain, "ReclusterOptions", functools.partial(selftrain.ReclusterOptions,
                                                                         neighbours=10, gmm_inits=2))
    out = tmp_path / "rec"
    assert main(["cluster", "--dataset", "digits", "--seeds", "0", "--out", str(out), "--no-progress"]) == 0
    result = json.loads((out / "cluster.json").read_text())
    assert result["protocol"]["method"] == "kmeans" and "re-clustering" in result["protocol"]["pipeline"]
    st = result["seeds"]["0"]["fit"]["self_train"]
    assert st["over_cluster"]["K_over"] == 30 and 1 <= len(st["recluster"]["rounds"]) <= 2
    assert result["protocol"]["self_train"]["recluster"]["neighbours"] == 10
    assert "the recommended pipeline" in capsys.readouterr().out
    first = (out / "clusters-test.csv").read_text()

    def no_training(*a, **k):
        raise AssertionError("the stage trained again instead of resuming")

    monkeypatch.setattr(selftrain, "self_train", no_training)
    assert main(["cluster", "--dataset", "digits", "--seeds", "0", "--out", str(out)]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert (out / "clusters-test.csv").read_text() == first  # the same clusters, from the kept networks


def test_recluster_needs_the_stage():
    with pytest.raises(cl.ConfigError, match="--self-train"):
        cl._check_over_cluster(cl.ClusterOptions(recluster=True))
