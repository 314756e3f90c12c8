"""Supervised GM-GAN, the K+1-class discriminator, AC-GAN, class mappings, class subsets and imbalance."""

import json
import math

import pytest
import torch

from gmgan import losses
from gmgan.cli import main
from gmgan.config import make_config
from gmgan.data import Dataset, load_dataset, make_imbalanced, select_classes
from gmgan.errors import ConfigError, DataError, GmganError
from gmgan.evaluate.metrics import requested_class_accuracy
from gmgan.methods import ACGAN, KPlusOneGMGAN, SupervisedGMGAN, build_method
from gmgan.priors import ConditionalNormal
from gmgan.supervision import ClassMapping
from gmgan.train import Trainer, load_trained


def sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


# ------------------------------------------------------------------------------------------- the losses
def test_supervised_d_loss_is_algorithm_1_lines_11_12_16():
    real = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.0, -1.0]])
    fake = torch.tensor([[-1.0, 2.0, 0.0], [0.7, -0.4, 1.5]])
    y = [2, 0]
    total = 0.0
    for j in range(2):  # the paper's per-sample sums, written out
        l_real = -math.log(sig(real[j, y[j]])) - sum(
            math.log(1 - sig(real[j, m])) for m in range(3) if m != y[j])
        l_fake = -sum(math.log(1 - sig(fake[j, m])) for m in range(3))
        total += l_real + l_fake
    expected = total / (2 * 2)
    assert float(losses.supervised_d_loss(real, torch.tensor(y), fake)) == pytest.approx(expected, rel=1e-6)


def test_supervised_g_loss_is_algorithm_1_line_23():
    logits = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.0, -1.0], [-3.0, 4.0, 0.2]])
    f_k = [1, 0, 2]
    expected = sum(
        -math.log(sig(logits[j, f_k[j]])) - sum(math.log(1 - sig(logits[j, m])) for m in range(3) if m != f_k[j])
        for j in range(3)) / 3
    targets = torch.nn.functional.one_hot(torch.tensor(f_k), 3).bool()
    assert float(losses.supervised_g_loss(logits, targets)) == pytest.approx(expected, rel=1e-6)


def test_supervised_g_loss_with_several_target_classes():
    logits = torch.tensor([[1.0, -2.0, 0.5, 0.1]])
    targets = torch.tensor([[True, False, True, False]])  # a component standing for classes 0 and 2
    none_real = (1 - sig(1.0)) * (1 - sig(0.5))
    expected = -math.log(1 - none_real) - math.log(1 - sig(-2.0)) - math.log(1 - sig(0.1))
    assert float(losses.supervised_g_loss(logits, targets)) == pytest.approx(expected, rel=1e-6)


def test_supervised_g_loss_keeps_its_gradient_when_d_is_sure():
    logits = torch.tensor([[-40.0, 0.0]], requires_grad=True)
    losses.supervised_g_loss(logits, torch.tensor([[True, False]])).backward()
    assert logits.grad[0, 0] == pytest.approx(-1.0, abs=1e-4)  # as d/dl of -log sigmoid(l): no saturation


def test_kplus1_losses_are_the_reports_formulas():
    real = torch.tensor([[1.0, -2.0, 0.5, 0.0], [0.3, 0.0, -1.0, 2.0]])  # N = 3 classes + the fake class
    fake = torch.tensor([[-1.0, 2.0, 0.0, 1.0], [0.7, -0.4, 1.5, -2.0]])
    y, f_k = [2, 0], [1, 2]
    p_real, p_fake = torch.softmax(real, 1), torch.softmax(fake, 1)
    d = -sum(math.log(p_real[j, y[j]]) for j in range(2)) / 2 - sum(math.log(p_fake[j, 3]) for j in range(2)) / 2
    g = -sum(math.log(p_fake[j, f_k[j]]) for j in range(2)) / 2
    assert float(losses.kplus1_d_loss(real, torch.tensor(y), fake)) == pytest.approx(d, rel=1e-6)
    targets = torch.nn.functional.one_hot(torch.tensor(f_k), 3).bool()
    assert float(losses.kplus1_g_loss(fake, targets)) == pytest.approx(g, rel=1e-6)
    both = torch.tensor([[True, True, False], [True, True, False]])  # several targets: their summed probability
    g2 = -sum(math.log(p_fake[j, 0] + p_fake[j, 1]) for j in range(2)) / 2
    assert float(losses.kplus1_g_loss(fake, both)) == pytest.approx(g2, rel=1e-6)


# ------------------------------------------------------------------------------------------- the mapping f
def test_mapping_defaults_and_many_to_one():
    f = ClassMapping.parse(None, K=10, num_classes=10)
    assert [f.classes_of(k) for k in range(10)] == [[k] for k in range(10)]
    f = ClassMapping.parse(None, K=6, num_classes=3)  # K > N: k -> k mod N
    assert [f.classes_of(k)[0] for k in range(6)] == [0, 1, 2, 0, 1, 2]
    assert f.components_of(1) == [1, 4] and f.is_function
    assert f.target_class(torch.tensor([5, 3])).tolist() == [2, 0]
    f = ClassMapping.parse("0,0,1,1", K=4, num_classes=2)
    assert f.components_of(0) == [0, 1] and f.components_of(1) == [2, 3]


def test_mapping_with_fewer_components_than_classes():
    f = ClassMapping.parse("0+1, 2+3+4", K=2, num_classes=5)
    assert f.classes_of(0) == [0, 1] and f.classes_of(1) == [2, 3, 4]
    assert f.components_of(3) == [1] and not f.is_function
    assert f.targets(torch.tensor([1])).tolist() == [[False, False, True, True, True]]
    labels = torch.tensor([0, 1, 2, 3, 4] * 20)
    assert (f.table[f.sample_components(labels), labels]).all()  # a component that may make the label


def test_mapping_uses_the_datasets_own_labels():
    f = ClassMapping.parse("8,3+5", K=2, num_classes=3, class_names=["3", "5", "8"])
    assert f.classes_of(0) == [2] and f.classes_of(1) == [0, 1] and f.class_index("5") == 1
    with pytest.raises(ConfigError, match="'4' is not one of"):
        f.class_index("4")


@pytest.mark.parametrize("spec, K, N, message", [
    (None, 3, 10, "K < N each component must stand for several classes"),
    ("0,1", 3, 2, "has 2 entries but prior.K is 3"),
    ("0,1,7", 3, 3, "names class '7'"),
    ("0,0,1", 3, 3, "leaves class\\(es\\) 2 without a component"),
])
def test_impossible_mappings_are_refused(spec, K, N, message):
    with pytest.raises(ConfigError, match=message):
        ClassMapping.parse(spec, K, N)


# -------------------------------------------------------------------------------------------- configs
@pytest.mark.parametrize("updates, message", [
    ({"method": "gan", "supervision": {"mode": "binary"}}, "needs method 'gmgan'"),
    ({"method": "acgan", "supervision": {"mode": "binary"}}, "own supervision"),
    ({"supervision": {"mapping": "0,1"}}, "only a supervised run uses"),
    ({"supervision": {"mode": "k+1"}, "train": {"loss": "wgan-gp"}}, "unbounded score"),
    ({"supervision": {"mode": "multi"}}, "supervision.mode must be one of"),
])
def test_impossible_supervised_configs_are_refused(updates, message):
    with pytest.raises(ConfigError, match=message):
        make_config("digits", updates)


def test_supervised_method_without_labels_is_refused():
    cfg = make_config("digits", {"supervision": {"mode": "binary"}})
    with pytest.raises(ConfigError, match="the data has none"):
        build_method(cfg, (1, 8, 8), num_classes=None)


def test_class_critics_need_one_class_per_component():
    cfg = make_config("digits", {"prior": {"K": 5}, "supervision": {"mode": "binary", "mapping": "0+1,2+3,4+5,6+7,8+9"},
                                 "train": {"loss": "wgan-gp"}})
    with pytest.raises(ConfigError, match="one critic per class"):
        build_method(cfg, (1, 8, 8), num_classes=10)


def test_each_variant_builds_the_discriminator_it_needs():
    shape = (1, 8, 8)
    m = build_method(make_config("digits", {"supervision": {"mode": "binary"}}), shape, num_classes=10)
    assert isinstance(m, SupervisedGMGAN) and m.D(torch.zeros(2, *shape)).shape == (2, 10)
    m = build_method(make_config("digits", {"supervision": {"mode": "k+1"}}), shape, num_classes=10)
    assert isinstance(m, KPlusOneGMGAN) and m.D(torch.zeros(2, *shape)).shape == (2, 11)
    m = build_method(make_config("digits", {"method": "acgan"}), shape, num_classes=10)
    assert isinstance(m, ACGAN) and isinstance(m.prior, ConditionalNormal)
    assert m.prior.d == 100 + 10  # noise plus the one-hot class code, as AC-GAN feeds its generator
    out = m.D(torch.zeros(2, *shape), heads=("adversarial", "classifier"))
    assert out["adversarial"].shape == (2, 1) and out["classifier"].shape == (2, 10)


def test_conditional_normal_scales_noise_not_the_code():
    prior = ConditionalNormal(5, 3)
    z, k = prior.sample(1000, scale=4.0, generator=torch.Generator().manual_seed(0))
    assert z[:, :5].std().item() == pytest.approx(2.0, rel=0.05)
    assert torch.equal(z[:, 5:].argmax(1), k) and torch.equal(prior.responsibilities(z).argmax(1), k)
    assert set(k.tolist()) == {0, 1, 2}


def test_wgan_class_critics_see_class_matched_fakes():
    cfg = make_config("digits", {"prior": {"K": 6, "latent_dim": 4}, "model": {"width": 8},
                                 "supervision": {"mode": "binary"}, "train": {"loss": "wgan-gp"}})
    m = build_method(cfg, (1, 8, 8), num_classes=3)
    labels = torch.tensor([0, 1, 2, 2, 1, 0] * 5)
    k = m.fake_components(labels, torch.Generator().manual_seed(0))
    assert torch.equal(k % 3, labels)  # default f: k -> k mod 3
    loss, logs = m.d_step(torch.randn(30, 1, 8, 8), labels, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and "gradient_penalty" in logs


# --------------------------------------------------------------------------------------------- data
def test_class_subset_and_imbalance():
    ds = load_dataset("digits", split="train")
    sub = select_classes(ds, "3,5,8")
    assert sub.num_classes == 3 and sub.class_names == ["3", "5", "8"]
    assert torch.equal(sub.y.bincount(), torch.stack([(ds.y == c).sum() for c in (3, 5, 8)]))
    imb = make_imbalanced(ds, "dominant=1,others=20", seed=0)
    counts = imb.y.bincount(minlength=10)
    assert counts[1] == (ds.y == 1).sum() and all(counts[m] == 20 for m in range(10) if m != 1)
    again = make_imbalanced(ds, "dominant=1,others=20", seed=0)
    assert torch.equal(imb.x, again.x)  # seeded: a run rebuilds the same training set
    imb = make_imbalanced(ds, "3=5,7=all", seed=0)  # unnamed classes stay whole
    assert imb.y.bincount(minlength=10)[3] == 5 and imb.y.bincount(minlength=10)[0] == (ds.y == 0).sum()


@pytest.mark.parametrize("call, message", [
    (lambda ds: select_classes(ds, "3,11"), "unknown: 11"),
    (lambda ds: select_classes(ds, "3,3"), "repeated"),
    (lambda ds: make_imbalanced(ds, "dominant=1,others=many"), "must be CLASS=COUNT"),
    (lambda ds: make_imbalanced(ds, "12=4"), "names class '12'"),
    (lambda ds: make_imbalanced(ds, "others=0"), "keeps no images"),
    (lambda ds: select_classes(Dataset("u", torch.zeros(3, 2)), "1"), "has no labels"),
])
def test_bad_class_options_get_one_clear_message(call, message):
    with pytest.raises(DataError, match=message):
        call(load_dataset("digits", split="train"))


# --------------------------------------------------------------------------------------------- training
def _tiny(tmp_path, name, **updates):
    cfg = make_config("digits", {"prior": {"latent_dim": 8, "K": 10}, "model": {"width": 8},
                                 "train": {"steps": 4, "b_D": 16, "b_G": 16, "log_every": 2, "sample_every": 0,
                                           "checkpoint_every": 0}}, updates)
    run = tmp_path / name
    Trainer(cfg, run, progress=False).fit()
    return run


@pytest.mark.parametrize("name, updates", [
    ("binary", {"supervision": {"mode": "binary"}}),
    ("binary-dynamic-wgan", {"supervision": {"mode": "binary"}, "prior": {"learnable": True},
                             "train": {"loss": "wgan-gp"}}),
    ("kplus1-dynamic", {"supervision": {"mode": "k+1"}, "prior": {"learnable": True}}),
    ("acgan", {"method": "acgan"}),
    ("acgan-wgan", {"method": "acgan", "train": {"loss": "wgan-gp"}}),
    ("k5", {"prior": {"K": 5}, "supervision": {"mode": "binary", "mapping": "0+1,2+3,4+5,6+7,8+9"}}),
])
def test_every_variant_trains_saves_and_reloads(tmp_path, name, updates):
    run = _tiny(tmp_path, name, **updates)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(v) for line in lines for v in line.values())
    _, method, step = load_trained(run)
    assert step == 4 and method.mapping is not None and method.mapping.num_classes == 10


def test_supervised_gmgan_learns_its_mapping_on_the_toy_grid():
    """Each component of a supervised GM-GAN lands on the grid mode its class names (K = N = 9)."""
    cfg = make_config("toy-grid3", {"data": {"n_samples": 2000}, "supervision": {"mode": "binary"},
                                    "train": {"steps": 600, "b_D": 128, "b_G": 128}})
    data = load_dataset("toy-grid3", n_samples=2000)
    torch.manual_seed(0)
    m = build_method(cfg, data.shape, torch.Generator().manual_seed(0), num_classes=9)
    opt_D = torch.optim.Adam(m.D.parameters(), lr=5e-4, betas=(0.5, 0.999))
    opt_G = torch.optim.Adam(m.generator_parameters(), lr=5e-4, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(1)
    for _ in range(600):
        idx = torch.randint(len(data), (128,), generator=g)
        loss, _ = m.d_step(data.x[idx], data.y[idx], g)
        opt_D.zero_grad()
        loss.backward()
        opt_D.step()
        loss, _ = m.g_step(128, g)
        opt_G.zero_grad()
        loss.backward()
        opt_G.step()
    with torch.no_grad():
        z, k = m.prior.sample(900, generator=g)
        nearest_mode = torch.cdist(m.G(z), data.grid.means).argmin(1)
    accuracy = requested_class_accuracy(k, nearest_mode, m.mapping.table)["accuracy"]
    assert accuracy > 0.9


def test_requested_class_accuracy_counts_sets_as_hits():
    table = torch.tensor([[True, True, False], [False, False, True]])
    out = requested_class_accuracy(torch.tensor([0, 0, 1, 1]), torch.tensor([1, 2, 2, 0]), table)
    assert out["accuracy"] == 0.5 and out["per_component"] == [0.5, 0.5]


# ------------------------------------------------------------------------------------------------ CLI
def test_sample_class_from_the_cli(tmp_path, capsys):
    run = _tiny(tmp_path, "acgan", method="acgan")
    assert main(["sample", str(run), "--class", "3", "--n", "6"]) == 0
    from safetensors.torch import load_file

    saved = load_file(str(run / "samples" / "sample-n6-class3-s1-seed0.safetensors"))
    assert saved["component"].tolist() == [3] * 6
    assert main(["sample", str(run), "--class", "12"]) == 2
    assert "'12' is not one of this run's classes" in capsys.readouterr().err


def test_sample_class_of_a_shared_component_says_so(tmp_path, capsys):
    run = _tiny(tmp_path, "k5", prior={"K": 5}, supervision={"mode": "binary", "mapping": "0+1,2+3,4+5,6+7,8+9"})
    assert main(["sample", str(run), "--class", "3", "--n", "4"]) == 0
    assert "shares component(s) [1]" in capsys.readouterr().out


def test_sample_class_needs_a_supervised_run(tmp_path, capsys):
    run = _tiny(tmp_path, "unsup")
    assert main(["sample", str(run), "--class", "3"]) == 2
    assert "--class needs a run trained with labels" in capsys.readouterr().err


def test_train_cli_records_supervision_and_data_options(tmp_path):
    out = tmp_path / "cli"
    assert main(["train", "--preset", "digits", "--steps", "2", "--no-progress", "--out", str(out), "--supervised",
                 "k+1", "--dynamic", "--classes", "1,3,7", "--imbalance", "dominant=1,others=30", "--K", "3",
                 "--set", "model.width=8", "--set", "train.b_D=8", "--set", "train.b_G=8"]) == 0
    cfg = load_trained(out)[0]
    assert cfg.supervision.mode == "k+1" and cfg.prior.learnable
    assert cfg.data.classes == "1,3,7" and cfg.data.imbalance == "dominant=1,others=30"
    with pytest.raises(GmganError):
        Trainer(cfg, out, progress=False)  # a second run into the same folder is refused


def test_evaluation_of_a_conditional_run_reports_requested_class_accuracy(tmp_path, monkeypatch):
    from gmgan.evaluate.run import EvalOptions, evaluate_run

    monkeypatch.setenv("GMGAN_CACHE", str(tmp_path / "cache"))
    run = _tiny(tmp_path, "acgan", method="acgan")
    opts = EvalOptions(n=60, pairs=50, kid_subsets=2, is_splits=2, classifier_steps=30, real_baseline=False)
    result = evaluate_run(run, opts, progress=False)
    ca = result["generated"]["class_accuracy"]
    assert 0 <= ca["accuracy"] <= 1 and len(ca["per_component"]) == 10
    assert result["protocol"]["prior_component_accuracy"] == 1.0  # the one-hot code names the class exactly
    assert result["generated"]["class_accuracy_ceiling"] == 1.0
    assert result["protocol"]["K"] == 10
