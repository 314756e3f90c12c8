"""Training step time by arithmetic precision, against a bare PyTorch loop of the same networks.
The MNIST preset (DCGAN width 64, b_D 64, b_G 128, d 100): the GAN and the static GM-GAN
through gmgan's Trainer in fp32 and bf16 (``train.precision``), and a bare loop (the same G and D, Adam,
the non-saturating loss, nothing else) in fp32, bf16 and, with ``--compile``, fp32 and bf16 + torch.compile. All are
timed in interleaved rounds in one process, so machine noise hits them alike; reported as ratios to the
bare fp32 loop (the floor). Writes docs/results/precision.json.

    python bench/precision.py                        # about 4 minutes on 2 CPU cores
    python bench/precision.py --compile              # + torch.compile (minutes of compilation first)
    python bench/precision.py --device cuda --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from gmgan import precision
from gmgan.config import make_config
from gmgan.data import Dataset
from gmgan.methods import build_method
from gmgan.train import Trainer

OUT = "docs/results/precision.json"


class BareLoop:
    """The floor: one D step on b_D real and b_D fake images and one G step on b_G fakes, nothing else."""

    def __init__(self, data: Dataset, dtype: str, device: torch.device, compile_: bool = False) -> None:
        cfg = make_config("mnist", {"method": "gan"})
        m = build_method(cfg, data.shape, torch.Generator().manual_seed(0), 10).to(device)
        self.G, self.D = m.G, m.D
        if compile_:
            self.G, self.D = torch.compile(self.G), torch.compile(self.D)
        t = cfg.train
        self.opt_G = torch.optim.Adam(m.G.parameters(), lr=t.lr, betas=(t.beta1, t.beta2))
        self.opt_D = torch.optim.Adam(m.D.parameters(), lr=t.lr, betas=(t.beta1, t.beta2))
        self.x, self.b_D, self.b_G, self.d = data.x.to(device), t.b_D, t.b_G, cfg.prior.latent_dim
        self.amp, self.device = precision.autocast(dtype, device), device

    def train_step(self) -> None:
        idx = torch.randint(len(self.x), (self.b_D,), device=self.device)
        with self.amp:
            fake = self.G(torch.randn(self.b_D, self.d, device=self.device)).detach()
            real_logit, fake_logit = self.D(self.x[idx]).float(), self.D(fake).float()
            loss_D = F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        self.opt_D.step()
        with self.amp:
            loss_G = F.softplus(-self.D(self.G(torch.randn(self.b_G, self.d, device=self.device))).float()).mean()
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="also the bare loop under torch.compile")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    data = Dataset("random-28px", torch.rand(5000, 1, 28, 28, generator=g) * 2 - 1,
                   torch.randint(10, (5000,), generator=g), 10)
    lowp = "bf16"
    runners: dict[str, Any] = {"bare fp32": BareLoop(data, "fp32", device),
                               f"bare {lowp}": BareLoop(data, lowp, device)}
    if args.compile:
        runners["bare fp32 compiled"] = BareLoop(data, "fp32", device, compile_=True)
        runners[f"bare {lowp} compiled"] = BareLoop(data, lowp, device, compile_=True)
    with tempfile.TemporaryDirectory() as tmp:
        for method in ("gan", "gmgan"):
            for p in ("fp32", lowp):
                name = f"{'GAN' if method == 'gan' else 'GM-GAN static'} {p}"
                cfg = make_config("mnist", {"method": method, "train": {"device": args.device, "precision": p}})
                runners[name] = Trainer(cfg, Path(tmp) / name.replace(" ", "-"), progress=False, dataset=data)
        for r in runners.values():
            for _ in range(3):  # warm-up (and compilation)
                r.train_step()
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.rounds):
            for name, r in runners.items():
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(args.steps):
                    r.train_step()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - start)
    floor = statistics.median(times["bare fp32"])
    result: dict[str, Any] = {
        "command": (f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else "")
                   + f"python bench/precision.py --steps {args.steps} --rounds {args.rounds} --device {args.device}"
                   + (" --compile" if args.compile else "") + (f" --out {args.out}" if args.out != OUT else ""),
        "note": "speedup_vs_bare_fp32: median round time of the bare fp32 loop over this one's, measured in the "
                "same interleaved run; > 1 is faster",
        "machine": {"threads": torch.get_num_threads(), "torch": torch.__version__, "device": args.device,
                    "processor": platform.processor() or platform.machine(),
                    "bf16_native": precision.bf16_native(device)},
        "runs": {},
    }
    print(f"{'run':22s} {'steps/s':>8s} {'speed-up vs bare fp32':>22s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        result["runs"][name] = {"steps_per_s": args.steps / med, "speedup_vs_bare_fp32": floor / med,
                                "round_seconds": ts}
        print(f"{name:22s} {args.steps / med:8.2f} {floor / med:22.3f}")
    for model in ("GAN", "GM-GAN static"):
        fp32, low = (statistics.median(times[f"{model} {p}"]) for p in ("fp32", lowp))
        result[f"{model}: {lowp} speed-up over fp32"] = fp32 / low
        print(f"{model}: {lowp} step {fp32 / low:.2f}x the fp32 step")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
