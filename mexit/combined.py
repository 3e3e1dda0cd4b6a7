"""Joint training on a combined output (survey §5.2, eq. 8).

Instead of summing the exits' losses, merge their predictions and train on the merged one:

    ŷ = α f(x) + Σ_{i<L} α_i c_i(x)                                             (8)

with the weights learned with θ: free, constrained positive, or a softmax (a convex
combination); or a fixed max- or average-pooling of the exits (DDNN). Every c_i(x) enters as
log-probabilities, log softmax(c_i(x)), so exits whose logits have different scales are
comparable: average pooling is then the normalised geometric mean of the exits'
distributions, max pooling takes for every class its most confident exit.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_float, check_int, check_tensor
from .checkpoints import cache_name, cached_model, state_fingerprint
from .data import load_dataset
from .models import MultiExitNet
from .training import History, fit_bundle

MODES = ("free", "positive", "softmax", "max", "average")
LEARNED = ("free", "positive", "softmax")


class CombinedOutput(MultiExitNet):
    """A multi-exit network whose answer is eq. 8's combination ŷ of all its exits.

    Built on an existing `MultiExitNet` (blocks and heads shared, not copied), it is itself a
    MultiExitNet: `forward` returns every exit's logits, so `fit`, `evaluate` and `exit_probs`
    work unchanged; `combine(outputs)` gives ŷ, `loss` trains on it (pass it to `fit`).
    `alpha` holds the weights in exit order (α_1..α_{L-1}, then α of the final exit)."""

    def __init__(self, model: MultiExitNet, mode: str = "softmax"):
        if not isinstance(model, MultiExitNet):
            raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        heads = {int(k): h for k, h in model.heads.items()}
        super().__init__(list(model.blocks), heads, exits=model.exits[:-1])
        self.mode = mode
        E = len(self.exits)
        if mode == "free":
            init = torch.full((E,), 1.0 / E)
        elif mode == "positive":  # softplus(raw) = 1/E
            init = torch.full((E,), math.log(math.expm1(1.0 / E)))
        else:
            init = torch.zeros(E)
        self.raw_alpha = nn.Parameter(init) if mode in LEARNED else None

    @property
    def alpha(self) -> torch.Tensor | None:
        """The effective weights (E,) of eq. 8 in exit order; None for max pooling."""
        if self.mode == "free":
            return self.raw_alpha
        if self.mode == "positive":
            return F.softplus(self.raw_alpha)
        if self.mode == "softmax":
            return self.raw_alpha.softmax(0)
        if self.mode == "average":
            return torch.full((len(self.exits),), 1.0 / len(self.exits))
        return None

    def combine(self, outputs) -> torch.Tensor:
        """ŷ (N, K) from the exits' logits (a list of E tensors (N, K), as `forward` returns)."""
        if not isinstance(outputs, (list, tuple)) or len(outputs) != len(self.exits):
            raise ValueError(
                f"outputs must be a list of {len(self.exits)} logits tensors (one per exit), "
                f"got {type(outputs).__name__} of length {len(outputs)}"
            )
        logp = torch.stack([F.log_softmax(o, -1) for o in outputs])  # (E, N, K)
        if self.mode == "max":
            return logp.max(0).values
        return (self.alpha.to(logp.dtype)[:, None, None] * logp).sum(0)

    def combined_logits(self, x: torch.Tensor) -> torch.Tensor:
        """ŷ for a batch x."""
        check_tensor(x, "x", dtype_kind="float")
        return self.combine(self(x))

    def loss(self, outputs, y: torch.Tensor):
        """For `fit`: (cross-entropy of ŷ, per-exit cross-entropies for the history)."""
        per_exit = torch.stack([F.cross_entropy(o, y) for o in outputs])
        return F.cross_entropy(self.combine(outputs), y), per_exit

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode!r}"


@torch.no_grad()
def combined_probs(model: CombinedOutput, x: torch.Tensor, batch_size: int = 1000):
    """softmax(ŷ) (N, K) of a CombinedOutput on x, in eval mode."""
    if not isinstance(model, CombinedOutput):
        raise TypeError(f"model must be a CombinedOutput, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    batch_size = check_int(batch_size, "batch_size", low=1)
    was = model.training
    model.eval()
    try:
        chunks = [
            model.combined_logits(x[s : s + batch_size]).softmax(-1)
            for s in range(0, x.shape[0], batch_size)
        ]
    finally:
        model.train(was)
    return torch.cat(chunks)


def run_combined(
    base: MultiExitNet,
    mode: str,
    *,
    dataset: str = "mnist1d",
    epochs: int = 2,
    lr: float = 3e-3,
    alpha_lr: float = 0.1,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
    root=None,
    retrain: bool = False,
) -> CombinedOutput:
    """Start from a copy of `base` (e.g. a jointly trained network) and train θ and α together
    on the combined output ŷ for `epochs` (α with its own, larger learning rate `alpha_lr`).
    Cached: a later call with the same base and settings loads the result.
    The returned model carries `.history`."""
    if not isinstance(base, MultiExitNet):
        raise TypeError(f"base must be a MultiExitNet, got {type(base).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    config = dict(
        base=state_fingerprint(base),
        mode=mode,
        dataset=dataset,
        epochs=check_int(epochs, "epochs", low=1),
        lr=check_float(lr, "lr", low=0.0),
        alpha_lr=check_float(alpha_lr, "alpha_lr", low=0.0),
        batch_size=check_int(batch_size, "batch_size", low=1),
        seed=check_int(seed, "seed", low=0),
        version=1,
    )

    def train(net):
        data = load_dataset(dataset)
        theta = [p for n, p in net.named_parameters() if n != "raw_alpha"]
        groups = [{"params": theta, "lr": lr}]  # fit's one-cycle peaks at each group's lr
        if net.raw_alpha is not None:
            groups.append({"params": [net.raw_alpha], "lr": alpha_lr})
        h = fit_bundle(
            net,
            data,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            loss=net.loss,
            parameters=groups,
            progress=progress,
            desc=f"combined ({mode})",
        )
        return h.as_dict()

    net, extras = cached_model(
        cache_name(f"combined_{mode}", config),
        config,
        lambda: CombinedOutput(copy.deepcopy(base), mode),
        train,
        root=root,
        retrain=retrain,
    )
    net.history = History.from_dict(net.exits, extras)
    return net
