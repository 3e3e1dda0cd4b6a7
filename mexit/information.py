"""Mutual information of layer representations and the information bottleneck (survey §7.3;
Shwartz-Ziv & Tishby; Elad et al.). All quantities are in bits.

Estimators:
- binning (Shwartz-Ziv & Tishby): discretise activations into equal-width bins and count;
- `kernel_mi`: a plug-in estimator from Gaussian kernel density estimates, for continuous
  pairs;
- `pairwise_mi` / `kernel_information_plane`: I(X;T) and I(T;Y) for a noisy representation
  T = h + N(0, σ²) (the survey's footnote 4: finite where the deterministic I(X;h) is not),
  by Kolchinsky & Tracey's pairwise distances (2017, "Estimating mixture entropy with
  pairwise distances"): the KL divergence between the noise Gaussians gives an UPPER bound on
  I(X;T), the Bhattacharyya distance a LOWER bound (Saxe et al. 2018 used both).
  `gaussian_channel_mi` is the closed form they are validated against.

The local IB objective of eq. 15 in its consistent sense, *maximise* I(Y;F_i) − β I(X;F_i),
is trained as minimise CE_i + β Î(X;F_i) (`local_ib_loss`): the head's cross-entropy bounds
I(Y;F_i) from below, Î is the pairwise upper bound on the minibatch. `sign_loss` trains
either sense of (15) with the pairwise estimate for both terms, so that the two can be
compared. Elad et al. estimate both terms with a neural estimator (a modification of MINE,
i.e. auxiliary networks trained as discriminators); mexit replaces it by these closed-form
estimates.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_float, check_int, check_labels, check_tensor
from .data import load_mnist1d
from .heads import pooled_head
from .models import MultiExitNet, embedding_shapes, eval_mode
from .runs import build_for, cached_fit, fit_run, run_budget

LOG2 = math.log(2.0)


def _check_bins(bins) -> int:
    bins = check_int(bins, "bins")
    if bins < 2:
        raise ValueError(f"bins must be >= 2 (one bin carries no information), got {bins}")
    return bins


def _as_2d(t, name: str) -> torch.Tensor:
    check_tensor(t, name)
    if t.ndim == 0:
        raise ValueError(f"{name} must have a batch dimension, got a scalar")
    return t.reshape(t.shape[0], -1)


def discretize(t: torch.Tensor, bins: int = 30) -> torch.Tensor:
    """Equal-width bin index (0..bins-1) of every entry of `t` (N, ...), over t's own range."""
    bins = _check_bins(bins)
    t = _as_2d(t, "t").float()
    lo, hi = t.min(), t.max()
    if hi <= lo:
        return torch.zeros_like(t, dtype=torch.long)
    return ((t - lo) / (hi - lo) * bins).long().clamp_(0, bins - 1)


def entropy(symbols: torch.Tensor) -> float:
    """Plug-in entropy (bits) of discrete symbols: (N,) values or (N, d) rows, each row one
    symbol. At most log2 N."""
    symbols = _as_2d(symbols, "symbols")
    if symbols.is_floating_point():
        raise TypeError("symbols must be integers (discretize continuous values first)")
    _, counts = torch.unique(symbols, dim=0, return_counts=True)
    p = counts.double() / symbols.shape[0]
    return float(-(p * p.log2()).sum())


def binned_mi(a: torch.Tensor, b: torch.Tensor, bins: int = 30) -> float:
    """I(A;B) = H(A) + H(B) − H(A,B) in bits, after binning each continuous variable into
    `bins` equal-width bins (integer tensors, e.g. labels, are used as they are)."""
    bins = _check_bins(bins)
    a2, b2 = _as_2d(a, "a"), _as_2d(b, "b")
    if a2.shape[0] != b2.shape[0]:
        raise ValueError(
            f"a and b must have the same number of samples, got {a2.shape[0]} and {b2.shape[0]}"
        )
    da = discretize(a2, bins) if a2.is_floating_point() else a2.long()
    db = discretize(b2, bins) if b2.is_floating_point() else b2.long()
    return entropy(da) + entropy(db) - entropy(torch.cat([da, db], dim=1))


def _kde_entropy(z: torch.Tensor, bandwidth: float, chunk: int = 256) -> float:
    """Leave-one-out Gaussian KDE estimate of the differential entropy of z (N, d), in bits.
    Rows are processed `chunk` at a time, so memory stays O(chunk · N)."""
    n, d = z.shape
    log_density = []
    for s in range(0, n, chunk):
        sq = torch.cdist(z[s : s + chunk], z).square()
        rows = torch.arange(sq.shape[0])
        sq[rows, rows + s] = float("inf")  # leave each point out of its own estimate
        log_density.append(torch.logsumexp(-sq / (2 * bandwidth**2), dim=1))
    log_density = (
        torch.cat(log_density) - math.log(n - 1) - d * math.log(bandwidth * math.sqrt(2 * math.pi))
    )
    return float(-log_density.mean() / LOG2)


def kernel_mi(a: torch.Tensor, b: torch.Tensor, bandwidth: float | None = None) -> float:
    """I(A;B) in bits from Gaussian kernel density estimates: Ĥ(A) + Ĥ(B) − Ĥ(A,B), each a
    leave-one-out KDE entropy of the standardised samples. bandwidth: the kernel width in
    standard deviations (default: 0.7 N^(-1/(d+4)), Scott's rule for the joint dimension d
    shrunk by 0.7: over-smoothing the joint density biases MI down)."""
    a2, b2 = _as_2d(a, "a").double(), _as_2d(b, "b").double()
    n = a2.shape[0]
    if b2.shape[0] != n:
        raise ValueError(f"a and b must have the same number of samples, got {n} and {b2.shape[0]}")
    if n < 3:
        raise ValueError(f"a and b must hold at least 3 samples each, got {n}")
    z = torch.cat([a2, b2], dim=1)
    z = (z - z.mean(0)) / z.std(0).clamp_min(1e-12)
    if bandwidth is None:
        bandwidth = 0.7 * n ** (-1.0 / (z.shape[1] + 4))
    bandwidth = check_float(bandwidth, "bandwidth", low=0.0)
    if bandwidth == 0:
        raise ValueError("bandwidth must be > 0")
    da = a2.shape[1]
    return (
        _kde_entropy(z[:, :da], bandwidth)
        + _kde_entropy(z[:, da:], bandwidth)
        - _kde_entropy(z, bandwidth)
    )


def normalize_representation(h: torch.Tensor) -> torch.Tensor:
    """Flatten h (N, ...) and scale it so the mean squared distance to its mean is 1, so that
    layers of different widths and scales share one noise level."""
    z = _as_2d(h, "h").float()
    z = z - z.mean(0)
    return z / z.square().sum(1).mean().sqrt().clamp_min(1e-12)


BOUNDS = ("upper", "lower")


def _pairwise_mi_bits(z: torch.Tensor, noise: float, bound: str = "upper") -> torch.Tensor:
    """Kolchinsky & Tracey's pairwise bounds on I(X; T) for T = z_X + N(0, noise² I), X uniform
    over the rows of z: −mean_i log2 mean_j exp(−D(i, j)) with D the KL divergence
    |z_i−z_j|²/2σ² (an upper bound) or the Bhattacharyya distance |z_i−z_j|²/8σ² (a lower
    bound). Differentiable in z; in bits."""
    n = z.shape[0]
    scale = 2.0 if bound == "upper" else 8.0
    sq = torch.cdist(z, z).square()
    lse = torch.logsumexp(-sq / (scale * noise**2), dim=1) - math.log(n)
    return -lse.mean() / LOG2


def _check_bound(bound) -> str:
    if bound not in BOUNDS:
        raise ValueError(f"bound must be 'upper' (KL) or 'lower' (Bhattacharyya), got {bound!r}")
    return bound


def _check_noise(noise) -> float:
    noise = check_float(noise, "noise", low=0.0)
    if noise == 0:
        raise ValueError(
            "noise must be > 0 (with no noise, I(X;T) of a deterministic net is infinite)"
        )
    return noise


def pairwise_mi(h: torch.Tensor, noise: float = 0.5, bound: str = "upper") -> float:
    """A bound on I(X; T) in bits, T = normalized h + N(0, noise² I), X uniform over the rows
    of h (N, ...): Kolchinsky & Tracey's pairwise-distance estimate, "upper" (KL divergence)
    or "lower" (Bhattacharyya distance). noise is in units of h's RMS radius. Both lie in
    [0, log2 N]."""
    z = normalize_representation(h)
    noise, bound = _check_noise(noise), _check_bound(bound)
    with torch.no_grad():
        return float(_pairwise_mi_bits(z, noise, bound))


def gaussian_channel_mi(dim: int, noise: float = 0.5) -> float:
    """The exact I(X; T) in bits of the Gaussian channel the pairwise bounds are checked on:
    X ~ N(0, I/dim) (mean squared distance to the mean 1, as `normalize_representation`
    makes it) and T = X + N(0, noise² I): dim/2 · log2(1 + 1/(dim · noise²))."""
    dim = check_int(dim, "dim", low=1)
    noise = _check_noise(noise)
    return 0.5 * dim * math.log2(1 + 1 / (dim * noise**2))


def _plane_bits(z: torch.Tensor, y: torch.Tensor, noise: float, bound: str):
    i_xt = _pairwise_mi_bits(z, noise, bound)
    cond = sum(
        (y == c).float().mean() * _pairwise_mi_bits(z[y == c], noise, bound)
        for c in torch.unique(y)
        if (y == c).sum() > 0
    )
    return i_xt, i_xt - cond


def kernel_information_plane(
    h: torch.Tensor, y: torch.Tensor, noise: float = 0.5, bound: str = "upper"
):
    """(I(X;T), I(T;Y)) in bits for T = normalized h + N(0, noise²), by Kolchinsky & Tracey's
    pairwise estimate (as in Saxe et al.), I(T;Y) = I(X;T) − Σ_y p(y) I(X;T | Y=y), each term
    by the same `bound` ("upper": KL, the plane Saxe et al. drew; "lower": Bhattacharyya).
    I(X;T) is a proven bound; I(T;Y), a difference of two bounds of the same kind, is an
    estimate, not a bound. noise is in units of the representation's RMS radius."""
    z = normalize_representation(h)
    check_labels(y, z.shape[0], "y")
    noise, bound = _check_noise(noise), _check_bound(bound)
    with torch.no_grad():
        i_xt, i_ty = _plane_bits(z, y, noise, bound)
    return float(i_xt), float(i_ty)


def binned_information_plane(h: torch.Tensor, y: torch.Tensor, bins: int = 30):
    """(I(X;T), I(T;Y)) in bits by binning (Shwartz-Ziv & Tishby): T = the binned h; with
    every x distinct and T a function of x, I(X;T) = H(T) and I(T;Y) = H(T) − H(T|Y).
    Saturates at log2 N once every input has its own bin pattern."""
    check_tensor(h, "h", dtype_kind="float")
    t = discretize(h, bins)
    check_labels(y, t.shape[0], "y")
    h_t = entropy(t)
    h_t_given_y = sum(float((y == c).float().mean()) * entropy(t[y == c]) for c in torch.unique(y))
    return h_t, h_t - h_t_given_y


def information_plane(model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, noise=0.5, bins=30):
    """The estimates for every block's embedding h_1..h_L of `model` on (x, y), in bits:
    {"upper": [(I_XT, I_TY) per layer] (pairwise KL, noisy T), "lower": [...] (pairwise
    Bhattacharyya, noisy T), "binning": [...] (deterministic h)}."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    check_labels(y, x.shape[0], "y")
    noise, bins = _check_noise(noise), _check_bins(bins)
    with eval_mode(model), torch.inference_mode():
        hs = model.embeddings(x)
    return {
        "upper": [kernel_information_plane(h, y, noise, "upper") for h in hs],
        "lower": [kernel_information_plane(h, y, noise, "lower") for h in hs],
        "binning": [binned_information_plane(h, y, bins) for h in hs],
    }


def label_information_bound(logits: torch.Tensor, y: torch.Tensor, num_classes: int | None = None):
    """I(Y;F) ≥ H(Y) − CE (bits): the lower bound a head's cross-entropy gives (Barber &
    Agakov), with H(Y) the empirical label entropy."""
    check_tensor(logits, "logits", ndim=2, dtype_kind="float")
    check_labels(y, logits.shape[0], "y")
    if num_classes is not None:
        num_classes = check_int(num_classes, "num_classes", low=2)
    if y.min() < 0 or y.max() >= logits.shape[1]:
        raise ValueError(f"y must hold class indices in 0..{logits.shape[1] - 1} (logits columns)")
    ce = float(F.cross_entropy(logits.float(), y)) / LOG2
    return entropy(y) - ce


class RecordingBlock(nn.Module):
    """f_i on a detached input (no error crosses the block, as in layer-wise training) that
    keeps its last training-mode output, for a loss that needs the embedding F_i."""

    def __init__(self, block: nn.Module, detach: bool = True):
        super().__init__()
        if not isinstance(block, nn.Module):
            raise TypeError(f"block must be an nn.Module, got {type(block).__name__}")
        self.block, self.detach = block, bool(detach)
        self.output: torch.Tensor | None = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.block(h.detach() if self.detach else h)
        self.output = out if self.training else None
        return out


class ProbeHead(nn.Module):
    """A head c_i trained on a detached F_i: it reads what the block kept without shaping it
    (a probe), so the block learns from its own local objective only."""

    def __init__(self, head: nn.Module):
        super().__init__()
        if not isinstance(head, nn.Module):
            raise TypeError(f"head must be an nn.Module, got {type(head).__name__}")
        self.head = head

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(h.detach())


def ib_model(backbone: MultiExitNet, detach: bool = True, probes: bool = False) -> MultiExitNet:
    """The blocks and heads of `backbone` (shared) with every block a `RecordingBlock`; with
    `probes`, every head a `ProbeHead` (its cross-entropy never reaches the blocks)."""
    if not isinstance(backbone, MultiExitNet):
        raise TypeError(f"backbone must be a MultiExitNet, got {type(backbone).__name__}")
    if not isinstance(probes, bool):
        raise TypeError(f"probes must be a bool, got {type(probes).__name__}")
    heads = {int(k): ProbeHead(h) if probes else h for k, h in backbone.heads.items()}
    blocks = [RecordingBlock(b, detach) for b in backbone.blocks]
    return MultiExitNet(blocks, heads, exits=backbone.exits[:-1])


def _check_ib_model(model, probes: bool | None = None) -> None:
    if not isinstance(model, MultiExitNet) or not all(
        isinstance(b, RecordingBlock) for b in model.blocks
    ):
        raise TypeError("model must be built with information.ib_model (blocks record F_i)")
    if probes and not all(isinstance(h, ProbeHead) for h in model.heads.values()):
        raise ValueError("model must be built with ib_model(..., probes=True) (probe heads)")


def local_ib_loss(model: MultiExitNet, beta: float, noise: float = 0.5):
    """Eq. 15 made a loss: for every exit i, CE_i + β Î(X;F_i), to minimise — the same as
    maximising I(Y;F_i) − β I(X;F_i) with I(Y;F_i) bounded by the head's cross-entropy
    (the printed "minimise" has the sense reversed). Î is the pairwise KL upper bound on
    I(X; T_i) on the minibatch, T_i = the normalised F_i + N(0, noise²).

    `model` must come from `ib_model` (its blocks record F_i). Returns loss(outputs, y) ->
    (total, per_exit cross-entropies), as `mexit.fit` expects."""
    _check_ib_model(model)
    beta = check_float(beta, "beta")
    if beta < 0:
        raise ValueError(f"beta must be >= 0 (it weighs the compression term), got {beta}")
    noise = _check_noise(noise)
    exits = model.exits

    def loss(outputs, y):
        per_exit = torch.stack([F.cross_entropy(o, y) for o in outputs])
        total = per_exit.sum()
        if beta > 0:
            for i in exits:
                f_i = model.blocks[i - 1].output
                total = total + beta * LOG2 * _pairwise_mi_bits(
                    normalize_representation(f_i), noise
                )
        return total, per_exit.detach()

    return loss


SENSES = ("maximise", "minimise")


def sign_loss(model: MultiExitNet, beta: float, sense: str, noise: float = 0.5):
    """Eq. 15 trained in either sense, with the same estimate for both terms: every block i
    gets s · (Î(T_i;Y) − β Î(X;T_i)), s = −1 to *maximise* (15) (the IB's sense) or s = +1
    to *minimise* it (the survey's printed wording), Î the pairwise upper-bound estimate on
    the minibatch of T_i = normalised F_i + N(0, noise²). No classification loss reaches a
    block: the heads are probes (`ib_model(..., probes=True)`), trained by their
    cross-entropy on the detached F_i to read how much of the label the block kept.
    Returns loss(outputs, y) -> (total, per_exit cross-entropies), as `mexit.fit` expects."""
    _check_ib_model(model, probes=True)
    beta = check_float(beta, "beta")
    if beta < 0:
        raise ValueError(f"beta must be >= 0 (it weighs the compression term), got {beta}")
    if sense not in SENSES:
        raise ValueError(f"sense must be 'maximise' or 'minimise', got {sense!r}")
    noise = _check_noise(noise)
    sign = -1.0 if sense == "maximise" else 1.0

    def loss(outputs, y):
        per_exit = torch.stack([F.cross_entropy(o, y) for o in outputs])
        total = per_exit.sum()
        for i in model.exits:
            z = normalize_representation(model.blocks[i - 1].output)
            i_xt, i_ty = _plane_bits(z, y, noise, "upper")
            total = total + sign * LOG2 * (i_ty - beta * i_xt)
        return total, per_exit.detach()

    return loss


def _ib_build(data, probes: bool = False):
    """The running example sized from `data`, each head pooling to 4 positions then linear."""
    backbone = build_for("mnist1d_cnn", {}, data)
    shapes = embedding_shapes(backbone.blocks, tuple(data.input_shape))
    heads = {i: pooled_head(shapes[i - 1], data.num_classes, output_size=4) for i in backbone.exits}
    return ib_model(MultiExitNet(list(backbone.blocks), heads), probes=probes)


def train_sign(
    sense: str,
    *,
    beta: float = 0.1,
    epochs: int = 2,
    lr: float = 1e-2,
    noise: float = 0.5,
    seed: int = 0,
    progress: bool = True,
    root=None,
):
    """Layer-wise (detached blocks) training of the running example with `sign_loss` in the
    given sense of eq. 15, probe heads reading every block. Cached per sense and seed;
    returns (model, extras) with the validation history of the probes in extras."""
    if sense not in SENSES:
        raise ValueError(f"sense must be 'maximise' or 'minimise', got {sense!r}")
    beta = check_float(beta, "beta", low=0.0)
    budget = run_budget(epochs=epochs, lr=lr, seed=seed)
    noise = _check_noise(noise)
    config = dict(sense=sense, beta=beta, noise=noise, **budget, version=1)

    data = load_mnist1d()

    def train(model):
        loss = sign_loss(model, beta, sense, noise)
        desc = f"eq. 15, {sense}"
        return fit_run(model, data, config, loss=loss, progress=progress, desc=desc)

    def build():
        return _ib_build(data, probes=True)

    return cached_fit(f"ib_sign_{sense}", config, build, train, root=root)


def train_ib(
    beta: float,
    *,
    epochs: int = 8,
    lr: float = 1e-2,
    noise: float = 0.5,
    seed: int = 0,
    progress: bool = True,
    root=None,
):
    """Layer-wise (detached blocks) training of the running example, each head pooling its
    feature map to 4 positions then linear, with the local IB loss at trade-off β, cached.
    Returns (model, extras) with the validation history in extras."""
    beta = check_float(beta, "beta", low=0.0)
    budget = run_budget(epochs=epochs, lr=lr, seed=seed)
    noise = _check_noise(noise)
    config = dict(beta=beta, noise=noise, **budget, version=1)

    data = load_mnist1d()

    def train(model):
        loss = local_ib_loss(model, beta, noise)
        desc = f"local IB, β = {beta}"
        return fit_run(model, data, config, loss=loss, progress=progress, desc=desc)

    def build():
        return _ib_build(data)

    return cached_fit(f"ib_beta_{beta:g}", config, build, train, root=root)


def train_joint_with_plane(
    *,
    epochs: int = 10,
    lr: float = 3e-3,
    samples: int = 500,
    noise: float = 0.5,
    bins: int = 30,
    seed: int = 0,
    progress: bool = True,
    root=None,
):
    """Joint training (eq. 6) of the running example, recording the information plane of
    every layer after every epoch on `samples` validation inputs. Cached; returns (model,
    extras) with extras["plane"][epoch]["upper" | "lower" | "binning"][layer] = (I_XT, I_TY)."""
    budget = run_budget(epochs=epochs, lr=lr, seed=seed)
    samples = check_int(samples, "samples", low=10)
    noise, bins = _check_noise(noise), _check_bins(bins)
    config = dict(samples=samples, noise=noise, bins=bins, **budget, version=2)

    data = load_mnist1d()

    def train(model):
        xs, ys = data.x_val[:samples], data.y_val[:samples]
        steps_per_epoch = -(-data.x_train.shape[0] // 128)
        planes = [information_plane(model, xs, ys, noise, bins)]

        def on_step(step, m):
            if step % steps_per_epoch == 0:
                planes.append(information_plane(m, xs, ys, noise, bins))
                m.train()

        h = fit_run(
            model,
            data,
            config,
            batch_size=128,
            on_step=on_step,
            progress=progress,
            desc="joint training, recording the information plane",
        )
        return {"val_accuracy": h.val_accuracy, "seconds": h.seconds, "plane": planes}

    def build():
        return build_for("mnist1d_cnn", {}, data)

    return cached_fit("ib_joint_plane", config, build, train, root=root)
