import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from gmgan.data import TOY_GRIDS, BatchSampler, load_dataset, read_idx
from gmgan.data import write_idx as data_write_idx
from gmgan.errors import DataError


def write_idx(path, array, gz=False):
    return data_write_idx(path, array, gz)


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.RandomState(0)
    for prefix, n, gz in (("train", 12, True), ("t10k", 5, False)):
        suffix = ".gz" if gz else ""
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", rng.randint(0, 256, (n, 28, 28)), gz)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", rng.randint(0, 10, n), gz)
    return tmp_path


def test_idx_roundtrip_gz_and_plain(tmp_path):
    a = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    for gz in (False, True):
        np.testing.assert_array_equal(read_idx(write_idx(tmp_path / f"a{gz}", a, gz)), a)


def test_mnist_folder_loads_both_splits(mnist_dir):
    train = load_dataset("mnist", mnist_dir, "train")
    test = load_dataset("mnist", mnist_dir, "test", image_size=32)
    assert train.x.shape == (12, 1, 28, 28) and train.y.shape == (12,)
    assert test.x.shape == (5, 1, 32, 32)
    assert train.x.min() >= -1 and train.x.max() <= 1 and train.x.min() < -0.9


def test_truncated_idx_names_the_file_and_the_sizes(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28)))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte has 3052 bytes but its header .* says 3152"):
        read_idx(path)


@pytest.mark.parametrize("content", [b"", b"\x00", b"hello world, not idx", b"\x1f\x8b\x08garbage"])
def test_garbage_is_refused_with_a_message(tmp_path, content):
    path = tmp_path / "f"
    path.write_bytes(content)
    with pytest.raises(DataError, match=str(path)):
        read_idx(path)


def test_missing_mnist_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*not found in .*--data-dir"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DataError, match="pass it with --data-dir"):
        load_dataset("mnist", None)


def test_mismatched_label_count(mnist_dir):
    write_idx(mnist_dir / "t10k-labels-idx1-ubyte", np.zeros(3))
    with pytest.raises(DataError, match="should hold 5 labels"):
        load_dataset("mnist", mnist_dir, "test")


def test_digits_offline_split():
    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    assert train.x.shape == (1437, 1, 8, 8) and test.x.shape == (360, 1, 8, 8)
    assert float(train.x.min()) == -1.0 and float(train.x.max()) == 1.0
    assert set(train.y.tolist()) == set(range(10))


def test_toy_grids_match_their_definition():
    g5 = TOY_GRIDS["toy-grid5"]
    assert sorted(set(g5.means[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    data = load_dataset("toy-grid5", n_samples=20_000, seed=1)
    assert data.x.shape == (20_000, 2) and data.num_classes == 25
    torch.testing.assert_close((data.x - g5.means[data.y]).std(0), torch.full((2,), 0.05), atol=0.002, rtol=0)
    g3 = TOY_GRIDS["toy-grid3"]  # GM-GAN Section 4.1: covariance 0.1 I
    assert math.isclose(g3.std**2, 0.1)
    x = torch.randn(20, 2)
    expected = np.log(sum(multivariate_normal(m.numpy(), 0.1 * np.eye(2)).pdf(x.numpy()) / 9 for m in g3.means))
    np.testing.assert_allclose(g3.log_prob(x).numpy(), expected, rtol=1e-5)


def test_batch_sampler_visits_every_index_each_epoch_and_resumes_exactly():
    s = BatchSampler(10, seed=0)
    epoch = torch.cat([s.next(3), s.next(3), s.next(4)])
    assert sorted(epoch.tolist()) == list(range(10))
    tensors, info = s.state()
    expected = [s.next(7) for _ in range(3)]
    s2 = BatchSampler(10, seed=99)
    s2.load_state(tensors, info)
    for e in expected:
        torch.testing.assert_close(s2.next(7), e)
