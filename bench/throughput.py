"""Training throughput of every method with the same networks on 28x28 images: the GAN baseline, GM-GAN
(static, dynamic), the supervised variants (binary, K+1, AC-GAN), GAEL's encoder head on the GAN and the
responsibility model (C shared with D or separate).

The paper's MNIST setting (preset ``mnist``: DCGAN width 64, b_D=64, b_G=128, d=100). Models are timed in
interleaved rounds in one process, so machine noise hits them alike, and the figures are reported as ratios
to the baseline. Images/s counts real images consumed by the discriminator (n_critic * b_D per step).
Writes docs/results/throughput.json.

    python bench/throughput.py                      # about 6 minutes on 2 CPU cores
    python bench/throughput.py --steps 20 --rounds 5 --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gmgan.config import make_config
from gmgan.data import Dataset
from gmgan.train import Trainer

MODELS = {
    "GAN": {"method": "gan"},
    "GM-GAN static": {"method": "gmgan"},
    "GM-GAN dynamic": {"method": "gmgan", "prior": {"learnable": True}},
    "GAN + encoder": {"method": "gan", "encoder": {"enabled": True}},
    "sup. GM-GAN": {"method": "gmgan", "supervision": {"mode": "binary"}},
    "K+1 GM-GAN dyn.": {"method": "gmgan", "supervision": {"mode": "k+1"}, "prior": {"learnable": True}},
    "AC-GAN": {"method": "acgan"},
    # papers/002: K = 10 fakes per real in each step (b_D * K through G and D), C on D's trunk or its own
    "responsibility, C shared": {"method": "responsibility", "prior": {"learnable": True}},
    "responsibility, C separate": {"method": "responsibility", "prior": {"learnable": True},
                                   "responsibility": {"encoding": "separate"}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="docs/results/throughput.json")
    args = parser.parse_args()
    # pixels do not change the cost; random images (and labels) keep the benchmark free of data files
    g = torch.Generator().manual_seed(0)
    data = Dataset("random-28px", torch.rand(5000, 1, 28, 28, generator=g) * 2 - 1,
                   torch.randint(10, (5000,), generator=g), 10)
    trainers = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, update in MODELS.items():
            cfg = make_config("mnist", update, {"train": {"device": args.device}})
            trainers[name] = Trainer(cfg, Path(tmp) / name.replace(" ", "-"), progress=False, dataset=data)
            for _ in range(3):  # warm-up: allocator, kernels
                trainers[name].train_step()
        times: dict[str, list[float]] = {name: [] for name in MODELS}
        for _ in range(args.rounds):
            for name, trainer in trainers.items():
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(args.steps):
                    trainer.train_step()
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - start)
        # the prior's own cost per step, timed alone: one draw of b_D latents and one of b_G
        prior_ms = {}
        for name, trainer in trainers.items():
            prior, t = trainer.method.prior, trainer.cfg.train
            start = time.perf_counter()
            for _ in range(200):
                prior.sample(t.b_D, generator=trainer.latent_gen)
                prior.sample(t.b_G, generator=trainer.latent_gen)
            prior_ms[name] = (time.perf_counter() - start) / 200 * 1000
    cfg = make_config("mnist")
    images_per_step = cfg.train.n_critic * cfg.train.b_D
    base = statistics.median(times["GAN"])
    base_dyn = statistics.median(times["GM-GAN dynamic"])
    result = {
        "command": f"python bench/throughput.py --steps {args.steps} --rounds {args.rounds} --device {args.device}",
        "note": "time_ratio_to_gan (_to_gmgan_dynamic): median round time over the GAN's (the dynamic GM-GAN's), "
                "measured in the same interleaved run",
        "machine": {"cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine(), "device": args.device},
        "setting": {"preset": "mnist", "image": "1x28x28", "b_D": cfg.train.b_D, "b_G": cfg.train.b_G,
                    "latent_dim": cfg.prior.latent_dim, "K": cfg.prior.K, "width": cfg.model.width},
        "models": {},
    }
    print(f"{'model':27s} {'images/s':>10s} {'steps/s':>8s} {'time vs GAN':>12s} {'vs GM-GAN dyn.':>15s} "
          f"{'prior ms/step':>14s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        entry = {"images_per_s": images_per_step * args.steps / med, "steps_per_s": args.steps / med,
                 "time_ratio_to_gan": med / base, "time_ratio_to_gmgan_dynamic": med / base_dyn, "round_seconds": ts,
                 "prior_ms_per_step": prior_ms[name], "prior_share_of_step": prior_ms[name] / 1000 / (med / args.steps)}
        result["models"][name] = entry
        ratio = entry["time_ratio_to_gan"]
        print(f"{name:27s} {entry['images_per_s']:10.1f} {entry['steps_per_s']:8.2f} {ratio:12.3f} "
              f"{entry['time_ratio_to_gmgan_dynamic']:15.3f} {prior_ms[name]:14.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
