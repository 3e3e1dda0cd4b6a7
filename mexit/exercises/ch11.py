"""Exercise of notebook 11 (§8, challenge 3): the cost of a two-network cascade."""

from __future__ import annotations

import math

import torch

from ..cascade import evaluate_cascade
from ._core import Case, Exercise, Mistake


def _softmax_rows(g, n, classes, scale=2.0, dtype=torch.float32):
    z = torch.randn(n, classes, generator=g, dtype=torch.float64) * scale
    return z.softmax(-1).to(dtype)


def _cascade_cases() -> list[Case]:
    # costs in kFLOPs: the small network at a quarter of the large one, as in the notebook
    g = torch.Generator().manual_seed(1101)
    one_hot = torch.eye(10)[torch.tensor([1, 4, 7])]
    with_one_hot = torch.cat([one_hot, _softmax_rows(g, 7, 10, scale=3.0)])
    return [
        Case(
            "50 inputs, 10 classes, β = 0.4",
            (_softmax_rows(g, 50, 10, scale=3.0), 0.4, 110.0, 440.0),
        ),
        Case("β = 0: only one-hot rows stay (H ≤ 0)", (with_one_hot, 0.0, 110.0, 440.0)),
        Case("β = 1: nobody is deferred", (_softmax_rows(g, 8, 10), 1.0, 110.0, 440.0)),
        Case("two classes, β = 0.5", (_softmax_rows(g, 30, 2), 0.5, 2.0, 10.0)),
        Case(
            "float64 outputs, β = 0.25",
            (_softmax_rows(g, 20, 5, scale=4.0, dtype=torch.float64), 0.25, 3.0, 7.0),
        ),
    ]


def _cascade_reference(small_probs, threshold, cost_small, cost_large):
    labels = torch.zeros(small_probs.shape[0], dtype=torch.long)
    result = evaluate_cascade(small_probs, small_probs, labels, threshold, cost_small, cost_large)
    return result.mean_flops


def _entropy(p, normalise=True):
    h = -torch.xlogy(p, p).sum(-1)
    return h / math.log(p.shape[-1]) if normalise else h


def _deferred(small_probs, threshold, *, strict=False, inverted=False, nats=False):
    h = _entropy(small_probs.double(), normalise=not nats)
    keep = h < threshold if strict else h <= threshold + 1e-12
    keep = ~keep if inverted else keep
    return float((~keep).double().mean())


def _no_small_when_deferred(small_probs, threshold, cost_small, cost_large):
    p = _deferred(small_probs, threshold)
    return (1 - p) * cost_small + p * cost_large


def _inverted(small_probs, threshold, cost_small, cost_large):
    return cost_small + _deferred(small_probs, threshold, inverted=True) * cost_large


def _strict(small_probs, threshold, cost_small, cost_large):
    return cost_small + _deferred(small_probs, threshold, strict=True) * cost_large


def _nats(small_probs, threshold, cost_small, cost_large):
    return cost_small + _deferred(small_probs, threshold, nats=True) * cost_large


CASCADE_COST = Exercise(
    "cascade_cost",
    title="cascade_cost(small_probs, threshold, cost_small, cost_large), the cascade's mean "
    "cost per input",
    params=("small_probs", "threshold", "cost_small", "cost_large"),
    reference=_cascade_reference,
    cases=_cascade_cases,
    success="your cost equals mexit.cascade.evaluate_cascade(...).mean_flops",
    mistakes=[
        Mistake(
            "deferred inputs do not pay the small network",
            _no_small_when_deferred,
            "every input runs the small network first; a deferred one then runs the large "
            "network from x: γ_small + P(defer) γ_large, not (1 − P) γ_small + P γ_large "
            "(= γ_small + P (γ_large − γ_small), as if the large network reused the small "
            "one's work, which only a multi-exit network does).",
        ),
        Mistake(
            "deferral inverted",
            _inverted,
            "the small network keeps the inputs it is confident about (H ≤ β) and defers "
            "the others (H > β); you deferred the confident ones.",
        ),
        Mistake(
            "strict test H < β",
            _strict,
            "eq. 11's exit test is H ≤ β: at β = 0 a one-hot row (H = 0) stays with the "
            "small network.",
        ),
        Mistake(
            "unnormalized entropy compared with β",
            _nats,
            "β is a threshold on the NORMALIZED entropy of eq. 11 (in [0, 1]): divide the "
            "entropy by log C before comparing.",
        ),
    ],
)
check_cascade_cost = CASCADE_COST.checker_fn
