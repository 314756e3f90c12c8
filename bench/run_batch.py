"""Train, evaluate and post-process a batch of runs in parallel: the experiments behind docs/RESULTS.md tables.

A jobs file has one run per line, ``NAME: TRAIN-ARGS [| CMD ARGS; CMD ARGS ...]``; after training, each run is
scored with ``gmgan evaluate RUN --no-real`` and then given the listed gmgan commands (RUN inserted first;
``{run}`` in their arguments is replaced by the run folder):

    mnist-gan: --preset mnist --method gan
    mnist-resp: --preset mnist --method responsibility --c 0.5 | interpolate --components 2,7; assign --split test

Usage:
    python bench/run_batch.py bench/jobs/responsibility.txt --out runs/i6 --data-dir DIR \
        --steps 5000 --device cuda --parallel 8
    python bench/run_batch.py JOBS --only mnist-gan,mnist-resp ...   # a subset

Run again, the same command continues: a run folder that exists is resumed from its latest checkpoint (to
--steps), so a batch cut off by a time limit loses at most one checkpoint interval, and one stopped by
--train-timeout none (SIGTERM: gmgan train checkpoints the step it is at). Stopping the batch itself (SIGTERM,
or Ctrl-C) passes SIGTERM on to the runs in flight, starts nothing more and leaves batch.json as it was.

Writes OUT/batch.json: per run the train and evaluate wall times, the step count, and the evaluation's main
scores; every run folder keeps its own logs (OUT/NAME.train.log, ...).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

GMGAN = [sys.executable, "-m", "gmgan"]
_live: set[subprocess.Popen] = set()  # the commands in flight, for a stop of the whole batch
_live_lock = threading.Lock()
_stopping = threading.Event()


def parse_jobs(path: Path) -> list[tuple[str, list[str], list[list[str]]]]:
    jobs = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, rest = line.partition(":")
        train, _, post = rest.partition("|")
        cmds = [shlex.split(c) for c in post.split(";") if c.strip()]
        jobs.append((name.strip(), shlex.split(train), cmds))
    return jobs


def run(cmd: list[str], log: Path, env: dict[str, str], timeout: float | None = None) -> tuple[int, float]:
    """Run cmd with its output in log; on timeout the process gets SIGTERM (gmgan train then checkpoints the
    step it is at; SIGKILL after 300 s more) and rc is 124. Once the batch is stopping, starts nothing (rc 143)."""
    start = time.perf_counter()
    with log.open("a") as f:
        with _live_lock:
            if _stopping.is_set():
                return 143, 0.0
            f.write(f"$ {shlex.join(cmd)}\n")
            f.flush()
            # its own process group: a terminal's Ctrl-C reaches the batch only, which passes one SIGTERM on (a
            # second signal would make gmgan train stop without its checkpoint)
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            _live.add(proc)
        if _stopping.is_set():  # a stop that came while it started (the handler sets the flag, then signals _live)
            proc.terminate()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            rc = 124
            try:
                proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            f.write(f"\nstopped after {timeout} s; evaluating its latest checkpoint\n")
        finally:
            with _live_lock:
                _live.discard(proc)
    return rc, round(time.perf_counter() - start, 1)


def _stop(signum: int, _frame: object) -> None:
    """SIGTERM / SIGINT of the batch: pass SIGTERM on to every run in flight (each checkpoints where it is)."""
    _stopping.set()
    for proc in list(_live):
        proc.terminate()


def count_parameters(run_dir: Path) -> dict[str, int]:
    """Trainable numbers of the final checkpoint by part: G, D (trunk and heads; C when it is a D head), prior."""
    from safetensors import safe_open

    ckpts = sorted((run_dir / "checkpoints").glob("step-*/model.safetensors"))
    if not ckpts:
        return {}
    import yaml

    learnable = yaml.safe_load((run_dir / "config.yaml").read_text())["prior"]["learnable"]
    out: dict[str, int] = {}
    with safe_open(str(ckpts[-1]), "pt") as f:
        for key in f.keys():
            parts = key.split(".")
            part = "C" if parts[:3] == ["D", "heads", "responsibility"] else parts[0]
            if key.startswith("prior.log_weights") or "running_" in key or "num_batches" in key:
                continue  # buffers, not trained
            if part == "prior" and not learnable:
                continue
            out[part] = out.get(part, 0) + math.prod(f.get_slice(key).get_shape())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jobs", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data-dir")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--eval-n", type=int, default=10_000)
    ap.add_argument("--only", help="comma-separated run names")
    ap.add_argument("--skip-train", action="store_true", help="evaluate and post-process existing runs only")
    ap.add_argument("--train-timeout", type=float, help="stop a training run after this many seconds (its latest "
                    "checkpoint is evaluated; batch.json records the step it reached)")
    args = ap.parse_args()

    jobs = parse_jobs(args.jobs)
    if args.only:
        keep = set(args.only.split(","))
        jobs = [j for j in jobs if j[0] in keep]
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    common = ["--device", args.device, "--no-progress"]
    if args.data_dir:
        common += ["--data-dir", args.data_dir]
    if args.steps:
        common += ["--steps", str(args.steps)]
    if args.seed is not None:
        common += ["--seed", str(args.seed)]

    def one(job: tuple[str, list[str], list[list[str]]]) -> dict:
        name, train, post = job
        run_dir = args.out / name
        rec: dict = {"name": name, "train_args": shlex.join(train)}
        if not args.skip_train:
            again = ["--resume"] if (run_dir / "config.yaml").is_file() else []  # a batch stopped part-way
            rc, secs = run([*GMGAN, "train", *train, *common, "--out", str(run_dir), *again],
                           args.out / f"{name}.train.log", env, args.train_timeout)
            rec.update(train_rc=rc, train_seconds=secs)
            if (rc and rc != 124) or _stopping.is_set():
                return rec
        rc, secs = run([*GMGAN, "evaluate", str(run_dir), "--no-real", "--device", args.device, "--no-progress",
                        "--n", str(args.eval_n)] + (["--data-dir", args.data_dir] if args.data_dir else []),
                       args.out / f"{name}.eval.log", env)
        rec.update(eval_rc=rc, eval_seconds=secs)
        rec["parameters"] = count_parameters(run_dir)
        ev = run_dir / "evaluation.json"
        if ev.is_file():
            result = json.loads(ev.read_text())
            rec["step"] = result.get("protocol", {}).get("step")
            rec["scores"] = {k: v for k, v in result.get("generated", result).items()
                             if isinstance(v, int | float) and not isinstance(v, bool)}
        for cmd in post:
            extra = ["--device", args.device] if cmd[0] in ("interpolate", "assign", "reconstruct", "fit-prior",
                                                            "evaluate") else []
            cmd = [c.replace("{run}", str(run_dir)) for c in cmd]  # e.g. evaluate --json {run}/fit10.json
            rc, _ = run([*GMGAN, cmd[0], str(run_dir), *cmd[1:], *extra], args.out / f"{name}.post.log", env)
            rec.setdefault("post_rc", []).append(rc)
        return rec

    for signum in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # a background job's ignored SIGINT stays ignored
            signal.signal(signum, _stop)
    start = time.perf_counter()
    with ThreadPoolExecutor(args.parallel) as pool:
        records = list(pool.map(one, jobs))
    if _stopping.is_set():
        print("stopped: the runs in flight were sent SIGTERM and checkpointed where they were; the same command "
              "continues them (batch.json not rewritten)", file=sys.stderr)
        return 143
    summary = {"jobs": str(args.jobs), "device": args.device, "steps": args.steps, "parallel": args.parallel,
               "seconds": round(time.perf_counter() - start, 1), "runs": records}
    (args.out / "batch.json").write_text(json.dumps(summary, indent=1) + "\n")
    for r in records:
        print(r["name"], r.get("train_rc"), r.get("train_seconds"), r.get("eval_rc"), r.get("step"),
              {k: round(v, 3) for k, v in r.get("scores", {}).items() if k in ("fid", "kid", "precision", "recall")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
