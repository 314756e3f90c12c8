"""gmgan explore: the functions behind each control of the page, and one end-to-end test in a real headless
browser (Chromium driven by Playwright) that moves a control, checks the new grid against `gmgan sample`, uploads
an image and reads the answer, and stops the server."""

import io
import os
import shutil
import socket
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from gmgan.cli import main
from gmgan.errors import ConfigError, DataError
from gmgan.explore import ANY, RunView, check_port, free_port

TINY = ["--set", "model.width=8", "--set", "train.b_D=16", "--set", "train.b_G=16", "--set", "train.sample_every=0",
        "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny trained runs with different heads: responsibility (C), GM-GAN + encoder + component head, plain GAN,
    and a flat folder of colour images (no labels) with a clustering."""
    tmp = tmp_path_factory.mktemp("explore")
    out = {}
    for name, extra in (("resp", ["--method", "responsibility"]), ("gael", ["--encoder", "--info", "1"]),
                        ("gan", ["--method", "gan"]), ("acgan", ["--method", "acgan"])):
        out[name] = tmp / name
        assert main(["train", "--preset", "digits", *extra, "--steps", "20", "--out", str(out[name]), *TINY]) == 0
    assert main(["cluster", str(out["resp"]), "--method", "responsibility", "--splits", "test"]) == 0
    folder = tmp / "photos"
    folder.mkdir()
    rng = np.random.RandomState(0)
    for i in range(40):
        a = np.zeros((16, 16, 3), np.uint8)
        a[..., i % 3] = 200
        Image.fromarray(np.clip(a + rng.randint(0, 40, a.shape), 0, 255).astype(np.uint8)).save(folder / f"p{i}.png")
    out["folder"] = tmp / "mine"
    assert main(["train", "--data-dir", str(folder), "--steps", "4", "--out", str(out["folder"]), *TINY,
                 "--set", "prior.K=3"]) == 0
    assert main(["cluster", str(out["folder"]), "--samples-per-component", "10", "--classifier-steps", "5",
                 "--no-progress"]) == 0
    out["photos"] = folder
    return out


def _png_pixels(path):
    return np.asarray(Image.open(path))


# ---------------------------------------------------------------------------------------------- each control
def test_a_sample_grid_is_the_one_gmgan_sample_writes(runs, tmp_path):
    view = RunView(runs["resp"])
    for choice, flags in (("component 3", ["--component", "3"]), (ANY, [])):
        shown = view.sample(choice, scale=0.5, n=12, seed=7)
        png = tmp_path / f"cli-{len(flags)}.png"
        assert main(["sample", str(runs["resp"]), "--n", "12", "--scale", "0.5", "--seed", "7", *flags,
                     "--out", str(png)]) == 0
        assert np.array_equal(shown, _png_pixels(png))
    assert not np.array_equal(view.sample("component 3", 0.5, 12, 7), view.sample("component 4", 0.5, 12, 7))
    assert not np.array_equal(view.sample(ANY, 0.5, 12, 7), view.sample(ANY, 0.5, 12, 8))


def test_a_run_trained_with_labels_offers_its_classes(runs, tmp_path):
    view = RunView(runs["acgan"])
    assert "class 3" in view.choices()
    png = tmp_path / "three.png"
    assert main(["sample", str(runs["acgan"]), "--class", "3", "--n", "10", "--seed", "2", "--out", str(png)]) == 0
    assert np.array_equal(view.sample("class 3", 1.0, 10, 2), _png_pixels(png))
    with pytest.raises(ConfigError, match="'42' is not one of this run's classes"):
        view.sample("class 42")
    digit = tmp_path / "digit.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(digit)
    ident = view.identify(digit)
    assert list(ident.heads) == ["AC-GAN classifier"] and "class 3" in ident.heads["AC-GAN classifier"]


def test_the_choices_name_components_and_bad_ones_say_what_to_pick(runs):
    view = RunView(runs["resp"])
    assert view.choices()[:3] == [ANY, "component 0", "component 1"] and len(view.choices()) == 1 + view.K
    with pytest.raises(ConfigError, match="components, numbered 0..9|numbered 0..9"):
        view.sample("component 12")
    with pytest.raises(ConfigError, match="Pick one from the list"):
        view.sample("something else")
    with pytest.raises(ConfigError, match="must be > 0"):
        view.sample(ANY, scale=0)
    assert RunView(runs["gan"]).choices() == [ANY]


def test_the_tradeoff_rows_share_their_noise_and_differ_by_scale(runs):
    view = RunView(runs["resp"])
    grid = view.tradeoff("component 2", per_row=4, seed=0, scales=(0.25, 1.0, 3.0))
    h = 1 + 3 * (24 + 1)  # 8 px digits enlarged 3x, one row per scale, 1 px padding
    assert grid.shape[:2] == (h, 1 + 4 * 25)
    rows = [grid[1 + r * 25: r * 25 + 25] for r in range(3)]
    assert not np.array_equal(rows[0], rows[2])
    again = view.tradeoff("component 2", per_row=4, seed=0, scales=(0.25, 1.0, 3.0))
    assert np.array_equal(grid, again)


def test_the_tradeoff_tab_reads_the_runs_sweep_when_there_is_one(runs):
    view = RunView(runs["folder"])
    png, rows = view.sweep_curve()
    assert png is None and rows == []


def test_interpolation_strips_and_triangles_and_bad_choices(runs):
    view = RunView(runs["resp"])
    strip = view.interpolate(2, 7, None, length=5, rows=2, seed=0)
    assert strip.shape[:2] == (1 + 2 * 25, 1 + 5 * 25)
    tri = view.interpolate(1, 4, 7, length=4, seed=0)
    assert tri.shape[:2] == (1 + 4 * 25, 1 + 4 * 25)
    with pytest.raises(ConfigError, match="different components"):
        view.interpolate(3, 3)
    with pytest.raises(ConfigError, match="components 0..9"):
        view.interpolate(3, 10)
    with pytest.raises(ConfigError, match="no mixture components"):
        RunView(runs["gan"]).interpolate(0, 1)


def test_your_image_through_every_head_the_run_has(runs, tmp_path):
    digit = tmp_path / "digit.png"
    Image.fromarray((np.random.RandomState(0).rand(40, 30) * 255).astype(np.uint8)).save(digit)
    resp = RunView(runs["resp"]).identify(digit, inversion_steps=5)
    assert list(resp.heads) == ["responsibility model C", "inversion -> the trained mixture"]
    for probs in resp.heads.values():
        assert len(probs) == 10 and abs(sum(probs.values()) - 1) < 1e-4
    assert any("cropped from 30 x 40" in n for n in resp.notes) and any("resized" in n for n in resp.notes)
    assert resp.picture.shape[1] > resp.picture.shape[0]  # the image and its reconstruction side by side

    gael = RunView(runs["gael"]).identify(digit, inversion_steps=5)
    assert list(gael.heads) == ["component head", "encoder -> the trained mixture", "inversion -> the trained mixture"]
    assert "encoder_mse" in gael.details and "inversion_mse" in gael.details
    # three pictures: the image, the encoder's and the inversion's reconstructions
    side = RunView(runs["gael"]).size * max(1, 112 // RunView(runs["gael"]).size)
    assert gael.picture.shape[1] == 1 + 3 * (side + 1)

    colour = tmp_path / "colour.jpg"
    Image.fromarray(np.full((20, 20, 3), 128, np.uint8)).save(colour)
    assert any("converted from RGB to grayscale" in n for n in RunView(runs["resp"]).identify(
        colour, inversion_steps=2).notes)
    with pytest.raises(ConfigError, match="plain GAN"):
        RunView(runs["gan"]).identify(digit)


def test_an_upload_that_is_not_an_image_is_one_message(runs, tmp_path):
    view = RunView(runs["resp"])
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    with pytest.raises(DataError, match="not an image this page can read"):
        view.read_upload(text)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tiny)
    with pytest.raises(DataError, match="at least 4 pixels"):
        view.read_upload(tiny)
    with pytest.raises(DataError, match="upload an image"):
        view.read_upload(None)


def test_cluster_members_by_index_and_by_file(runs, tmp_path):
    view = RunView(runs["resp"])
    [folder] = view.clusterings()
    sizes = view.cluster_sizes(folder)
    k = max(sizes, key=lambda c: sizes[c])
    grid, line = view.cluster_members(folder, k, n=20)
    assert f"cluster {k}: {sizes[k]:,} images" in line and grid.ndim == 2  # gray digits
    with pytest.raises(ConfigError, match="no members"):
        view.cluster_members(folder, 99)

    mine = RunView(runs["folder"])
    [folder] = mine.clusterings()
    sizes = mine.cluster_sizes(folder)
    assert sum(sizes.values()) == 40
    grid, line = mine.cluster_members(folder, next(iter(sizes)), n=10)
    assert grid.ndim == 3 and "most confident" in line
    # the folder moved away: the message names the fix
    moved = tmp_path / "moved"
    shutil.copytree(runs["folder"], moved)
    cfg = (moved / "config.yaml").read_text().replace(str(runs["photos"]), str(tmp_path / "gone"))
    (moved / "config.yaml").write_text(cfg)
    with pytest.raises(DataError, match="--data-dir DIR"):
        RunView(moved).cluster_members(RunView(moved).clusterings()[0], next(iter(sizes)))
    view = RunView(moved, data_dir=str(runs["photos"]))  # given where the data are now: found again
    assert view.cluster_members(view.clusterings()[0], next(iter(sizes)), n=5)[0].ndim == 3


def test_every_control_works_on_a_folder_run(runs, tmp_path):
    view = RunView(runs["folder"])
    assert view.is_image and view.channels == 3 and view.size == 16 and view.choices()[1] == "component 0"
    assert view.sample("component 1", 0.7, 20, 1).shape == (1 + 2 * 17, 1 + 10 * 17, 3)  # 16 px + 1 px padding
    assert view.tradeoff(None, 5, 0).shape[0] == 1 + 7 * 17
    assert view.interpolate(0, 1, 2, length=4).shape[:2] == (1 + 4 * 17, 1 + 4 * 17)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((50, 70, 4), 90, np.uint8)).save(photo)  # RGBA, not square, another size
    ident = view.identify(photo, inversion_steps=3)
    # gmgan cluster saved the classifier it assigns with: the image is placed in its clusters too
    assert list(ident.heads) == ["clustering cluster/classifier", "inversion -> the trained mixture"]
    assert set(ident.heads["clustering cluster/classifier"]) == {"cluster 0", "cluster 1", "cluster 2"}
    assert ident.picture.ndim == 3
    assert any("RGBA" in n for n in ident.notes) and any("cropped from 70 x 50" in n for n in ident.notes)
    [folder] = view.clusterings()
    sizes = view.cluster_sizes(folder)
    assert view.cluster_members(folder, max(sizes, key=sizes.get))[0].ndim == 3


def test_a_folder_that_is_not_a_run_and_a_busy_port_are_one_line_exit_2(runs, tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match="--port 0"):
            check_port("127.0.0.1", port)
        assert main(["explore", str(runs["resp"]), "--port", str(port)]) == 2
        assert "cannot serve on 127.0.0.1" in capsys.readouterr().err
    assert main(["explore", str(tmp_path), "--port", "0"]) == 2
    assert "is not a gmgan run" in capsys.readouterr().err
    assert main(["explore", str(tmp_path / "nothing"), "--port", "0"]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_without_gradio_the_command_says_how_to_install_it(runs, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    assert main(["explore", str(runs["resp"]), "--port", "0"]) == 2
    assert "pip install 'gmgan[explore]'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- in a browser
def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    return sync_playwright


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read()


@pytest.mark.skipif(_chromium() is None or _playwright() is None, reason="needs Chromium (Debian: apt-get install "
                    "chromium; make test tries to install it) and Playwright (pip install playwright)")
def test_the_page_in_a_real_browser(runs, tmp_path):
    pytest.importorskip("gradio")
    from gmgan.explore_app import serve

    # GMGAN_EXPLORE_RUN=runs/demo GMGAN_SCREENSHOT=docs/images/explore.png: the README's screenshot, of a trained run
    first = os.environ.get("GMGAN_EXPLORE_RUN") or str(runs["resp"])
    port = free_port()
    app = serve([first, str(runs["folder"])], port=port, block=False, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        with _playwright()() as p:
            browser = p.chromium.launch(executable_path=_chromium(), args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)
            page.wait_for_selector("#sample-image img", timeout=60_000)
            before = page.get_attribute("#sample-image img", "src")
            # move a control: the sampling scale, typed into the slider's box
            box = page.locator("#sample-scale input[type=number]")
            box.fill("0.5")
            box.press("Enter")
            page.wait_for_function("s => { const i = document.querySelector('#sample-image img'); "
                                   "return i && i.src !== s; }", arg=before, timeout=30_000)
            command = page.inner_text("#sample-command")
            assert "--scale 0.5" in command and "--n 100" in command
            status, body = _get(page.get_attribute("#sample-image img", "src"))
            shown = np.asarray(Image.open(io.BytesIO(body)))
            png = tmp_path / "same.png"
            assert main(["sample", first, "--n", "100", "--scale", "0.5", "--seed", "0", "--out", str(png)]) == 0
            assert status == 200 and np.array_equal(shown, _png_pixels(png))
            if os.environ.get("GMGAN_SCREENSHOT"):
                page.screenshot(path=os.environ["GMGAN_SCREENSHOT"])

            # your image: upload a digit, read the answer
            page.get_by_role("tab", name="Your image").click()
            digit = tmp_path / "upload.png"
            Image.fromarray((np.random.RandomState(1).rand(8, 8) * 255).astype(np.uint8)).save(digit)
            page.set_input_files("#upload input[type=file]", str(digit))
            page.wait_for_function("() => document.querySelector('#identify-text') && "
                                   "document.querySelector('#identify-text').innerText.includes('pictures')",
                                   timeout=60_000)
            assert "component" in page.inner_text("#identify-label")
            assert "inversion" in page.inner_text("#identify-text")

            # an upload that is not an image: one message in the page, and the server goes on
            bad = tmp_path / "bad.png"
            bad.write_text("hello")
            page.locator("#upload button[aria-label='Clear']").first.click()
            page.set_input_files("#upload input[type=file]", str(bad))
            page.wait_for_selector("text=not an image this page can read", timeout=30_000)
            assert _get(url)[0] == 200

            # the folder run: pick it in the Run list, then its clusters' members
            page.click("#run input")
            page.get_by_role("option", name="mine").click()
            page.wait_for_function("() => document.querySelector('#run-info').innerText.includes('mine')",
                                   timeout=30_000)
            assert "data folder, 16 px, 3 channel(s)" in page.inner_text("#run-info")
            page.get_by_role("tab", name="Clusters").click()
            page.wait_for_function("() => document.querySelector('#clusters-line') && "
                                   "document.querySelector('#clusters-line').innerText.includes('most confident')",
                                   timeout=30_000)
            assert page.locator("#clusters-image img").count() == 1
            # a local tool: the page asked nothing of any other host (fonts, scripts, statistics)
            elsewhere = {u for u in requests if not u.startswith((url, "data:", "blob:"))}
            assert not elsewhere, elsewhere
            browser.close()
    finally:
        app.close()
    time.sleep(0.5)
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/")  # stopped
