"""Exercises of notebook 03 (§5.1-5.2): SDN's α schedule (eq. 6) and eq. 9 unrolled."""

from __future__ import annotations

import torch

from ..gates import combine_recursive
from ..schemes import alpha_scheme
from ._core import Case, Exercise, Mistake

# ------------------------------------------------------------------ α schedule (eq. 6)


def _alpha_cases() -> list[Case]:
    return [Case(f"E = {E} exits", (E,)) for E in (2, 3, 4, 6, 10)]


ALPHAS = Exercise(
    "sdn_alphas",
    title="sdn_alphas(n_exits), SDN's weights α_k = k / E for the early exits k = 1..E−1",
    params=("n_exits",),
    reference=lambda n_exits: alpha_scheme("sdn", n_exits),
    cases=_alpha_cases,
    success='your α equal mexit.schemes.alpha_scheme("sdn", E)',
    mistakes=[
        Mistake(
            "weighted the final exit too",
            lambda E: [k / E for k in range(1, E + 1)],
            "eq. 6 is L + Σ_{i<L} α_i L_i: the final loss has no α, return E−1 weights.",
        ),
        Mistake(
            "divided by E − 1",
            lambda E: [k / (E - 1) for k in range(1, E)],
            "SDN's ramp is k / E: the last early exit gets (E−1)/E < 1, below the final "
            "loss's weight 1.",
        ),
        Mistake(
            "counted k from 0",
            lambda E: [k / E for k in range(0, E - 1)],
            "the early exits are k = 1..E−1: range(1, E) in Python; from 0 the first exit "
            "gets no weight at all.",
        ),
        Mistake(
            "ramp reversed (BranchyNet's order)",
            lambda E: [(E - k) / E for k in range(1, E)],
            "SDN's weights *rise* with depth; weighting the first exit most is BranchyNet's "
            "choice.",
        ),
    ],
)
check_sdn_alphas = ALPHAS.checker_fn


# ------------------------------------------------------------------ eq. 9 unrolled


def _eq9_cases() -> list[Case]:
    g = torch.Generator().manual_seed(302)

    def probs(E, N, K, dtype=torch.float32):
        return torch.randn(E, N, K, generator=g, dtype=dtype).mul(2).softmax(-1)

    def gates(N, E, dtype=torch.float32):
        return torch.rand(N, E - 1, generator=g, dtype=dtype)

    one_hot = torch.eye(4)[torch.randint(0, 4, (3, 6), generator=g)]
    hard = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    return [
        Case("3 exits, batch of 5, 4 classes", (probs(3, 5, 4), gates(5, 3))),
        Case("uniform rows", (torch.full((3, 4, 5), 0.2), gates(4, 3))),
        Case("one-hot rows", (one_hot, gates(6, 3))),
        Case("hard gates (0/1)", (probs(3, 4, 3), hard)),
        Case("two classes, 4 exits", (probs(4, 6, 2), gates(6, 4))),
        Case("float64, a batch of 1", (probs(3, 1, 4, torch.float64), gates(1, 3, torch.float64))),
        Case("E = 2 exits", (probs(2, 5, 3), gates(5, 2))),
    ]


def _gates_full(gates):
    return torch.cat([gates, torch.ones_like(gates[:, :1])], dim=1)


def _weighted(probs, p):
    return (p.T[:, :, None] * probs).sum(0)


def _product_to_j(probs, gates):
    g = _gates_full(gates)
    return _weighted(probs, g * torch.cumprod(1 - g, dim=1))


def _no_final_exit(probs, gates):
    g = gates
    survive = torch.cumprod(torch.cat([torch.ones_like(g[:, :1]), 1 - g[:, :-1]], 1), 1)
    return _weighted(probs[:-1], g * survive)


def _no_product(probs, gates):
    return _weighted(probs, _gates_full(gates))


def _gates_swapped(probs, gates):
    c_hat = probs[-1]
    for k in range(probs.shape[0] - 2, -1, -1):
        g = gates[:, k : k + 1]
        c_hat = (1 - g) * probs[k] + g * c_hat
    return c_hat


EQ9 = Exercise(
    "eq9",
    title="gated_combination(probs, gates), ĉ_1 of eq. 9 unrolled: Σ_j p_j c_j",
    params=("probs", "gates"),
    reference=combine_recursive,
    cases=_eq9_cases,
    keep_dtype=True,
    success="your ĉ_1 equals mexit.gates.combine_recursive (eq. 9 applied from ĉ_L = f(x) down)",
    mistakes=[
        Mistake(
            "product over l ≤ j",
            _product_to_j,
            "eq. 14: p_j = g_j ∏_{l<j} (1 − g_l), the product stops *before* j (reaching j "
            "means passing the exits before it); with l ≤ j the final exit gets weight 0.",
        ),
        Mistake(
            "dropped the final exit (no g ≡ 1 at L)",
            _no_final_exit,
            "the final exit has the gate g_L ≡ 1: whatever passes every early gate answers "
            "with f(x), weight ∏_{l<L} (1 − g_l). Without it the weights do not sum to 1.",
        ),
        Mistake(
            "forgot the product ∏ (1 − g_l)",
            _no_product,
            "p_j = g_j alone counts an input at every exit; it reaches exit j only if it "
            "passed the earlier gates: multiply by ∏_{l<j} (1 − g_l).",
        ),
        Mistake(
            "gates swapped (g_i weighs the later exits)",
            _gates_swapped,
            "eq. 9: ĉ_i = g_i c_i + (1 − g_i) ĉ_{i+1}: g_i is the weight of exit i itself "
            "(the probability of exiting there).",
        ),
    ],
)
check_eq9 = EQ9.checker_fn
