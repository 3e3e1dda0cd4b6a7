"""Bad input gets a clear error in what notebook 06 added to `mexit.policies` and its
explorer: placements of the exits (`placement_costs`, `PlacementCost`), the tuner's
`adaptive` switch, and `PolicyExplorer`'s exit toggles. Counted by the meta-test of
tests/test_bad_input_modules.py."""

import pytest
import torch

import mexit
from mexit import policies
from mexit.cost import CostProfile
from mexit.widgets import PolicyExplorer

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    PROBS = torch.randn(4, 12, 3).softmax(-1)
    Y = torch.randint(0, 3, (12,))
COSTS = CostProfile((10, 20, 30, 40), {1: 1, 2: 1, 3: 2, 4: 2})
EXITS = (1, 2, 3, 4)
GAMMA = COSTS.Gamma(EXITS)
BASE = dict(probs=PROBS, labels=Y, costs=COSTS, exits=EXITS, accuracy=0.5)


def _explorer(**kwargs):
    return PolicyExplorer(**(dict(probs=PROBS, labels=Y, Gamma=GAMMA, exits=EXITS) | kwargs))


def _explorer_compute(**kwargs):
    return _explorer(costs=COSTS).compute(**kwargs)


CASES = [
    (
        policies.check_target_accuracy,
        dict(target_accuracy=0.0),
        ValueError,
        "^target_accuracy must",
    ),
    (
        policies.check_target_accuracy,
        dict(target_accuracy=1.5),
        ValueError,
        "^target_accuracy must",
    ),
    (
        policies.check_target_accuracy,
        dict(target_accuracy="0.9"),
        TypeError,
        "^target_accuracy must",
    ),
    (
        policies.check_target_accuracy,
        dict(target_accuracy=float("nan")),
        ValueError,
        "^target_accuracy must",
    ),
    (policies.placement_costs, BASE | dict(costs=GAMMA), TypeError, "^costs must"),
    (policies.placement_costs, BASE | dict(exits=(1, 2, 3)), ValueError, "^exits must"),
    (policies.placement_costs, BASE | dict(exits=(2, 1, 3, 4)), ValueError, "^exits must"),
    (policies.placement_costs, BASE | dict(exits="1234"), TypeError, "^exits must"),
    (policies.placement_costs, BASE | dict(accuracy=1.5), ValueError, "^accuracy must"),
    (policies.placement_costs, BASE | dict(subsets=[(1, 5)]), ValueError, r"^subsets\b"),
    (policies.placement_costs, BASE | dict(subsets="12"), TypeError, "^subsets must"),
    (policies.placement_costs, BASE | dict(criterion="margin"), ValueError, "^criterion must"),
    (policies.placement_costs, BASE | dict(labels=Y[:5]), ValueError, "^labels must"),
    (
        policies.PlacementCost,
        dict(exits=[1, 2], cost_fraction=0.5, oracle_cost_fraction=0.2, accuracy=0.9),
        TypeError,
        "^exits must",
    ),
    (
        policies.PlacementCost,
        dict(exits=(1,), cost_fraction=-0.5, oracle_cost_fraction=0.2, accuracy=0.9),
        ValueError,
        "^cost_fraction must",
    ),
    (
        policies.PlacementCost,
        dict(exits=(1,), cost_fraction=0.5, oracle_cost_fraction=0.2, accuracy=1.2),
        ValueError,
        "^accuracy must",
    ),
    (
        policies.tune_threshold,
        dict(probs=PROBS, labels=Y, target_accuracy=0.3, adaptive="yes"),
        TypeError,
        "^adaptive must",
    ),
    (_explorer, dict(costs=GAMMA), TypeError, "^costs must"),
    (
        _explorer,
        dict(costs=CostProfile((10, 20, 30, 50), {1: 1, 2: 1, 3: 2, 4: 2})),
        ValueError,
        "^costs must",
    ),
    (_explorer, dict(exits=(1, 2, 3), costs=COSTS), ValueError, "^exits must"),
    (_explorer, dict(full_cost=0.0), ValueError, "^full_cost must"),
    (_explorer_compute, dict(exit_7=False), ValueError, r"\bexit_7\b"),
    (_explorer_compute, dict(criterion="margin"), ValueError, "^criterion must"),
    (
        _explorer_compute,
        dict(criterion="max_probability", threshold=1.5),
        ValueError,
        "^threshold must",
    ),
]


@pytest.mark.parametrize(("fn", "kwargs", "exc", "words"), CASES)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
