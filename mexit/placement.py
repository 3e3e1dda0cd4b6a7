"""Where to put the exits (survey §4, eq. 4-5): percentile, the printed rule, greedy, exhaustive.

Costs come as γ_f (`block_costs`, one per block f_1..f_L) and γ_c (`head_costs`, one per
block that has a head, the final head L included), as measured by `mexit.measure_costs`.
Exit sets C are block indices in 1..L-1 (the final exit L is always there), as in the survey.

- `percentile_placement`: SDN's rule, exits where the cumulative cost reaches fixed fractions.
- `is_efficient_exit`: eq. 4 exactly as printed (Panda et al.).
- `exit_gain`: the exact test, expected cost of the whole cascade without exit i minus with it.
- `greedy_placement`: eq. 5 (Baccarelli et al.), one exit at a time from the input side.
- `optimal_placement`: every one of the 2^(L-1) exit sets, the cheapest that meets a target
  accuracy, scored on the measured outputs of a head at every block.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ._checks import check_exit_set, check_float, check_int, check_labels, check_probs
from .cost import CostProfile, cumulative_costs
from .inference import evaluate_policy, simulate_exits
from .models import MultiExitNet
from .policies import ACC_TOL

SDN_FRACTIONS = (0.15, 0.30, 0.45, 0.60, 0.75, 0.90)


def _check_costs(block_costs, head_costs=None) -> tuple[tuple[float, ...], dict[int, float]]:
    """(γ_f, γ_c) from a CostProfile or from two tables; γ_c as {block index: cost}."""
    if isinstance(block_costs, CostProfile):
        if head_costs is not None:
            raise TypeError("give a CostProfile alone, or block_costs and head_costs, not both")
        return tuple(float(g) for g in block_costs.gamma_f), dict(block_costs.gamma_c)
    gamma_f = _check_table(block_costs, "block_costs")
    L = len(gamma_f)
    if L < 2:
        raise ValueError(f"block_costs must hold one cost per block (L >= 2), got {L}")
    if head_costs is None:
        raise TypeError("head_costs is required with block_costs (one γ_c per block)")
    if isinstance(head_costs, Mapping):
        gamma_c = {}
        for i, c in head_costs.items():
            i = check_int(i, "head_costs key", low=1, high=L)
            gamma_c[i] = check_float(float(c), f"head_costs[{i}]", low=0.0)
        if L not in gamma_c:
            raise ValueError(f"head_costs must include the final head at block {L}")
    else:
        values = _check_table(head_costs, "head_costs")
        if len(values) != L:
            raise ValueError(
                f"head_costs must hold one cost per block ({L}, the final head included), "
                f"got {len(values)}"
            )
        gamma_c = {i: c for i, c in enumerate(values, 1)}
    return gamma_f, gamma_c


def _check_table(values, name: str) -> tuple[float, ...]:
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    if len(values) == 0:
        raise ValueError(f"{name} must not be empty")
    return tuple(check_float(v, f"{name}[{k}]", low=0.0) for k, v in enumerate(values))


def _check_fractions(fractions, n: int, name: str) -> tuple[float, ...]:
    values = _check_table(fractions, name)
    if len(values) != n:
        raise ValueError(f"{name} must hold {n} values (one per exit), got {len(values)}")
    if any(v > 1 for v in values):
        raise ValueError(f"{name} must be fractions in [0, 1], got {values}")
    return values


def set_cost(block_costs, head_costs, exits, exit_fractions) -> float:
    """Expected cost Σ_j r_j Γ_j of exit set `exits` when a fraction r_j of the inputs leaves
    at each exit j of C ∪ {L} (`exit_fractions`, summing to 1)."""
    gamma_f, gamma_c = _check_costs(block_costs, head_costs)
    L = len(gamma_f)
    C = check_exit_set(exits, L)
    missing = [i for i in C if i not in gamma_c]
    if missing:
        raise ValueError(f"exits {missing} have no head cost; head_costs cover {sorted(gamma_c)}")
    r = _check_fractions(exit_fractions, len(C) + 1, "exit_fractions")
    if abs(sum(r) - 1) > 1e-6:
        raise ValueError(f"exit_fractions must sum to 1, got {sum(r):.6g}")
    Gamma = cumulative_costs(gamma_f, gamma_c, C + (L,))
    return float((Gamma * torch.tensor(r, dtype=torch.float64)).sum())


def percentile_placement(block_costs, fractions=SDN_FRACTIONS) -> tuple[int, ...]:
    """SDN (Kaya et al.): an exit after the block where the backbone's cumulative cost
    Σ_{k≤i} γ_{f_k} / Σ_k γ_{f_k} comes closest to each fraction (ties go to the earlier
    block). Duplicates merge; the final block is never an early exit."""
    if isinstance(block_costs, CostProfile):
        block_costs = block_costs.gamma_f
    gamma_f = _check_table(block_costs, "block_costs")
    L = len(gamma_f)
    if L < 2:
        raise ValueError(f"block_costs must hold one cost per block (L >= 2), got {L}")
    fr = _check_table(fractions, "fractions")
    if any(not 0 < f < 1 for f in fr):
        raise ValueError(f"fractions must lie strictly between 0 and 1, got {fr}")
    total = sum(gamma_f)
    if total <= 0:
        raise ValueError("block_costs must not all be zero")
    cum = [sum(gamma_f[:i]) / total for i in range(1, L)]  # blocks 1..L-1
    chosen = {min(range(1, L), key=lambda i: (abs(cum[i - 1] - f), i)) for f in fr}
    return tuple(sorted(chosen))


def is_efficient_exit(gamma, I, i: int) -> bool:
    """Eq. 4 exactly as printed (Panda et al.): exit i improves efficiency when

        (γ_{i+1} − γ_i)(I_i − I_{i+1}) > γ_i I_{i+1},

    γ_i the cost of running the network up to exit i, I_i the fraction of data at exit i.
    `gamma` and `I` are indexed by exit position (1-based i, so i+1 must exist)."""
    g = _check_table(gamma, "gamma")
    frac = _check_table(I, "I")
    if len(frac) != len(g):
        raise ValueError(f"I must hold one value per exit ({len(g)}), got {len(frac)}")
    if any(v > 1 for v in frac):
        raise ValueError(f"I must be fractions in [0, 1], got {frac}")
    i = check_int(i, "i", low=1, high=len(g) - 1)
    gi, gn, Ii, In = g[i - 1], g[i], frac[i - 1], frac[i]
    return (gn - gi) * (Ii - In) > gi * In


def exit_gain(block_costs, head_costs, exits, i: int, fractions_with, fractions_without=None):
    """The exact test: expected cost of the cascade without exit i minus with it (FLOPs per
    input; > 0 means exit i pays for itself).

    exits: the other early exits (i excluded or included, it does not matter).
    fractions_with: measured fraction of inputs leaving at each exit of C ∪ {i} ∪ {L};
    fractions_without: the same for C \\ {i} ∪ {L}. If omitted, the inputs that left at i are
    assumed to leave at the next exit instead (the others unchanged)."""
    gamma_f, gamma_c = _check_costs(block_costs, head_costs)
    L = len(gamma_f)
    i = check_int(i, "i", low=1, high=L - 1)
    rest = tuple(e for e in check_exit_set(exits, L) if e != i)
    with_i = tuple(sorted(rest + (i,)))
    r_with = _check_fractions(fractions_with, len(with_i) + 1, "fractions_with")
    if fractions_without is None:
        k = with_i.index(i)
        r_without = list(r_with[:k]) + [r_with[k] + r_with[k + 1]] + list(r_with[k + 2 :])
    else:
        r_without = _check_fractions(fractions_without, len(rest) + 1, "fractions_without")
    cost_with = set_cost(gamma_f, gamma_c, with_i, r_with)
    cost_without = set_cost(gamma_f, gamma_c, rest, r_without)
    return cost_without - cost_with


def greedy_placement(block_costs, head_costs, exit_rates, th: float) -> tuple[int, ...]:
    """Eq. 5 (Baccarelli et al.), read as the survey prints it: from the input side, keep
    the candidate exit i when

        (TH − cm_i) γ_{f_{i+1}} − (1 − cm_i) γ_{c_i} − (1 − TH) γ_{f_i} ≥ 0,

    cm_i = I_{i+1} / I_i the compression ratio: the share of the inputs reaching exit i that
    go on (1 − q_i, with q_i = exit_rates[i-1] the fraction of those reaching i that leave).
    exit_rates: one q_i per candidate block 1..L-1. TH ∈ [0, 1]: larger keeps more exits."""
    gamma_f, gamma_c = _check_costs(block_costs, head_costs)
    L = len(gamma_f)
    q = _check_fractions(exit_rates, L - 1, "exit_rates")
    th = check_float(th, "th", low=0.0, high=1.0)
    kept = []
    for i in range(1, L):
        if i not in gamma_c:
            continue
        cm = 1.0 - q[i - 1]
        score = (th - cm) * gamma_f[i] - (1 - cm) * gamma_c[i] - (1 - th) * gamma_f[i - 1]
        if score >= 0:
            kept.append(i)
    return tuple(kept)


def conditional_exit_rates(probs, threshold, criterion: str = "entropy") -> tuple[float, ...]:
    """q_i: the fraction of the inputs reaching exit i that leave there, measured with every
    exit present. probs: (E, N, K) outputs of the exits (a head at every block).
    Returns E-1 rates (the final exit takes everyone left)."""
    probs = check_probs(probs)
    idx = simulate_exits(probs, threshold, criterion)
    E = probs.shape[0]
    counts = torch.bincount(idx, minlength=E).double()
    reach = counts.flip(0).cumsum(0).flip(0)
    return tuple((counts[:-1] / reach[:-1].clamp_min(1)).tolist())


@dataclass(frozen=True)
class PlacementScore:
    """One exit set scored on measured outputs under one threshold policy."""

    exits: tuple[int, ...]  # early exits C (the final exit L is implied)
    accuracy: float  # in [0, 1]
    mean_flops: float  # expected cost per input, eq. 12
    cost_fraction: float  # mean_flops / cost of the plain network
    exit_fractions: tuple[float, ...]  # fraction leaving at each exit of C ∪ {L}


def evaluate_placement(
    probs, labels, costs: CostProfile, exits, threshold, criterion: str = "entropy"
) -> PlacementScore:
    """Score exit set C: the policy runs on the heads of C ∪ {L} only.

    probs: (L, N, K) outputs of a head at every block 1..L; costs: their CostProfile."""
    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1])
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    L = costs.num_blocks
    if probs.shape[0] != L:
        raise ValueError(
            f"probs must hold the outputs of a head at every block ({L}), "
            f"got {probs.shape[0]} exits"
        )
    C = check_exit_set(exits, L)
    rows = [e - 1 for e in C + (L,)]
    r = evaluate_policy(
        probs[rows], labels, threshold, criterion, Gamma=costs.Gamma(C), full_cost=costs.full
    )
    n = len(labels)
    return PlacementScore(
        exits=C,
        accuracy=r.accuracy,
        mean_flops=r.mean_flops,
        cost_fraction=r.cost_fraction,
        exit_fractions=tuple(c / n for c in r.exit_counts),
    )


@dataclass(frozen=True)
class PlacementSearch:
    """The exhaustive search: the best exit set and every set's score."""

    best: PlacementScore
    scores: tuple[PlacementScore, ...]  # all 2^(L-1) sets, in enumeration order
    target_accuracy: float | None

    def score(self, exits) -> PlacementScore:
        """The score of one exit set."""
        key = tuple(sorted(exits))
        for s in self.scores:
            if s.exits == key:
                return s
        raise ValueError(f"exits {key} is not an exit set of this search")

    def meets_target(self, exits) -> bool:
        """Whether `exits` reaches the target accuracy (always, without a target)."""
        s = self.score(exits)
        return self.target_accuracy is None or s.accuracy >= self.target_accuracy - ACC_TOL

    def is_optimal(self, exits) -> bool:
        """Whether `exits` meets the target and costs no more than the best set."""
        s = self.score(exits)
        return self.meets_target(exits) and s.mean_flops <= self.best.mean_flops + 1e-9


def optimal_placement(
    probs,
    labels,
    costs: CostProfile,
    threshold,
    target_accuracy: float | None = None,
    criterion: str = "entropy",
) -> PlacementSearch:
    """Exhaustive search over all 2^(L-1) exit sets: the lowest expected cost whose accuracy
    reaches `target_accuracy` (None: the lowest cost, whatever the accuracy). Ties go to the
    set with fewer exits. Feasible for small L (L = 6: 32 sets).

    probs: (L, N, K) outputs of a head at every block; threshold: the shared threshold."""
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    if target_accuracy is not None:
        target_accuracy = check_float(target_accuracy, "target_accuracy", low=0.0, high=1.0)
        if target_accuracy == 0.0:
            raise ValueError("target_accuracy must lie in (0, 1], got 0.0")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be one number in [0, 1], got {threshold!r}")
    L = costs.num_blocks
    scores = [
        evaluate_placement(probs, labels, costs, C, threshold, criterion)
        for r in range(L)
        for C in itertools.combinations(range(1, L), r)
    ]
    feasible = [
        s for s in scores if target_accuracy is None or s.accuracy >= target_accuracy - ACC_TOL
    ]
    if not feasible:
        best_acc = max(s.accuracy for s in scores)
        raise ValueError(
            f"target_accuracy {target_accuracy:.4f} is unreachable: the best exit set reaches "
            f"{best_acc:.4f} at threshold {threshold}"
        )
    best = min(feasible, key=lambda s: (s.mean_flops, len(s.exits)))
    return PlacementSearch(best=best, scores=tuple(scores), target_accuracy=target_accuracy)


def placement_backbone(
    channels=(16, 24, 32, 48, 64, 96),
    strides=(1, 1, 2, 1, 2, 2),
    *,
    epochs: int = 12,
    lr: float = 3e-3,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
    retrain: bool = False,
    root=None,
) -> MultiExitNet:
    """A deeper MNIST-1D CNN (default L = 6, so 2^5 = 32 exit sets) with a pooled head after
    every block, trained jointly (eq. 6, every α_i = 1) once and cached: every candidate exit
    is trained up front, so choosing an exit set never retrains. `model.history` is attached."""
    from .checkpoints import cached_model
    from .data import load_mnist1d
    from .models import mnist1d_cnn
    from .training import History, fit_bundle

    config = dict(
        channels=[check_int(c, "channel width", low=1) for c in channels],
        strides=[check_int(s, "stride", low=1) for s in strides],
        epochs=check_int(epochs, "epochs", low=1),
        lr=check_float(lr, "lr", low=0.0),
        batch_size=check_int(batch_size, "batch_size", low=1),
        seed=check_int(seed, "seed", low=0),
        version=1,
    )

    def build():
        return mnist1d_cnn(channels=tuple(config["channels"]), strides=tuple(config["strides"]))

    def train(model):
        data = load_mnist1d()
        h = fit_bundle(
            model,
            data,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            progress=progress,
            desc="training the L=6 CNN",
        )
        return h.as_dict()

    name = f"placement_cnn{len(config['channels'])}"
    model, extras = cached_model(name, config, build, train, root=root, retrain=retrain)
    model.history = History.from_dict(model.exits, extras)
    return model
