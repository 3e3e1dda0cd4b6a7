"""Exercises of notebook 02 (§4): percentile placement (SDN) and eq. 4 as printed."""

from __future__ import annotations

import torch

from ..placement import SDN_FRACTIONS, is_efficient_exit, percentile_placement
from ._core import Case, Exercise, Mistake

# ------------------------------------------------------------------ percentile placement


def _percentile_cases() -> list[Case]:
    g = torch.Generator().manual_seed(201)
    costs = [float(v) for v in torch.randint(5, 60, (6,), generator=g)]
    return [
        Case("6 equal blocks, SDN's fractions", ([1.0] * 6, SDN_FRACTIONS)),
        Case("4 equal blocks, fractions hit exactly (0.25, 0.5)", ([1.0] * 4, (0.25, 0.5))),
        Case("6 blocks of random cost, SDN's fractions", (costs, SDN_FRACTIONS)),
        Case(
            "a costly last block: several fractions fall in it or before it",
            ([1.0, 1.0, 2.0, 12.0], (0.1, 0.2, 0.3, 0.5, 0.9)),
        ),
        Case(
            "float64 tensor of costs, two fractions",
            (torch.tensor([3.0, 1.0, 4.0, 1.0, 5.0], dtype=torch.float64), (0.3, 0.6)),
        ),
    ]


def _percentile_reference(block_costs, fractions):
    return percentile_placement(block_costs, fractions, rule="reaches")


def _cum(block_costs, shift=0):
    costs = [float(c) for c in block_costs]
    total = sum(costs)
    return [sum(costs[: i - shift]) / total for i in range(1, len(costs) + 1)]


def _first_reaching(block_costs, fractions, *, shift=0, strict=False, keep_last=False, base=1):
    cum, L = _cum(block_costs, shift), len(block_costs)
    chosen = set()
    for f in fractions:
        for i in range(1, L + 1):
            if (cum[i - 1] > f) if strict else (cum[i - 1] >= f):
                if i < L or keep_last:
                    chosen.add(i - (1 - base))
                break
    return tuple(sorted(chosen))


PERCENTILE = Exercise(
    "percentile",
    title="percentile_exits(block_costs, fractions), SDN's cost-percentile placement",
    params=("block_costs", "fractions"),
    reference=_percentile_reference,
    cases=_percentile_cases,
    success="your exits equal mexit.placement.percentile_placement(rule='reaches')",
    mistakes=[
        Mistake(
            "cumulative-cost fraction off by one block",
            lambda b, f: _first_reaching(b, f, shift=1),
            "the cumulative cost at block i counts blocks 1..i (block i included): "
            "sum(costs[:i]) in Python, not sum(costs[:i-1]); yours places each exit one "
            "block too deep.",
        ),
        Mistake(
            "0-based block index",
            lambda b, f: _first_reaching(b, f, base=0),
            "exits are numbered as blocks, 1..L (the survey's C ⊆ {1, …, L−1}); you returned "
            "Python list positions, one less.",
        ),
        Mistake(
            "kept the final block as an exit",
            lambda b, f: _first_reaching(b, f, keep_last=True),
            "a fraction reached only at block L adds no early exit: the final exit is always "
            "there, C holds early exits only.",
        ),
        Mistake(
            "'>' instead of '≥'",
            lambda b, f: _first_reaching(b, f, strict=True),
            "an exit goes where the cumulative cost *reaches* the fraction: a block whose "
            "fraction equals it exactly qualifies (≥).",
        ),
        Mistake(
            "closest block instead of the first that reaches",
            lambda b, f: percentile_placement(b, f, rule="closest"),
            "this exercise asks for the first block whose cumulative cost reaches each "
            "fraction (rule='reaches'), not the nearest one.",
        ),
    ],
)
check_percentile = PERCENTILE.checker_fn


# ------------------------------------------------------------------ eq. 4 as printed


def _eq4_cases() -> list[Case]:
    g = torch.Generator().manual_seed(202)
    cases = [
        Case("three exits, half the inputs leave first", ([10.0, 20.0, 30.0], [0.5, 0.3, 0.2])),
        Case(
            "a cheap first exit few inputs take",
            ([2.0, 10.0, 12.0, 40.0], [0.05, 0.6, 0.15, 0.2]),
        ),
        Case("two exits (E = 2)", ([5.0, 50.0], [0.9, 0.1])),
        Case("a middle exit that pays for itself", ([10.0, 40.0, 50.0], [0.6, 0.3, 0.1])),
    ]
    for k in range(5):
        E = 5
        gamma = torch.cumsum(torch.rand(E, generator=g, dtype=torch.float64) * 10 + 1, 0)
        rates = torch.rand(E, generator=g, dtype=torch.float64)
        rates = rates / rates.sum()
        cases.append(Case(f"random cascade {k + 1} (5 exits, float64)", (gamma, rates)))
    return cases


def _eq4_reference(gamma, I):
    return [is_efficient_exit(gamma, I, i) for i in range(1, len(gamma))]


def _eq4(gamma, I, rule):
    g, r = [float(v) for v in gamma], [float(v) for v in I]
    return [rule(g[i - 1], g[i], r[i - 1], r[i]) for i in range(1, len(g))]


EQ4 = Exercise(
    "eq4",
    title="efficient_exits(gamma, I), eq. 4 as printed for every exit i = 1..E−1",
    params=("gamma", "I"),
    reference=_eq4_reference,
    cases=_eq4_cases,
    success="your verdicts equal mexit.placement.is_efficient_exit for every exit",
    mistakes=[
        Mistake(
            "inequality reversed",
            lambda gamma, I: _eq4(gamma, I, lambda gi, gn, Ii, In: (gn - gi) * (Ii - In) < gi * In),
            "eq. 4 keeps exit i when the saving (γ_{i+1} − γ_i)(I_i − I_{i+1}) is *larger* "
            "than the overhead γ_i I_{i+1} (>).",
        ),
        Mistake(
            "I_i and I_{i+1} swapped",
            lambda gamma, I: _eq4(gamma, I, lambda gi, gn, Ii, In: (gn - gi) * (In - Ii) > gi * Ii),
            "the saving is (γ_{i+1} − γ_i)(I_i − I_{i+1}) and the overhead γ_i I_{i+1}: I_i is "
            "the fraction at exit i, I_{i+1} at the next one.",
        ),
        Mistake(
            "γ_{i+1} on the right side",
            lambda gamma, I: _eq4(gamma, I, lambda gi, gn, Ii, In: (gn - gi) * (Ii - In) > gn * In),
            "the right side of eq. 4 is γ_i I_{i+1}, the cost up to exit i (not i+1) times "
            "the fraction that goes on.",
        ),
    ],
)
check_eq4 = EQ4.checker_fn
