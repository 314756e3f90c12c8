import pytest
import torch

from gmgan.config import make_config


@pytest.fixture(autouse=True)
def _fewer_threads():
    torch.set_num_threads(1)  # tiny models run faster single-threaded; also steadier timing across CI machines
    yield


@pytest.fixture
def toy_cfg():
    """A tiny GM-GAN on the 5x5 grid: seconds to train."""

    def make(**train):
        return make_config(
            "toy-grid5",
            {
                "data": {"n_samples": 500},
                "prior": {"latent_dim": 4},
                "model": {"width": 16, "depth": 2},
                "train": {"steps": 20, "b_D": 32, "b_G": 32, "log_every": 5, "sample_every": 10,
                          "checkpoint_every": 10, **train},
            },
        )

    return make


@pytest.fixture
def image_cfg():
    """A tiny DCGAN GM-GAN on 8x8 digits."""

    def make(**train):
        return make_config(
            "digits",
            {"prior": {"latent_dim": 8, "K": 3}, "model": {"width": 8},
             "train": {"steps": 6, "b_D": 16, "b_G": 16, "log_every": 2, "sample_every": 3,
                       "checkpoint_every": 3, **train}},
        )

    return make
