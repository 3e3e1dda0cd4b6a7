"""Bad input gets a clear error in the chapter-07 additions: Bolukbasi et al.'s cost-weighted
exit decisions (`mexit.cost_weighted_policy`), `mexit.cost.counted_flops` and the new
arguments of `CostRegExplorer` (exit toggles need `costs`; the entropy threshold `beta`).
Counted by tests/test_bad_input_modules.py with every other tests/test_bad_input_*.py."""

import pytest
import torch

import mexit
from mexit import cost_weighted_policy as cwp
from mexit.cost import CostProfile, counted_flops
from mexit.policies import Curve
from mexit.widgets import CostRegExplorer

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    PROBS = torch.randn(3, 5, 3).softmax(-1)
    Y = torch.tensor([0, 1, 2, 0, 1])
    GAMMA = [1.0, 2.0, 3.0]
    GATES = torch.rand(5, 2)
COSTS = CostProfile((1, 1, 1), {1: 0, 2: 0, 3: 0})
CURVE = Curve(
    (0, 1),
    torch.tensor([0.5, 0.9], dtype=torch.float64),
    torch.tensor([1.0, 3.0], dtype=torch.float64),
    torch.tensor([0.3, 1.0], dtype=torch.float64),
)
W = torch.zeros(2, 4, dtype=torch.float64)
FIT = dict(probs=PROBS, labels=Y, Gamma=GAMMA)
CURVE_ARGS = dict(
    probs_fit=PROBS, labels_fit=Y, probs_eval=PROBS, labels_eval=Y, Gamma=GAMMA, lams=(0.1,)
)
RUNS = {0.0: (PROBS, GATES)}

# (callable, kwargs, exception, words the message must contain)
CASES = [
    # ------------------------------------------------------------ CostWeightedPolicy
    (
        cwp.CostWeightedPolicy,
        dict(weights=torch.zeros(2, 3), lam=0.1, train_leave_fraction=()),
        ValueError,
        "^weights must",
    ),
    (
        cwp.CostWeightedPolicy,
        dict(weights=W, lam=-1.0, train_leave_fraction=()),
        ValueError,
        "^lam must",
    ),
    (
        cwp.CostWeightedPolicy,
        dict(weights=[[0.0] * 4], lam=0.1, train_leave_fraction=()),
        TypeError,
        "^weights must",
    ),
    # ------------------------------------------------------- fit_cost_weighted_policy
    (cwp.fit_cost_weighted_policy, FIT | dict(lam=-0.1), ValueError, "^lam must"),
    (
        cwp.fit_cost_weighted_policy,
        FIT | dict(lam=0.1, Gamma=[1.0, 2.0]),
        ValueError,
        "^Gamma must",
    ),
    (
        cwp.fit_cost_weighted_policy,
        FIT | dict(lam=0.1, Gamma=[3.0, 2.0, 1.0]),
        ValueError,
        "^Gamma must be non-negative and non-decreasing",
    ),
    (cwp.fit_cost_weighted_policy, FIT | dict(lam=0.1, labels=Y[:3]), ValueError, "^labels must"),
    (
        cwp.fit_cost_weighted_policy,
        FIT | dict(lam=0.1, probs=PROBS[:1]),
        ValueError,
        "^probs must hold at least one early exit",
    ),
    (cwp.fit_cost_weighted_policy, FIT | dict(lam=0.1, steps=0), ValueError, "^steps must"),
    (
        cwp.fit_cost_weighted_policy,
        FIT | dict(lam=0.1, full_cost=-1.0),
        ValueError,
        "^full_cost must",
    ),
    (cwp.fit_cost_weighted_policy, FIT | dict(lam=0.1, Gamma="abc"), TypeError, "^Gamma must"),
    # ------------------------------------------------------------ cost_weighted_curve
    (cwp.cost_weighted_curve, CURVE_ARGS | dict(lams=()), ValueError, "^lams must"),
    (cwp.cost_weighted_curve, CURVE_ARGS | dict(lams=0.1), TypeError, "^lams must"),
    (cwp.cost_weighted_curve, CURVE_ARGS | dict(lams=(-0.1,)), ValueError, "^lams entry must"),
    (cwp.cost_weighted_curve, CURVE_ARGS | dict(labels_eval=Y[:2]), ValueError, "^labels must"),
    # --------------------------------------------------------------- accuracy_at_cost
    (cwp.accuracy_at_cost, dict(curve=(0.1, 0.2), cost_fraction=0.5), TypeError, "^curve must"),
    (cwp.accuracy_at_cost, dict(curve=CURVE, cost_fraction=0.1), ValueError, "^cost_fraction must"),
    (
        cwp.accuracy_at_cost,
        dict(curve=CURVE, cost_fraction="half"),
        TypeError,
        "^cost_fraction must",
    ),
    # ------------------------------------------------------------------ counted_flops
    (counted_flops, dict(fn="model"), TypeError, "^fn must"),
    (counted_flops, dict(fn=None), TypeError, "^fn must"),
    (counted_flops, dict(fn=3), TypeError, "^fn must"),
    # ------------------------------------------------------ CostRegExplorer (new args)
    (
        CostRegExplorer,
        dict(runs=RUNS, labels=Y, Gamma=GAMMA, costs=GAMMA),
        TypeError,
        "^costs must",
    ),
    (
        CostRegExplorer,
        dict(runs=RUNS, labels=Y, Gamma=[2.0, 4.0, 6.0], costs=COSTS),
        ValueError,
        "^costs must give the same",
    ),
    (CostRegExplorer, dict(runs=RUNS, labels=Y, Gamma=GAMMA, beta="low"), TypeError, "^beta must"),
    (CostRegExplorer(RUNS, Y, GAMMA).compute, dict(lam=0.0, beta=1.5), ValueError, "^beta must"),
    (
        CostRegExplorer(RUNS, Y, GAMMA).compute,
        dict(lam=0.0, threshold=-1.0),
        ValueError,
        "^threshold must",
    ),
    (
        CostRegExplorer(RUNS, Y, GAMMA, costs=COSTS).compute,
        dict(lam=0.0, exit_7=True),
        ValueError,
        r"^unknown controls\b",
    ),
]


@pytest.mark.parametrize(
    "fn, kwargs, exc, words",
    CASES,
    ids=[f"{getattr(c[0], '__name__', c[0])}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
