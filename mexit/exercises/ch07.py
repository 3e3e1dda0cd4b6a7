"""Exercises of notebook 07 (§6.1, eq. 12-14): the exit probabilities of gates, and the
expected cost."""

from __future__ import annotations

import torch

from ..cost import cumulative_costs, exit_probabilities, expected_cost
from ._core import Case, Exercise, Mistake

# ------------------------------------------------------------------ eq. 14


def _eq14_cases() -> list[Case]:
    g = torch.Generator().manual_seed(701)
    hard = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    return [
        Case("random gates, 4 exits, 6 inputs", (torch.rand(6, 3, generator=g),)),
        Case("hard 0/1 gates (one exit each)", (hard,)),
        Case("every gate 1: everyone leaves at exit 1", (torch.ones(3, 3),)),
        Case("every gate 0: everyone reaches the final exit", (torch.zeros(3, 3),)),
        Case("one early exit (E = 2)", (torch.rand(5, 1, generator=g),)),
        Case(
            "float64, 6 exits, one input",
            (torch.rand(1, 5, generator=g, dtype=torch.float64),),
        ),
    ]


def _with_final(gates, final=1.0):
    return torch.cat([gates, torch.full_like(gates[:, :1], final)], dim=1)


def _survive(g, inclusive=False, keep=False):
    """∏_{l<j} (1 − g_l) (or ∏ g_l with keep=True; l ≤ j with inclusive=True)."""
    factor = g if keep else 1 - g
    if inclusive:
        return torch.cumprod(factor, dim=1)
    ones = torch.ones_like(g[:, :1])
    return torch.cumprod(torch.cat([ones, factor[:, :-1]], dim=1), dim=1)


def _no_final_gate(gates):
    return gates * _survive(gates)


def _final_gate_zero(gates):
    g = _with_final(gates, 0.0)
    return g * _survive(g)


def _l_le_j(gates):
    g = _with_final(gates)
    return g * _survive(g, inclusive=True)


def _product_of_g(gates):
    g = _with_final(gates)
    return g * _survive(g, keep=True)


def _no_product(gates):
    return _with_final(gates)


EQ14 = Exercise(
    "eq14",
    title="exit_probabilities(gates), the probabilities p_ij of exiting at j (eq. 14)",
    params=("gates",),
    reference=exit_probabilities,
    cases=_eq14_cases,
    keep_dtype=True,
    success="your p_ij equal mexit.exit_probabilities",
    mistakes=[
        Mistake(
            "without the final gate g ≡ 1",
            _no_final_gate,
            "the final exit has no gate: g_L ≡ 1, so p_L = ∏_{l<L} (1 − g_l) and every row "
            "sums to 1. You return only the E − 1 early exits: append a column of ones to "
            "the gates first.",
        ),
        Mistake(
            "final gate set to 0 instead of 1",
            _final_gate_zero,
            "the final exit answers every input that reaches it: its gate is 1 (torch.ones), "
            "not 0, else the rows sum to less than 1.",
        ),
        Mistake(
            "the product running over l ≤ j",
            _l_le_j,
            "p_j is the probability of leaving AT exit j: pass exits 1..j−1 (factors 1 − g_l "
            "for l < j), then leave at j (g_j). With l ≤ j you multiply by 1 − g_j too, and "
            "the final exit (g = 1) gets p = 0. Shift the cumulative product by one.",
        ),
        Mistake(
            "product of g_l instead of 1 − g_l",
            _product_of_g,
            "to reach exit j an input must NOT leave at the earlier ones: the factors are "
            "1 − g_l, the probability of going on.",
        ),
        Mistake(
            "no product: p_j = g_j",
            _no_product,
            "the gates are conditional: g_j is the probability of leaving at j GIVEN the "
            "input reached j. Multiply by ∏_{l<j} (1 − g_l), the probability of reaching j.",
        ),
    ],
)
check_eq14 = EQ14.checker_fn


# ------------------------------------------------------------------ eq. 13 (consistent form)


def _cost_cases() -> list[Case]:
    g = torch.Generator().manual_seed(702)
    f4 = [10.0, 20.0, 40.0, 80.0]
    heads = {1: 3.0, 2: 5.0, 3: 7.0, 4: 11.0}
    hard = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    return [
        Case(
            "random gates, exits after blocks 1-4",
            (torch.rand(6, 3, generator=g), f4, heads, (1, 2, 3, 4)),
        ),
        Case("hard 0/1 gates (eq. 12)", (hard, f4, heads, (1, 2, 3, 4))),
        Case(
            "exits (2, 4) of a network with heads at 1-4 (heads 1, 3 not run)",
            (torch.rand(5, 1, generator=g), f4, heads, (2, 4)),
        ),
        Case(
            "one input, float64 gates, 5 blocks, exits (1, 3, 5)",
            (
                torch.rand(1, 2, generator=g, dtype=torch.float64),
                [4.0, 6.0, 9.0, 13.0, 20.0],
                {1: 1.5, 3: 2.5, 5: 4.0},
                (1, 3, 5),
            ),
        ),
        Case("every gate 0: everyone pays Γ_L", (torch.zeros(4, 3), f4, heads, (1, 2, 3, 4))),
    ]


def _cost_reference(gates, gamma_f, gamma_c, exits):
    return expected_cost(gates, cumulative_costs(gamma_f, gamma_c, exits))


def _Gamma(gamma_f, gamma_c, exits, heads="on the way"):
    out, prev_heads = [], 0.0
    for j in exits:
        blocks = float(sum(gamma_f[:j]))
        if heads == "none":
            out.append(blocks)
        elif heads == "own":
            out.append(blocks + gamma_c[j])
        elif heads == "all":
            out.append(blocks + sum(c for k, c in gamma_c.items() if k <= j))
        else:
            prev_heads += gamma_c[j]
            out.append(blocks + prev_heads)
    return torch.tensor(out, dtype=torch.float64)


def _p(gates):
    return exit_probabilities(gates).double()


def _marginal(gates, gamma_f, gamma_c, exits):
    Gamma = _Gamma(gamma_f, gamma_c, exits)
    epsilon = torch.diff(Gamma, prepend=Gamma.new_zeros(1))
    return (_p(gates) * epsilon).sum(1).mean()


def _no_heads(gates, gamma_f, gamma_c, exits):
    return (_p(gates) * _Gamma(gamma_f, gamma_c, exits, "none")).sum(1).mean()


def _own_head(gates, gamma_f, gamma_c, exits):
    return (_p(gates) * _Gamma(gamma_f, gamma_c, exits, "own")).sum(1).mean()


def _all_heads(gates, gamma_f, gamma_c, exits):
    return (_p(gates) * _Gamma(gamma_f, gamma_c, exits, "all")).sum(1).mean()


def _total(gates, gamma_f, gamma_c, exits):
    return (_p(gates) * _Gamma(gamma_f, gamma_c, exits)).sum()


def _early_only(gates, gamma_f, gamma_c, exits):
    p = _p(gates)[:, :-1]
    return (p * _Gamma(gamma_f, gamma_c, exits)[:-1]).sum(1).mean()


EXPECTED_COST = Exercise(
    "expected_cost",
    title="expected_cost(gates, gamma_f, gamma_c, exits), the expected cost Σ_j p_ij Γ_j "
    "(eq. 13, consistent form)",
    params=("gates", "gamma_f", "gamma_c", "exits"),
    reference=_cost_reference,
    cases=_cost_cases,
    success="your cost equals mexit.expected_cost(gates, mexit.cumulative_costs(...))",
    mistakes=[
        Mistake(
            "marginal instead of cumulative costs (eq. 13 as printed)",
            _marginal,
            "p_ij is the probability of LEAVING at j, and an input leaving at j paid "
            "ε_1 + … + ε_j = Γ_j, not ε_j alone: weight p_ij by the cumulative Γ_j. The "
            "printed eq. 13 with marginal ε_j under-counts, for hard gates too.",
        ),
        Mistake(
            "forgot the heads",
            _no_heads,
            "Γ_j = Σ_{k≤j} γ_{f_k} + Σ_{k≤j, k∈C} γ_{c_k}: an input answering at exit j also "
            "ran every head it passed, and head j.",
        ),
        Mistake(
            "only the exit's own head",
            _own_head,
            "the earlier heads ran too (the input did not leave there): add γ_{c_k} for "
            "every exit k ≤ j, not only γ_{c_j}.",
        ),
        Mistake(
            "counted heads that are not exits",
            _all_heads,
            "gamma_c may hold heads at blocks outside the exit set: only the heads of "
            "`exits` run (k ∈ C in the sum).",
        ),
        Mistake(
            "sum over inputs instead of the mean",
            _total,
            "the cost is reported per input: average Σ_j p_ij Γ_j over the inputs i (eq. 12's "
            "sum over i divided by N), so it compares with the plain network's FLOPs.",
        ),
        Mistake(
            "without the final exit",
            _early_only,
            "the inputs that reach the final exit pay Γ_L: p has E columns (eq. 14 with "
            "g ≡ 1 at the final exit), and the sum over j runs over all E exits.",
        ),
    ],
)
check_expected_cost = EXPECTED_COST.checker_fn
