"""Clustering: ACC/NMI/ARI, the three routes on a well-separated toy mixture, baselines, the CLI."""

import itertools
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from torch import nn

from gmgan import cluster as cl
from gmgan.cli import main
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
    h = lambda p: -(p[p > 0] * np.log(p[p > 0])).sum()  # noqa: E731
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
    # baselines need no run
    assert main(["cluster", "--dataset", "digits", "--method", "pca-kmeans", "--out", str(tmp_path / "km")]) == 0
    km = json.loads((tmp_path / "km" / "cluster.json").read_text())
    assert km["summary"]["test"]["acc"]["mean"] > 0.5  # k-means on PCA of digits: a sanity floor
    assert main(["cluster", "--method", "classifier"]) == 2  # a model route without a run: one clear message
