"""Cost-weighted exit decisions on a pre-trained backbone (survey §6.1, ref. [12]).

Bolukbasi et al. (2017, "Adaptive Neural Networks for Efficient Inference") keep a trained
network frozen and learn only *when to leave*. Their global objective, for one input, is

    loss of the exit it leaves at  +  λ · (cost it paid),

and they reduce it to one **weighted binary classification** per early exit, learned from
the last early exit back to the first. At exit k the two options cost

    C_k = ℓ_k(x, y)                                     (leave now: the exit's 0/1 error)
    D_k = V_{k+1}(x, y) + λ · (Γ_{k+1} − Γ_k) / Γ_full  (go on: pay the next stage, then
                                                          follow the policy already learned)

with V_{final} = ℓ_final and V_k = C_k where the learned decision leaves, D_k elsewhere.
The label is "leave" when C_k < D_k and the example weighs |C_k − D_k|: inputs on which the
choice does not matter do not steer the classifier. Each decision is a logistic regression
on the exit's confidence features (max probability, top-2 margin, 1 − H), the same
information the entropy threshold of eq. 11 reads, so the two compare on equal terms.

λ plays the role of the survey's trade-off between accuracy and the cascaded cost of eq. 12:
sweep it to draw an accuracy–cost curve. Fit on the validation split, report on the test
split. Exits are positions 0..E-1 in the exit list, as in `mexit.inference`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._checks import check_float, check_int, check_labels, check_probs, check_tensor
from .policies import Curve, confidence_features

__all__ = [
    "CostWeightedPolicy",
    "fit_cost_weighted_policy",
    "cost_weighted_curve",
    "accuracy_at_cost",
]


def _check_costs(Gamma, E: int, full_cost) -> tuple[torch.Tensor, float]:
    if isinstance(Gamma, (str, bytes)) or Gamma is None:
        raise TypeError(f"Gamma must be a sequence of cumulative costs, got {type(Gamma).__name__}")
    try:
        Gamma = torch.as_tensor(Gamma, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"Gamma must be a sequence of numbers: {err}") from err
    if Gamma.shape != (E,):
        raise ValueError(f"Gamma must hold one cost per exit ({E}), got shape {tuple(Gamma.shape)}")
    if (Gamma < 0).any() or (torch.diff(Gamma) < 0).any():
        raise ValueError(f"Gamma must be non-negative and non-decreasing, got {Gamma.tolist()}")
    full = float(Gamma[-1]) if full_cost is None else check_float(full_cost, "full_cost")
    if full <= 0:
        raise ValueError(f"full_cost must be positive, got {full}")
    return Gamma, full


def _features(probs_k: torch.Tensor) -> torch.Tensor:
    """[1, max prob, margin, 1 − H] of one exit's softmax, (N, 4), float64."""
    f = confidence_features(probs_k.double())
    return torch.cat([torch.ones_like(f[:, :1]), f], dim=1)


def _weighted_logistic(X, y, w, l2: float, steps: int) -> torch.Tensor:
    """Weighted logistic regression (L-BFGS): argmin Σ w_i BCE(σ(X_i θ), y_i)/Σ w + l2 |θ|²
    (the bias, column 0, is not penalised). All-zero weights give θ = 0 with the bias on the
    heavier side of the labels."""
    theta = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    total = float(w.sum())
    if total <= 0:
        return theta.detach()
    w = w / total
    scale = 10.0  # features live in [0, 1]: let a few parameters reach steep decisions
    opt = torch.optim.LBFGS([theta], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        z = (scale * X) @ theta
        loss = (w * F.binary_cross_entropy_with_logits(z, y, reduction="none")).sum()
        loss = loss + l2 * (theta[1:] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return (scale * theta).detach()


@dataclass(frozen=True)
class CostWeightedPolicy:
    """The learned exit decisions of Bolukbasi et al. [12]: one logistic regression per early
    exit on its confidence features. `weights[k]` acts on [1, max prob, margin, 1 − H]."""

    weights: torch.Tensor  # (E-1, 4)
    lam: float  # the λ it was fitted for (accuracy loss per unit of cost fraction)
    train_leave_fraction: tuple  # fraction of fitting inputs labelled "leave" at each exit

    def __post_init__(self):
        check_tensor(self.weights, "weights", ndim=2, dtype_kind="float")
        if self.weights.shape[1] != 4:
            raise ValueError(f"weights must have shape (E-1, 4), got {tuple(self.weights.shape)}")
        object.__setattr__(self, "lam", check_float(self.lam, "lam", low=0.0))

    @property
    def n_exits(self) -> int:
        return self.weights.shape[0] + 1

    def leave(self, probs) -> torch.Tensor:
        """(N, E-1) booleans: would the input leave at early exit k if it got there?"""
        probs = check_probs(probs)
        if probs.shape[0] != self.n_exits:
            raise ValueError(
                f"probs must hold the {self.n_exits} exits the policy was fitted on, "
                f"got {probs.shape[0]}"
            )
        return torch.stack(
            [_features(probs[k]) @ self.weights[k] >= 0 for k in range(self.n_exits - 1)], 1
        )

    def exits(self, probs) -> torch.Tensor:
        """The exit position each input takes: the first early exit that says "leave", else
        the final exit. (N,) in 0..E-1."""
        leave = self.leave(probs)
        E = self.n_exits
        first = torch.where(leave, torch.arange(E - 1), torch.full_like(leave, E - 1, dtype=int))
        return first.min(1).values.clamp(max=E - 1)


def fit_cost_weighted_policy(
    probs, labels, Gamma, lam: float, full_cost=None, *, l2: float = 1e-4, steps: int = 100
) -> CostWeightedPolicy:
    """Fit Bolukbasi et al.'s exit decisions on frozen exits' outputs (validation split).

    probs (E, N, K): softmax of every exit; labels (N,); Gamma (E,): cumulative cost Γ_j of
    each exit; lam ≥ 0: the price of the whole network's cost in units of 0/1 error (λ = 0:
    cost is free, nobody leaves unless the exit is right and the rest wrong — at most a tie);
    full_cost: what costs are divided by (default Γ_L). Decisions are learned from the last
    early exit back to the first, each one knowing what the later ones do."""
    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1])
    lam = check_float(lam, "lam", low=0.0)
    l2 = check_float(l2, "l2", low=0.0)
    steps = check_int(steps, "steps", low=1)
    E = probs.shape[0]
    if E < 2:
        raise ValueError(f"probs must hold at least one early exit and the final one, got E={E}")
    Gamma, full = _check_costs(Gamma, E, full_cost)
    err = (probs.argmax(-1) != labels).double()  # (E, N) 0/1 loss of every exit
    V = err[-1]  # cost-to-go of an input standing at the final exit
    weights, leave_frac = [None] * (E - 1), [0.0] * (E - 1)
    for k in range(E - 2, -1, -1):
        C = err[k]
        D = V + lam * float(Gamma[k + 1] - Gamma[k]) / full
        y = (C < D).double()
        X = _features(probs[k])
        theta = _weighted_logistic(X, y, (C - D).abs(), l2, steps)
        if float((C - D).abs().sum()) == 0:  # no input cares: keep the cheaper default
            theta = torch.zeros(4, dtype=torch.float64)
            theta[0] = -1.0  # go on
        weights[k] = theta
        leave_frac[k] = float(y.mean())
        decide = X @ theta >= 0
        V = torch.where(decide, C, D)
    return CostWeightedPolicy(torch.stack(weights), lam, tuple(leave_frac))


def cost_weighted_curve(
    probs_fit, labels_fit, probs_eval, labels_eval, Gamma, lams, full_cost=None
) -> tuple[Curve, list[CostWeightedPolicy]]:
    """Fit one policy per λ in `lams` on (probs_fit, labels_fit) (validation) and evaluate
    each on (probs_eval, labels_eval) (test). Returns the test Curve (thresholds = the λ) and
    the policies."""
    probs_eval = check_probs(probs_eval)
    labels_eval = check_labels(labels_eval, probs_eval.shape[1])
    if isinstance(lams, (str, bytes)) or not hasattr(lams, "__iter__"):
        raise TypeError(f"lams must be a sequence of λ ≥ 0, got {type(lams).__name__}")
    lams = tuple(check_float(v, "lams entry", low=0.0) for v in lams)
    if not lams:
        raise ValueError("lams must hold at least one λ")
    Gamma, full = _check_costs(Gamma, probs_eval.shape[0], full_cost)
    correct = probs_eval.argmax(-1) == labels_eval
    policies, accs, flops = [], [], []
    for lam in lams:
        pol = fit_cost_weighted_policy(probs_fit, labels_fit, Gamma, lam, full)
        idx = pol.exits(probs_eval)
        policies.append(pol)
        accs.append(correct.gather(0, idx[None]).double().mean())
        flops.append(Gamma[idx].mean())
    mean_flops = torch.stack(flops)
    return Curve(lams, torch.stack(accs), mean_flops, mean_flops / full), policies


def accuracy_at_cost(curve: Curve, cost_fraction: float) -> float:
    """Accuracy of a threshold curve at a given cost fraction, read by linear interpolation
    between its two neighbouring points (ties in cost: the best accuracy). The curve's
    points come from sweeping one threshold, so this is what that policy achieves at the
    same mean cost (eq. 12)."""
    if not isinstance(curve, Curve):
        raise TypeError(f"curve must be a policies.Curve, got {type(curve).__name__}")
    cost = check_float(cost_fraction, "cost_fraction", low=0.0)
    c, a = curve.cost_fraction.double(), curve.accuracy.double()
    if cost < float(c.min()) - 1e-12 or cost > float(c.max()) + 1e-12:
        raise ValueError(
            f"cost_fraction must lie within the curve's costs [{float(c.min()):.4f}, "
            f"{float(c.max()):.4f}], got {cost:.4f}"
        )
    # the upper envelope at each distinct cost, sorted by cost
    uc = torch.unique(c)
    ua = torch.stack([a[c == v].max() for v in uc])
    j = int(torch.searchsorted(uc, torch.tensor(cost, dtype=torch.float64)))
    if j < len(uc) and abs(float(uc[j]) - cost) < 1e-12:
        return float(ua[j])
    j = min(max(j, 1), len(uc) - 1)
    c0, c1, a0, a1 = float(uc[j - 1]), float(uc[j]), float(ua[j - 1]), float(ua[j])
    return a0 + (a1 - a0) * (cost - c0) / (c1 - c0)
