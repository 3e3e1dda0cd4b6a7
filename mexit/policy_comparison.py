"""The field's exit policies side by side, on one trained model, at equal accuracy (§6).

Every policy is a family of operating points swept by one parameter, fitted and tuned on
the **validation** split and reported on the **test** split:

- "entropy":          exit when the normalized entropy H ≤ β (eq. 11), β swept;
- "max_probability":  exit when max_t c_t ≥ τ, τ swept;
- "learned":          exit when a learned confidence g_i(c_i(x)) ≥ τ (`LearnedConfidence`);
- "patience":         PABEE (Zhou et al. 2020): exit when t consecutive exits agree, t = 1..E-1;
- "zero_time_waste":  ZTW (Wołczyk et al. 2021): exit when the geometric ensemble of exits
                      1..i has max_t q_it ≥ τ, τ swept (`mexit.zero_time_waste`);
- "cost_weighted":    Bolukbasi et al. (2017): learned leave/go-on decisions, their price of
                      cost λ swept (`mexit.cost_weighted_policy`).

`compare_policies` reads, for each policy and each accuracy loss (0, 0.5 and 1 point below
the full model, i.e. the final exit alone), the cheapest point whose *validation* accuracy
reaches the target, and reports its *test* accuracy and mean cost (eq. 12) divided by the
oracle's least test cost at that same test accuracy (`mexit.policies.oracle_curve`). Beside
it, `test_read_ratio` is the optimistic reading the issue started from: the cheapest point
of the policy's *test* curve that reaches the target on test, over the oracle's cost there
(tuned on test, so a lower bound on what a deployed policy pays).
"""

from __future__ import annotations

import math

import torch

from ._checks import check_float, check_int, check_labels, check_probs
from .cost import CostProfile, measure_costs
from .cost_weighted_policy import CostWeightedPolicy, fit_cost_weighted_policy
from .inference import exit_probs
from .models import MultiExitNet
from .patience import patience_exits
from .policies import (
    ACC_TOL,
    LearnedConfidence,
    _check_Gamma,
    _sign,
    confidence_scores,
    oracle_curve,
    threshold_range,
)
from .zero_time_waste import ZeroTimeWaste, fit_zero_time_waste

__all__ = ["POLICY_LABELS", "policy_points", "compare_policies", "policy_rows"]

# in words, what each policy does (the parameter swept in brackets)
POLICY_LABELS = {
    "entropy": "exit when entropy H ≤ β (eq. 11)",
    "max_probability": "exit when max probability ≥ τ",
    "learned": "exit when learned confidence gᵢ ≥ τ",
    "patience": "exit when t exits in a row agree (PABEE)",
    "zero_time_waste": "exit when the ensemble of exits ≤ i has max ≥ τ (ZTW)",
    "cost_weighted": "exit when the cost-weighted classifier says leave (λ)",
}
LOSSES = (0.0, 0.005, 0.01)
DEFAULT_LAMS = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


def _check_split(probs, labels, name):
    probs = check_probs(probs, f"{name}_probs")
    labels = check_labels(labels, probs.shape[1], f"{name}_labels", num_classes=probs.shape[-1])
    return probs.cpu(), labels.cpu()  # small tables: compared on the CPU, beside Γ


def policy_points(
    val_probs,
    val_labels,
    test_probs,
    test_labels,
    Gamma,
    full_cost=None,
    *,
    learned=None,
    ztw=None,
    lams=DEFAULT_LAMS,
    cost_weighted=None,
    n_points: int | None = None,
) -> dict:
    """Every policy's operating points on both splits, from the outputs of every exit.

    Returns {policy: {"params": tuple, "val_accuracy", "val_cost", "test_accuracy",
    "test_cost": float64 tensors (P,)}} with costs as fractions of `full_cost` (default Γ
    of the final exit). learned / ztw: fitted on validation here when None. lams: the λ of
    the cost-weighted policy, fitted here on validation, unless `cost_weighted` gives the
    fitted CostWeightedPolicy objects (then their λ are the points). n_points: thresholds
    per swept family at validation quantiles (None, the default: every distinct validation
    score, so the tuning is exact)."""
    vp, vy = _check_split(val_probs, val_labels, "val")
    tp, ty = _check_split(test_probs, test_labels, "test")
    if vp.shape[0] != tp.shape[0] or vp.shape[-1] != tp.shape[-1]:
        raise ValueError(
            f"val_probs and test_probs must come from the same exits and classes, got "
            f"{tuple(vp.shape)} and {tuple(tp.shape)}"
        )
    E = vp.shape[0]
    if E < 2:
        raise ValueError(f"val_probs must hold an early exit and the final one, got E={E}")
    Gamma, full = _check_Gamma(Gamma, E, full_cost)
    if n_points is not None:
        n_points = check_int(n_points, "n_points", low=2)
    K = vp.shape[-1]
    if isinstance(lams, (str, bytes)) or not hasattr(lams, "__iter__"):
        raise TypeError(f"lams must be a sequence of λ ≥ 0, got {type(lams).__name__}")
    lams = tuple(check_float(v, "lams entry", low=0.0) for v in lams)
    if not lams:
        raise ValueError("lams must hold at least one λ")
    if learned is None:
        learned = LearnedConfidence(E).fit(vp, vy)
    elif not isinstance(learned, LearnedConfidence):
        raise TypeError(f"learned must be a LearnedConfidence, got {type(learned).__name__}")
    if ztw is None:
        ztw = fit_zero_time_waste(vp, vy)
    elif not isinstance(ztw, ZeroTimeWaste):
        raise TypeError(f"ztw must be a ZeroTimeWaste, got {type(ztw).__name__}")

    out = {}

    def swept(name, v_probs, t_probs, criterion, g=None):
        sign = _sign(criterion)
        v_scores = confidence_scores(v_probs, criterion, g)
        if n_points is None:  # every distinct validation score is a threshold, and both ends
            score_t = v_scores.unique()
        else:
            score_t = torch.quantile(v_scores.flatten(), torch.linspace(0, 1, n_points).double())
        inf = torch.tensor([math.inf, -math.inf], dtype=torch.float64)
        score_t = torch.cat([inf, score_t]).unique().flip(0)  # strictest first
        lo, hi = sorted(threshold_range(criterion, K))
        out[name] = {"params": tuple(min(max(sign * v, lo), hi) for v in score_t.tolist())}
        for split, probs, labels in (("val", v_probs, vy), ("test", t_probs, ty)):
            scores = v_scores if split == "val" else confidence_scores(probs, criterion, g)
            acc, cost = _sweep(scores, probs.argmax(-1) == labels, Gamma, full, score_t)
            out[name][f"{split}_accuracy"], out[name][f"{split}_cost"] = acc, cost

    swept("entropy", vp, tp, "entropy")
    swept("max_probability", vp, tp, "max_probability")
    swept("learned", vp, tp, "learned", learned)

    def family(name, params, exits_of):
        va, vc, ta, tc = [], [], [], []
        for p in params:
            v_idx, v_pred = exits_of(vp, p)
            t_idx, t_pred = exits_of(tp, p)
            va.append(float((v_pred == vy).double().mean()))
            vc.append(float(Gamma[v_idx].mean()) / full)
            ta.append(float((t_pred == ty).double().mean()))
            tc.append(float(Gamma[t_idx].mean()) / full)
        keys = ("val_accuracy", "val_cost", "test_accuracy", "test_cost")
        out[name] = {"params": tuple(params)}
        out[name].update(
            {k: torch.tensor(v, dtype=torch.float64) for k, v in zip(keys, (va, vc, ta, tc))}
        )

    family("patience", range(1, E), patience_exits)
    qv, qt = ztw.ensemble(vp), ztw.ensemble(tp)
    swept("zero_time_waste", qv, qt, "max_probability")

    if cost_weighted is None:
        fitted = [fit_cost_weighted_policy(vp, vy, Gamma, lam, full) for lam in lams]
    else:
        fitted = _check_fitted(cost_weighted, E)
    family("cost_weighted", fitted, _cost_weighted_exits)
    out["cost_weighted"]["params"] = tuple(p.lam for p in fitted)
    return out


def _cost_weighted_exits(probs, pol):
    idx = pol.exits(probs)
    return idx, probs.argmax(-1).gather(0, idx[None]).squeeze(0)


def _check_fitted(cost_weighted, E: int) -> list:
    if isinstance(cost_weighted, (str, bytes)) or not hasattr(cost_weighted, "__iter__"):
        raise TypeError(
            f"cost_weighted must be a sequence of CostWeightedPolicy, got "
            f"{type(cost_weighted).__name__}"
        )
    fitted = list(cost_weighted)
    if not fitted:
        raise ValueError("cost_weighted must hold at least one fitted policy")
    for pol in fitted:
        if not isinstance(pol, CostWeightedPolicy):
            raise TypeError(f"cost_weighted must hold CostWeightedPolicy, got {type(pol).__name__}")
        if pol.n_exits != E:
            raise ValueError(f"cost_weighted must be fitted on these {E} exits, got {pol.n_exits}")
    return fitted


def _sweep(scores, correct, Gamma, full, score_t):
    """Accuracy and cost fraction (P,) of one shared score threshold per point: an input
    leaves at the first early exit k with scores[k] ≥ t, i.e. at the number of exits whose
    running maximum of the scores is still below t (no argmax over a (P, E-1, N) tensor)."""
    running = scores.cummax(0).values  # (E-1, N)
    acc, cost = [], []
    for chunk in torch.split(score_t, 128):
        idx = (running[None] < chunk[:, None, None]).sum(1)  # (P, N) exit positions
        acc.append(correct.gather(0, idx).double().mean(1))
        cost.append(Gamma[idx].mean(1) / full)
    return torch.cat(acc), torch.cat(cost)


def _cheapest(acc: torch.Tensor, cost: torch.Tensor, target: float):
    """Index of the cheapest point with acc ≥ target (ties: the most accurate), or None."""
    ok = torch.nonzero(acc >= target - ACC_TOL).flatten()
    if len(ok) == 0:
        return None
    key = [(float(cost[j]), -float(acc[j])) for j in ok]
    return int(ok[min(range(len(ok)), key=key.__getitem__)])


def compare_policies(
    val_probs,
    val_labels,
    test_probs,
    test_labels,
    Gamma,
    full_cost=None,
    *,
    losses=LOSSES,
    learned=None,
    ztw=None,
    lams=DEFAULT_LAMS,
    cost_weighted=None,
    n_points: int | None = None,
    points=None,
) -> list[dict]:
    """One row per policy and accuracy loss: the cost at the full model's accuracy minus
    `losses` (fractions: 0.005 is half a point), divided by the oracle's at the same accuracy.

    Tuned on validation (the cheapest point whose validation accuracy reaches the final
    exit's validation accuracy minus the loss), reported on test: `test_accuracy`,
    `cost_fraction`, `oracle_cost_fraction` (the oracle's least test cost at that test
    accuracy) and `ratio_to_oracle`. `test_read_ratio` reads the test curve at the test
    target instead (tuned on test: optimistic). A row whose target no point reaches has
    `reached` False and None in the numbers. `points`: the output of `policy_points` on
    the same arguments, to reuse (then learned, ztw, lams and n_points are not used)."""
    vp, vy = _check_split(val_probs, val_labels, "val")
    tp, ty = _check_split(test_probs, test_labels, "test")
    Gamma, full = _check_Gamma(Gamma, tp.shape[0], full_cost)
    if isinstance(losses, (str, bytes)) or not hasattr(losses, "__iter__"):
        raise TypeError(f"losses must be a sequence of accuracy losses, got {type(losses)}")
    losses = tuple(check_float(v, "losses entry", low=0.0, high=1.0) for v in losses)
    if not losses:
        raise ValueError("losses must hold at least one accuracy loss")
    if points is None:
        points = policy_points(
            vp,
            vy,
            tp,
            ty,
            Gamma,
            full,
            learned=learned,
            ztw=ztw,
            lams=lams,
            cost_weighted=cost_weighted,
            n_points=n_points,
        )
    elif not isinstance(points, dict) or not points:
        raise TypeError(f"points must be the dict policy_points returns, got {type(points)}")
    full_val = float((vp[-1].argmax(-1) == vy).double().mean())
    full_test = float((tp[-1].argmax(-1) == ty).double().mean())
    oracle = oracle_curve(tp, ty, Gamma, full)
    rows = []
    for name, pts in points.items():
        for loss in losses:
            j = _cheapest(pts["val_accuracy"], pts["val_cost"], full_val - loss)
            jt = _cheapest(pts["test_accuracy"], pts["test_cost"], full_test - loss)
            row = {
                "policy": name,
                "label": POLICY_LABELS.get(name, name),
                "accuracy_loss_points": round(100 * loss, 2),
                "tuned_on": "validation",
                "reported_on": "test",
                "reached": j is not None,
                "parameter": None,
                "test_accuracy": None,
                "cost_fraction": None,
                "oracle_cost_fraction": None,
                "ratio_to_oracle": None,
                "test_read_ratio": None,
            }
            if j is not None:
                acc, cost = float(pts["test_accuracy"][j]), float(pts["test_cost"][j])
                o = oracle.cost_at(acc)
                param = pts["params"][j]
                row.update(
                    parameter=param if isinstance(param, (int, float)) else None,
                    test_accuracy=acc,
                    cost_fraction=cost,
                    oracle_cost_fraction=o,
                    ratio_to_oracle=cost / o if 0 < o < math.inf else None,
                )
            if jt is not None:
                o = oracle.cost_at(full_test - loss)
                row["test_read_ratio"] = float(pts["test_cost"][jt]) / o if o > 0 else None
            rows.append(row)
    return rows


def policy_rows(model: MultiExitNet, data, costs: CostProfile | None = None, **kwargs):
    """`compare_policies` on a trained model and its data bundle (validation and test
    splits), costs from `costs` (measured here when None): the bench's policy table."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    for split in ("x_val", "y_val", "x_test", "y_test"):
        if not isinstance(getattr(data, split, None), torch.Tensor):
            raise TypeError(f"data must be a DataBundle with {split}, got {type(data).__name__}")
    if costs is None:
        costs = measure_costs(model, tuple(data.x_test.shape[1:]))
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    Gamma = costs.Gamma(model.exits).double()
    return compare_policies(
        exit_probs(model, data.x_val),
        data.y_val,
        exit_probs(model, data.x_test),
        data.y_test,
        Gamma,
        float(costs.full),
        **kwargs,
    )
