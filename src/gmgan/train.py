"""One Trainer loop for every method: optimisers, b_D / b_G, n_critic, progress bar, metrics log, sample
grids, checkpoints, resume and a divergence guard.

The loop reads top to bottom: the per-method work lives in the method object (:mod:`gmgan.methods`).
Every random draw comes from one of two explicit generators (data order, latents) whose states are saved in
each checkpoint, so on CPU a resumed run ends with exactly the weights of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from gmgan import checkpoint as ckpt
from gmgan import distributed as dist_
from gmgan import precision as precision_
from gmgan.config import RunConfig, config_from_dict, diff_configs, load_yaml, save_yaml, upgrade_saved
from gmgan.data import BatchSampler, Dataset, LazyImages, load_from_config
from gmgan.errors import CheckpointError, ConfigError, DivergenceError, GmganError, TrainingInterrupted
from gmgan.evaluate.toy import toy_metrics
from gmgan.methods import GANMethod, build_method
from gmgan.nets import generate
from gmgan.viz import save_image_grid, save_scatter_panels

# options that may change when a run is resumed: training longer, logging or checkpointing differently
RESUMABLE_CHANGES = {
    "train.steps", "train.log_every", "train.sample_every", "train.checkpoint_every", "train.keep_checkpoints",
    "train.device", "train.mlflow", "train.threads",
}
GRID_SEED_OFFSET = 7919  # the fixed latents of the sample grids come from their own seed


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {name!r} but CUDA is not available here. Use --device cpu or auto.")
    return torch.device(name)


def check_disk_space(run_dir: Path, method: torch.nn.Module, keep: int) -> None:
    """Fail before training when the disk cannot hold the checkpoints: weights + Adam's two moments, for the
    ``keep`` kept checkpoints and the one being written, plus 50 MB for logs and samples."""
    import shutil

    n = sum(t.numel() * t.element_size() for t in [*method.parameters(), *method.buffers()])
    needed = 3 * n * (keep + 1) + 50 * 2**20
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise GmganError(f"Not enough disk space for {run_dir}: {free / 2**20:.0f} MB free, about "
                         f"{needed / 2**20:.0f} MB needed for {keep + 1} checkpoints. Free space or choose "
                         "another --out.")


def check_writable(run_dir: Path) -> None:
    """Fail before training if the run folder cannot be written or the disk is nearly full."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"x" * 4096)
        probe.unlink()
    except OSError as exc:
        raise GmganError(f"Cannot write to the run folder {run_dir} ({exc.strerror}). Choose another --out.") from exc


def load_run_config(run_dir: str | Path) -> RunConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise GmganError(f"{run_dir} is not a gmgan run folder (no config.yaml). Point the command at a run folder.")
    return config_from_dict(upgrade_saved(load_yaml(path)))


def load_trained(run_dir: str | Path, device: str = "cpu", checkpoint: str | Path | None = None,
                 use_ema: bool = True) -> tuple[RunConfig, GANMethod, int]:
    """(config, method with the latest weights, step) of a run, for sampling and evaluation.

    ``checkpoint``: one of the run's checkpoint folders (``ckpt.list_checkpoints(run_dir)``) instead of the latest.
    ``use_ema``: G is the moving average of its weights when the run kept one (``train.ema``); False for the
    raw weights.
    """
    cfg = load_run_config(run_dir)
    path = Path(checkpoint) if checkpoint is not None else ckpt.latest_checkpoint(run_dir)
    if path is None:
        raise CheckpointError(f"{run_dir} has no checkpoint yet. Train it first (gmgan train --out {run_dir}).")
    model, _, state = ckpt.load_checkpoint(path, trainer=False)
    method = build_method(cfg, tuple(state["data_shape"]), num_classes=state.get("num_classes"),
                          class_names=state.get("class_names"))
    for name in ("G", "D", "prior"):
        ckpt.load_module(getattr(method, name), ckpt.unprefixed(name, model), name, path)
    ema = ckpt.unprefixed("G_ema", model)
    if ema and use_ema:  # sampling, evaluation and clustering read G's moving average when the run kept one
        ckpt.load_module(method.G, ema, "G_ema", path)
    method.to(resolve_device(device)).eval()
    return cfg, method, int(state["step"])


def make_ema(G: torch.nn.Module) -> torch.nn.Module:
    """A frozen copy of G that :func:`update_ema` moves towards G after each generator step."""
    import copy

    ema = copy.deepcopy(G).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: torch.nn.Module, G: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * G for the weights; BatchNorm's running statistics copied from G."""
    torch._foreach_lerp_(list(ema.parameters()), list(G.parameters()), 1 - decay)
    for b_ema, b in zip(ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)


class StopSignals:
    """While active, SIGINT (Ctrl-C) and SIGTERM only set ``signum``: the loop finishes its step, writes a
    checkpoint and stops. A second signal stops at once (KeyboardInterrupt). Only in the main thread, and
    not for a signal the process was started with ignored (``nohup``'s SIGHUP aside, a non-interactive
    shell starts background jobs with SIGINT ignored: they keep ignoring it, and stop on SIGTERM)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopSignals:
        if self.enabled:  # a signal the process inherited as ignored (a shell's background job) stays ignored
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS
                              if signal.getsignal(s) is not signal.SIG_IGN}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}


class Trainer:
    """Train ``cfg`` into ``run_dir``; ``resume=True`` continues the run folder's latest checkpoint."""

    def __init__(self, cfg: RunConfig, run_dir: str | Path, resume: bool = False, progress: bool = True,
                 dataset: Dataset | None = None) -> None:
        self.run_dir = Path(run_dir)
        if cfg.data.data_dir:  # stored resolved, so --resume and evaluate work from any working directory
            cfg = dataclasses.replace(cfg, data=dataclasses.replace(
                cfg.data, data_dir=str(Path(cfg.data.data_dir).expanduser().resolve())))
        # the precision that will run is recorded, not "auto": a resumed run on other hardware is then refused
        # as a config change instead of silently changing arithmetic
        self.device = resolve_device(cfg.train.device)  # before the folder is touched: a missing CUDA fails first
        self.precision = precision_.resolve(cfg.train.precision, self.device)
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, precision=self.precision))
        self.cfg = cfg
        self.start_step = 0
        self.saved_data_dir: str | None = None
        t = cfg.train
        if t.threads:
            torch.set_num_threads(t.threads)
        self.ctx = dist_.from_environment(t.device)  # torchrun: one process per device, rank 0 writes files
        dist_.check_divisible(self.ctx, b_D=t.b_D, b_G=t.b_G)
        self.progress = progress and self.ctx.is_main
        if t.mlflow and self.ctx.is_main:  # before anything is written
            try:
                import mlflow  # noqa: F401
            except ImportError as exc:
                raise ConfigError("train.mlflow is set but MLflow is not installed: pip install 'gmgan[mlflow]' "
                                  "(or pip install mlflow), or unset train.mlflow.") from exc
        resume_from = self._prepare_run_dir(resume)
        if self.ctx.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.ctx.local_rank)
        self.data = dataset or load_from_config(cfg.data, seed=t.seed)
        if len(self.data) == 0:
            raise GmganError(f"The dataset {cfg.data.name!r} is empty. Check --data-dir and the split.")
        self.data_fingerprint = self.data.fingerprint()
        torch.manual_seed(t.seed)  # only for modules that draw at construction; the loop uses explicit generators
        self.method = build_method(cfg, self.data.shape, torch.Generator().manual_seed(t.seed),
                                   self.data.num_classes, self.data.class_names).to(self.device)
        self.method.ctx = self.ctx
        if self.ctx.is_main:
            check_disk_space(self.run_dir, self.method, t.keep_checkpoints)
        # small sets live on the device whole; uint8 sets (LazyImages) are converted one batch at a time
        self.x = None if isinstance(self.data, LazyImages) else self.data.x.to(self.device)
        self.y = self.data.y.to(self.device) if self.data.y is not None else None
        betas = (t.beta1, t.beta2)
        self.opt_D = torch.optim.Adam(self.method.D.parameters(), lr=t.lr, betas=betas)
        self.opt_G = torch.optim.Adam(self.method.generator_parameters(), lr=t.lr, betas=betas)
        self.scalers = precision_.Scalers(self.precision, self.device)
        self.G_ema = make_ema(self.method.G) if t.ema else None
        self.sampler = BatchSampler(len(self.data), seed=t.seed)
        self.latent_gen = torch.Generator(device=self.device).manual_seed(t.seed + 1)
        if resume_from is not None:
            self._load(resume_from)
        if self.ctx.is_main:
            self._write_config()
        self.writer = self._tensorboard()
        self.mlflow = self._mlflow()

    # ----------------------------------------------------------------------------------------- set-up
    def _prepare_run_dir(self, resume: bool) -> Path | None:
        if not self.ctx.is_main:  # rank 0 checks and writes the folder; the others read it once it has
            dist_.barrier(self.ctx)
            return ckpt.latest_checkpoint(self.run_dir) if resume else None
        try:
            return self._prepare_run_dir_main(resume)
        finally:
            dist_.barrier(self.ctx)

    def _prepare_run_dir_main(self, resume: bool) -> Path | None:
        """Check the folder; nothing is written into it until the data and the model have been built
        (:meth:`_write_config`), so a start that fails leaves the folder reusable."""
        config_path = self.run_dir / "config.yaml"
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise GmganError(f"--out {self.run_dir} is a file, not a folder. Choose another --out.")
        if resume:
            if not config_path.is_file():
                raise GmganError(f"--resume: {self.run_dir} holds no run (no config.yaml). Drop --resume to start "
                                 "one.")
            check_writable(self.run_dir)
            saved = load_run_config(self.run_dir)
            allowed = RESUMABLE_CHANGES | {"data.data_dir"}  # a new data folder must hold the same data (_load)
            changed = [d for d in diff_configs(saved, self.cfg) if d.split(":")[0] not in allowed]
            if changed:
                raise ConfigError(
                    f"--resume refused: the config differs from the one {self.run_dir} was trained with:\n  "
                    + "\n  ".join(changed)
                    + "\nResume with the saved config (omit these options), or start a new run with another --out."
                )
            # runs saved before data_dir was stored resolved hold it as typed: read it from here
            self.saved_data_dir = str(Path(saved.data.data_dir).expanduser().resolve()) if saved.data.data_dir else None
            return ckpt.latest_checkpoint(self.run_dir)
        check_writable(self.run_dir)
        if ckpt.list_checkpoints(self.run_dir) or (self.run_dir / "metrics.jsonl").exists():
            raise GmganError(
                f"{self.run_dir} already holds a run. Pass --resume to continue it, or choose a new --out."
            )
        # a config.yaml alone is what a start that failed before its first step left: the folder is free
        return None

    def _write_config(self) -> None:
        if self.start_step >= self.cfg.train.steps and self.start_step > 0:
            return  # nothing to train: the saved config keeps the run's own length
        save_yaml(self.cfg, self.run_dir / "config.yaml")

    def _mlflow(self) -> Any:
        """The mlflow module with a run started for this run folder, or None (train.mlflow unset, or rank > 0)."""
        uri = self.cfg.train.mlflow
        if not uri or not self.ctx.is_main:
            return None
        import mlflow

        mlflow.set_tracking_uri(uri)
        mlflow.start_run(run_name=self.run_dir.name)
        flat: dict[str, Any] = {}
        for section, values in self.cfg.to_dict().items():
            if isinstance(values, dict):
                flat.update({f"{section}.{k}": v for k, v in values.items()})
            else:
                flat[section] = values
        mlflow.log_params(flat)
        mlflow.set_tag("gmgan.run_dir", str(self.run_dir.resolve()))
        return mlflow

    def _tensorboard(self) -> Any:
        if not self.ctx.is_main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is a dependency, but a trimmed install should still train
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=self.start_step or None)

    # ------------------------------------------------------------------------------------ the loop
    def fit(self) -> dict[str, Any]:
        t = self.cfg.train
        self.method.train()
        finite = torch.ones((), dtype=torch.bool, device=self.device)  # checked when logging: no sync per step
        sums: dict[str, torch.Tensor] = {}
        bar = tqdm(range(self.start_step, t.steps), initial=self.start_step, total=t.steps,
                   disable=not self.progress, desc=f"train {self.run_dir.name}", dynamic_ncols=True)
        tick, last_logged = time.perf_counter(), self.start_step
        stop = StopSignals(enabled=not self.ctx.enabled)  # torchrun: its own signal handling, no collective save
        try:
            with stop:
                self._loop(bar, stop, finite, sums, tick, last_logged)
        except TrainingInterrupted:
            if self.writer is not None:
                self.writer.close()
            raise
        finally:
            bar.close()
        return self._finish()

    def _loop(self, bar: Any, stop: StopSignals, finite: torch.Tensor, sums: dict[str, torch.Tensor],
              tick: float, last_logged: int) -> None:
        t = self.cfg.train
        for step in bar:
            logs = self.train_step()
            finite &= torch.isfinite(logs["loss_D"]) & torch.isfinite(logs["loss_G"])
            for key, value in logs.items():
                sums[key] = sums.get(key, 0) + value
            done = step + 1
            if done % t.log_every == 0 or done == t.steps:
                self._check_finite(finite, done)
                elapsed = time.perf_counter() - tick
                sums = dist_.average_scalars(sums, self.ctx)  # the mean over ranks
                record = {k: float(v) / (done - last_logged) for k, v in sums.items()}
                record["images_per_s"] = (done - last_logged) * t.n_critic * t.b_D / max(elapsed, 1e-9)
                if self.ctx.is_main:
                    self._log(done, record)
                bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k in ("loss_D", "loss_G")})
                sums, tick, last_logged = {}, time.perf_counter(), done
            if t.sample_every and done % t.sample_every == 0 and done != t.steps and self.ctx.is_main:
                self.write_samples(done)
            saved = (t.checkpoint_every and done % t.checkpoint_every == 0) or done == t.steps
            if saved or stop.signum is not None:
                self._check_finite(finite, done)
                path = self.save(done)
            if stop.signum is not None:
                name = signal.Signals(stop.signum).name
                raise TrainingInterrupted(
                    f"{name} received: stopped at step {done} of {t.steps} after writing the checkpoint {path}. "
                    f"Continue with: gmgan train --out {self.run_dir} --resume", stop.signum, done)

    def _finish(self) -> dict[str, Any]:
        t = self.cfg.train
        latest = ckpt.latest_checkpoint(self.run_dir)
        step = max(t.steps, self.start_step)  # a resumed run already past --steps trains nothing
        if not self.ctx.is_main:
            dist_.shutdown(self.ctx)
            return {"run_dir": str(self.run_dir), "step": step, "checkpoint": str(latest), "rank": self.ctx.rank}
        try:
            outputs: dict[str, Any] = self.write_samples(step, final=True)
            if self.data.grid is not None:
                outputs["toy_metrics"] = self.toy_metrics()
            if self.writer is not None:
                self.writer.close()
            if self.mlflow is not None:
                self.mlflow.end_run()
        finally:
            dist_.shutdown(self.ctx)
        return {"run_dir": str(self.run_dir), "step": step, "checkpoint": str(latest), "resumed_from": self.start_step,
                **outputs}

    def toy_metrics(self, n: int = 10_000) -> dict[str, float]:
        """Modes covered, high-quality fraction and log-likelihood of n samples; written to toy_metrics.json."""
        assert self.data.grid is not None
        g = torch.Generator(device=self.device).manual_seed(self.cfg.train.seed + GRID_SEED_OFFSET)
        z, _ = self.method.prior.sample(n, generator=g)
        result = toy_metrics(generate(self.method.G, z), self.data.grid)
        ckpt.atomic_write_text(self.run_dir / "toy_metrics.json", json.dumps(result, indent=1, allow_nan=False) + "\n")
        return result

    def train_step(self) -> dict[str, torch.Tensor]:
        """n_critic discriminator updates on b_D real samples each, then one generator update on b_G fakes."""
        t, m = self.cfg.train, self.method
        amp = precision_.autocast(self.precision, self.device)  # forward passes only; backward outside
        for _ in range(t.n_critic):
            idx = self.sampler.next(t.b_D).to(self.device)
            labels = self.y[idx] if self.y is not None and m.uses_labels else None
            with amp:
                loss_D, logs_D = m.d_step(self._real(idx), labels, self.latent_gen)  # the global batch; m slices it
            self.opt_D.zero_grad(set_to_none=True)
            self.scalers.backward_step("D", loss_D, self.opt_D,
                                       lambda: dist_.average_gradients(list(m.D.parameters()), self.ctx))
        with amp:
            if m.g_uses_real:  # G's loss pairs fakes with the last real batch (responsibility learning)
                loss_G, logs_G = m.g_step(t.b_G, self.latent_gen, real=self._real(idx))
            else:
                loss_G, logs_G = m.g_step(t.b_G, self.latent_gen)
        self.opt_G.zero_grad(set_to_none=True)
        self.scalers.backward_step("G", loss_G, self.opt_G,
                                   lambda: dist_.average_gradients(m.generator_parameters(), self.ctx))
        if self.G_ema is not None:
            update_ema(self.G_ema, m.G, t.ema)
        return {**logs_D, **logs_G}

    def _real(self, idx: torch.Tensor) -> torch.Tensor:
        if self.x is not None:
            return self.x[idx]
        return self.data.batch(idx).to(self.device, non_blocking=True)

    def _check_finite(self, finite: torch.Tensor, step: int) -> None:
        finite = dist_.average_scalars({"finite": finite.float()}, self.ctx)["finite"] == 1  # all ranks agree
        if bool(finite):
            return
        last = ckpt.latest_checkpoint(self.run_dir)
        where = f"the last good checkpoint ({last.name}) is intact" if last else "no checkpoint had been written yet"
        raise DivergenceError(
            f"Training diverged: a loss became non-finite before step {step}; {where}. Lower the learning rate "
            f"(--set train.lr={self.cfg.train.lr / 2:g}), or try --loss wgan-gp, then train again "
            f"({'--resume continues from the checkpoint' if last else 'with a new --out'})."
        )

    def _log(self, step: int, record: dict[str, float]) -> None:
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": step, **record}) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                self.writer.add_scalar(f"train/{key}", value, step)
        if self.mlflow is not None:
            self.mlflow.log_metrics(record, step=step)

    # ------------------------------------------------------------------------------- checkpoints
    def save(self, step: int) -> Path:
        m = self.method
        if self.ctx.enabled:  # identical weights on every rank, BatchNorm statistics averaged, rank 0 writes
            dist_.average_buffers(m, self.ctx)
            gap = dist_.max_divergence(m, self.ctx)
            if gap > 1e-4:
                raise GmganError(f"The processes' weights differ by up to {gap:.3g} at step {step}: they no longer "
                                 "train one model. Report this with your torchrun command.")
            if not self.ctx.is_main:
                dist_.barrier(self.ctx)
                return self.run_dir / "checkpoints" / f"step-{step:08d}"
        try:
            return self._save_main(step)
        finally:
            dist_.barrier(self.ctx)

    def _save_main(self, step: int) -> Path:
        m = self.method
        model = {**ckpt.prefixed("G", m.G.state_dict()), **ckpt.prefixed("D", m.D.state_dict()),
                 **ckpt.prefixed("prior", m.prior.state_dict())}
        if self.G_ema is not None:
            model.update(ckpt.prefixed("G_ema", self.G_ema.state_dict()))
        for name, value in model.items():
            if value.is_floating_point() and not torch.isfinite(value).all():
                raise DivergenceError(f"Refusing to checkpoint step {step}: weight {name} is not finite. "
                                      "Lower the learning rate and resume from the previous checkpoint.")
        opt_G, info_G = ckpt.optimizer_state(self.opt_G)
        opt_D, info_D = ckpt.optimizer_state(self.opt_D)
        sampler_tensors, sampler_info = self.sampler.state()
        trainer = {**ckpt.prefixed("opt_G", opt_G), **ckpt.prefixed("opt_D", opt_D),
                   **ckpt.prefixed("sampler", sampler_tensors), "rng.latent": self.latent_gen.get_state()}
        state = {"config": self.cfg.to_dict(), "data_shape": list(self.data.shape), "world_size": self.ctx.world_size,
                 "num_classes": self.data.num_classes, "class_names": self.data.class_names, "opt_G": info_G,
                 "opt_D": info_D, "sampler": sampler_info,
                 "data_fingerprint": self.data_fingerprint, "grad_scalers": self.scalers.state()}
        return ckpt.save_checkpoint(self.run_dir, step, model, trainer, state, self.cfg.train.keep_checkpoints)

    def _load(self, path: Path | None) -> None:
        if path is None:  # a run killed before its first checkpoint starts again from step 0
            if self.ctx.is_main:
                (self.run_dir / "metrics.jsonl").unlink(missing_ok=True)
            return
        model, trainer, state = ckpt.load_checkpoint(path)
        if self.saved_data_dir is not None and self.saved_data_dir != self.cfg.data.data_dir:
            saved_fp = state.get("data_fingerprint")
            if saved_fp != self.data_fingerprint:
                what = ("differ from those the run was trained on" if saved_fp else
                        "cannot be checked against the run's (its checkpoints predate data fingerprints)")
                raise ConfigError(
                    f"--resume refused: the data in {self.cfg.data.data_dir} {what} (trained on "
                    f"{self.saved_data_dir}). Point --data-dir at the run's own data, or start a new run.")
        m = self.method
        for name in ("G", "D", "prior"):
            ckpt.load_module(getattr(m, name), ckpt.unprefixed(name, model), name, path)
        if self.G_ema is not None:
            ckpt.load_module(self.G_ema, ckpt.unprefixed("G_ema", model), "G_ema", path)
        try:
            ckpt.load_optimizer_state(self.opt_G, ckpt.unprefixed("opt_G", trainer), state["opt_G"])
            ckpt.load_optimizer_state(self.opt_D, ckpt.unprefixed("opt_D", trainer), state["opt_D"])
            self.sampler.load_state(ckpt.unprefixed("sampler", trainer), state["sampler"])
            self.latent_gen.set_state(trainer["rng.latent"])
            self.scalers.load_state(state.get("grad_scalers") or {})
        except (KeyError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"The trainer state in {path} is incomplete or from another model ({exc}).") from exc
        self.start_step = int(state["step"])
        if self.ctx.is_main:
            self._truncate_metrics(self.start_step)

    def _truncate_metrics(self, step: int) -> None:
        """Drop log lines written after the checkpoint we resume from: they will be written again."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        ckpt.atomic_write_text(path, "".join(line + "\n" for line in kept))

    # ------------------------------------------------------------------------------------ samples
    def write_samples(self, step: int, final: bool = False) -> dict[str, str]:
        if self.G_ema is not None:  # the grids show what sampling will give: the moving average
            G, self.method.G = self.method.G, self.G_ema
            try:
                return self._write_samples(step, final)
            finally:
                self.method.G = G
        return self._write_samples(step, final)

    def _write_samples(self, step: int, final: bool = False) -> dict[str, str]:
        folder = self.run_dir / "samples"
        folder.mkdir(exist_ok=True)
        seed = self.cfg.train.seed + GRID_SEED_OFFSET
        name = "final" if final else f"step-{step:08d}"
        outputs = {"samples": str(write_sample_grid(self.method, self.data, folder / f"{name}.png", seed))}
        if final:
            outputs["sigma_sweep"] = str(write_sigma_sweep(self.method, self.data, folder / "sigma-sweep.png", seed))
        return outputs


SWEEP_SCALES = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0)


@torch.no_grad()
def component_latents(method: GANMethod, per_row: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    """Fixed latents, one row per component (K rows; 8 rows of the standard normal for a baseline).

    The same eps is used in every row and at every scale, so rows differ only by component and scale.
    """
    prior = method.prior
    if prior.K == 1:
        g = torch.Generator(device=prior.device).manual_seed(seed)
        return prior.sample(8 * per_row, scale=scale, generator=g)[0]
    rows = []
    for k in range(prior.K):
        g = torch.Generator(device=prior.device).manual_seed(seed)  # same eps in every row
        rows.append(prior.sample(per_row, component=k, scale=scale, generator=g)[0])
    return torch.cat(rows)


def write_sample_grid(method: GANMethod, data: Dataset, path: Path, seed: int, per_row: int = 10) -> Path:
    if data.is_image:
        z = component_latents(method, per_row, seed)
        return save_image_grid(generate(method.G, z), path, nrow=per_row)
    g = torch.Generator(device=method.prior.device).manual_seed(seed)
    z, k = method.prior.sample(2000, generator=g)
    title = f"{'GM-GAN K=' + str(method.prior.K) if method.prior.K > 1 else 'GAN'}"
    return save_scatter_panels([(title, generate(method.G, z), k)], data.x[:2000], path)


def write_sigma_sweep(method: GANMethod, data: Dataset, path: Path, seed: int,
                      scales: tuple[float, ...] = SWEEP_SCALES) -> Path:
    """Samples at several covariance scales (GM-GAN Section 4.3, Fig. 4 and 6).

    Images: one row per scale, one column per component (two per component), same eps throughout.
    Points: one scatter panel per scale.
    """
    if data.is_image:
        per = 2 if method.prior.K > 1 else 20
        rows = []
        for s in scales:
            z = component_latents(method, per, seed, scale=s)
            if method.prior.K > 1:  # interleave so each row shows every component
                z = z.view(method.prior.K, per, -1).transpose(0, 1).reshape(-1, z.shape[-1])
            rows.append(generate(method.G, z[: per * max(method.prior.K, 1)]))
        ncol = per * max(method.prior.K, 1)
        return save_image_grid(torch.cat(rows), path, nrow=ncol)
    panels = []
    for s in scales:
        g = torch.Generator(device=method.prior.device).manual_seed(seed)
        z, k = method.prior.sample(2000, scale=s, generator=g)
        panels.append((f"scale {s:g}", generate(method.G, z), k))
    return save_scatter_panels(panels, data.x[:2000], path)
