"""The ``gmgan`` command: train, sample, demo.

Conventions every command keeps: ``--out RUN_DIR`` is the run folder, ``--steps``, ``--seed``, ``--resume``,
``--preset NAME``, ``--data-dir DIR``. Errors a user can fix print one message, no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gmgan.config import PRESETS, RunConfig, load_yaml, make_config, parse_assignment
from gmgan.errors import GmganError

EPILOG_TRAIN = """examples:
  gmgan train --preset digits --out runs/digits                 # static GM-GAN on scikit-learn's digits
  gmgan train --preset mnist --data-dir ../shared/data/mnist --out runs/mnist
  gmgan train --preset mnist --method gan --data-dir DIR --out runs/mnist-gan   # the baseline, same nets
  gmgan train --preset toy-grid5 --dynamic --out runs/grid5-dyn                 # dynamic GM-GAN
  gmgan train --preset toy-grid5 --method gan --loss wgan-gp --set train.n_critic=5 --out runs/wgan
  gmgan train --out runs/mnist --resume --steps 20000           # continue (and extend) a run
"""

EPILOG_SAMPLE = """examples:
  gmgan sample runs/digits --n 100                    # grid of 100 samples, components drawn at random
  gmgan sample runs/digits --n 16 --component 3 --scale 0.5 --file three.png
"""


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The options the user typed, as a nested config update (unset flags are None and ignored)."""
    flat = {
        "method": args.method,
        "data.data_dir": args.data_dir,
        "train.steps": args.steps,
        "train.seed": args.seed,
        "train.loss": args.loss,
        "train.device": args.device,
        "prior.K": args.K,
        "prior.latent_dim": args.latent_dim,
        "prior.sigma": args.sigma,
        "prior.c": args.c,
        "prior.covariance": args.covariance,
        "prior.learnable": True if args.dynamic else None,
    }
    update: dict[str, Any] = {}
    for key, value in flat.items():
        if value is not None:
            section, _, name = key.rpartition(".")
            (update.setdefault(section, {}) if section else update)[name] = value
    return update


def _merge_dicts(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge_dicts(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def build_train_config(args: argparse.Namespace) -> RunConfig:
    """Defaults <- preset <- --config YAML <- flags <- --set; on --resume the saved config is the base."""
    updates = []
    preset = args.preset
    if args.resume and args.out and (Path(args.out) / "config.yaml").is_file():
        updates.append(load_yaml(Path(args.out) / "config.yaml"))
    if args.config:
        updates.append(load_yaml(args.config))
    updates.append(_train_overrides(args))
    for assignment in args.set or []:
        updates.append(parse_assignment(assignment))
    merged: dict[str, Any] = {}
    for u in updates:
        merged = _merge_dicts(merged, u)
    return make_config(preset, merged)


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=sorted(PRESETS), help="named settings of a paper's experiment")
    p.add_argument("--config", metavar="YAML", help="config file (keys as in a run's config.yaml)")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder to create (or to continue with --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    p.add_argument("--steps", type=int, help="generator updates in all (may be raised when resuming)")
    p.add_argument("--seed", type=int, help="seed of every random draw (same seed, same numbers on CPU)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the dataset files (MNIST IDX files)")
    p.add_argument("--method", choices=["gan", "gmgan"], help="gan: N(0, I) prior; gmgan: Gaussian mixture")
    p.add_argument("--dynamic", action="store_true", help="learn the mixture's means and covariances")
    p.add_argument("--loss", choices=["ns", "wgan-gp"], help="non-saturating (default) or WGAN-GP")
    p.add_argument("--K", type=int, help="mixture components")
    p.add_argument("--latent-dim", type=int, help="latent dimension d")
    p.add_argument("--sigma", type=float, help="initial covariance scale of each component (sigma * I)")
    p.add_argument("--c", type=float, help="means drawn from U[-c, c]^d")
    p.add_argument("--covariance", choices=["isotropic", "diagonal", "full"], help="form of A_k (dynamic)")
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any config option, e.g. train.lr=1e-4")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")


def cmd_train(args: argparse.Namespace) -> int:
    from gmgan.train import Trainer

    if not args.out:
        raise GmganError("gmgan train needs --out RUN_DIR, the folder the run is written to.")
    cfg = build_train_config(args)
    result = Trainer(cfg, args.out, resume=args.resume, progress=not args.no_progress).fit()
    _print_outputs(result)
    return 0


def _print_outputs(result: dict[str, Any]) -> None:
    run = Path(result["run_dir"])
    print(f"\nrun folder       {run}")
    print(f"samples          {result['samples']}  (one row per mixture component)")
    print(f"sigma sweep      {result['sigma_sweep']}  (rows: covariance scale {', '.join(map(str, _scales()))})")
    print(f"metrics log      {run / 'metrics.jsonl'}  (TensorBoard: tensorboard --logdir {run / 'tensorboard'})")
    if "toy_metrics" in result:
        print(f"toy metrics      {run / 'toy_metrics.json'}: {json.dumps(result['toy_metrics'])}")
    print(f"checkpoint       {result['checkpoint']}")


def _scales() -> tuple[float, ...]:
    from gmgan.train import SWEEP_SCALES

    return SWEEP_SCALES


def cmd_sample(args: argparse.Namespace) -> int:
    import torch
    from safetensors.torch import save_file

    from gmgan.nets import generate
    from gmgan.train import load_trained
    from gmgan.viz import save_image_grid

    _, method, step = load_trained(args.run, args.device or "cpu")
    if args.n < 1:
        raise GmganError(f"--n must be >= 1. Got {args.n} instead.")
    g = torch.Generator(device=method.prior.device).manual_seed(args.seed)
    z, k = method.prior.sample(args.n, component=args.component, scale=args.scale, generator=g)
    x = generate(method.G, z)
    target = Path(args.file) if args.file else Path(args.run) / "samples" / (
        f"sample-n{args.n}-c{'all' if args.component is None else args.component}-s{args.scale:g}-seed{args.seed}.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file({"x": x.contiguous(), "component": k, "z": z.contiguous()}, str(target.with_suffix(".safetensors")))
    if x.dim() == 4:
        save_image_grid(x, target, nrow=min(args.n, 10))
    else:
        from gmgan.viz import save_scatter_panels

        save_scatter_panels([(f"{args.n} samples, scale {args.scale:g}", x, k)], None, target)
    print(f"{args.n} samples of {args.run} (step {step}) -> {target} and {target.with_suffix('.safetensors')}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from gmgan.train import Trainer

    out = Path(args.out) if args.out else _fresh_dir(Path("runs") / "demo")
    overrides: dict[str, Any] = {"train": {"seed": args.seed}}
    if args.steps:
        overrides["train"]["steps"] = args.steps
    cfg = make_config("digits", overrides)
    print(f"gmgan demo: static GM-GAN (K={cfg.prior.K}) on scikit-learn's 8x8 digits, {cfg.train.steps} steps "
          f"-> {out}")
    result = Trainer(cfg, out, progress=not args.no_progress).fit()
    _print_outputs(result)
    print(f"\nnext: gmgan sample {out} --n 20 --component 3 --scale 0.5")
    return 0


def _fresh_dir(base: Path) -> Path:
    if not base.exists():
        return base
    i = 2
    while Path(f"{base}-{i}").exists():
        i += 1
    return Path(f"{base}-{i}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gmgan", description="GANs with Gaussian-mixture latent spaces (GM-GAN and its baselines).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="run 'gmgan COMMAND --help' for the options and examples of each command",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("train", help="train a GAN or GM-GAN into a run folder", epilog=EPILOG_TRAIN,
                       formatter_class=fmt)
    _add_train_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw samples from a trained run", epilog=EPILOG_SAMPLE, formatter_class=fmt)
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--component", type=int, help="draw only from this mixture component")
    p.add_argument("--scale", type=float, default=1.0, help="multiply each covariance by this (Section 4.3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--file", metavar="PNG", help="output image (default RUN_DIR/samples/sample-...png)")
    p.add_argument("--device", help="cpu (default), cuda or cuda:N")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("demo", help="train a small GM-GAN on scikit-learn's digits (about 2 min on 2 CPU cores)",
                       formatter_class=fmt, epilog="example:\n  gmgan demo --out runs/demo")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default runs/demo, or runs/demo-N if taken)")
    p.add_argument("--steps", type=int, help="override the preset's steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except GmganError as exc:
        print(f"gmgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ngmgan {args.command}: interrupted. Continue a training run with --resume.", file=sys.stderr)
        return 130
