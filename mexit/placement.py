"""Where to put the exits (survey §4, eq. 4-5): percentile, the printed rule, greedy, exhaustive.

Costs come as γ_f (`block_costs`, one per block f_1..f_L) and γ_c (`head_costs`, one per
block that has a head, the final head L included), as measured by `mexit.measure_costs`.
Exit sets C are block indices in 1..L-1 (the final exit L is always there), as in the survey.

- `percentile_placement`: SDN's rule, an exit where the cumulative cost reaches each fraction
  (`rule="reaches"`, EQUATIONS.md's reading) or at the block closest to it (`rule="closest"`).
- `is_efficient_exit`: eq. 4 exactly as printed (Panda et al.).
- `exit_gain`: the exact test, expected cost of the whole cascade without exit i minus with it.
- `greedy_placement` / `greedy_walk`: eq. 5 (Baccarelli et al.) as the survey describes it, a
  walk from the input side in which cm_i is measured with the exits kept so far.
- `filter_placement`: eq. 5 applied to every exit on its own, with rates measured once with
  every exit present (the kept list never influences a decision): a per-exit filter, not greedy.
- `optimal_placement`: every one of the 2^(L-1) exit sets, the cheapest that meets a target
  accuracy, scored on the measured outputs of a head at every block.
- `head_design_table`, `eq4_table`, `placement_table` and the `plot_*` functions assemble the
  tables and figures of notebook 02.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ._checks import check_exit_set, check_float, check_int, check_labels, check_probs
from .cost import CostProfile, cumulative_costs
from .inference import _check_criterion, _confident, evaluate_policy, simulate_exits
from .models import MultiExitNet
from .policies import ACC_TOL, check_target_accuracy

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


def set_cost(block_costs, head_costs=None, *, exits, exit_fractions) -> float:
    """Expected cost Σ_j r_j Γ_j of exit set `exits` when a fraction r_j of the inputs leaves
    at each exit j of C ∪ {L} (`exit_fractions`, summing to 1).

    block_costs: a CostProfile, or γ_f (one per block) with `head_costs` γ_c beside it."""
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


def percentile_placement(
    block_costs, fractions=SDN_FRACTIONS, *, rule: str = "reaches"
) -> tuple[int, ...]:
    """SDN (Kaya et al.): exits placed by the backbone's cumulative cost
    Σ_{k≤i} γ_{f_k} / Σ_k γ_{f_k}.

    rule="reaches" (EQUATIONS.md: "an exit where the cumulative cost reaches each fraction"):
    for each fraction, the first block whose cumulative cost is at least that fraction; a
    fraction reached only at the final block L adds no early exit.
    rule="closest": the block whose cumulative cost comes closest to each fraction (ties go
    to the earlier block). Duplicates merge; the final block is never an early exit."""
    if isinstance(block_costs, CostProfile):
        block_costs = block_costs.gamma_f
    gamma_f = _check_table(block_costs, "block_costs")
    L = len(gamma_f)
    if L < 2:
        raise ValueError(f"block_costs must hold one cost per block (L >= 2), got {L}")
    fr = _check_table(fractions, "fractions")
    if any(not 0 < f < 1 for f in fr):
        raise ValueError(f"fractions must lie strictly between 0 and 1, got {fr}")
    if rule not in ("reaches", "closest"):
        raise ValueError(f"rule must be 'reaches' or 'closest', got {rule!r}")
    total = sum(gamma_f)
    if total <= 0:
        raise ValueError("block_costs must not all be zero")
    cum = [sum(gamma_f[:i]) / total for i in range(1, L + 1)]  # blocks 1..L
    if rule == "closest":
        chosen = {min(range(1, L), key=lambda i: (abs(cum[i - 1] - f), i)) for f in fr}
    else:
        first = (next(i for i in range(1, L + 1) if cum[i - 1] >= f - 1e-12) for f in fr)
        chosen = {i for i in first if i < L}
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


def exit_gain(
    block_costs, head_costs=None, *, exits, i: int, fractions_with, fractions_without=None
) -> float:
    """The exact test: expected cost of the cascade without exit i minus with it (FLOPs per
    input; > 0 means exit i pays for itself).

    block_costs: a CostProfile, or γ_f (one per block) with `head_costs` γ_c beside it.
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
    cost_with = set_cost(gamma_f, gamma_c, exits=with_i, exit_fractions=r_with)
    cost_without = set_cost(gamma_f, gamma_c, exits=rest, exit_fractions=r_without)
    return cost_without - cost_with


def _eq5_score(gamma_f, gamma_c, i: int, cm: float, th: float) -> float:
    """Left side of eq. 5 at candidate exit i (1-based)."""
    return (th - cm) * gamma_f[i] - (1 - cm) * gamma_c[i] - (1 - th) * gamma_f[i - 1]


def filter_placement(block_costs, head_costs=None, *, exit_rates, th: float) -> tuple[int, ...]:
    """Eq. 5 as a **per-exit filter** (not greedy): every candidate exit i is judged on its own
    by

        (TH − cm_i) γ_{f_{i+1}} − (1 − cm_i) γ_{c_i} − (1 − TH) γ_{f_i} ≥ 0,

    with cm_i = 1 − q_i and q_i = exit_rates[i-1] measured **once, with every exit present**
    (`conditional_exit_rates`). The exits kept so far never change a decision; compare
    `greedy_placement`, the survey's walk, which re-measures cm_i with the exits it kept.

    block_costs: a CostProfile, or γ_f with `head_costs` γ_c. TH ∈ [0, 1]: larger keeps more."""
    gamma_f, gamma_c = _check_costs(block_costs, head_costs)
    L = len(gamma_f)
    q = _check_fractions(exit_rates, L - 1, "exit_rates")
    th = check_float(th, "th", low=0.0, high=1.0)
    return tuple(
        i
        for i in range(1, L)
        if i in gamma_c and _eq5_score(gamma_f, gamma_c, i, 1.0 - q[i - 1], th) >= 0
    )


def _check_threshold(threshold) -> float:
    """The one threshold every exit of a placement shares, in [0, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be one number in [0, 1], got {threshold!r}")
    return check_float(threshold, "threshold", low=0.0, high=1.0)


def _check_block_probs(probs, costs, name: str = "probs") -> torch.Tensor:
    """Outputs (L, N, K) of a head at every block of the network `costs` describes."""
    probs = check_probs(probs, name)
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    L = costs.num_blocks
    if probs.shape[0] != L:
        raise ValueError(
            f"{name} must hold the outputs of a head at every block ({L}), "
            f"got {probs.shape[0]} exits"
        )
    return probs


def greedy_walk(probs, costs: CostProfile, *, threshold, th: float, criterion: str = "entropy"):
    """Eq. 5 (Baccarelli et al.) as the survey describes it: walk from the input side to the
    output; at each candidate exit i, run the exit policy on the exits kept so far plus i
    (and the final exit) and measure

        I_i = fraction of the inputs that reach exit i,  I_{i+1} = fraction that go past it,
        cm_i = I_{i+1} / I_i,

    then keep i when (TH − cm_i) γ_{f_{i+1}} − (1 − cm_i) γ_{c_i} − (1 − TH) γ_{f_i} ≥ 0.
    Dropping an exit sends its inputs on, so the rates of later exits depend on what was kept.

    probs: (L, N, K) outputs of a head at every block; costs: their CostProfile;
    threshold: the shared exit threshold of the policy; TH ∈ [0, 1] (larger keeps more).
    Returns one dict per candidate: exit, reach (I_i), rate (q_i = 1 − cm_i), cm, score, kept."""
    probs = _check_block_probs(probs, costs)
    L = costs.num_blocks
    th = check_float(th, "th", low=0.0, high=1.0)
    threshold = _check_threshold(threshold)
    gamma_f, gamma_c = _check_costs(costs)
    n = probs.shape[1]
    kept, steps = [], []
    for i in range(1, L):
        rows = [e - 1 for e in kept] + [i - 1, L - 1]
        idx = simulate_exits(probs[rows], threshold, criterion)
        k = len(kept)  # position of exit i among the rows
        reach = int((idx >= k).sum())
        leave = int((idx == k).sum())
        cm = 1.0 - leave / reach if reach else 1.0
        score = _eq5_score(gamma_f, gamma_c, i, cm, th) if i in gamma_c else float("-inf")
        steps.append(
            dict(exit=i, reach=reach / n, rate=1.0 - cm, cm=cm, score=score, kept=score >= 0)
        )
        if score >= 0:
            kept.append(i)
    return steps


def greedy_placement(
    probs, costs: CostProfile, *, threshold, th: float, criterion: str = "entropy"
) -> tuple[int, ...]:
    """The exit set C that eq. 5's walk keeps (see `greedy_walk`)."""
    steps = greedy_walk(probs, costs, threshold=threshold, th=th, criterion=criterion)
    return tuple(s["exit"] for s in steps if s["kept"])


def conditional_exit_rates(probs, threshold, criterion: str = "entropy") -> tuple[float, ...]:
    """q_i: the fraction of the inputs reaching exit i that leave there, measured with every
    exit present. probs: (E, N, K) outputs of the exits (a head at every block).
    Returns E-1 rates (the final exit takes everyone left)."""
    probs = check_probs(probs)
    idx = simulate_exits(probs, _check_threshold(threshold), criterion)
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
    probs = _check_block_probs(probs, costs)
    labels = check_labels(labels, probs.shape[1])
    L = costs.num_blocks
    threshold = _check_threshold(threshold)
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
    threshold: float = 0.5  # the shared threshold every set was scored at
    criterion: str = "entropy"

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


def _score_all(probs, labels, costs: CostProfile, threshold: float, criterion: str) -> list:
    """`evaluate_placement` of every exit set, with the exit test of each head computed once
    (the same operations, so the same numbers, as scoring each set on its own)."""
    criterion = _check_criterion(criterion)
    L, n = costs.num_blocks, len(labels)
    th = torch.tensor(float(threshold), dtype=probs.dtype, device=probs.device)
    confident = _confident(probs[:-1], th, criterion)  # (L-1, N): exit test of each head
    right = probs.argmax(-1) == labels  # (L, N)
    full = float(costs.full)
    scores = []
    for r in range(L):
        for C in itertools.combinations(range(1, L), r):
            rows = [e - 1 for e in C]
            exit_index = torch.full((n,), len(C), dtype=torch.long, device=probs.device)
            if rows:
                ok = confident[rows]
                any_ok = ok.any(0)
                exit_index[any_ok] = ok.int().argmax(0)[any_ok]
            positions = torch.tensor(rows + [L - 1], device=probs.device)
            correct = right[positions].gather(0, exit_index[None]).squeeze(0)
            Gamma = costs.Gamma(C).double()
            mean_flops = float(Gamma[exit_index.cpu()].mean())
            counts = torch.bincount(exit_index.cpu(), minlength=len(C) + 1).tolist()
            scores.append(
                PlacementScore(
                    exits=C,
                    accuracy=float(correct.float().mean()),
                    mean_flops=mean_flops,
                    cost_fraction=mean_flops / full,
                    exit_fractions=tuple(c / n for c in counts),
                )
            )
    return scores


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
        target_accuracy = check_target_accuracy(target_accuracy)
    threshold = _check_threshold(threshold)
    probs = _check_block_probs(probs, costs)
    labels = check_labels(labels, probs.shape[1])
    scores = _score_all(probs, labels, costs, threshold, criterion)
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
    return PlacementSearch(
        best=best,
        scores=tuple(scores),
        target_accuracy=target_accuracy,
        threshold=float(threshold),
        criterion=criterion,
    )


def _candidate_score(search: PlacementSearch, exits) -> PlacementScore:
    try:
        return search.score(exits)
    except (TypeError, ValueError):
        raise ValueError(
            f"candidates must hold exit sets of search, got {exits!r} "
            f"(search scored {len(search.scores)} sets)"
        ) from None


def best_feasible(search: PlacementSearch, candidates) -> PlacementScore | None:
    """The cheapest of the exit sets `candidates` that meets `search`'s target accuracy, or None
    when none of them does (e.g. the sets of eq. 5 over a grid of TH)."""
    if not isinstance(search, PlacementSearch):
        raise TypeError(f"search must be a PlacementSearch, got {type(search).__name__}")
    if isinstance(candidates, (str, bytes)) or not isinstance(candidates, (Sequence, set)):
        raise TypeError(f"candidates must be a collection of exit sets, got {candidates!r}")
    scores = [_candidate_score(search, C) for C in candidates]
    ok = [s for s in scores if search.meets_target(s.exits)]
    return min(ok, key=lambda s: (s.mean_flops, len(s.exits))) if ok else None


def _check_designs(designs) -> dict:
    if not isinstance(designs, Mapping) or not designs:
        raise TypeError("designs must be a non-empty dict {head kind: MultiExitNet}")
    for kind, net in designs.items():
        if not isinstance(net, MultiExitNet):
            raise TypeError(f"designs[{kind!r}] must be a MultiExitNet, got {type(net).__name__}")
    return dict(designs)


def head_design_table(designs, x, y, input_shape):
    """One row per (head design, early exit): test accuracy (%), parameters, head FLOPs γ_c and
    block FLOPs γ_f (kFLOPs) — the comparison of §4's head designs (a pandas DataFrame).

    designs: {kind: MultiExitNet with a head of that kind at every early block}; x, y: inputs
    and labels to score the heads on; input_shape: the shape of one input, e.g. (1, 40)."""
    import pandas as pd

    from .cost import measure_costs
    from .inference import exit_accuracies, exit_probs

    designs = _check_designs(designs)
    rows = []
    for kind, net in designs.items():
        costs = measure_costs(net, input_shape)
        acc = exit_accuracies(exit_probs(net, x), y)
        for k, i in enumerate(net.exits[:-1]):
            rows.append(
                dict(
                    head=kind,
                    exit=i,
                    accuracy=100 * acc[k].item(),
                    params=sum(p.numel() for p in net.head(i).parameters()),
                    kflops=costs.gamma_c[i] / 1e3,
                    block_kflops=costs.gamma_f[i - 1] / 1e3,
                )
            )
    return pd.DataFrame(rows)


def plot_head_designs(table):
    """Accuracy and cost of each head design at each exit, from `head_design_table`."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    _check_frame(table, ("head", "exit", "accuracy", "kflops", "block_kflops"), "table")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
    sns.barplot(table, x="exit", y="accuracy", hue="head", ax=a1)
    a1.set(ylabel="test accuracy (%)", title="accuracy of each exit alone", ylim=(0, 100))
    sns.barplot(table, x="exit", y="kflops", hue="head", ax=a2)
    blocks = table.drop_duplicates("exit").sort_values("exit")["block_kflops"]
    a2.plot(range(len(blocks)), blocks, "k_", ms=30, mew=2, label="the block itself (γ_f)")
    a2.set(yscale="log", ylabel="head cost γ_c (kFLOPs, log)", title="what each head costs")
    a2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def _check_frame(table, columns, name: str) -> None:
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} lacks the columns {missing}")


def plot_cost_profile(costs: CostProfile, *, label: str = "head"):
    """γ_f and γ_c of every block (bars), Γ_j with a head at every block, and the backbone's
    running cost Σ γ_f (kFLOPs)."""
    import matplotlib.pyplot as plt

    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    if not isinstance(label, str):
        raise TypeError(f"label must be a str, got {type(label).__name__}")
    L = costs.num_blocks
    if sorted(costs.gamma_c) != list(range(1, L + 1)):
        raise ValueError(
            f"costs must have a head at every block 1..{L}, got {sorted(costs.gamma_c)}"
        )
    gamma_f = torch.tensor(costs.gamma_f, dtype=torch.float64)
    gamma_c = torch.tensor([costs.gamma_c[i] for i in range(1, L + 1)], dtype=torch.float64)
    x = torch.arange(1, L + 1)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.bar(x - 0.2, gamma_f / 1e3, 0.4, label="block γ_f")
    ax.bar(x + 0.2, gamma_c / 1e3, 0.4, label=f"{label} head γ_c")
    ax.plot(x, costs.Gamma(tuple(range(1, L))) / 1e3, "ko-", label="Γ_j, every exit present")
    ax.plot(x, gamma_f.cumsum(0) / 1e3, "k:", label="backbone alone Σ γ_f")
    ax.set(xlabel="block / exit", ylabel="cost (kFLOPs)", title="cost profile")
    ax.legend(fontsize=8)
    return fig


def eq4_table(probs, labels, costs: CostProfile, *, threshold, criterion: str = "entropy"):
    """Eq. 4 against the exact test for every exit i of the full set C = {1..L-1}, from the
    measured exit fractions (a pandas DataFrame, one row per exit):

    exits (%): I_i, the fraction leaving at i; reach (%): the fraction reaching i;
    eq. 4 printed: `is_efficient_exit` with I = exit fractions and γ = Γ of the full set;
    eq. 4, I = reach: the same with the fractions reaching each exit;
    exact gain (%): `exit_gain` with the rates re-measured without exit i (% of the plain
    network); exact keep: gain > 0; printed agrees: eq. 4 printed == exact keep."""
    import pandas as pd

    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    threshold = _check_threshold(threshold)
    L = costs.num_blocks
    every = tuple(range(1, L))
    with_all = evaluate_placement(probs, labels, costs, every, threshold, criterion)
    I_exit = list(with_all.exit_fractions)
    I_reach = [sum(I_exit[k:]) for k in range(L)]
    gamma = costs.Gamma(every).tolist()
    rows = []
    for i in every:
        rest = tuple(e for e in every if e != i)
        without = evaluate_placement(probs, labels, costs, rest, threshold, criterion)
        gain = exit_gain(
            costs,
            exits=every,
            i=i,
            fractions_with=I_exit,
            fractions_without=without.exit_fractions,
        )
        printed = is_efficient_exit(gamma, I_exit, i)
        rows.append(
            {
                "exit i": i,
                "exits (%)": 100 * I_exit[i - 1],
                "reach (%)": 100 * I_reach[i - 1],
                "eq. 4 printed": printed,
                "eq. 4, I = reach": is_efficient_exit(gamma, I_reach, i),
                "exact gain (%)": 100 * gain / costs.full,
                "exact keep": gain > 0,
                "printed agrees": printed == (gain > 0),
            }
        )
    return pd.DataFrame(rows)


def placement_table(search: PlacementSearch, candidates, *, test_probs, test_labels, costs):
    """One row per named exit set (`candidates`: {name: C}) and the exhaustive optimum: its
    validation accuracy and cost (from `search`), whether it meets the target, and its test
    accuracy and cost at the same threshold (a pandas DataFrame)."""
    import pandas as pd

    if not isinstance(search, PlacementSearch):
        raise TypeError(f"search must be a PlacementSearch, got {type(search).__name__}")
    if not isinstance(candidates, Mapping):
        raise TypeError(f"candidates must be a dict {{name: exit set}}, got {candidates!r}")
    test_probs = _check_block_probs(test_probs, costs, "test_probs")
    check_labels(test_labels, test_probs.shape[1], "test_labels")
    for C in candidates.values():
        _candidate_score(search, C)
    named = {**candidates, "exhaustive optimum": search.best.exits}
    rows = []
    for name, C in named.items():
        s = search.score(C)
        t = evaluate_placement(
            test_probs, test_labels, costs, C, search.threshold, search.criterion
        )
        rows.append(
            {
                "method": name,
                "C": s.exits,
                "val acc (%)": 100 * s.accuracy,
                "meets target": search.meets_target(C),
                "val cost (%)": 100 * s.cost_fraction,
                "test acc (%)": 100 * t.accuracy,
                "test cost (%)": 100 * t.cost_fraction,
            }
        )
    return pd.DataFrame(rows)


def plot_placement_search(search: PlacementSearch, table, *, title: str = "placement"):
    """Every exit set of `search` (validation accuracy against cost), the target, and the
    rows of `placement_table` marked: SDN squares, eq. 5 triangles, the optimum a star."""
    import matplotlib.pyplot as plt

    if not isinstance(search, PlacementSearch):
        raise TypeError(f"search must be a PlacementSearch, got {type(search).__name__}")
    _check_frame(table, ("method", "val cost (%)", "val acc (%)"), "table")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(
        [100 * s.cost_fraction for s in search.scores],
        [100 * s.accuracy for s in search.scores],
        c="lightgray",
        label=f"all {len(search.scores)} exit sets",
    )
    if search.target_accuracy is not None:
        ax.axhline(100 * search.target_accuracy, color="gray", ls="--", lw=1, label="target")
    markers = {"SDN reaches": "s", "SDN closest": "p", "greedy": "^", "filter": "v", "every": "D"}
    for key, marker in markers.items():
        rows = table[table.method.str.contains(key, regex=False)]
        if len(rows):
            ax.plot(rows["val cost (%)"], rows["val acc (%)"], marker, ms=9, mfc="none", label=key)
    best = search.best
    ax.plot(
        100 * best.cost_fraction,
        100 * best.accuracy,
        "r*",
        ms=15,
        label=f"optimum C = {best.exits}",
    )
    final = 100 * search.score(()).accuracy
    low = 100 * (search.target_accuracy or min(s.accuracy for s in search.scores))
    ax.set(
        xlabel="mean cost (% of the plain network)",
        ylabel="validation accuracy (%)",
        title=title,
        ylim=(low - 4, final + 1),
    )
    ax.legend(fontsize=8, loc="lower right")
    return fig


def placement_sweep(
    probs,
    labels,
    costs: CostProfile,
    *,
    thresholds,
    max_losses,
    th_grid,
    fractions=SDN_FRACTIONS,
    criterion: str = "entropy",
):
    """Greedy (eq. 5 walk), the per-exit filter and SDN against the exhaustive optimum on
    many placement problems: one row per (threshold β, accuracy budget), the target being the
    final exit's accuracy minus the budget. For eq. 5, the cheapest set over `th_grid` that
    meets the target (NaN when none does); for SDN (rule "reaches"), its cost when it meets
    the target, else NaN. Costs in % of the plain network; gaps in points above the optimum."""
    import math

    import pandas as pd

    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1])
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    betas = _check_table(thresholds, "thresholds")
    losses = _check_table(max_losses, "max_losses")
    ths = _check_table(th_grid, "th_grid")
    if any(v > 1 for v in betas + losses + ths):
        raise ValueError("thresholds, max_losses and th_grid must lie in [0, 1]")
    final = float((probs[-1].argmax(-1) == labels).double().mean())
    sdn = percentile_placement(costs, fractions)
    rows = []
    for beta in betas:
        rates = conditional_exit_rates(probs, beta, criterion)
        walk = [
            greedy_placement(probs, costs, threshold=beta, th=t, criterion=criterion) for t in ths
        ]
        filt = [filter_placement(costs, exit_rates=rates, th=t) for t in ths]
        for loss in losses:
            search = optimal_placement(
                probs, labels, costs, beta, max(final - loss, 1e-6), criterion
            )
            opt = 100 * search.best.cost_fraction

            def cost(score):
                return math.nan if score is None else 100 * score.cost_fraction

            g, f = best_feasible(search, walk), best_feasible(search, filt)
            rows.append(
                {
                    "beta": beta,
                    "max loss (pts)": 100 * loss,
                    "optimum C": search.best.exits,
                    "optimum (%)": opt,
                    "greedy C": None if g is None else g.exits,
                    "greedy (%)": cost(g),
                    "filter (%)": cost(f),
                    "SDN (%)": cost(best_feasible(search, [sdn])),
                    "greedy gap (pts)": cost(g) - opt,
                    "SDN gap (pts)": cost(best_feasible(search, [sdn])) - opt,
                }
            )
    return pd.DataFrame(rows)


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
    from .data import load_mnist1d
    from .models import mnist1d_cnn
    from .runs import cached_fit, fit_run, run_budget

    config = dict(
        channels=[check_int(c, f"channels[{i}]", low=1) for i, c in enumerate(channels)],
        strides=[check_int(s, f"strides[{i}]", low=1) for i, s in enumerate(strides)],
        **run_budget(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed),
        version=1,
    )

    def build():
        return mnist1d_cnn(channels=tuple(config["channels"]), strides=tuple(config["strides"]))

    def train(model):
        desc = "training the L=6 CNN"
        return fit_run(model, load_mnist1d(), config, progress=progress, desc=desc)

    name = f"placement_cnn{len(config['channels'])}"
    model, _ = cached_fit(name, config, build, train, root=root, retrain=retrain)
    return model
