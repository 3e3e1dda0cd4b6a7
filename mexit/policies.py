"""More exit policies (survey §6): BranchyNet's unnormalized entropy, a learned confidence,
one shared threshold tuned toward a target accuracy (Baccarelli et al.), per-exit thresholds,
accuracy–cost curves of any policy, the oracle (the least cost at each accuracy: a lower
bound on *cost*, drawn on accuracy-vs-cost axes as the upper-left envelope of every curve),
placements of the exits, and timing of real early exit.

Builds on `mexit.inference` (eq. 11, `simulate_exits`, `early_exit_predict`). A policy is a
criterion and a threshold per early exit, in the criterion's own units:

- "entropy":              exit when the normalized entropy H ≤ β (eq. 11), β ∈ [0, 1];
- "unnormalized_entropy": exit when −Σ_t c_t log c_t ≤ β, β ∈ [0, log C] nats (BranchyNet);
- "max_probability":      exit when max_t c_t ≥ τ, τ ∈ [0, 1];
- "learned":              exit when a learned g_i(c_i(x)) ≥ τ, τ ∈ [0, 1] (`LearnedConfidence`).

Internally every criterion is a score where higher means "more confident"; an input leaves at
the first early exit whose score reaches the exit's threshold, and at the final exit otherwise.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import (
    check_exit_set,
    check_float,
    check_int,
    check_labels,
    check_probs,
    check_tensor,
)
from .cost import CostProfile, measure_costs
from .inference import (
    early_exit_predict,
    evaluate_policy,
    exit_accuracies,
    max_probability,
    normalized_entropy,
)
from .models import MultiExitNet, eval_mode
from .timing import time_ab

# accuracies are counts / N, computed in float32 by some callers: compare with this slack
ACC_TOL = 1e-6

POLICIES = ("entropy", "unnormalized_entropy", "max_probability", "learned")


def unnormalized_entropy(probs: torch.Tensor) -> torch.Tensor:
    """BranchyNet's entropy −Σ_t c_t log c_t in nats, in [0, log C] (no 1/log C). Reduces the
    last axis. On one task it is eq. 11 times log C, so both give the same policies; a β in
    nats means something different for every number of classes C."""
    check_tensor(probs, "probs", dtype_kind="float")
    K = probs.shape[-1]
    if K < 2:
        raise ValueError(f"probs needs at least 2 classes on the last axis, got {K}")
    return (-torch.xlogy(probs, probs).sum(-1)).clamp(0.0, math.log(K))


def confidence_features(probs: torch.Tensor) -> torch.Tensor:
    """What a learned confidence reads from c_i(x): (max prob, margin top1 − top2, 1 − H)."""
    if not isinstance(probs, torch.Tensor) or not probs.is_floating_point():
        raise TypeError(f"probs must be a floating-point tensor, got {type(probs).__name__}")
    if probs.ndim == 0 or probs.shape[-1] < 2:  # an empty batch (0, K) is fine: it runs in forward
        raise ValueError(
            f"probs needs at least 2 classes on the last axis, got {tuple(probs.shape)}"
        )
    top2 = probs.topk(2, dim=-1).values
    return torch.stack(
        [top2[..., 0], top2[..., 0] - top2[..., 1], 1 - normalized_entropy(probs)], dim=-1
    )


class LearnedConfidence(nn.Module):
    """A learned confidence g_i(c_i(x)) ∈ [0, 1] per early exit (§6): logistic regression on
    three features of the exit's softmax (`confidence_features`), fitted to predict whether
    exit i is right. Fit it on the validation split, never on the test split."""

    def __init__(self, n_exits: int):
        super().__init__()
        n_exits = check_int(n_exits, "n_exits", low=2)
        self.g = nn.ModuleList(nn.Linear(3, 1) for _ in range(n_exits - 1))
        for lin in self.g:
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    @property
    def n_exits(self) -> int:
        return len(self.g) + 1

    def forward(self, probs) -> torch.Tensor:
        """Scores (E-1, N) in [0, 1] for the early exits of probs (E, N, K)."""
        probs = check_probs(probs)
        if probs.shape[0] != self.n_exits:
            raise ValueError(
                f"probs must hold {self.n_exits} exits (this confidence was built for them), "
                f"got {probs.shape[0]}"
            )
        feats = confidence_features(probs[:-1].float())
        return torch.stack([torch.sigmoid(g(f)).squeeze(-1) for g, f in zip(self.g, feats)])

    def fit(self, probs, labels, steps: int = 100, l2: float = 1e-3) -> LearnedConfidence:
        """Fit every g_i by L-BFGS on binary cross-entropy (target: exit i is right), full
        batch, from zero weights: deterministic. Returns self."""
        probs = check_probs(probs)
        labels = check_labels(labels, probs.shape[1])
        steps = check_int(steps, "steps", low=1)
        l2 = check_float(l2, "l2", low=0.0)
        if probs.shape[0] != self.n_exits:
            raise ValueError(f"probs must hold {self.n_exits} exits, got {probs.shape[0]}")
        feats = confidence_features(probs[:-1].float())
        right = (probs[:-1].argmax(-1) == labels).float()
        for g, f, t in zip(self.g, feats, right):
            opt = torch.optim.LBFGS(g.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

            def closure(g=g, f=f, t=t, opt=opt):
                opt.zero_grad()
                z = g(f).squeeze(-1)
                loss = nn.functional.binary_cross_entropy_with_logits(z, t)
                loss = loss + l2 * g.weight.pow(2).sum()
                loss.backward()
                return loss

            with torch.enable_grad():
                opt.step(closure)
        self.eval()
        return self


def check_target_accuracy(target_accuracy) -> float:
    """An accuracy target in (0, 1] (0 would be met by any policy: a target of nothing)."""
    target = check_float(target_accuracy, "target_accuracy", low=0.0, high=1.0)
    if target == 0.0:
        raise ValueError("target_accuracy must lie in (0, 1], got 0.0")
    return target


def _check_policy(criterion: str, learned) -> None:
    if criterion not in POLICIES:
        raise ValueError(f"criterion must be one of {POLICIES}, got {criterion!r}")
    if criterion == "learned" and not isinstance(learned, LearnedConfidence):
        raise TypeError(
            "criterion='learned' needs learned=LearnedConfidence(...).fit(val_probs, val_labels)"
        )


def threshold_range(criterion: str, num_classes: int) -> tuple[float, float]:
    """(strictest, loosest) threshold of a criterion: nobody / everybody leaves early."""
    if criterion not in POLICIES:
        raise ValueError(f"criterion must be one of {POLICIES}, got {criterion!r}")
    num_classes = check_int(num_classes, "num_classes", low=2)
    if criterion == "entropy":
        return 0.0, 1.0
    if criterion == "unnormalized_entropy":
        return 0.0, math.log(num_classes)
    return 1.0, 0.0


def _sign(criterion: str) -> float:
    # score = sign * criterion value, so that higher scores exit first
    return -1.0 if criterion in ("entropy", "unnormalized_entropy") else 1.0


def confidence_scores(probs, criterion: str = "entropy", learned=None) -> torch.Tensor:
    """Scores (E-1, N) of the early exits, higher = more confident: −H, −H_unnormalized,
    max probability or the learned g_i."""
    probs = check_probs(probs)
    _check_policy(criterion, learned)
    early = probs[:-1]
    if criterion == "entropy":
        return -normalized_entropy(early).double()
    if criterion == "unnormalized_entropy":
        return -unnormalized_entropy(early).double()
    if criterion == "max_probability":
        return max_probability(early).double()
    return learned(probs).detach().double()


def _check_policy_thresholds(thresholds, n_early: int, criterion: str, K: int) -> torch.Tensor:
    lo, hi = sorted(threshold_range(criterion, K))
    if isinstance(thresholds, numbers.Real) and not isinstance(thresholds, bool):
        values = [check_float(thresholds, "thresholds", low=lo, high=hi)] * n_early
    elif isinstance(thresholds, (Sequence, torch.Tensor)) and not isinstance(thresholds, str):
        values = [float(t) for t in thresholds]
        if len(values) != n_early:
            raise ValueError(
                f"thresholds must hold one value per early exit ({n_early}), got {len(values)}"
            )
        values = [check_float(t, f"thresholds[{k}]", low=lo, high=hi) for k, t in enumerate(values)]
    else:
        raise TypeError(
            f"thresholds must be a number in [{lo:.3g}, {hi:.3g}] or a sequence of {n_early}, "
            f"got {type(thresholds).__name__}"
        )
    return torch.tensor(values, dtype=torch.float64)


def exits_from_scores(scores: torch.Tensor, score_thresholds: torch.Tensor) -> torch.Tensor:
    """First early exit k with scores[k] ≥ score_thresholds[k]; E-1 (final) when none."""
    check_tensor(scores, "scores", ndim=2)
    n_early, N = scores.shape
    try:
        t = torch.as_tensor(score_thresholds, dtype=scores.dtype).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"score_thresholds must be a number or a sequence of numbers, "
            f"got {type(score_thresholds).__name__}"
        ) from err
    if t.numel() == 1:
        t = t.expand(n_early)
    if t.numel() != n_early:
        raise ValueError(f"score_thresholds must hold {n_early} values, got {t.numel()}")
    ok = scores >= t[:, None]
    idx = torch.full((N,), n_early, dtype=torch.long)
    hit = ok.any(0)
    idx[hit] = ok.int().argmax(0)[hit]
    return idx


def policy_exits(probs, thresholds, criterion: str = "entropy", learned=None) -> torch.Tensor:
    """The exit position (0..E-1) each input takes under any policy of `POLICIES`.
    For 'entropy' and 'max_probability' it matches `mexit.simulate_exits`."""
    probs = check_probs(probs)
    _check_policy(criterion, learned)
    t = _check_policy_thresholds(thresholds, probs.shape[0] - 1, criterion, probs.shape[-1])
    return exits_from_scores(confidence_scores(probs, criterion, learned), _sign(criterion) * t)


def _check_Gamma(Gamma, E: int, full_cost) -> tuple[torch.Tensor, float]:
    Gamma = torch.arange(1, E + 1, dtype=torch.float64) if Gamma is None else Gamma
    Gamma = torch.as_tensor(Gamma, dtype=torch.float64)
    if Gamma.shape != (E,):
        raise ValueError(f"Gamma must hold one cost per exit ({E}), got shape {tuple(Gamma.shape)}")
    if (Gamma < 0).any() or (torch.diff(Gamma) < 0).any():
        raise ValueError("Gamma must be non-negative and non-decreasing (cumulative costs)")
    full = float(Gamma[-1]) if full_cost is None else float(full_cost)
    if full <= 0:
        raise ValueError(f"full_cost must be positive, got {full}")
    return Gamma, full


@dataclass(frozen=True)
class Curve:
    """An accuracy–cost curve: one point per threshold (from strictest to loosest)."""

    thresholds: tuple  # shared threshold of each point (criterion's units); None for the oracle
    accuracy: torch.Tensor  # (P,) in [0, 1]
    mean_flops: torch.Tensor  # (P,) mean cost per input, eq. 12
    cost_fraction: torch.Tensor  # (P,) mean_flops / full cost

    def cost_at(self, accuracy: float) -> float:
        """The lowest cost fraction among the points reaching `accuracy` (inf if none does)."""
        accuracy = check_float(accuracy, "accuracy", low=0.0, high=1.0)
        ok = self.accuracy >= accuracy - ACC_TOL
        return float(self.cost_fraction[ok].min()) if ok.any() else math.inf

    def accuracy_at(self, cost_fraction: float) -> float:
        """The highest accuracy among the points that cost at most `cost_fraction` of the
        full network (0 if none is that cheap): the curve read at equal cost."""
        cost_fraction = check_float(cost_fraction, "cost_fraction", low=0.0)
        ok = self.cost_fraction <= cost_fraction + 1e-12
        return float(self.accuracy[ok].max()) if ok.any() else 0.0


def _score_grid(scores: torch.Tensor, n_points: int) -> torch.Tensor:
    """Candidate score thresholds from strictest (+inf) to loosest (-inf), at score quantiles."""
    flat = scores.flatten()
    q = torch.linspace(0, 1, n_points, dtype=torch.float64)
    inner = torch.quantile(flat, q).flip(0)
    return torch.cat([flat.max().reshape(1) + 1.0, inner, flat.min().reshape(1) - 1.0])


def accuracy_cost_curve(
    probs,
    labels,
    criterion: str = "entropy",
    Gamma=None,
    full_cost=None,
    learned=None,
    thresholds=None,
    n_points: int = 201,
) -> Curve:
    """Accuracy and mean cost of a policy with one shared threshold swept from strictest to
    loosest. thresholds: the values to sweep (criterion's units); default: `n_points`
    quantiles of the scores, plus the two ends (nobody / everybody leaving early).

    Gamma: cumulative cost of each exit (default 1..E); full_cost: what cost_fraction divides
    by (default Γ_L)."""
    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1])
    _check_policy(criterion, learned)
    n_points = check_int(n_points, "n_points", low=2)
    E, K = probs.shape[0], probs.shape[-1]
    Gamma, full = _check_Gamma(Gamma, E, full_cost)
    scores = confidence_scores(probs, criterion, learned)
    sign = _sign(criterion)
    if thresholds is None:
        score_t = _score_grid(scores, n_points)
        lo, hi = sorted(threshold_range(criterion, K))
        natural = tuple(float(min(max(sign * s, lo), hi)) for s in score_t.tolist())
    else:
        natural = tuple(float(t) for t in thresholds)
        for t in natural:
            _check_policy_thresholds(t, E - 1, criterion, K)
        score_t = sign * torch.tensor(natural, dtype=torch.float64)
    correct = probs.argmax(-1) == labels  # (E, N)
    accs, flops = [], []
    for chunk in torch.split(score_t, 64):  # (P, E-1, N) at once, a chunk at a time
        idx = _exits_for_thresholds(scores, chunk)  # (P, N)
        accs.append(correct.gather(0, idx).double().mean(1))
        flops.append(Gamma[idx].mean(1))
    mean_flops = torch.cat(flops)
    return Curve(natural, torch.cat(accs).double(), mean_flops, mean_flops / full)


def _exits_for_thresholds(scores: torch.Tensor, score_t: torch.Tensor) -> torch.Tensor:
    """`exits_from_scores` for P shared score thresholds at once: (P, N) exit positions."""
    n_early = scores.shape[0]
    ok = scores[None] >= score_t.to(scores.dtype)[:, None, None]  # (P, E-1, N)
    # the first passing exit, from the last exit back (a few `where`s on (P, N): much faster
    # than an argmax over the middle dimension)
    idx = torch.full((ok.shape[0], ok.shape[2]), n_early, dtype=torch.long, device=ok.device)
    for k in range(n_early - 1, -1, -1):
        idx = torch.where(ok[:, k], k, idx)
    return idx


def oracle_curve(probs, labels, Gamma=None, full_cost=None) -> Curve:
    """The oracle: for each accuracy k/N, the least mean cost of any
    assignment of inputs to exits with k of them right. An input is right at the cost of its
    earliest correct exit, or wrong at the cost of its earliest wrong one; the cheapest
    increments are taken first (exact, as the costs add up over inputs).

    Its last point is the oracle of `mexit.oracle_exits` (each input at its earliest correct
    exit), except that inputs no exit gets right leave at once instead of at the final exit."""
    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1])
    E, N = probs.shape[:2]
    Gamma, full = _check_Gamma(Gamma, E, full_cost)
    correct = probs.argmax(-1) == labels  # (E, N)
    inf = torch.tensor(math.inf, dtype=torch.float64)
    cost_right = torch.where(correct, Gamma[:, None], inf).min(0).values
    cost_wrong = torch.where(~correct, Gamma[:, None], inf).min(0).values
    base_right = cost_right <= cost_wrong  # right for free (or cheaper)
    base = torch.minimum(cost_right, cost_wrong)
    extra = (cost_right - cost_wrong)[~base_right & torch.isfinite(cost_right)]
    extra = extra.sort().values
    k0 = int(base_right.sum())
    totals = base.sum() + torch.cat([torch.zeros(1, dtype=torch.float64), extra.cumsum(0)])
    accuracy = (k0 + torch.arange(len(totals), dtype=torch.float64)) / N
    mean_flops = totals / N
    return Curve((None,) * len(totals), accuracy, mean_flops, mean_flops / full)


def _check_exits_of(exits, E: int, costs: CostProfile) -> tuple[int, ...]:
    if isinstance(exits, (str, bytes)) or not isinstance(exits, Sequence):
        raise TypeError(f"exits must be a sequence of block indices, got {type(exits).__name__}")
    exits = tuple(exits)
    if len(exits) != E or not exits or exits[-1] != costs.num_blocks:
        raise ValueError(
            f"exits must name the {E} exits of probs, ending at the final block "
            f"L={costs.num_blocks}; got {exits}"
        )
    check_exit_set(exits[:-1], costs.num_blocks, "exits")
    if list(exits) != sorted(exits):
        raise ValueError(f"exits must be in increasing order, got {exits}")
    return exits


@dataclass(frozen=True)
class PlacementCost:
    """What one placement (a subset of the early exits) costs a policy and the oracle."""

    exits: tuple[int, ...]  # the early exits kept (block indices); the final exit is implied
    cost_fraction: float  # least cost / full cost of a shared threshold reaching the accuracy
    oracle_cost_fraction: float  # the oracle's least cost at that accuracy (eq. 12's mean)
    accuracy: float  # the accuracy asked for

    def __post_init__(self):
        if isinstance(self.exits, (str, bytes)) or not isinstance(self.exits, tuple):
            raise TypeError(f"exits must be a tuple of block indices, got {self.exits!r}")
        for name in ("cost_fraction", "oracle_cost_fraction"):
            check_float(getattr(self, name), name, low=0.0, allow_inf=True)
        check_float(self.accuracy, "accuracy", low=0.0, high=1.0)


def placement_costs(
    probs,
    labels,
    costs: CostProfile,
    exits,
    accuracy: float,
    criterion: str = "max_probability",
    learned=None,
    subsets=None,
    n_points: int = 201,
) -> tuple[PlacementCost, ...]:
    """For each placement (subset of the early exits of `exits`; default every subset), the
    least mean cost at which one shared threshold of `criterion` reaches `accuracy`, beside
    the oracle's least cost with the same exits (§4 meets §6: which exits pay for a policy).

    Γ of each placement comes from `costs` (heads of exits left out are not paid); the
    outputs of the kept exits are the rows of `probs`, so nothing is retrained. cost_fraction
    is inf where no threshold reaches `accuracy` with those exits."""
    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1])
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    exits = _check_exits_of(exits, probs.shape[0], costs)
    accuracy = check_float(accuracy, "accuracy", low=0.0, high=1.0)
    _check_policy(criterion, learned)
    n_points = check_int(n_points, "n_points", low=2)
    early = exits[:-1]
    if subsets is None:
        subsets = [c for r in range(len(early) + 1) for c in itertools.combinations(early, r)]
    elif isinstance(subsets, (str, bytes)) or not isinstance(subsets, Sequence):
        raise TypeError(f"subsets must be a sequence of exit sets, got {type(subsets).__name__}")
    scores = confidence_scores(probs, criterion, learned)  # (E-1, N), all early exits
    correct = probs.argmax(-1) == labels
    out = []
    for sub in subsets:
        sub = check_exit_set(sub, costs.num_blocks, "subsets entry")
        if any(e not in early for e in sub):
            raise ValueError(f"subsets entry {sub} names an exit not in exits {early}")
        rows = [exits.index(e) for e in sub]
        Gamma = costs.Gamma(sub + (exits[-1],)).double()
        full = float(costs.full)
        oracle = oracle_curve(probs[rows + [len(exits) - 1]], labels, Gamma, full)
        if rows:
            s = scores[rows]
            grid = _score_grid(s, n_points)
            ok = correct[rows + [len(exits) - 1]]
            accs, fracs = [], []
            for chunk in torch.split(grid, 64):
                idx = _exits_for_thresholds(s, chunk)
                accs.append(ok.gather(0, idx).double().mean(1))
                fracs.append(Gamma[idx].mean(1) / full)
            accs, fracs = torch.cat(accs), torch.cat(fracs)
        else:  # no early exit: everyone runs to the final exit
            accs = correct[-1:].double().mean(1)
            fracs = Gamma[-1:] / full
        reach = accs >= accuracy - ACC_TOL
        cost = float(fracs[reach].min()) if reach.any() else math.inf
        out.append(PlacementCost(sub, cost, oracle.cost_at(accuracy), accuracy))
    return tuple(out)


@dataclass(frozen=True)
class TuneResult:
    """A shared threshold tuned toward a target accuracy, and how it got there.

    `converged` says whether the iteration itself met the target; when it did not,
    `fallback` is True and `threshold` is *not* an iterate: it is the cheapest point of a
    401-point sweep of the threshold that meets the target (the last entry of `trajectory`).
    A caller that claims the iteration works must check `converged`, not `accuracy`."""

    threshold: float  # the returned shared threshold (criterion's units)
    accuracy: float  # its accuracy on the tuning data
    cost_fraction: float  # its mean cost / full cost on the tuning data
    trajectory: tuple[float, ...]  # threshold at every iteration (the start first)
    accuracies: tuple[float, ...]  # accuracy at every iteration
    converged: bool  # the iteration met the target within `tol` before max_iter
    fallback: bool = False  # threshold comes from the sweep, not from the iteration
    adaptive: bool = True  # the gain was mexit's adaptive one (False: constant, as in [3])

    @property
    def iterations(self) -> int:
        """Update steps taken by the iteration (the sweep's fallback point not counted)."""
        return len(self.trajectory) - 1 - int(self.fallback)


def _policy_point(correct, scores, Gamma, full, score_t):
    idx = exits_from_scores(scores, score_t)
    return float(correct.gather(0, idx[None]).double().mean()), float(Gamma[idx].mean()) / full


def tune_threshold(
    probs,
    labels,
    target_accuracy: float,
    criterion: str = "max_probability",
    Gamma=None,
    full_cost=None,
    learned=None,
    *,
    step: float = 2.0,
    tol: float = 0.005,
    max_iter: int = 100,
    start=None,
    adaptive: bool = True,
) -> TuneResult:
    """One shared threshold tuned iteratively toward `target_accuracy`, after Baccarelli et
    al. (the survey's [3], §6): t ← t + η_k (a* − a(t)) in the stricter direction, until the
    accuracy a(t) lies in [a*, a* + tol]. The gain η_k is in units of the threshold's range.

    With `adaptive=False`, η_k = `step` at every iteration: the constant-gain update of [3].
    With `adaptive=True` (the default) the gain is **mexit's own addition**, not [3]'s: it
    starts at `step`, halves whenever the gap changes sign (an overshoot) and grows by half
    while it keeps its sign (accuracy is flat over long stretches of threshold and steep
    elsewhere), capped at 100 × `step`. It starts from the loosest threshold (everyone leaves
    at the first exit) unless `start` says otherwise. Tune on the validation split.

    Returns the last iterate if it meets the target, else the cheapest iterate that meets it.
    When no iterate meets it (e.g. `step=0`), the result is the cheapest point of a sweep
    that does, flagged `fallback=True` and `converged=False`: never a silent success.
    Raises ValueError when no shared threshold of this policy reaches the target on these
    data (the message gives the best reachable accuracy)."""
    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1])
    _check_policy(criterion, learned)
    target = check_target_accuracy(target_accuracy)
    step = check_float(step, "step", low=0.0)
    tol = check_float(tol, "tol", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    if not isinstance(adaptive, bool):
        raise TypeError(f"adaptive must be a bool, got {type(adaptive).__name__}")
    E, K = probs.shape[0], probs.shape[-1]
    Gamma, full = _check_Gamma(Gamma, E, full_cost)
    strict, loose = threshold_range(criterion, K)
    lo, hi = sorted((strict, loose))
    curve = accuracy_cost_curve(probs, labels, criterion, Gamma, full, learned, n_points=401)
    best = int(curve.accuracy.argmax())
    if float(curve.accuracy[best]) < target - ACC_TOL:
        raise ValueError(
            f"target_accuracy {target:.4f} is unreachable with one shared {criterion} "
            f"threshold on these data: the best is {float(curve.accuracy[best]):.4f} "
            f"(at threshold {curve.thresholds[best]:.4g}); lower the target"
        )
    t = loose if start is None else check_float(start, "start", low=lo, high=hi)
    sign = _sign(criterion)
    direction = 1.0 if strict > loose else -1.0  # the way to move to be stricter
    scores = confidence_scores(probs, criterion, learned)
    correct = probs.argmax(-1) == labels
    traj, accs, costs = [], [], []
    converged = False
    eta, last_gap = step, 0.0
    for k in range(max_iter + 1):
        a, c = _policy_point(correct, scores, Gamma, full, sign * t)
        traj.append(t)
        accs.append(a)
        costs.append(c)
        if target - ACC_TOL <= a <= target + tol or (a >= target - ACC_TOL and t == loose):
            converged = True  # on target, or above it at the cheapest threshold there is
            break
        if k == max_iter:
            break
        gap = target - a
        if adaptive and k > 0:
            eta = eta / 2 if gap * last_gap < 0 else min(eta * 1.5, 100 * step)
        last_gap = gap
        t = min(max(t + direction * eta * (hi - lo) * gap, lo), hi)
    meets = [j for j, a in enumerate(accs) if a >= target - ACC_TOL]
    fallback = False
    if accs[-1] >= target - ACC_TOL:
        j = len(accs) - 1
    elif meets:
        j = min(meets, key=lambda j: costs[j])
    else:  # reachable (checked above) but the iterates never got there: take the curve's point
        ok = [p for p in range(len(curve.thresholds)) if curve.accuracy[p] >= target - ACC_TOL]
        p = min(ok, key=lambda p: float(curve.cost_fraction[p]))
        t = curve.thresholds[p]
        a, c = _policy_point(correct, scores, Gamma, full, sign * t)
        traj.append(t)
        accs.append(a)
        costs.append(c)
        j = len(accs) - 1
        fallback = True
    return TuneResult(
        traj[j], accs[j], costs[j], tuple(traj), tuple(accs), converged, fallback, adaptive
    )


def per_exit_thresholds(
    probs, labels, target_accuracy: float, criterion: str = "max_probability", learned=None
) -> tuple[float, ...]:
    """One threshold per early exit, calibrated in cascade: at exit i, among the inputs still
    there, the loosest threshold whose leavers are right at a rate ≥ target_accuracy (the
    strictest value when none is). Tune on the validation split."""
    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1])
    _check_policy(criterion, learned)
    target = check_target_accuracy(target_accuracy)
    E, K = probs.shape[0], probs.shape[-1]
    strict, _ = threshold_range(criterion, K)
    sign = _sign(criterion)
    scores = confidence_scores(probs, criterion, learned)
    correct = probs.argmax(-1) == labels
    remaining = torch.ones(probs.shape[1], dtype=torch.bool)
    out = []
    for k in range(E - 1):
        s, r = scores[k][remaining], correct[k][remaining].double()
        order = s.argsort(descending=True)
        s, r = s[order], r[order]
        prec = r.cumsum(0) / torch.arange(1, len(r) + 1, dtype=torch.float64)
        # only cut between distinct scores: everyone at or above the cut leaves
        last_of_tie = torch.ones(len(s), dtype=torch.bool)
        if len(s) > 1:
            last_of_tie[:-1] = s[1:] < s[:-1]
        ok = (prec >= target - ACC_TOL) & last_of_tie
        if ok.any():
            cut = int(torch.nonzero(ok).max())
            t = float(sign * s[cut])
            lo, hi = sorted(threshold_range(criterion, K))
            t = min(max(t, lo), hi)
        else:
            t = strict
        out.append(t)
        remaining &= ~(scores[k] >= sign * t)
    return tuple(out)


def threshold_for_loss(
    probs, labels, max_loss: float, criterion: str = "entropy", n_points: int = 201
) -> float:
    """The loosest threshold on an even grid of `n_points` over the criterion's range whose
    accuracy stays within `max_loss` of the final exit's on (probs, labels): the largest β
    for entropy (eq. 11), the smallest τ for max-probability. Tune it on validation outputs,
    report on test."""
    if criterion not in ("entropy", "max_probability"):
        raise ValueError(f"criterion must be 'entropy' or 'max_probability', got {criterion!r}")
    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1])
    if int(labels.max()) >= probs.shape[-1]:
        raise ValueError(
            f"labels must be < the number of classes {probs.shape[-1]}, got {int(labels.max())}"
        )
    max_loss = check_float(max_loss, "max_loss", low=0.0, high=1.0)
    n_points = check_int(n_points, "n_points", low=2)
    full = exit_accuracies(probs, labels)[-1].item()
    grid = [i / (n_points - 1) for i in range(n_points)]
    if criterion == "max_probability":
        grid = grid[::-1]
    ok = [
        t
        for t in grid
        if evaluate_policy(probs, labels, t, criterion).accuracy >= full - max_loss - 1e-9
    ]
    return ok[-1]


@dataclass(frozen=True)
class Speedup:
    """Wall-clock time of real early exit vs the full backbone, timed in interleaved pairs
    (`mexit.timing.time_ab`): medians, and the interquartile range of the per-pair speedups."""

    batch_size: int
    seconds_full: float  # the plain network (final exit only) on all inputs, median
    seconds_exit: float  # `early_exit_predict` on all inputs, median
    measured: float  # median over pairs of seconds_full / seconds_exit
    measured_low: float  # its interquartile range
    measured_high: float
    flop_ratio: float  # full FLOPs / mean FLOPs actually spent (the predicted speedup)

    def verdict(self) -> str:
        """What the interval allows a text to say: 'faster' only when the whole interquartile
        range of the speedup is above 1×, 'slower' only when it is below, else no difference
        measured. Never a claim about another machine."""
        low, high = self.measured_low, self.measured_high
        span = f"{self.measured:.2f}× (interquartile {low:.2f}–{high:.2f}×)"
        if self.measured_low > 1.0:
            return f"early exit is faster: {span}"
        if self.measured_high < 1.0:
            return f"early exit is slower: {span}"
        return f"no measurable difference: {span} includes 1×"


def measure_speedup(
    model: MultiExitNet,
    x: torch.Tensor,
    thresholds,
    criterion: str = "entropy",
    batch_size: int = 1000,
    costs: CostProfile | None = None,
    repeats: int = 11,
    threads: int | None = 1,
) -> Speedup:
    """Time `early_exit_predict` against the plain backbone on x, `batch_size` inputs per
    call (batch 1 shows the per-call overhead, large batches the FLOP savings), in `repeats`
    interleaved pairs on `threads` threads. A measurement on this machine, never a promise:
    do not assert on it; say "faster" only when `measured_low` > 1."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    batch_size = check_int(batch_size, "batch_size", low=1)
    plain = model.with_exits(())
    batches = [x[s : s + batch_size] for s in range(0, x.shape[0], batch_size)]
    with eval_mode(model):  # every submodule gets its own mode back, whatever runs inside
        if costs is None:
            costs = measure_costs(model, tuple(x.shape[1:]))

        def run_full():
            with torch.inference_mode():
                for b in batches:
                    plain(b)

        spent = []

        def run_exit():
            spent.clear()
            for b in batches:
                spent.append(early_exit_predict(model, b, thresholds, criterion, costs).flops)

        t = time_ab(run_full, run_exit, repeats=repeats, threads=threads)
    flop_ratio = costs.full / float(torch.cat(spent).mean())
    return Speedup(
        batch_size, t.seconds_a, t.seconds_b, t.ratio, t.ratio_low, t.ratio_high, flop_ratio
    )
