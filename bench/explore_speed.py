"""How fast gmgan explore redraws a 10 x 10 grid of 28 px images (target: within half a second on 2 CPU cores).

A run with MNIST's architecture (the mnist preset: DCGAN G, K = 10, d = 100) is trained for one step on synthetic
IDX files (speed does not depend on the weights), then, in interleaved rounds so that machine noise hits them
alike:

1. ``function``: RunView.sample (draw 100 codes, G, the PNG grid array): the work behind the control;
2. ``api``: the same request through the running page's HTTP API (Gradio's queue, PNG encoding, the file
   served), as the browser makes it, timed with gradio_client;
3. ``browser``: in headless Chromium (Playwright), the time from typing a new sampling scale to the new grid
   being shown (skipped without Chromium or Playwright).

Writes docs/results/explore-speed.json: medians, the ratio of each to the 0.5 s target, and the machine's load.

    python bench/explore_speed.py            # about 1 minute on 2 CPU cores
    python bench/explore_speed.py --rounds 40
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gmgan.cli import main as gmgan
from gmgan.data import write_idx
from gmgan.explore import ANY, RunView, free_port

TARGET_S = 0.5


def make_run(tmp: Path) -> Path:
    data = tmp / "mnist"
    data.mkdir()
    rng = np.random.RandomState(0)
    for split, n in (("train", 1000), ("t10k", 200)):
        write_idx(data / f"{split}-images-idx3-ubyte", rng.randint(0, 256, (n, 28, 28)))
        write_idx(data / f"{split}-labels-idx1-ubyte", rng.randint(0, 10, n))
    run = tmp / "run"
    assert gmgan(["train", "--preset", "mnist", "--data-dir", str(data), "--steps", "1", "--out", str(run),
                  "--set", "train.sample_every=0", "--no-progress"]) == 0
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--out", default="docs/results/explore-speed.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gmgan-explore-bench-"))
    app = None
    try:
        run = make_run(tmp)
        view = RunView(run)
        from gmgan.explore_app import serve

        port = free_port()
        app = serve([str(run)], port=port, block=False, quiet=True)
        url = f"http://127.0.0.1:{port}/"
        from gradio_client import Client

        client = Client(url, verbose=False)
        page = browser = pw = None
        if shutil.which("chromium"):
            try:
                from playwright.sync_api import sync_playwright

                pw = sync_playwright().start()
                browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=[
                    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"])
                page = browser.new_page()
                page.goto(url)
                page.wait_for_selector("#sample-image img", timeout=60_000)
            except ImportError:
                page = None
        times: dict[str, list[float]] = {"function": [], "api": [], "browser": []}
        for r in range(args.rounds + 1):  # round 0 warms up
            scale = 0.5 + 0.05 * (r % 20)
            t = time.perf_counter()
            view.sample(ANY, scale, 100, r)
            f = time.perf_counter() - t
            t = time.perf_counter()
            client.predict(view.name, ANY, scale, 100, r, api_name="/do_sample")
            a = time.perf_counter() - t
            b = None
            if page is not None:
                before = page.get_attribute("#sample-image img", "src")
                box = page.locator("#sample-scale input[type=number]")
                t = time.perf_counter()
                box.fill(f"{scale + 0.025:g}")
                box.press("Enter")
                page.wait_for_function("s => { const i = document.querySelector('#sample-image img'); "
                                       "return i && i.src !== s && i.complete; }", arg=before, timeout=30_000)
                b = time.perf_counter() - t
            if r:
                times["function"].append(f)
                times["api"].append(a)
                if b is not None:
                    times["browser"].append(b)
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
    finally:
        if app is not None:
            app.close()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    result = {
        "what": "seconds to redraw a 10 x 10 grid of 28 px images (mnist preset architecture) in gmgan explore",
        "command": "python bench/explore_speed.py" + (f" --rounds {args.rounds}" if args.rounds != 20 else ""),
        "target_s": TARGET_S,
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "p90_s": {k: round(sorted(v)[int(0.9 * (len(v) - 1))], 4) for k, v in times.items() if v},
        "ratio_to_target": {k: round(v / TARGET_S, 3) for k, v in med.items()},
        "browser_over_function": round(med["browser"] / med["function"], 2) if "browser" in med else None,
        "rounds": args.rounds,
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average_1min": round(os.getloadavg()[0], 2), "python": platform.python_version(),
                    "torch": torch.__version__, "device": "cpu"},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["median_s"]), "target", TARGET_S, "s ->", args.out)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
