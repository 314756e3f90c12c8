"""Real-format datasets built as tiny files: CIFAR-10/100 python batches, STL-10 binaries, image folders; the
safe CIFAR reader refuses crafted pickles; fuzzing of the readers and the config loader."""

import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gmgan import safepickle
from gmgan.checkpoint import load_tensors
from gmgan.config import load_yaml, make_config
from gmgan.data import load_dataset, read_idx, write_idx
from gmgan.errors import CheckpointError, ConfigError, DataError, GmganError


def _cifar10(folder, n=6):
    folder.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": rng.randint(0, 10, n).tolist(),
                 b"data": rng.randint(0, 256, (n, 3072)).astype(np.uint8), b"filenames": [b"x.png"] * n}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    names = [f"class{i}".encode() for i in range(10)]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    return folder


def test_cifar10_python_batches(tmp_path):
    folder = _cifar10(tmp_path / "cifar-10-batches-py")
    train = load_dataset("cifar10", tmp_path, "train")  # the archive's parent folder works too
    assert train.x.shape == (30, 3, 32, 32) and train.num_classes == 10 and train.class_names[3] == "class3"
    raw = pickle.loads((folder / "data_batch_1").read_bytes())  # our own test file: safe to unpickle here
    first = torch.from_numpy(raw[b"data"][0].reshape(3, 32, 32)).float() / 127.5 - 1
    assert torch.allclose(train.x[0], first) and train.y[:6].tolist() == raw[b"labels"]
    gray = load_dataset("cifar10", folder, "test", image_size=16, channels=1)
    assert gray.x.shape == (6, 1, 16, 16) and float(gray.x.abs().max()) <= 1


def test_cifar100_python_batches(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.RandomState(1)
    for split in ("train", "test"):
        batch = {b"fine_labels": rng.randint(0, 100, 4).tolist(), b"coarse_labels": [0] * 4,
                 b"data": rng.randint(0, 256, (4, 3072)).astype(np.uint8)}
        (folder / split).write_bytes(pickle.dumps(batch, protocol=4))
    data = load_dataset("cifar100", folder, "train")
    assert data.x.shape == (4, 3, 32, 32) and data.num_classes == 100


def test_stl10_binaries(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    rng = np.random.RandomState(2)
    img = rng.randint(0, 256, (3, 3, 96, 96)).astype(np.uint8)  # (N, C, H, W)
    img.transpose(0, 1, 3, 2).tofile(folder / "train_X.bin")  # STL stores each channel column-major
    np.array([1, 5, 10], dtype=np.uint8).tofile(folder / "train_y.bin")
    img[:1].transpose(0, 1, 3, 2).tofile(folder / "test_X.bin")
    np.array([2], dtype=np.uint8).tofile(folder / "test_y.bin")
    data = load_dataset("stl10", tmp_path, "train", image_size=32)
    assert data.x.shape == (3, 3, 32, 32) and data.y.tolist() == [0, 4, 9]
    full = load_dataset("stl10", folder, "train")
    assert torch.allclose(full.x[1], torch.from_numpy(img[1]).float() / 127.5 - 1)
    with open(folder / "train_X.bin", "ab") as f:
        f.write(b"\x00" * 7)  # truncated / corrupt
    with pytest.raises(DataError, match="not a whole number of 96x96"):
        load_dataset("stl10", folder, "train")


def test_image_folders_flat_and_by_class_with_mixed_sizes_and_a_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GMGAN_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "imgs"
    for c, cls in enumerate(["cat", "dog"]):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            size = (40 + 10 * i, 30 + 5 * c)  # mixed sizes: resized by the shorter side, centre-cropped
            Image.fromarray(np.full((size[1], size[0], 3), 40 * i + c, np.uint8)).save(root / cls / f"{i}.png")
    train = load_dataset("folder", root, "train", image_size=16)
    test = load_dataset("folder", root, "test", image_size=16)
    assert len(train) + len(test) == 10 and len(test) == 1 and train.x.shape[1:] == (3, 16, 16)
    assert train.class_names == ["cat", "dog"] and set(train.y.tolist()) <= {0, 1}
    cached = list((tmp_path / "cache" / "images").iterdir())
    assert len(cached) == 1 and (cached[0] / "images.npy").is_file()
    (root / "cat" / "0.png").rename(root / "cat" / "0.png.bak")  # the cache follows the folder's content
    load_dataset("folder", root, "train", image_size=16)
    assert len(list((tmp_path / "cache" / "images").iterdir())) == 2
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((20, 20), np.uint8)).save(flat / f"{i}.jpg")
    data = load_dataset("folder", flat, "train", image_size=8, channels=1)
    assert data.y is None and data.x.shape == (2, 1, 8, 8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        load_dataset("folder", tmp_path / "empty", "train")
    (flat / "bad.png").write_bytes(b"\x89PNG not really")  # a corrupt file among good ones: skipped and counted
    data = load_dataset("folder", flat, "all", image_size=8)
    assert len(data) == 3 and data.names == ["0.jpg", "1.jpg", "2.jpg"]
    for i in range(3):
        (flat / f"{i}.jpg").write_bytes(b"nope")  # nothing readable at all: one clear error, no cache entry
    before = set((tmp_path / "cache" / "images").iterdir())
    with pytest.raises(DataError, match="none of the .* could be read"):
        load_dataset("folder", flat, "all", image_size=8)
    assert set((tmp_path / "cache" / "images").iterdir()) == before


CRAFTED = b"cos\nsystem\n(S'touch PWNED'\ntR."  # pickle protocol 0: os.system('touch PWNED')


def test_a_crafted_pickle_is_refused_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(CRAFTED)
    with pytest.raises(DataError, match="os.system.*not run"):
        load_dataset("cifar10", folder, "train")
    evil = pickle.dumps({"data": __import__("os").getcwd}, protocol=4)  # STACK_GLOBAL form
    (tmp_path / "evil.pkl").write_bytes(evil)
    with pytest.raises(DataError, match="posix.getcwd|os.getcwd"):
        safepickle.load(tmp_path / "evil.pkl")
    # where a checkpoint is expected: safetensors only, the pickle is not loaded
    (tmp_path / "model.safetensors").write_bytes(CRAFTED)
    with pytest.raises(CheckpointError):
        load_tensors(tmp_path / "model.safetensors")
    assert not (tmp_path / "PWNED").exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_fuzz_readers_raise_only_clear_errors(tmp_path, blob):
    """Random bytes as an IDX file, a CIFAR batch or a config: a DataError / ConfigError, never a crash."""
    path = tmp_path / "blob"
    path.write_bytes(blob)
    for read in (read_idx, safepickle.load):
        try:
            read(path)
        except DataError:
            pass
    (tmp_path / "cfg.yaml").write_bytes(blob)
    try:
        make_config(None, load_yaml(tmp_path / "cfg.yaml"))
    except GmganError:
        pass


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["train", "prior", "data", "model", "method", "bogus"]),
                       st.one_of(st.integers(), st.text(max_size=5), st.none(), st.floats(allow_nan=True),
                                 st.dictionaries(st.sampled_from(["steps", "lr", "K", "name", "width", "x"]),
                                                 st.one_of(st.integers(-5, 5), st.floats(allow_nan=True),
                                                           st.text(max_size=3), st.none())))))
def test_fuzz_config_values(update):
    try:
        make_config("digits", update)
    except ConfigError:
        pass


def test_labels_out_of_range_are_named(tmp_path):
    folder = _cifar10(tmp_path / "c10")
    bad = {b"labels": [0, 12], b"data": np.zeros((2, 3072), np.uint8)}
    (folder / "test_batch").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(DataError, match="labels must be 0..9; found 0..12"):
        load_dataset("cifar10", folder, "test")
    (folder / "test_batch").write_bytes(pickle.dumps(bad, protocol=2)[:-40])  # truncated
    with pytest.raises(DataError, match="truncated or corrupt|cannot|not a CIFAR"):
        load_dataset("cifar10", folder, "test")
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for prefix in ("train", "t10k"):
        _write_idx(mnist / f"{prefix}-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
        _write_idx(mnist / f"{prefix}-labels-idx1-ubyte", np.array([3, 11], np.uint8))
    with pytest.raises(DataError, match="must be 0-9 for mnist; found 3..11"):
        load_dataset("mnist", mnist, "train")


def _write_idx(path, array):
    assert array.dtype == np.uint8
    write_idx(path, array, gz=False)


def test_training_reads_uint8_images_one_batch_at_a_time(tmp_path, monkeypatch):
    from gmgan.config import make_config
    from gmgan.data import LazyImages
    from gmgan.train import Trainer

    monkeypatch.setenv("GMGAN_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(12):
        Image.fromarray((np.random.RandomState(i).rand(20, 24, 3) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    cfg = make_config("digits", {"data": {"name": "folder", "data_dir": str(folder), "image_size": 16},
                                 "model": {"width": 8}, "train": {"steps": 2, "b_D": 4, "b_G": 4}})
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    assert isinstance(trainer.data, LazyImages) and trainer.x is None
    trainer.fit()
    assert trainer.data._x is None  # never converted whole
    idx = torch.tensor([3, 0, 7])
    assert torch.equal(trainer.data.batch(idx), trainer.data.x[idx])  # the same numbers either way
