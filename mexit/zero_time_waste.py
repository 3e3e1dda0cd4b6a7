"""Zero Time Waste: every exit decides with an ensemble of the exits before it.

Wołczyk, Wójcik, Bałazy, Podolak, Tabor, Śmieja and Trzciński (2021), "Zero Time Waste:
Recycling Predictions in Early Exit Neural Networks", NeurIPS 2021. A plain early-exit
network throws away what exits 1..i-1 computed when it asks exit i whether to stop. ZTW
recycles it in two ways: *cascade connections* (each head also reads the previous head's
output; this retrains the heads, and mexit does not do it) and **geometric ensembling**,
implemented here. The answer at exit i is a weighted geometric mean of the outputs of exits
1..i, with one learned weight per earlier exit and one learned bias per class:

    log q_i(x) = Σ_{j ≤ i} w_ij log c_j(x) + b_i − log Z_i(x),

Z_i normalising q_i to a distribution. The weights are fitted on the **validation** split
with the backbone and its heads frozen (negative log-likelihood of q_i, one small convex
problem per exit, from w_ii = 1 and the rest 0: at the start q_i = c_i). Cheap at inference
too: the outputs of the earlier exits already exist; each exit adds a weighted sum of i
vectors of C numbers.

The exit rule is ZTW's: leave at the first early exit whose ensemble is confident,
max_t q_it(x) ≥ τ_i, answering argmax q_i(x); the final exit answers with q_L, the ensemble
of every exit (so even the slowest inputs get the recycled predictions).

Exits are positions 0..E-1 in the model's exit list, as in `mexit.inference`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._checks import check_float, check_int, check_labels, check_probs, check_tensor
from ._checks import check_thresholds as _check_thresholds
from .cost import CostProfile
from .inference import (
    EarlyExitResult,
    _check_early_exit_args,
    _staged_early_exit,
    simulate_exits,
)
from .models import MultiExitNet

__all__ = ["ZeroTimeWaste", "fit_zero_time_waste", "ztw_exits", "ztw_early_exit"]

LOG_FLOOR = 1e-30  # probabilities are floored here before the log (a 0 would give −inf)


def _log(p: torch.Tensor) -> torch.Tensor:
    return p.double().clamp_min(LOG_FLOOR).log()


@dataclass(frozen=True)
class ZeroTimeWaste:
    """ZTW's geometric ensembles (see the module's docstring): `weights[i, j]` is w_ij, the
    weight of exit j's log-probabilities in exit i's ensemble (zero for j > i), `bias[i]` the
    class biases b_i. Build it with `fit_zero_time_waste`."""

    weights: torch.Tensor  # (E, E), lower triangular
    bias: torch.Tensor  # (E, K)

    def __post_init__(self):
        check_tensor(self.weights, "weights", ndim=2, dtype_kind="float", finite=True)
        check_tensor(self.bias, "bias", ndim=2, dtype_kind="float", finite=True)
        E = self.weights.shape[0]
        if self.weights.shape != (E, E):
            raise ValueError(f"weights must be square (E, E), got {tuple(self.weights.shape)}")
        if bool((self.weights.triu(1) != 0).any()):
            raise ValueError("weights must be lower triangular: exit i reads only exits j ≤ i")
        if self.bias.shape[0] != E or self.bias.shape[1] < 2:
            raise ValueError(
                f"bias must have shape (E={E}, K ≥ 2) to match weights, got "
                f"{tuple(self.bias.shape)}"
            )

    @property
    def n_exits(self) -> int:
        return self.weights.shape[0]

    def _check(self, probs) -> torch.Tensor:
        probs = check_probs(probs)
        if probs.shape[0] != self.n_exits or probs.shape[-1] != self.bias.shape[1]:
            raise ValueError(
                f"probs must hold the {self.n_exits} exits and {self.bias.shape[1]} classes "
                f"the ensembles were fitted on, got shape {tuple(probs.shape)}"
            )
        return probs

    def _logits(self, i: int, logs) -> torch.Tensor:
        """Σ_{j ≤ i} w_ij log c_j + b_i for the log-outputs `logs[j]` (n, K), j ≤ i, summed
        in the order j = 0..i (the same order in the simulation and in the real run)."""
        device = logs[0].device
        z = self.bias[i].to(device, torch.float64).expand_as(logs[0])
        for j in range(i + 1):
            z = z + float(self.weights[i, j]) * logs[j]
        return z

    def ensemble(self, probs) -> torch.Tensor:
        """q_i(x) of every exit, (E, N, K) float64: the ensembles the exit rule reads."""
        probs = self._check(probs)
        logs = [_log(p) for p in probs]
        return torch.stack([self._logits(i, logs).softmax(-1) for i in range(self.n_exits)])


def fit_zero_time_waste(probs, labels, *, l2: float = 1e-3, steps: int = 100) -> ZeroTimeWaste:
    """Fit ZTW's geometric ensembles on frozen exits' outputs (the validation split).

    probs (E, N, K): softmax of every exit; labels (N,). For each exit i, minimise the mean
    negative log-likelihood of q_i + l2 · (|w_i − e_i|² + |b_i|²) by L-BFGS (full batch,
    deterministic), from q_i = c_i. The penalty keeps a few hundred validation inputs from
    pulling the weights far from the exits' own outputs."""
    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1], num_classes=probs.shape[-1])
    l2 = check_float(l2, "l2", low=0.0)
    steps = check_int(steps, "steps", low=1)
    E, _, K = probs.shape
    logs = torch.stack([_log(p) for p in probs]).cpu()  # (E, N, K); fitted on the CPU
    labels = labels.cpu()
    weights = torch.zeros(E, E, dtype=torch.float64)
    bias = torch.zeros(E, K, dtype=torch.float64)
    for i in range(E):
        w0 = torch.zeros(i + 1, dtype=torch.float64)
        w0[i] = 1.0
        w = w0.clone().requires_grad_(True)
        b = torch.zeros(K, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

        def closure(i=i, w=w, b=b, w0=w0, opt=opt):
            opt.zero_grad()
            z = torch.einsum("j,jnk->nk", w, logs[: i + 1]) + b
            loss = F.cross_entropy(z, labels) + l2 * ((w - w0).pow(2).sum() + b.pow(2).sum())
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        weights[i, : i + 1] = w.detach()
        bias[i] = b.detach()
    return ZeroTimeWaste(weights, bias)


def _check_ztw(ztw) -> ZeroTimeWaste:
    if not isinstance(ztw, ZeroTimeWaste):
        raise TypeError(
            f"ztw must be a ZeroTimeWaste (fit_zero_time_waste(val_probs, val_labels)), "
            f"got {type(ztw).__name__}"
        )
    return ztw


def ztw_exits(probs, ztw: ZeroTimeWaste, thresholds) -> tuple[torch.Tensor, torch.Tensor]:
    """ZTW from the outputs of every exit computed beforehand (the simulation).

    thresholds: τ in [0, 1] shared by the early exits, or one per early exit: leave at the
    first early exit with max_t q_it ≥ τ_i. Returns (exit_index, predictions), each (N,):
    the exit position 0..E-1 each input takes (as `mexit.simulate_exits` returns) and the
    ensemble's class there."""
    ztw = _check_ztw(ztw)
    q = ztw.ensemble(probs)
    _check_thresholds(thresholds, ztw.n_exits)
    exit_index = simulate_exits(q, thresholds, "max_probability")
    predictions = q.argmax(-1).gather(0, exit_index[None]).squeeze(0)
    return exit_index, predictions


def ztw_early_exit(
    model: MultiExitNet,
    x: torch.Tensor,
    ztw: ZeroTimeWaste,
    thresholds,
    costs: CostProfile | None = None,
) -> EarlyExitResult:
    """Real ZTW on a batch: run block by block, keep the log-outputs of the exits each active
    row went through, ensemble them at every exit, drop the rows that leave. Same exits and
    predictions as `ztw_exits` on the same outputs."""
    ztw = _check_ztw(ztw)
    costs = _check_early_exit_args(model, x, costs)
    if ztw.n_exits != len(model.exits):
        raise ValueError(
            f"ztw must be fitted on this model's {len(model.exits)} exits, got {ztw.n_exits}"
        )
    th = _check_thresholds(thresholds, ztw.n_exits)

    def decide(k, p, state):
        logs = [*state, _log(p)]
        q = ztw._logits(k, logs).softmax(-1)
        if k < len(th):
            leave = q.max(-1).values >= float(th[k])
        else:  # the final exit: everyone still here leaves
            leave = torch.ones(len(p), dtype=torch.bool, device=p.device)
        return leave, q.argmax(-1), logs

    return _staged_early_exit(model, x, decide, costs)
