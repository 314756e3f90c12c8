"""A folder of the user's own images, end to end: what --data-dir holds is read from its files, the folder's size
and channels are chosen and recorded, unlabelled runs are scored in Inception features, clustered by file,
exported as folders and reported; bad folders get one line and exit 2 and leave nothing half-written."""

import csv
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from gmgan.cli import main
from gmgan.datasets import default_image_size, detect
from gmgan.errors import DataError
from gmgan.nets import IMAGE_SIZES

TINY = ["--set", "model.width=8", "--set", "train.b_D=8", "--set", "train.b_G=8", "--set", "train.log_every=1",
        "--set", "train.sample_every=0", "--set", "prior.latent_dim=8", "--set", "prior.K=3", "--no-progress"]


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _colour(rng, size, cls=0):
    base = np.zeros((size, size, 3), np.uint8)
    base[..., cls % 3] = 200  # each class its own colour, so a clustering has something to find
    return np.clip(base + rng.randint(0, 40, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private $GMGAN_CACHE with Inception weights 'installed' (random ones: the plumbing, not the numbers)."""
    from gmgan.evaluate.inception import _FIDInceptionV3

    root = tmp_path / "cache"
    (root / "inception").mkdir(parents=True)
    torch.manual_seed(0)
    net = _FIDInceptionV3().eval()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()},
              root / "inception" / "fid_inception_v3.safetensors")
    monkeypatch.setenv("GMGAN_CACHE", str(root))
    return root


@pytest.fixture
def flat_folder(tmp_path):
    """70 colour 32 px images as PNG and JPEG, one grayscale image, one corrupt file and a note."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.RandomState(0)
    for i in range(70):
        Image.fromarray(_colour(rng, 32, i)).save(folder / f"img{i:02d}.{'png' if i % 2 else 'jpg'}")
    Image.fromarray(rng.randint(0, 255, (32, 32), dtype=np.uint8)).save(folder / "gray.png")
    (folder / "broken.png").write_bytes(b"\x89PNG this is not an image")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture
def class_folder(tmp_path):
    """Two class subfolders of 64 px colour images."""
    folder = tmp_path / "pets"
    rng = np.random.RandomState(1)
    for c, name in enumerate(["cat", "dog"]):
        (folder / name).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(_colour(rng, 64, c)).save(folder / name / f"{i}.png")
    return folder


def test_the_folder_says_what_it_is(flat_folder, class_folder, tmp_path):
    flat, labelled = detect(flat_folder), detect(class_folder)
    assert (flat.kind, flat.labelled, flat.channels, flat.native_size) == ("folder", False, 3, 32)
    assert (labelled.kind, labelled.labelled, labelled.native_size) == ("folder", True, 64)
    gray = tmp_path / "gray"
    gray.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((20, 24), np.uint8)).save(gray / f"{i}.png")
    g = detect(gray)
    assert g.channels == 1 and g.native_size == 20
    assert default_image_size(20, IMAGE_SIZES) == (16, "resized from 20 px (shorter side, then the centre square)")
    assert default_image_size(500, IMAGE_SIZES)[0] == 64 and default_image_size(96, IMAGE_SIZES)[0] == 96
    idx = tmp_path / "idx"
    idx.mkdir()
    (idx / "train-images-idx3-ubyte.gz").write_bytes(b"")
    assert detect(idx).names == ("mnist", "fashion-mnist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        detect(tmp_path / "empty")


def test_a_flat_colour_folder_trains_samples_evaluates_clusters_exports_and_reports(flat_folder, cache, tmp_path,
                                                                                      capsys):
    run = tmp_path / "run"
    code, out, err = _run(["train", "--data-dir", flat_folder, "--out", run, "--steps", "2", *TINY], capsys)
    assert code == 0, err
    assert "a folder of 72 colour images, flat (no labels), mostly 32 px; training at 32 px (native)" in out
    assert "skipped 1 of 72 files" in out and "broken.png" in out  # the corrupt file, counted and named
    saved = (run / "config.yaml").read_text()
    assert "name: folder" in saved and "image_size: 32" in saved and "channels: 3" in saved
    assert _run(["sample", run, "--n", "4", "--component", "1"], capsys)[0] == 0

    code, out, err = _run(["evaluate", run, "--n", "6", "--pairs", "10", "--no-progress"], capsys)
    assert code == 0, err
    result = json.loads((run / "evaluation.json").read_text())
    assert result["protocol"]["feature_space"].startswith("Inception-v3") and result["protocol"]["labelled"] is False
    gen = result["generated"]
    assert {"fid", "kid", "precision", "recall", "density", "coverage", "d_intra"} <= set(gen)
    assert not {"q", "is", "d", "class_histogram"} & set(gen)
    assert "skipped q, d_inter, d, s" in out and "skipped is:" in out

    code, out, err = _run(["sweep", run, "--scales", "0.5,1", "--n", "4", "--pairs", "10", "--no-progress"], capsys)
    assert code == 0, err
    assert (run / "sweep.png").is_file()

    export = tmp_path / "by-cluster"
    code, out, err = _run(["cluster", run, "--samples-per-component", "10", "--classifier-steps", "5",
                           "--export", export, "--no-progress"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(open(run / "cluster" / "classifier" / "clusters-all.csv")))
    names = sorted(r["file"] for r in rows)
    assert names == sorted([f"img{i:02d}.{'png' if i % 2 else 'jpg'}" for i in range(70)] + ["gray.png"])
    assert all(0 <= float(r["confidence"]) <= 1 for r in rows)
    linked = sorted(p.name for p in export.glob("cluster-*/*"))
    assert linked == names and all(os.path.islink(p) for p in export.glob("cluster-*/*"))
    clustered = json.loads((run / "cluster" / "classifier" / "cluster.json").read_text())
    assert clustered["summary"] == {} and sum(clustered["seeds"]["0"]["all_diagnostics"]["sizes"]) == 71

    assert _run(["report", run], capsys)[0] == 0
    page = (run / "report.html").read_text()
    assert "features: Inception-v3" in page and "cluster sizes" in page


def test_a_folder_with_class_subfolders_clusters_in_one_command_and_is_scored(class_folder, cache, tmp_path, capsys):
    out_dir = tmp_path / "clusters"
    code, out, err = _run(["cluster", "--data-dir", class_folder, "--out", out_dir, "--method", "classifier",
                           "--steps", "2", "--K", "2",
                           "--samples-per-component", "10", "--classifier-steps", "5", "--export", tmp_path / "exp",
                           "--export-mode", "copy", *TINY], capsys)
    assert code == 0, err
    saved = (out_dir / "models" / "seed-0" / "config.yaml").read_text()
    assert "image_size: 64" in saved and "channels: 3" in saved and "name: folder" in saved
    assert "all: ACC" in out  # labelled by its subfolders: scored
    rows = list(csv.DictReader(open(out_dir / "clusters-all.csv")))
    assert sorted(r["file"] for r in rows)[0] == os.path.join("cat", "0.png")
    copies = list((tmp_path / "exp").glob("cluster-*/*.png"))
    assert len(copies) == 24 and not any(p.is_symlink() for p in copies)
    assert any(p.name == "cat__0.png" for p in copies)


def test_the_recommended_pipeline_clusters_an_unlabelled_folder(flat_folder, tmp_path, monkeypatch, capsys):
    """gmgan cluster --data-dir FOLDER (no --method): k-means, the over-clustered stage and re-clustering on a
    folder of colour images without labels; every file gets a cluster, nothing is scored."""
    import functools

    from gmgan import selftrain

    monkeypatch.setattr(selftrain, "SelfTrainOptions", functools.partial(
        selftrain.SelfTrainOptions, images_per_round=128, batch_size=32, max_rounds=2, min_rounds=1, width=8))
    monkeypatch.setattr(selftrain, "ReclusterOptions", functools.partial(selftrain.ReclusterOptions, neighbours=8,
                                                                         gmm_inits=2, rounds=1))
    out_dir = tmp_path / "clusters"
    code, out, err = _run(["cluster", "--data-dir", flat_folder, "--out", out_dir, "--K", "2", "--seeds", "0,1",
                           "--no-progress"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(open(out_dir / "clusters-all-seed1.csv")))
    assert len(rows) == 71 and {r["cluster"] for r in rows} <= {"0", "1"}
    result = json.loads((out_dir / "cluster.json").read_text())
    assert result["summary"] == {} and result["selected_seed"] in (0, 1)
    assert "re-clustering" in result["protocol"]["pipeline"]
    assert (out_dir / "assigner-seed0.safetensors").is_file() and "no labels to score" in out


def test_model_route_options_without_a_model_route_are_refused(flat_folder, tmp_path, capsys):
    code, _, err = _run(["cluster", "--data-dir", flat_folder, "--out", tmp_path / "c", "--steps", "100"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--method classifier" in err
    assert not (tmp_path / "c").exists()


def test_a_preset_that_disagrees_with_the_folder_is_an_error_naming_both(flat_folder, tmp_path, capsys):
    code, _, err = _run(["train", "--preset", "mnist", "--data-dir", flat_folder, "--out", tmp_path / "r"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "--preset mnist trains on MNIST-format IDX files" in err and "a folder of 72 colour images" in err
    assert not (tmp_path / "r").exists()
    code, _, err = _run(["train", "--preset", "digits", "--data-dir", flat_folder, "--out", tmp_path / "r"], capsys)
    assert code == 2 and "reads no folder" in err and not (tmp_path / "r").exists()


def test_an_empty_folder_is_one_line_and_leaves_no_run_or_cache(tmp_path, cache, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = _run(["train", "--data-dir", tmp_path / "empty", "--out", tmp_path / "r", *TINY], capsys)
    assert code == 2 and "holds no images" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists() and not (cache / "images").exists()


def test_unreadable_images_only_is_one_line(tmp_path, cache, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(b"garbage")
    code, _, err = _run(["train", "--data-dir", folder, "--out", tmp_path / "r", *TINY], capsys)
    assert code == 2 and "could be read" in err and not (tmp_path / "r").exists()
    assert not any((cache / "images").glob("*")) if (cache / "images").exists() else True


def test_evaluating_unlabelled_data_without_inception_says_how_to_install_it(flat_folder, tmp_path, monkeypatch,
                                                                              capsys):
    monkeypatch.setenv("GMGAN_CACHE", str(tmp_path / "no-weights"))
    run = tmp_path / "run"
    assert _run(["train", "--data-dir", flat_folder, "--out", run, "--steps", "1", *TINY], capsys)[0] == 0
    code, _, err = _run(["evaluate", run, "--n", "4", "--no-progress"], capsys)
    assert code == 2 and "gmgan inception install" in err and "no class labels" in err
    assert not (run / "evaluation.json").exists()


def test_export_never_writes_into_a_users_folder(flat_folder, cache, tmp_path, capsys):
    run = tmp_path / "run"
    assert _run(["train", "--data-dir", flat_folder, "--out", run, "--steps", "1", *TINY], capsys)[0] == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    code, _, err = _run(["cluster", run, "--samples-per-component", "5", "--classifier-steps", "2",
                         "--export", mine, "--no-progress"], capsys)
    assert code == 2 and "not an earlier gmgan export" in err
    assert [p.name for p in mine.iterdir()] == ["keep.txt"]


def test_a_run_pointed_at_other_data_is_refused(flat_folder, tmp_path, capsys):
    run = tmp_path / "run"
    assert _run(["train", "--data-dir", flat_folder, "--out", run, "--steps", "1", *TINY], capsys)[0] == 0
    idx = tmp_path / "idx"
    idx.mkdir()
    (idx / "train-images-idx3-ubyte").write_bytes(b"")
    code, _, err = _run(["sample", run, "--n", "2"], capsys)
    assert code == 0
    code, _, err = _run(["cluster", run, "--data-dir", idx, "--no-progress"], capsys)
    assert code == 2 and "this run's data are folder" in err and "MNIST-format IDX files" in err
