"""The HTML report: structure of a tiny run's page, every image decodes, and (where Chromium is installed) a
headless browser finds no broken image and no request leaving the page."""

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from PIL import Image

from gmgan.cli import main
from gmgan.report import SECTIONS


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.images, self.external = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "img":
            self.images.append(a.get("src", ""))
        for key in ("src", "href"):
            if key in a and not a[key].startswith(("data:", "#")):
                self.external.append(a[key])


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    cache = ["--cache-dir", str(tmp / "cache")]
    runs = []
    for name, method in (("resp", "responsibility"), ("gan", "gan")):
        run = tmp / name
        assert main(["train", "--preset", "digits", "--method", method, "--steps", "40", "--out", str(run),
                     "--set", "model.width=8", "--set", "train.b_D=16", "--no-progress"]) == 0
        assert main(["evaluate", str(run), "--n", "200", "--pairs", "100", "--classifier-steps", "30",
                     "--no-progress", *cache]) == 0
        runs.append(run)
    assert main(["interpolate", str(runs[0]), "--components", "2,7", "--length", "4", "--rows", "1"]) == 0
    assert main(["cluster", str(runs[0]), "--method", "responsibility", "--splits", "test"]) == 0
    assert main(["reconstruct", str(runs[0]), "--n", "10", "--inversion-steps", "5", "--no-progress"]) == 0
    assert main(["sweep", str(runs[0]), "--scales", "0.5,1.0", "--n", "100", "--pairs", "50", "--no-progress",
                 *cache]) == 0
    import os

    os.environ["GMGAN_CACHE"] = str(tmp / "cache")  # the report finds the evaluation classifier there
    assert main(["report", str(runs[0]), "--tsne-n", "120"]) == 0
    # the two runs as two "seeds" of one model: a grouped sweep, shown on the side-by-side page
    assert main(["sweep", "--group", f"both={runs[0]},{runs[1]}", "--scales", "0.5,1.0", "--n", "100", "--pairs",
                 "50", "--no-progress", "--out", str(tmp / "seeds"), *cache]) == 0
    assert main(["report", *map(str, runs), "--out", str(tmp / "both.html"), "--tsne-n", "120",
                 "--sweep", str(tmp / "seeds")]) == 0
    os.environ.pop("GMGAN_CACHE")
    return runs[0] / "report.html", tmp / "both.html"


def test_report_has_every_section_and_every_image_decodes(tiny_report):
    single, both = tiny_report
    page = _Page()
    page.feed(single.read_text())
    assert set(SECTIONS) <= set(page.ids), set(SECTIONS) - set(page.ids)
    assert not page.external  # nothing to fetch
    assert len(page.images) >= 8
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    assert (single.parent / "report" / "resp" / "tsne.png").is_file()  # the PNGs for papers, beside it
    two = _Page()
    two.feed(both.read_text())
    assert "comparison" in two.ids and both.read_text().count("--n: 2") >= len(SECTIONS) - 2


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _page_requests(page, tmp_path):
    """(dumped DOM, URLs the page itself asked the network for), from Chromium's net log.

    The browser's own background requests (update checks, network time) are made for no document; a request
    made for the page carries the file:// page in its network isolation key.
    """
    netlog = tmp_path / f"netlog-{page.stem}.json"
    out = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / ('profile-' + page.stem)}", f"--log-net-log={netlog}",
         "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    log = json.loads(netlog.read_text())
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    urls = {e["params"]["url"] for e in log["events"]
            if types.get(e["type"]) == "URL_REQUEST_START_JOB" and "url" in e.get("params", {})
            and "file://" in str(e["params"].get("network_isolation_key", ""))}
    return out.stdout, sorted(u for u in urls if not u.startswith(("data:", "file:")))


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: apt-get install chromium; "
                    "make test tries to install it); the structural report test above still runs")
def test_report_in_headless_chromium_has_no_broken_image_and_no_request(tiny_report, tmp_path):
    leaky = tmp_path / "leaky.html"  # the check itself must be able to fail
    leaky.write_text('<html><body><img src="https://example.com/x.png"></body></html>')
    assert _page_requests(leaky, tmp_path)[1] == ["https://example.com/x.png"]
    single, _ = tiny_report
    dom, leaving = _page_requests(single, tmp_path)
    body = re.search(r"<body[^>]*>", dom).group(0)
    images = int(re.search(r'data-images="(\d+)"', body).group(1))
    broken = int(re.search(r'data-broken-images="(\d+)"', body).group(1))
    assert images >= 8 and broken == 0
    assert not leaving, leaving


def test_report_shows_a_grouped_sweep_with_its_spread(tiny_report, tmp_path):
    _, both = tiny_report
    page = _Page()
    page.feed(both.read_text())
    assert "sweep-seeds" in page.ids
    text = both.read_text()
    assert "mean ± standard error" in text and "<td>both</td>" in text and " ± " in text
    assert main(["report", str(both.parent / "resp"), "--sweep", str(tmp_path)]) == 2  # not a sweep folder


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path):
    assert main(["report", str(tmp_path)]) == 2


def test_evaluation_of_a_responsibility_run_says_whether_c_tells_components_apart(tiny_report):
    single, _ = tiny_report
    protocol = json.loads((single.parent / "evaluation.json").read_text())["protocol"]
    usage = protocol["posterior_outputs"]
    assert 1 <= usage["outputs_used"] <= 10 and 0 < usage["agreement"] <= 1
    assert all(len(group) > 1 for group in usage["merged"])
