import pytest
import torch
from torch import nn

from gmgan.errors import ConfigError
from gmgan.nets import IMAGE_SIZES, DCGANGenerator, build_nets, dcgan_discriminator, generate


@pytest.mark.parametrize("size", IMAGE_SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_for_every_size(size, channels):
    G, D = build_nets("dcgan", latent_dim=12, data_shape=(channels, size, size), width=8)
    x = G(torch.randn(4, 12))
    assert x.shape == (4, channels, size, size)
    assert x.abs().max() <= 1.0  # tanh output, the data range
    assert D(x).shape == (4,)
    assert D.features(x).shape == (4, D.feature_dim)


def test_mlp_shapes():
    G, D = build_nets("mlp", latent_dim=3, data_shape=(2,), width=16, depth=2)
    x = G(torch.randn(7, 3))
    assert x.shape == (7, 2) and D(x).shape == (7,)


def test_heads_share_the_trunk():
    D = dcgan_discriminator(size=16, channels=1, width=8, outputs=10)
    D.add_head("encoder", nn.Linear(D.feature_dim, 6))
    out = D(torch.randn(3, 1, 16, 16), heads=["adversarial", "encoder"])
    assert out["adversarial"].shape == (3, 10) and out["encoder"].shape == (3, 6)
    out["encoder"].sum().backward()  # the new head's loss trains the shared trunk
    assert D.trunk[0].weight.grad is not None and D.heads["adversarial"].weight.grad is None
    with pytest.raises(ConfigError, match="already has a head"):
        D.add_head("encoder", nn.Linear(D.feature_dim, 1))


def test_generate_uses_eval_mode_and_restores_it():
    G = DCGANGenerator(latent_dim=4, size=8, width=8)
    G.train()
    z = torch.randn(5, 4)
    one_by_one = torch.cat([generate(G, z[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(generate(G, z), one_by_one)  # BatchNorm running stats: no batch dependence
    assert G.training


def test_bad_shapes_are_refused():
    with pytest.raises(ConfigError, match="image size must be one of"):
        build_nets("dcgan", 8, (1, 30, 30), width=8)
    with pytest.raises(ConfigError, match="'mlp' is for vectors"):
        build_nets("mlp", 8, (1, 8, 8), width=8)
    with pytest.raises(ConfigError, match="needs square images"):
        build_nets("dcgan", 8, (2,), width=8)
