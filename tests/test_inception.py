import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from gmgan.errors import ConfigError
from gmgan.evaluate.inception import InceptionFeatures, _FIDInceptionV3


@pytest.fixture(scope="module")
def random_net():
    """A randomly initialised FID Inception (BN statistics perturbed so that loading them matters)."""
    torch.manual_seed(0)
    net = _FIDInceptionV3().eval()
    with torch.no_grad():
        for name, tensor in net.state_dict(keep_vars=True).items():
            if name.endswith("bn.running_mean"):
                tensor.uniform_(-0.1, 0.1)
            elif name.endswith("bn.running_var"):
                tensor.uniform_(0.5, 1.5)
            elif name.endswith("bn.bias"):
                tensor.uniform_(0.0, 0.2)
    return net


@pytest.fixture(scope="module")
def weights(random_net, tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "fid_inception.safetensors"
    save_file({k: v.contiguous() for k, v in random_net.state_dict().items()}, path)
    return path


@pytest.mark.parametrize("shape", [(2, 1, 28, 28), (2, 3, 32, 32)])
def test_features_shape_and_match_the_saved_network(random_net, weights, shape):
    net = InceptionFeatures(weights)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    feats = net(x)
    assert feats.shape == (2, InceptionFeatures.num_features) and feats.dtype == torch.float32
    assert torch.isfinite(feats).all() and feats.abs().sum() > 0
    assert not feats.requires_grad
    resized = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)
    with torch.no_grad():
        torch.testing.assert_close(feats, random_net(resized))


def test_stays_in_eval_mode_and_frozen(weights):
    net = InceptionFeatures(weights).train()
    assert not net.training and not any(m.training for m in net.modules())
    assert not any(p.requires_grad for p in net.parameters())


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist.*gmgan convert-inception"):
        InceptionFeatures(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("legacy", [False, True])
def test_pickle_file_is_refused_without_unpickling(tmp_path, monkeypatch, legacy):
    path = tmp_path / "pt_inception.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(1)}, path, _use_new_zipfile_serialization=not legacy)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load called on a user file"))
    with pytest.raises(ConfigError, match=r"pickle / TorchScript.*gmgan convert-inception SRC DST"):
        InceptionFeatures(path)


def test_not_safetensors(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_text("these are not tensors")
    with pytest.raises(ConfigError, match=r"not a safetensors file"):
        InceptionFeatures(path)


def test_wrong_keys_and_shapes(random_net, tmp_path):
    state = {k: v.contiguous() for k, v in random_net.state_dict().items()}
    state["net.extra"] = state.pop("Mixed_7c.branch_pool.conv.weight")
    state["Conv2d_1a_3x3.bn.bias"] = torch.zeros(5)
    path = tmp_path / "wrong.safetensors"
    save_file(state, path)
    with pytest.raises(ConfigError, match=r"1 missing keys \(e\.g\. Mixed_7c\.branch_pool\.conv\.weight\); "
                                          r"1 unexpected keys \(e\.g\. net\.extra\); 1 tensors of the wrong shape"):
        InceptionFeatures(path)
