"""Label-free self-training of a clustering CNN on real images, started from a route's soft assignments (ours).

GM-GAN's classifier route (Algorithm 2) assigns real images with a classifier trained on generated samples;
on MNIST it plateaus where two similar digits share a component and another digit is split across two. This
stage starts from such soft assignments ``init`` (N, K) and trains a CNN on the real images themselves, in
rounds, without any label:

1. **Balanced pseudo-labels** (SeLa, Asano et al. 2020, "Self-labelling via simultaneous clustering and
   representation learning"): the current soft predictions P (round 0: ``init``) are turned into pseudo-labels
   Q = diag(a) P diag(b) by Sinkhorn-Knopp iterations so that rows sum to 1 and every cluster receives an
   equal share of the mass (or, with ``size_prior`` < 1, a mix of equal shares and the current sizes, for data
   that is not balanced). A cluster that swallowed two classes must hand its least typical half to the
   clusters that want it most, and two clusters sharing one class must take in other images: this is what can
   undo the route's merges and splits, which plain self-labelling (``gmgan.cluster.refine``) cannot.
2. **Confident points only** (SCAN's self-labelling step, Van Gansbeke et al. 2020, and FixMatch's confidence
   threshold, Sohn et al. 2020): per cluster, the ``keep`` share of its members with the largest pseudo-label
   score; a per-cluster share rather than a global threshold so that hard clusters are not starved.
3. **Weak and strong views** (FixMatch): predictions that make the pseudo-labels are read on un-augmented
   images (the weakest view, in eval mode; :func:`weak_view` is the shifted view for callers); the network is
   trained with cross-entropy on *strong* views (random affine: rotation, translation, scale, shear; a cutout
   patch; brightness/contrast jitter for colour) of the confident points, sampled class-balanced, so it has to
   learn what is invariant in a cluster rather than memorise its members.
   Optionally (``neighbours`` > 0, off by default) predictions are first averaged over each image's nearest
   images in PCA space of the pixels (SCAN's neighbour consistency, with label-free pixel neighbours).
4. **Balance term** (IIC, Ji et al. 2019; SCAN's entropy term): the loss subtracts ``entropy_weight`` times
   the entropy of the batch-mean prediction, which keeps all K clusters in use.

Stopping and the **guard** (label-free): every round measures, on a held-out ``holdout`` share of the images
that is never trained on, the agreement between the prediction on the image and on a strong view of it
(augmentation consistency), times the normalised entropy of the cluster sizes over all N images. The stage
stops when fewer than ``tol`` of the images change cluster between rounds (``converged``), after
``max_rounds`` (``max_rounds``), or, rolling back to the network of the best round so far, when that criterion
drops more than ``guard_tol`` below its best (``guard: criterion``) or a cluster stays below ``min_cluster`` x
N/K or beyond ``max_cluster`` x N/K for two rounds running (``guard: collapse``; a single round may empty a
cluster, e.g. when two clusters sharing one class merge, and the next balanced pseudo-labels refill it).
``history`` records every round and ``info["stop_reason"]`` why it stopped. Labels (``y_eval``) are only ever
logged, never read by a decision.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmgan.errors import ConfigError


@dataclass
class SelfTrainOptions:
    """Every setting of :func:`self_train`. The defaults are principled, not tuned to one dataset."""

    # -- rounds and stopping
    max_rounds: int = 12  # bounds the cost (each round = one prediction pass + images_per_round training images)
    min_rounds: int = 3  # round 1 mostly imitates init; the balancing needs a few rounds to move whole groups
    tol: float = 0.005  # stop when < 0.5% of the images change cluster between rounds: a fixed point
    # -- pseudo-labels
    size_prior: float = 1.0  # cluster-mass target = size_prior * uniform + (1 - size_prior) * current sizes;
    #   1 = equal partition (SeLa's assumption, and the one that can split merged clusters); lower it for data
    #   known to be imbalanced
    sinkhorn_iters: int = 50  # Sinkhorn-Knopp converges geometrically; 50 is far past 1e-3 column error here
    sinkhorn_power: float = 3.0  # Q ~ P^power before balancing (SeLa's lambda, SwAV's 1/epsilon): a moderate
    #   sharpening; at 1 the argmax of Q stays with the bloated cluster and merges split slowly, near-hard transport
    #   (10+) reassigns on noise (one synthetic MNIST merge, 10k images: test ACC 0.87 at 1, 0.94 at 3, 0.86 at 10)
    smooth: float = 1e-3  # P mixed with this much uniform: one-hot inits (k-means) have no log(0) for Sinkhorn
    neighbours: int = 0  # k > 0: before balancing, each prediction is averaged with those of its k nearest images
    #   (SCAN's neighbour consistency) in a fixed label-free space, the first 50 principal components of the pixels,
    #   so that splits cutting through neighbourhoods lose confidence; 0 = off (pixel neighbours are only
    #   meaningful for small aligned images such as digits)
    relabel: bool = True  # each round's pseudo-labels come from the network's predictions of the last round;
    #   False keeps init's (with size_prior 0: a strong-view distillation of a fixed clustering into the network)
    keep: float = 0.5  # per cluster, the most confident half trains: SCAN/refine's usual share; the rest follows
    # -- training
    images_per_round: int = 20_000  # strong views trained per round (class-balanced draws): fixes the cost per
    #   round independently of N, about 1/3 of an MNIST epoch
    batch_size: int = 128  # the usual Adam batch for small CNNs; also the batch the entropy term is taken over
    lr: float = 1e-3  # Adam's default, the same as the evaluation classifier's
    cosine: bool = True  # lr decays to 0 over max_rounds (cosine): late rounds refine instead of reshuffling, so
    #   the assignments settle and `tol` can be met; False keeps lr constant
    weight_decay: float = 5e-4  # mild L2 (decoupled, AdamW): limits over-confidence on noisy pseudo-labels
    entropy_weight: float = 1.0  # weight of -H(batch-mean prediction) (IIC/SCAN use 1-5); with class-balanced
    #   sampling CE already balances, so a unit weight is a safety net rather than a driver
    width: int = 32  # DomainClassifier width: ~60k parameters, a few hundred images/s per CPU core at 28 px
    # -- augmentations (fractions of the image side, degrees): the FixMatch/RandAugment ranges
    weak_shift: float = 0.07  # +-2 px at 28 px; used by weak_view only: the stage reads its pseudo-label
    #   predictions on the un-augmented images (the weakest view, deterministic, and cheaper)
    rotate: float = 20.0
    translate: float = 0.15
    scale: tuple[float, float] = (0.8, 1.2)
    shear: float = 15.0
    cutout: float = 0.25  # side of the erased square (filled with the image mean), applied to half the images
    jitter: float = 0.3  # colour only: contrast x U(1 - j, 1 + j), brightness + U(-j, j) / 2
    # -- guard
    holdout: float = 0.1  # share of the images never trained on, where the criterion is measured
    guard_tol: float = 0.05  # a drop of 5 points in (consistency x balance) below the best round: beyond the
    #   round-to-round swing of the criterion (0.03-0.04 seen in early rounds while the clustering still improved)
    min_cluster: float = 0.1  # a cluster below a tenth of its fair share N/K in two rounds running has collapsed
    #   (the balanced pseudo-labels had a round to refill it and failed)
    max_cluster: float = 3.0  # one cluster above 3 x N/K in two rounds running has swallowed others
    eval_batch: int = 256  # prediction chunk size: no effect on results; 256 is ~2.5x faster than 1000 on a CPU
    #   (the activations stay in cache)

    def validate(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ConfigError(f"self-training option {what}")

        need(isinstance(self.max_rounds, int) and self.max_rounds >= 1,
             f"max_rounds must be an integer >= 1. Got {self.max_rounds!r}.")
        need(isinstance(self.min_rounds, int) and 1 <= self.min_rounds <= self.max_rounds,
             f"min_rounds must be an integer in [1, max_rounds={self.max_rounds}]. Got {self.min_rounds!r}.")
        need(0 <= self.tol < 1, f"tol must be in [0, 1). Got {self.tol!r}.")
        need(0 <= self.size_prior <= 1, f"size_prior must be in [0, 1]. Got {self.size_prior!r}.")
        need(self.sinkhorn_iters >= 1, f"sinkhorn_iters must be >= 1. Got {self.sinkhorn_iters!r}.")
        need(self.sinkhorn_power > 0, f"sinkhorn_power must be > 0. Got {self.sinkhorn_power!r}.")
        need(0 < self.smooth < 1, f"smooth must be in (0, 1). Got {self.smooth!r}.")
        need(isinstance(self.neighbours, int) and self.neighbours >= 0,
             f"neighbours must be an integer >= 0. Got {self.neighbours!r}.")
        need(0 < self.keep <= 1, f"keep must be in (0, 1]. Got {self.keep!r}.")
        need(self.images_per_round >= self.batch_size >= 2,
             f"needs images_per_round >= batch_size >= 2. Got {self.images_per_round!r} and {self.batch_size!r}.")
        need(self.lr > 0 and self.weight_decay >= 0, f"lr must be > 0 and weight_decay >= 0. Got {self.lr!r}, "
             f"{self.weight_decay!r}.")
        need(self.entropy_weight >= 0, f"entropy_weight must be >= 0. Got {self.entropy_weight!r}.")
        need(self.width >= 2 and self.width % 2 == 0, f"width must be an even integer >= 2. Got {self.width!r}.")
        need(0 <= self.weak_shift < 0.5 and 0 <= self.translate < 0.5,
             f"weak_shift and translate must be in [0, 0.5). Got {self.weak_shift!r}, {self.translate!r}.")
        need(0 <= self.rotate <= 180 and 0 <= self.shear < 60,
             f"rotate must be in [0, 180] and shear in [0, 60) degrees. Got {self.rotate!r}, {self.shear!r}.")
        need(len(self.scale) == 2 and 0 < self.scale[0] <= self.scale[1],
             f"scale must be (low, high) with 0 < low <= high. Got {self.scale!r}.")
        need(0 <= self.cutout < 1 and 0 <= self.jitter < 1,
             f"cutout and jitter must be in [0, 1). Got {self.cutout!r}, {self.jitter!r}.")
        need(0 < self.holdout < 0.5, f"holdout must be in (0, 0.5). Got {self.holdout!r}.")
        need(self.guard_tol >= 0, f"guard_tol must be >= 0. Got {self.guard_tol!r}.")
        need(0 <= self.min_cluster < 1 < self.max_cluster,
             f"needs 0 <= min_cluster < 1 < max_cluster. Got {self.min_cluster!r}, {self.max_cluster!r}.")
        need(self.eval_batch >= 1, f"eval_batch must be >= 1. Got {self.eval_batch!r}.")


@dataclass
class SelfTrainResult:
    """``soft``: (N, K) final assignments of x; ``model``: the network (eval mode) that assigns new images;
    ``history``: one dict per round (label-free numbers, plus scores when the caller passed y_eval);
    ``info``: the settings, the stop reason, the chosen round, seconds."""

    soft: Tensor
    model: nn.Module | None  # None: the guard rejected round 1 and soft is init (no network to trust)
    history: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)

    def assign(self, images: Tensor) -> Tensor:
        if self.model is None:
            raise ConfigError("self-training rolled back to its initial assignment (round 1 already failed the "
                              f"guard: {self.info.get('stop_reason')}); assign new images with the route itself.")
        return predict(self.model, images, self.info.get("eval_batch", 256))

    def clustering(self) -> Any:
        """A :class:`gmgan.cluster.Clustering` assigning new images with the trained network."""
        from gmgan.cluster import Clustering

        return Clustering(self.soft.shape[1], self.assign, {"selftrain": self.info})


# ---------------------------------------------------------------------------------------------- Sinkhorn-Knopp
def sinkhorn(p: Tensor, marginals: Tensor | None = None, iters: int = 50, power: float = 1.0,
             smooth: float = 1e-3) -> Tensor:
    """Balanced soft pseudo-labels (SeLa): Q = diag(a) (P^power) diag(b) with rows summing to 1 and column
    sums N * marginals (default uniform). ``p``: (N, K) probabilities; computed in log space, float64.

    Example:
        >>> q = sinkhorn(torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]]))
        >>> [round(v, 3) for v in q.sum(0).tolist()], [round(v, 3) for v in q.sum(1).tolist()]
        ([2.0, 2.0], [1.0, 1.0, 1.0, 1.0])
    """
    N, K = p.shape
    p = p.double().clamp_min(0)
    p = p / p.sum(1, keepdim=True).clamp_min(1e-300)
    p = (1 - smooth) * p + smooth / K
    target = torch.full((K,), 1.0 / K, dtype=torch.float64) if marginals is None else marginals.double()
    target = target.clamp_min(0) / target.clamp_min(0).sum()
    target = target.clamp_min(1e-12)  # an empty cluster asks for (almost) nothing rather than log(0) = -inf
    target = target / target.sum()
    log_col = torch.log(target * N)
    log_q = power * p.log()
    for _ in range(iters):
        log_q = log_q - torch.logsumexp(log_q, 0, keepdim=True) + log_col
        log_q = log_q - torch.logsumexp(log_q, 1, keepdim=True)
    return log_q.exp().float()


# ---------------------------------------------------------------------------------------------- augmentations
def _affine(x: Tensor, theta: Tensor) -> Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def weak_view(x: Tensor, g: torch.Generator, shift: float = 0.07) -> Tensor:
    """A random translation by whole pixels, up to ``shift`` x the side (edges repeated)."""
    n, _, H, W = x.shape
    s = max(1, round(shift * max(H, W))) if shift > 0 else 0
    if s == 0:
        return x.clone()
    d = torch.randint(-s, s + 1, (n, 2), generator=g).to(x.dtype)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = 2 * d[:, 0] / W  # whole-pixel shifts in normalised coordinates: exact with bilinear
    theta[:, 1, 2] = 2 * d[:, 1] / H
    return _affine(x, theta.to(x.device))


def strong_view(x: Tensor, g: torch.Generator, o: SelfTrainOptions) -> Tensor:
    """Random affine (rotation, translation, scale, shear), a cutout patch on half the images, and for colour
    images brightness/contrast jitter; clamped to [-1, 1]. Random numbers from ``g`` only."""
    n, C, H, W = x.shape

    def u(lo: float, hi: float, *shape: int) -> Tensor:
        return lo + (hi - lo) * torch.rand(*(shape or (n,)), generator=g)

    rot = torch.deg2rad(u(-o.rotate, o.rotate))
    shear = torch.deg2rad(u(-o.shear, o.shear))
    sc = u(o.scale[0], o.scale[1])
    t = u(-o.translate, o.translate, n, 2) * 2  # normalised coordinates span 2
    cos, sin, tan = torch.cos(rot), torch.sin(rot), torch.tan(shear)
    # output -> input map of the grid: (rotation @ shear) / scale, then the shift
    a = torch.stack([torch.stack([cos, cos * tan - sin], 1), torch.stack([sin, sin * tan + cos], 1)], 1)
    a = a / sc[:, None, None]
    theta = torch.cat([a, t[:, :, None]], 2)
    out = _affine(x, theta.to(x.device))
    if o.cutout > 0:
        side_h, side_w = max(1, round(o.cutout * H)), max(1, round(o.cutout * W))
        cy = torch.randint(0, H, (n,), generator=g)
        cx = torch.randint(0, W, (n,), generator=g)
        apply = torch.rand(n, generator=g) < 0.5
        ys = torch.arange(H)[None, :]
        xs = torch.arange(W)[None, :]
        in_y = ((ys - cy[:, None]).abs() <= side_h // 2)
        in_x = ((xs - cx[:, None]).abs() <= side_w // 2)
        mask = (in_y[:, :, None] & in_x[:, None, :] & apply[:, None, None])[:, None].to(x.device)
        fill = out.mean(dim=(1, 2, 3), keepdim=True)
        out = torch.where(mask, fill, out)
    if C == 3 and o.jitter > 0:
        contrast = u(1 - o.jitter, 1 + o.jitter).to(x.device)[:, None, None, None]
        bright = (u(-o.jitter, o.jitter) / 2).to(x.device)[:, None, None, None]
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * contrast + mean + bright
    return out.clamp(-1, 1)


# ---------------------------------------------------------------------------------------------- the stage
@torch.no_grad()
def _in_eval_mode(model: nn.Module, x: Tensor, batch: int, read: Any) -> Tensor:
    """``read(chunk)`` over x in chunks on the model's device, the model in eval mode (its mode restored after);
    float32 on the CPU."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        return torch.cat([read(c.to(device)).float().cpu() for c in x.split(batch)])
    finally:
        model.train(was)


def predict(model: nn.Module, x: Tensor, batch: int = 1000) -> Tensor:
    """Softmax of ``model`` on x in eval mode, in chunks, on the model's device; (N, K) float32 on the CPU."""
    return _in_eval_mode(model, x, batch, lambda c: torch.softmax(model(c), 1))


def pixel_neighbours(x: Tensor, k: int, components: int = 50, chunk: int = 1000) -> Tensor:
    """(N, k + 1) indices of each image and its k nearest images in the space of the first ``components``
    principal components of the pixels (Euclidean); label-free."""
    flat = x.flatten(1).float()
    flat = flat - flat.mean(0, keepdim=True)
    q = min(components, *flat.shape)
    _, _, v = torch.pca_lowrank(flat, q=q, center=False, niter=4)
    z = flat @ v[:, :q]
    k = min(k, len(z) - 1)
    out = []
    for c in z.split(chunk):
        out.append(torch.cdist(c, z).topk(k + 1, largest=False).indices)
    return torch.cat(out)


def _norm_entropy(p: Tensor) -> float:
    p = p.double() / p.sum().clamp_min(1e-300)
    h = -(p * p.clamp_min(1e-300).log()).sum()
    return float(h / math.log(len(p))) if len(p) > 1 else 1.0


def _sizes(hard: Tensor, K: int) -> Tensor:
    return torch.bincount(hard, minlength=K)


def self_train(x: Tensor, init: Tensor, K: int, opts: SelfTrainOptions | None = None, seed: int = 0,
               device: str = "cpu", progress: bool = True, x_eval: Tensor | None = None,
               y_eval: Any = None) -> SelfTrainResult:
    """Self-train a K-way clustering CNN on the images x (N, C, H, W) in [-1, 1] from soft assignments ``init``
    (N, K). See the module docstring for the method. ``y_eval`` (labels of ``x_eval``, or of x when ``x_eval`` is
    None) is only scored into the history; nothing the stage decides reads it. Deterministic given ``seed``
    (and the thread count); the global RNG state of the caller is left as it was."""
    from gmgan.evaluate.classifier import DomainClassifier

    opts = opts or SelfTrainOptions()
    opts.validate()
    if x.dim() != 4 or not 1 <= x.shape[1] <= 4 or min(x.shape[-2:]) < 8:
        raise ConfigError(f"self-training needs images (N, C, H, W) with C in 1..4 and sides >= 8. Got "
                          f"{tuple(x.shape)}.")
    if init.shape != (x.shape[0], K):
        raise ConfigError(f"init must be (N, K) = ({x.shape[0]}, {K}) soft assignments. Got {tuple(init.shape)}.")
    if K < 2:
        raise ConfigError(f"self-training needs K >= 2 clusters. Got {K}.")
    if not torch.isfinite(init).all() or (init < 0).any():
        raise ConfigError("init must hold finite non-negative scores (soft assignments).")
    N = x.shape[0]
    if N < 4 * K:
        raise ConfigError(f"self-training needs at least 4 images per cluster (N >= {4 * K}). Got N = {N}.")
    scorer = None
    if y_eval is not None:
        from gmgan.cluster import scores

        y_np = torch.as_tensor(y_eval).cpu().numpy()
        xe = x if x_eval is None else x_eval
        if len(y_np) != len(xe):
            raise ConfigError(f"y_eval has {len(y_np)} labels for {len(xe)} images.")

        def scorer(m: nn.Module | None, soft_x: Tensor) -> dict[str, float]:
            soft = soft_x if x_eval is None or m is None else predict(m, x_eval, opts.eval_batch)
            return {k: round(v, 5) for k, v in scores(y_np, soft.argmax(1).numpy()).items()}

    start = time.perf_counter()
    x = x.float().cpu()
    with torch.random.fork_rng(devices=[]):  # dropout and the init use the global RNG: seeded, then restored
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(N, generator=g)
        n_hold = max(K, round(opts.holdout * N))
        held, fit = perm[:n_hold], perm[n_hold:]
        x_held = x[held]
        # a fixed strong view of the held-out images: the criterion of every round reads the same views
        held_view = strong_view(x_held, torch.Generator().manual_seed(seed + 1), opts)
        nbrs = pixel_neighbours(x, opts.neighbours) if opts.neighbours else None
        model: nn.Module | None = DomainClassifier(x.shape[1], K, width=opts.width).to(device)
        assert model is not None
        opt = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
        steps_per_round = math.ceil(opts.images_per_round / opts.batch_size)
        total_steps = steps_per_round * opts.max_rounds
        step = 0

        soft = init.float().cpu() / init.float().sum(1, keepdim=True).clamp_min(1e-12)
        pred_hard = soft.argmax(1)  # the previous round's predictions (round 0: init's), for `change`
        sizes0 = _sizes(pred_hard, K)
        chosen_round: int = 0
        last: dict[str, Any] | None = None
        prev_sizes: Tensor | None = None
        fair = N / K

        def outside(s: Tensor) -> Tensor:
            return (s < opts.min_cluster * fair) | (s > opts.max_cluster * fair)

        history: list[dict[str, Any]] = [{
            "round": 0, "source": "init", "cluster_sizes": sizes0.tolist(),
            "mean_confidence": round(float(soft.max(1).values.mean()), 5),
            "size_entropy": round(_norm_entropy(sizes0.double()), 5),
            "marginal_entropy": round(_norm_entropy(soft.mean(0)), 5)}]
        if scorer is not None:
            history[0]["eval"] = scorer(None, soft) if x_eval is None else None
        best: dict[str, Any] | None = None
        stop = "max_rounds"
        for r in range(1, opts.max_rounds + 1):
            t0 = time.perf_counter()
            # 1. balanced pseudo-labels from the current predictions
            if opts.size_prior >= 1:
                marg = None
            else:
                cur = soft.mean(0).double()
                marg = opts.size_prior / K + (1 - opts.size_prior) * cur / cur.sum()
            base = soft if nbrs is None else soft[nbrs].mean(1)
            q = sinkhorn(base, marg, opts.sinkhorn_iters, opts.sinkhorn_power, opts.smooth)
            q_conf, q_hard = q[fit].max(1)
            labels_fit = q_hard
            # 2. per cluster, the most confident `keep` share of its fit members
            chosen = []
            for k in range(K):
                members = (labels_fit == k).nonzero().squeeze(1)
                if len(members):
                    top = q_conf[members].argsort(descending=True)[: max(1, math.ceil(opts.keep * len(members)))]
                    chosen.append(members[top])
            # 3. class-balanced strong-view training
            per_cluster = math.ceil(opts.images_per_round / max(1, len(chosen)))
            draws = torch.cat([c[torch.randint(len(c), (per_cluster,), generator=g)] for c in chosen])
            draws = draws[torch.randperm(len(draws), generator=g)][: opts.images_per_round]
            model.train()
            losses, ents = [], []
            for b in draws.split(opts.batch_size):
                if len(b) < 2:
                    continue
                xb = strong_view(x[fit[b]], g, opts).to(device)
                yb = labels_fit[b].to(device)
                logits = model(xb)
                ce = F.cross_entropy(logits, yb)
                mean_p = torch.softmax(logits, 1).mean(0)
                ent = -(mean_p * mean_p.clamp_min(1e-8).log()).sum()
                loss = ce - opts.entropy_weight * ent
                if opts.cosine:
                    for group in opt.param_groups:
                        group["lr"] = opts.lr * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
                step += 1
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(ce.detach()))
                ents.append(float(ent.detach()) / math.log(K))
            # 4. the new predictions and the label-free record
            new_soft = predict(model, x, opts.eval_batch)
            new_hard = new_soft.argmax(1)
            change = float((new_hard != pred_hard).double().mean())
            sizes = _sizes(new_hard, K)
            held_pred = new_soft[held].argmax(1)
            consistency = float((predict(model, held_view, opts.eval_batch).argmax(1) == held_pred).double().mean())
            balance = _norm_entropy(sizes.double())
            criterion = consistency * balance
            rec: dict[str, Any] = {
                "round": r, "ce_loss": round(sum(losses) / max(1, len(losses)), 5),
                "batch_marginal_entropy": round(sum(ents) / max(1, len(ents)), 5),
                "pseudo_label_sizes": _sizes(q.argmax(1), K).tolist(), "trained_images": len(draws),
                "confident_images": int(sum(len(c) for c in chosen)), "change": round(change, 5),
                "cluster_sizes": sizes.tolist(), "mean_confidence": round(float(new_soft.max(1).values.mean()), 5),
                "marginal_entropy": round(_norm_entropy(new_soft.mean(0)), 5), "size_entropy": round(balance, 5),
                "held_out_consistency": round(consistency, 5), "criterion": round(criterion, 5),
                "seconds": round(time.perf_counter() - t0, 1)}
            if scorer is not None:
                rec["eval"] = scorer(model, new_soft)  # logged only
            history.append(rec)
            if progress:
                ev = f" | eval ACC {rec['eval']['acc']:.4f}" if scorer is not None else ""
                print(f"selftrain round {r}: ce {rec['ce_loss']:.3f} change {change:.4f} criterion {criterion:.4f} "
                      f"(consistency {consistency:.4f}, balance {balance:.4f}) sizes {sizes.min()}..{sizes.max()} "
                      f"{rec['seconds']:.0f} s{ev}", flush=True)
            # a collapse is a cluster outside the normal range in two rounds running: one round may empty a cluster
            # (two clusters sharing a class merge first) that the next balanced pseudo-labels refill; the route's
            # own small clusters (init) are not held against the stage
            collapsed = bool((outside(sizes) & outside(prev_sizes)).any()) if prev_sizes is not None else False
            prev_sizes = sizes
            # the criterion guard starts after min_rounds: the first rounds reshuffle whole groups by design
            dropped = best is not None and r > opts.min_rounds and criterion < best["criterion"] - opts.guard_tol
            if collapsed or dropped:
                stop = "guard: collapse" if collapsed else "guard: criterion"
                if collapsed:
                    rec["guard"] = (f"cluster sizes {sizes.min()}..{sizes.max()}: outside [{opts.min_cluster:g}, "
                                    f"{opts.max_cluster:g}] x N/K = {fair:.0f} in two rounds running")
                else:
                    assert best is not None
                    rec["guard"] = (f"criterion {criterion:.4f} < best {best['criterion']:.4f} (round "
                                    f"{best['round']}) - {opts.guard_tol:g}")
                break
            if best is None or criterion >= best["criterion"]:
                best = {"round": r, "criterion": criterion, "state": copy.deepcopy(model.state_dict()),
                        "soft": new_soft}
            last = {"round": r, "criterion": criterion, "soft": new_soft}
            pred_hard = new_hard
            if opts.relabel:  # else the pseudo-labels stay those of init (distillation of a fixed clustering)
                soft = new_soft
            if r >= opts.min_rounds and change < opts.tol:
                stop = "converged"
                break
        if stop.startswith("guard"):
            if best is None:  # the first round already failed: nothing to roll back to but init
                chosen_round, soft = 0, init.float().cpu() / init.float().sum(1, keepdim=True).clamp_min(1e-12)
                model = None
            else:
                model.load_state_dict(best["state"])
                chosen_round, soft = best["round"], best["soft"]
        else:
            assert last is not None
            chosen_round, soft = last["round"], last["soft"]
    if model is not None:
        model.eval()
    info = {"options": asdict(opts), "K": K, "images": N, "held_out_images": n_hold, "seed": seed,
            "stop_reason": stop, "rounds": len(history) - 1, "chosen_round": chosen_round,
            "architecture": f"DomainClassifier(width={opts.width})", "seconds": round(time.perf_counter() - start, 1),
            "eval_batch": opts.eval_batch}
    if progress:
        print(f"selftrain: stopped after {len(history) - 1} rounds ({stop}); kept round {chosen_round}", flush=True)
    return SelfTrainResult(soft, model, history, info)


# ---------------------------------------------------------------------------------------------- over-clustering
MERGES = ("coassign", "features", "centroids")


@dataclass
class OverClusterOptions:
    """Over-clustering (ours, after IIC's over-clustering heads and SCAN's k-means on learned features): the stage
    first runs with ``factor`` x K clusters, where each cluster can stay pure (a merged pair of classes has room
    to part, a split class just occupies several fine clusters), then the fine clusters are merged into K without
    labels and the stage runs again at K from the merged assignment. The defaults are principled, not tuned."""

    factor: int = 3  # K_over = factor x K: each class may take ~3 fine clusters (IIC's auxiliary heads over-cluster
    #   by 5x with a dedicated head; at 3x the balanced fine clusters still hold N/(3K) images, so the fine stage
    #   trains on as many images per cluster as the route gives a small class, and the merge has fewer pairs to get
    #   wrong)
    merge: str = "centroids"  # how the K_over fine clusters become K (see merge_fine_clusters):
    #   centroids (the default): Ward agglomeration (Ward 1963) of the fine clusters' mean penultimate features into
    #     K groups, the classic merge of an over-segmentation: it keeps each fine cluster whole, so an image's merged
    #     score is the sum of its fine scores. Probes on MNIST (bench/overcluster_probe.py, one seed, 20k training
    #     images, test split scored; docs/results/cluster-mnist.json, over_cluster_probes): from PCA-GMM seed 1
    #     (whose plain stage on all images ends at 0.714) the merges scored 0.732 / 0.713 / 0.706 (centroids /
    #     features / coassign) and after the stage at K 0.947 / 0.716 / 0.694; from GM-GAN seed 2, with a fine
    #     stage cut short at round 3 by the criterion guard (since off at K_over), 0.538 / 0.732 / 0.569: Ward
    #     needs fine clusters that are pure, hence the fine stage's full length;
    #   coassign: two strong views of every image; A_ij = mean p_i(view 1) p_j(view 2) (the co-assignment
    #     Markov chain of IIC's objective, symmetrised), grouped by normalised spectral clustering (Ng, Jordan &
    #     Weiss 2001): fine clusters the network confuses under augmentation are one class;
    #   features: k-means (K) on the fine network's penultimate features of the images (SCAN's k-means baseline),
    #     image by image rather than by fine cluster
    split_components: int = 50  # the init's K clusters are split into `factor` sub-clusters each by k-means in
    #   the first 50 principal components of the pixels (as the pca-* baselines): the fine stage's round-0 init
    merge_images: int = 10_000  # images whose two strong views estimate A (a K_over^2 matrix: 10k pairs put ~11
    #   pairs on each of its 900 cells at K_over = 30) and that k-means/Ward read; a random subset, seeded
    fine_rounds: int = 0  # max_rounds of the fine stage; 0 = the stage's own max_rounds

    def validate(self, K: int | None = None) -> None:
        if not isinstance(self.factor, int) or self.factor < 2:
            raise ConfigError(f"over-clustering factor must be an integer >= 2 (K_over = factor x K). Got "
                              f"{self.factor!r}.")
        if self.merge not in MERGES:
            raise ConfigError(f"over-clustering merge must be one of {MERGES}. Got {self.merge!r}.")
        if self.split_components < 1 or self.merge_images < 2 or self.fine_rounds < 0:
            raise ConfigError("over-clustering needs split_components >= 1, merge_images >= 2, fine_rounds >= 0. "
                              f"Got {self.split_components!r}, {self.merge_images!r}, {self.fine_rounds!r}.")


def split_clusters(x: Tensor, init: Tensor, factor: int, seed: int = 0, components: int = 50) -> Tensor:
    """(N, factor x K) soft scores: each of ``init``'s K clusters (by argmax) split into ``factor`` sub-clusters by
    k-means on the first ``components`` principal components of the pixels (scikit-learn, seeded). Column
    k x factor + f is sub-cluster f of cluster k; an image keeps its score for cluster k on its own sub-cluster
    and spreads its scores for the other clusters evenly over their sub-clusters."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    N, K = init.shape
    flat = x.flatten(1).numpy().astype(np.float32)
    q = min(components, *flat.shape)
    z = PCA(q, random_state=seed).fit_transform(flat)
    soft = init.float() / init.float().sum(1, keepdim=True).clamp_min(1e-12)
    hard = soft.argmax(1).numpy()
    sub = np.zeros(N, dtype=np.int64)
    for k in range(K):
        members = np.nonzero(hard == k)[0]
        if len(members) >= factor:
            sub[members] = KMeans(factor, n_init=3, random_state=seed).fit_predict(z[members])
        else:
            sub[members] = np.arange(len(members))
    fine = soft.repeat_interleave(factor, dim=1) / factor  # (N, K * factor): spread evenly
    rows = torch.arange(N)
    own = torch.as_tensor(hard) * factor
    fine[rows[:, None], own[:, None] + torch.arange(factor)[None, :]] = 0
    fine[rows, own + torch.as_tensor(sub)] = soft[rows, torch.as_tensor(hard)]
    return fine


def features(model: nn.Module, x: Tensor, batch: int = 256) -> Tensor:
    """The network's penultimate activations (eval mode), (N, feature_dim) float32 on the CPU."""
    return _in_eval_mode(model, x, batch, model.features)


def coassignment(model: nn.Module, x: Tensor, g: torch.Generator, opts: SelfTrainOptions) -> Tensor:
    """(K, K) symmetric affinity A_ij = mean over images of (p_i(view 1) p_j(view 2) + p_j(view 1) p_i(view 2)) / 2
    for two strong views of every image of x: the joint distribution of IIC's objective."""
    p1 = predict(model, strong_view(x, g, opts), opts.eval_batch).double()
    p2 = predict(model, strong_view(x, g, opts), opts.eval_batch).double()
    a = p1.T @ p2 / len(x)
    return ((a + a.T) / 2).float()


def spectral_groups(a: Tensor, K: int, seed: int = 0) -> list[int]:
    """Normalised spectral clustering (Ng, Jordan & Weiss 2001) of a (M, M) affinity into K groups: the top K
    eigenvectors of D^-1/2 A D^-1/2, rows normalised, k-means (20 restarts, seeded). Group of each of the M."""
    import numpy as np
    from sklearn.cluster import KMeans

    a = a.double().clamp_min(0)
    d = a.sum(1).clamp_min(1e-300).rsqrt()
    m = d[:, None] * a * d[None, :]
    _, vecs = torch.linalg.eigh((m + m.T) / 2)
    u = vecs[:, -K:]
    u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
    labels = KMeans(K, n_init=20, random_state=seed).fit_predict(u.numpy().astype(np.float64))
    return [int(v) for v in labels]


def merge_fine_clusters(model: nn.Module, x: Tensor, fine_soft: Tensor, K: int, merge: str, seed: int,
                        opts: SelfTrainOptions, merge_images: int = 10_000) -> tuple[Tensor, dict[str, Any], Any]:
    """(N, K) soft assignments of x merged from the fine network's ``fine_soft`` (N, K_over), a record, and a
    function that assigns new images the same way (for scoring a merge on held-out images).

    ``coassign`` and ``centroids`` give each fine cluster a group (soft = the sum of the group's columns);
    ``features`` assigns images directly by k-means on the penultimate features (soft = one-hot)."""
    import numpy as np
    from sklearn.cluster import AgglomerativeClustering, KMeans

    if merge not in MERGES:
        raise ConfigError(f"over-clustering merge must be one of {MERGES}. Got {merge!r}.")
    N, M = fine_soft.shape
    g = torch.Generator().manual_seed(seed + 2)
    sub = torch.randperm(N, generator=g)[: min(merge_images, N)]
    info: dict[str, Any] = {"merge": merge, "merge_images": len(sub)}
    groups: list[int] | None = None
    if merge == "coassign":
        a = coassignment(model, x[sub], g, opts)
        groups = spectral_groups(a, K, seed)
        info["affinity_diagonal_share"] = round(float(a.diag().sum() / a.sum()), 5)
    elif merge == "centroids":
        f = features(model, x[sub], opts.eval_batch).double()
        w = fine_soft[sub].double()  # soft-weighted means of the penultimate features
        mass = w.sum(0)
        cent = (w.T @ f) / mass[:, None].clamp_min(1e-12)
        # fine clusters with under a tenth of their fair share have too few members to speak for: Ward groups the
        # others, and each of these joins the group of its nearest centroid
        present = (mass >= 0.1 * len(sub) / M).nonzero().squeeze(1)
        if len(present) < K:
            present = mass.argsort(descending=True)[:K].sort().values
        lab = AgglomerativeClustering(K, linkage="ward").fit_predict(cent[present].numpy())
        nearest = torch.cdist(cent, cent[present]).argmin(1)
        groups = [int(lab[j]) for j in nearest.tolist()]
        info["merged_fine_clusters"] = len(present)
    if groups is not None:
        merged = torch.zeros(N, K)
        merged.index_add_(1, torch.as_tensor(groups), fine_soft.float())
        info["groups"] = groups
        info["group_sizes"] = [groups.count(k) for k in range(K)]
        index = torch.as_tensor(groups)

        def assign_groups(images: Tensor) -> Tensor:
            return torch.zeros(len(images), K).index_add_(1, index, predict(model, images, opts.eval_batch))

        return merged, info, assign_groups
    f_sub = features(model, x[sub], opts.eval_batch).double().numpy()
    km = KMeans(K, n_init=10, random_state=seed).fit(f_sub)
    f_all = features(model, x, opts.eval_batch).double().numpy()
    lab = torch.as_tensor(km.predict(f_all).astype(np.int64))
    info["kmeans_inertia"] = float(km.inertia_)

    def assign_kmeans(images: Tensor) -> Tensor:
        f = features(model, images, opts.eval_batch).double().numpy()
        return F.one_hot(torch.as_tensor(km.predict(f).astype(np.int64)), K).float()

    return F.one_hot(lab, K).float(), info, assign_kmeans


def fine_stage_options(opts: SelfTrainOptions, over: OverClusterOptions) -> SelfTrainOptions:
    """The stage's options at K_over: the same, but for ``fine_rounds`` and the guards. The collapse guard's upper
    bound grows by ``factor``: a fine cluster holding a whole class (factor x N/K_over images, e.g. every "1" in one
    cluster) is what over-clustering expects of a homogeneous class, not a collapse; a fine cluster that empties
    loses no class (the class has its other fine clusters), so there is no lower bound. The criterion guard is off
    (min_rounds = the rounds): at K_over the criterion swings by more than guard_tol from round to round while the
    balanced pseudo-labels split classes (MNIST from a GM-GAN route: 0.35 -> 0.30 in round 4, which stopped the
    fine stage with a third of its clusters nearly empty), and the fine stage's result is not the output: the stage
    at K that follows the merge keeps its own guard, which rolls back to the merged assignment."""
    from dataclasses import replace

    rounds = over.fine_rounds or opts.max_rounds
    return replace(opts, max_rounds=rounds, min_rounds=rounds, min_cluster=0.0,
                   max_cluster=opts.max_cluster * over.factor)


def self_train_over(x: Tensor, init: Tensor, K: int, over: OverClusterOptions | None = None,
                    opts: SelfTrainOptions | None = None, seed: int = 0, device: str = "cpu", progress: bool = True,
                    x_eval: Tensor | None = None, y_eval: Any = None) -> SelfTrainResult:
    """The stage with over-clustering (see :class:`OverClusterOptions`): split ``init``'s clusters into
    factor x K, self-train at that K_over, merge the fine clusters into K label-free, self-train at K from the
    merged assignment. The result is the final stage's, with ``info["over_cluster"]`` recording the fine stage
    (its history, stop reason) and the merge. Deterministic given ``seed``; labels (``y_eval``) only scored."""
    over = over or OverClusterOptions()
    over.validate()
    opts = opts or SelfTrainOptions()
    opts.validate()
    if init.dim() != 2 or init.shape[1] != K or init.shape[0] != x.shape[0]:
        raise ConfigError(f"init must be (N, K) = ({x.shape[0]}, {K}) soft assignments. Got {tuple(init.shape)}.")
    start = time.perf_counter()
    M = over.factor * K
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fine_init = split_clusters(x.float().cpu(), init.cpu(), over.factor, seed, over.split_components)
    fine_opts = fine_stage_options(opts, over)
    if progress:
        print(f"over-clustering: the stage at K_over = {M} ({over.factor} x {K}), then merge ({over.merge}) to {K}",
              flush=True)
    fine = self_train(x, fine_init, M, fine_opts, seed=seed, device=device, progress=progress, x_eval=x_eval,
                      y_eval=None)
    t_merge = time.perf_counter()
    if fine.model is None:  # the guard rejected the fine stage's first round: merge its init by the route's clusters
        merged = init.float().cpu()
        minfo: dict[str, Any] = {"merge": "none (the fine stage rolled back to its init)"}
    else:
        merged, minfo, _ = merge_fine_clusters(fine.model, x.float().cpu(), fine.soft, K, over.merge, seed, opts,
                                            over.merge_images)
    minfo["seconds"] = round(time.perf_counter() - t_merge, 1)
    if progress:
        sizes = torch.bincount(merged.argmax(1), minlength=K)
        print(f"over-clustering: merged {M} -> {K} ({minfo['merge']}), sizes {sizes.min()}..{sizes.max()}, "
              f"{minfo['seconds']:.0f} s", flush=True)
    result = self_train(x, merged, K, opts, seed=seed, device=device, progress=progress, x_eval=x_eval,
                        y_eval=y_eval)
    result.info["over_cluster"] = {"options": asdict(over), "K_over": M, "fine_stop_reason": fine.info["stop_reason"],
                                   "fine_rounds": fine.info["rounds"], "fine_chosen_round": fine.info["chosen_round"],
                                   "fine_seconds": fine.info["seconds"], "fine_history": fine.history, **minfo}
    result.info["seconds"] = round(time.perf_counter() - start, 1)
    return result


# ---------------------------------------------------------------------------------------------- re-clustering
@dataclass
class ReclusterOptions:
    """Re-clustering of the stage's features on their manifold (ours, after N2D: McConville et al. 2020, "N2D: (Not
    Too) Deep Clustering via Clustering the Local Manifold of an Autoencoded Embedding"): the trained network's
    penultimate features of the images are embedded by UMAP (McInnes et al. 2018) and a Gaussian mixture is fitted
    to the embedding; its soft assignments start the stage again at K. Where the stage ends with a pair of classes
    partly mixed (4/9, 3/5/8 on MNIST), their images still form separate neighbourhoods in feature space that
    UMAP's nearest-neighbour graph keeps apart, while the network's softmax boundary cuts through them. N2D's
    settings, used on all its datasets, not tuned here."""

    neighbours: int = 20  # N2D's n_neighbors (UMAP's default is 15): local enough to follow a class's manifold
    min_dist: float = 0.0  # UMAP's documented setting for clustering: points may pack tightly
    components: int = 0  # embedding dimensions; 0 = K, as N2D (one dimension per cluster)
    covariance: str = "full"  # N2D's mixture: full covariances (scikit-learn GaussianMixture, seeded)
    rounds: int = 2  # re-cluster and learn again up to this many times while the stage's criterion does not drop
    gmm_inits: int = 10  # the mixture is fitted from this many k-means++ starts and the highest likelihood kept
    #   (EM from one start can leave two classes in one component: one MNIST seed 0.844 instead of 0.963)
    fit_images: int = 60_000  # UMAP is fitted on at most this many images (a random subset, seeded) and the rest
    #   are placed with its transform: bounds the cost (~2.5 min for 60k on one core) on large folders

    def validate(self) -> None:
        if self.rounds < 1 or self.gmm_inits < 1:
            raise ConfigError(f"re-clustering needs rounds >= 1 and gmm_inits >= 1. Got {self.rounds!r}, "
                              f"{self.gmm_inits!r}.")
        if self.neighbours < 2 or self.min_dist < 0 or self.components < 0 or self.fit_images < 10:
            raise ConfigError("re-clustering needs neighbours >= 2, min_dist >= 0, components >= 0, fit_images >= "
                              f"10. Got {self.neighbours!r}, {self.min_dist!r}, {self.components!r}, "
                              f"{self.fit_images!r}.")
        if self.covariance not in ("full", "tied", "diag", "spherical"):
            raise ConfigError(f"re-clustering covariance must be full, tied, diag or spherical. Got "
                              f"{self.covariance!r}.")


def manifold_assign(model: nn.Module, x: Tensor, K: int, seed: int = 0, ro: ReclusterOptions | None = None,
                    batch: int = 256) -> tuple[Tensor, dict[str, Any]]:
    """(N, K) soft assignments of x by a Gaussian mixture on a UMAP embedding of ``model``'s features (see
    :class:`ReclusterOptions`), and a record. Needs umap-learn."""
    import numpy as np
    from sklearn.mixture import GaussianMixture

    try:
        import umap
    except ImportError as exc:  # pragma: no cover - a dependency of gmgan
        raise ConfigError("re-clustering needs umap-learn: pip install umap-learn") from exc
    ro = ro or ReclusterOptions()
    ro.validate()
    start = time.perf_counter()
    f = features(model, x, batch).numpy()
    N = len(f)
    dims = ro.components or K
    reducer = umap.UMAP(n_components=dims, n_neighbors=min(ro.neighbours, N - 1), min_dist=ro.min_dist,
                        random_state=seed, n_jobs=1)
    order = np.random.RandomState(seed).permutation(N)
    fit = order[: ro.fit_images]
    emb = np.empty((N, dims), dtype=np.float32)
    emb[fit] = reducer.fit_transform(f[fit])
    if len(fit) < N:
        emb[order[ro.fit_images:]] = reducer.transform(f[order[ro.fit_images:]])
    gmm = GaussianMixture(K, covariance_type=ro.covariance, random_state=seed, n_init=ro.gmm_inits,
                          reg_covar=1e-5).fit(emb)
    soft = torch.as_tensor(gmm.predict_proba(emb)).float()
    info = {"options": asdict(ro), "embedding_dims": dims, "umap_images": len(fit), "gmm_converged":
            bool(gmm.converged_), "gmm_lower_bound": round(float(gmm.lower_bound_), 5),
            "seconds": round(time.perf_counter() - start, 1)}
    return soft, info


def final_criterion(result: SelfTrainResult) -> float | None:
    """The stage's label-free criterion at the round it kept (None when it kept no round)."""
    kept = result.info.get("chosen_round")
    for h in result.history:
        if h.get("round") == kept and h.get("criterion") is not None:
            return float(h["criterion"])
    values = [h["criterion"] for h in result.history if h.get("criterion") is not None]
    return float(values[-1]) if values else None


def recluster_stage_options(opts: SelfTrainOptions) -> SelfTrainOptions:
    """The stage's options after re-clustering: the pseudo-labels stay the mixture's (``relabel`` False) at its own
    cluster sizes (``size_prior`` 0), so the network learns the re-clustered partition from strong views of its
    confident half instead of following its own early predictions, which are worse than the partition (MNIST,
    bench/recluster_probe.py from two over-clustered k-means stages, test ACC per round: from a mixture at train ACC
    0.966, the relabelling stage gave 0.952, 0.949 balanced and 0.949, 0.921 at kept sizes in its first two rounds,
    where those probes were stopped; this distillation gave 0.951 in round 1 and 0.969 when it converged in round 11,
    and 0.938 -> 0.966 on the other seed, from a mixture at 0.963)."""
    from dataclasses import replace

    return replace(opts, relabel=False, size_prior=0.0)


def self_train_recluster(x: Tensor, previous: SelfTrainResult, K: int, ro: ReclusterOptions | None = None,
                         opts: SelfTrainOptions | None = None, seed: int = 0, device: str = "cpu",
                         progress: bool = True, x_eval: Tensor | None = None, y_eval: Any = None) -> SelfTrainResult:
    """Up to ``ro.rounds`` times: re-cluster the current network's features (:func:`manifold_assign`) and train a
    network on that partition (:func:`recluster_stage_options`); a round is kept only when its label-free criterion
    is not below the current one, and the first round that is not kept ends the loop (so the step never makes a
    clustering worse by its own measure). The kept result's ``info["recluster"]`` records every round."""
    ro = ro or ReclusterOptions()
    ro.validate()
    opts = recluster_stage_options(opts or SelfTrainOptions())
    if previous.model is None:
        previous.info["recluster"] = {"kept_rounds": 0, "reason": "the previous stage kept no network"}
        return previous
    t0 = time.perf_counter()
    current, rounds = previous, []
    for r in range(1, ro.rounds + 1):
        assert current.model is not None
        soft, minfo = manifold_assign(current.model, x.float().cpu(), K, seed + r - 1, ro)
        if progress:
            sizes = torch.bincount(soft.argmax(1), minlength=K)
            print(f"re-clustering {r}/{ro.rounds}: UMAP ({minfo['embedding_dims']} dims) + Gaussian mixture on the "
                  f"network's features, sizes {sizes.min()}..{sizes.max()}, {minfo['seconds']:.0f} s; a network "
                  "learns it", flush=True)
        again = self_train(x, soft, K, opts, seed=seed, device=device, progress=progress, x_eval=x_eval,
                           y_eval=y_eval)
        before, after = final_criterion(current), final_criterion(again)
        keep = again.model is not None and after is not None and (before is None or after >= before)
        rounds.append({**minfo, "criterion_before": before, "criterion_after": after, "kept": keep,
                       "stage_stop_reason": again.info["stop_reason"], "stage_rounds": again.info["rounds"],
                       "stage_seconds": again.info["seconds"], "stage_history": again.history})
        if progress:
            print(f"re-clustering {r}/{ro.rounds}: criterion {before} -> {after}: "
                  f"{'kept' if keep else 'not kept; the previous network stays'}", flush=True)
        if not keep:
            break
        current = again
    record = {"rounds": rounds, "kept_rounds": sum(1 for q in rounds if q["kept"]),
              "seconds": round(time.perf_counter() - t0, 1)}
    if current is not previous:
        for key in ("over_cluster", "pick"):
            if key in previous.info:
                current.info[key] = previous.info[key]
        current.info["stage_before_recluster"] = {k: previous.info.get(k) for k in (
            "stop_reason", "rounds", "chosen_round", "seconds")} | {"history": previous.history}
    current.info["recluster"] = record
    current.info["seconds"] = round(previous.info.get("seconds", 0) + record["seconds"], 1)
    return current
