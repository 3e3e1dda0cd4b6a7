"""Bad input gets a clear error in mexit.placement's functions added for notebook 02 (the
greedy walk of eq. 5, the table and figure builders, the sweep): each rejects at least three
invalid inputs with a ValueError / TypeError whose message names the argument. Collected by
the meta-test of tests/test_bad_input_modules.py through `CASES`."""

import pandas as pd
import pytest
import torch

import mexit
from mexit import placement
from mexit.cost import CostProfile

with mexit.checkpoints.preserved_rng():  # tiny fixtures, without moving the global RNG
    mexit.seed_everything(0)
    PROBS = torch.randn(3, 20, 3).softmax(-1)
    LOGITS = torch.randn(3, 20, 3) * 3
    Y = torch.randint(0, 3, (20,))
    NET = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3).eval()
    X = torch.randn(20, 1, 6)
COSTS = CostProfile((1, 2, 3), {1: 0.5, 2: 0.5, 3: 0.5})
NO_HEADS = CostProfile((1, 2, 3), {3: 0.5})
SEARCH = placement.optimal_placement(PROBS, Y, COSTS, 0.5)
TABLE = pd.DataFrame({"method": ["SDN reaches"], "val cost (%)": [50.0], "val acc (%)": [90.0]})
HEADS = pd.DataFrame(
    {"head": ["mlp"], "exit": [1], "accuracy": [50.0], "kflops": [1.0], "block_kflops": [2.0]}
)
WALK = dict(probs=PROBS, costs=COSTS, threshold=0.5, th=0.5)
SWEEP = dict(
    probs=PROBS, labels=Y, costs=COSTS, thresholds=(0.5,), max_losses=(0.1,), th_grid=(0.5,)
)
TEST = dict(test_probs=PROBS, test_labels=Y, costs=COSTS)

# (callable, kwargs, exception, words the message must contain)
CASES = [
    (placement.greedy_placement, WALK | dict(th=1.5), ValueError, "^th must"),
    (placement.greedy_placement, WALK | dict(costs=(1, 2, 3)), TypeError, "^costs must"),
    (placement.greedy_placement, WALK | dict(threshold="high"), TypeError, "^threshold must"),
    (placement.greedy_placement, WALK | dict(probs=PROBS[:2]), ValueError, "^probs must"),
    (placement.greedy_walk, WALK | dict(probs=LOGITS), ValueError, "^probs must"),
    (placement.greedy_walk, WALK | dict(th="0.5"), TypeError, "^th must"),
    (placement.greedy_walk, WALK | dict(threshold=2.0), ValueError, "^threshold must"),
    (placement.greedy_walk, WALK | dict(criterion="margin"), ValueError, "^criterion must"),
    (placement.best_feasible, dict(search="search", candidates=[()]), TypeError, "^search must"),
    (placement.best_feasible, dict(search=SEARCH, candidates="12"), TypeError, "^candidates must"),
    (
        placement.best_feasible,
        dict(search=SEARCH, candidates=[(7,)]),
        ValueError,
        "^candidates must",
    ),
    (
        placement.head_design_table,
        dict(designs={}, x=X, y=Y, input_shape=(1, 6)),
        TypeError,
        "^designs must",
    ),
    (
        placement.head_design_table,
        dict(designs={"mlp": "net"}, x=X, y=Y, input_shape=(1, 6)),
        TypeError,
        r"^designs\b",
    ),
    (
        placement.head_design_table,
        dict(designs={"mlp": NET}, x=X, y=Y, input_shape=(1, 99)),
        ValueError,
        r"^input_shape\b",
    ),
    (placement.plot_head_designs, dict(table="table"), TypeError, "^table must"),
    (
        placement.plot_head_designs,
        dict(table=HEADS.drop(columns="kflops")),
        ValueError,
        r"^table\b",
    ),
    (placement.plot_head_designs, dict(table=[1, 2]), TypeError, "^table must"),
    (placement.plot_cost_profile, dict(costs=(1, 2, 3)), TypeError, "^costs must"),
    (placement.plot_cost_profile, dict(costs=COSTS, label=3), TypeError, "^label must"),
    (placement.plot_cost_profile, dict(costs=NO_HEADS), ValueError, "^costs must"),
    (
        placement.eq4_table,
        dict(probs=LOGITS, labels=Y, costs=COSTS, threshold=0.5),
        ValueError,
        "^probs must",
    ),
    (
        placement.eq4_table,
        dict(probs=PROBS, labels=Y, costs="c", threshold=0.5),
        TypeError,
        "^costs must",
    ),
    (
        placement.eq4_table,
        dict(probs=PROBS, labels=Y, costs=COSTS, threshold=-1.0),
        ValueError,
        "^threshold must",
    ),
    (placement.placement_table, dict(search="s", candidates={}, **TEST), TypeError, "^search must"),
    (
        placement.placement_table,
        dict(search=SEARCH, candidates=[()], **TEST),
        TypeError,
        "^candidates must",
    ),
    (
        placement.placement_table,
        dict(search=SEARCH, candidates={"bad": (5,)}, **TEST),
        ValueError,
        "^candidates must",
    ),
    (
        placement.placement_table,
        dict(search=SEARCH, candidates={}, **(TEST | dict(test_probs=PROBS[:2]))),
        ValueError,
        "^test_probs must",
    ),
    (placement.plot_placement_search, dict(search="s", table=TABLE), TypeError, "^search must"),
    (placement.plot_placement_search, dict(search=SEARCH, table=5), TypeError, "^table must"),
    (
        placement.plot_placement_search,
        dict(search=SEARCH, table=TABLE.drop(columns="method")),
        ValueError,
        r"^table\b",
    ),
    (placement.placement_sweep, SWEEP | dict(thresholds=()), ValueError, "^thresholds must"),
    (placement.placement_sweep, SWEEP | dict(max_losses=(2.0,)), ValueError, r"^thresholds\b"),
    (placement.placement_sweep, SWEEP | dict(costs=None), TypeError, "^costs must"),
    (placement.placement_sweep, SWEEP | dict(th_grid="ab"), TypeError, "^th_grid must"),
    (
        placement.percentile_placement,
        dict(block_costs=COSTS, rule="nearest"),
        ValueError,
        "^rule must",
    ),
]


def _id(case):
    return f"{case[0].__name__}-{'-'.join(case[1])}"


@pytest.mark.parametrize(("fn", "kwargs", "exc", "words"), CASES, ids=[_id(c) for c in CASES])
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
