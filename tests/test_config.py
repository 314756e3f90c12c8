import pytest

from gmgan.config import PRESETS, diff_configs, load_yaml, make_config, parse_assignment, save_yaml
from gmgan.errors import ConfigError


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid_and_roundtrips_through_yaml(name, tmp_path):
    cfg = make_config(name)
    save_yaml(cfg, tmp_path / "c.yaml")
    assert make_config(None, load_yaml(tmp_path / "c.yaml")) == cfg


def test_mnist_preset_has_the_paper_defaults():
    cfg = make_config("mnist")
    p, t = cfg.prior, cfg.train
    assert (p.latent_dim, p.c, p.sigma, t.b_D, t.b_G, t.lr) == (100, 0.1, 0.15, 64, 128, 2e-4)


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"Unknown config key 'train.stepz'. Did you mean 'train.steps'"):
        make_config(None, {"train": {"stepz": 3}})


@pytest.mark.parametrize(
    ("update", "fragment"),
    [
        ({"train": {"steps": "many"}}, "train.steps must be an integer"),
        ({"train": {"steps": 0}}, "train.steps must be >= 1"),
        ({"prior": {"learnable": "yes"}}, "prior.learnable must be true or false"),
        ({"prior": {"sigma": -1}}, "prior.sigma must be > 0"),
        ({"train": {"loss": "hinge"}}, "train.loss must be one of"),
        ({"model": {"arch": "mlp"}}, "needs model.arch dcgan"),
        ({"train": {"loss": "wgan-gp"}, "model": {"d_norm": "batch"}}, "cannot use model.d_norm 'batch'"),
        ({"train": 5}, "train must be a mapping"),
    ],
)
def test_impossible_values_are_refused_by_name(update, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make_config("digits", update)


def test_wgan_gp_brings_its_optimiser_settings_unless_the_user_sets_them():
    t = make_config("toy-grid5", {"train": {"loss": "wgan-gp"}}).train  # the preset's lr 5e-4 is for ns
    assert (t.n_critic, t.lr, t.beta1, t.beta2) == (5, 1e-4, 0.5, 0.9)
    t = make_config("mnist", {"train": {"loss": "wgan-gp"}}, {"train": {"n_critic": 2, "lr": 3e-4}}).train
    assert (t.n_critic, t.lr, t.beta2) == (2, 3e-4, 0.9)
    t = make_config("mnist", {"train": {"loss": "wgan-gp"}}, {"train": {"loss": "ns"}}).train  # the last loss wins
    assert (t.n_critic, t.lr, t.beta2) == (1, 2e-4, 0.999)
    # a saved run's config is an update: resuming an old WGAN-GP run keeps the settings it trained with
    saved = make_config("mnist", {"train": {"loss": "wgan-gp", "n_critic": 1, "beta2": 0.999}}).to_dict()
    t = make_config(None, saved).train
    assert (t.n_critic, t.beta2) == (1, 0.999)


def test_epochs_count_every_critic_batch_of_real_data():
    # 27,000 non-saturating steps and 5,400 WGAN-GP steps (5 critic batches each) read MNIST the same 28.8 times
    assert make_config("mnist").train.epochs(27_000, 60_000) == pytest.approx(28.8)
    assert make_config("mnist", {"train": {"loss": "wgan-gp"}}).train.epochs(5_400, 60_000) == pytest.approx(28.8)


def test_set_assignments_are_parsed_as_yaml():
    assert parse_assignment("train.lr=1e-4") == {"train": {"lr": 1e-4}}
    assert parse_assignment("prior.learnable=true") == {"prior": {"learnable": True}}
    assert make_config("digits", parse_assignment("train.lr=1e-4")).train.lr == 1e-4


def test_diff_lists_every_change():
    a, b = make_config("digits"), make_config("digits", {"prior": {"K": 5}, "train": {"lr": 1e-3}})
    assert diff_configs(a, b) == ["prior.K: 10 -> 5", "train.lr: 0.0002 -> 0.001"]


def test_bad_yaml_file(tmp_path):
    (tmp_path / "c.yaml").write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")


def test_a_key_that_is_not_a_name_is_a_config_error():
    from gmgan.errors import ConfigError

    for bad in ({None: None}, {"train": {1: 2}}):
        with pytest.raises(ConfigError, match="option names"):
            make_config(None, bad)
