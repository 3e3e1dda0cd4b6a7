"""Bad input gets a clear error in the policies of issue 13 §3: PABEE (`mexit.patience`),
Zero Time Waste (`mexit.zero_time_waste`) and their comparison with the others
(`mexit.policy_comparison`). Counted by the meta-test of tests/test_bad_input_modules.py."""

import pytest
import torch

import mexit
from mexit.patience import patience_early_exit, patience_exits
from mexit.policy_comparison import compare_policies, policy_points, policy_rows
from mexit.zero_time_waste import (
    ZeroTimeWaste,
    fit_zero_time_waste,
    ztw_early_exit,
    ztw_exits,
)

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    MODEL = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3).eval()
    X = torch.randn(5, 1, 6)
    PROBS = torch.randn(4, 12, 3).softmax(-1)
    Y = torch.randint(0, 3, (12,))
E = len(MODEL.exits)
ZTW = ZeroTimeWaste(torch.eye(E, dtype=torch.float64), torch.zeros(E, 3, dtype=torch.float64))
ZTW4 = ZeroTimeWaste(torch.eye(4, dtype=torch.float64), torch.zeros(4, 3, dtype=torch.float64))
GAMMA = [1.0, 2.0, 3.0, 4.0]
SPLITS = dict(val_probs=PROBS, val_labels=Y, test_probs=PROBS, test_labels=Y, Gamma=GAMMA)
DATA = mexit.data.DataBundle("tiny", X, Y[:5], X, Y[:5], X, Y[:5], ("a", "b", "c"), (1, 6))
EYE = torch.eye(3, dtype=torch.float64)
ZEROS = torch.zeros(3, 3, dtype=torch.float64)

CASES = [
    (patience_exits, dict(probs=PROBS, patience=0), ValueError, "^patience must be >= 1"),
    (patience_exits, dict(probs=PROBS, patience=1.5), TypeError, "^patience must be an int"),
    (patience_exits, dict(probs=PROBS * 2, patience=1), ValueError, "^probs must"),
    (patience_early_exit, dict(model=MODEL, x=X, patience=0), ValueError, "^patience must"),
    (patience_early_exit, dict(model="net", x=X, patience=1), TypeError, "^model must"),
    (patience_early_exit, dict(model=MODEL, x=X.double(), patience=1), ValueError, "^x must"),
    (patience_early_exit, dict(model=MODEL, x=X, patience=1, costs=3), TypeError, "^costs must"),
    (
        ZeroTimeWaste,
        dict(weights=torch.ones(3, 3).double(), bias=ZEROS),
        ValueError,
        "^weights must be lower",
    ),
    (
        ZeroTimeWaste,
        dict(weights=torch.eye(3, 2).double(), bias=ZEROS),
        ValueError,
        "^weights must be square",
    ),
    (ZeroTimeWaste, dict(weights=EYE, bias=torch.zeros(2, 3).double()), ValueError, "^bias must"),
    (
        ZeroTimeWaste,
        dict(weights=EYE * float("nan"), bias=ZEROS),
        ValueError,
        "^weights must be finite",
    ),
    (fit_zero_time_waste, dict(probs=PROBS, labels=Y[:5]), ValueError, "^labels must"),
    (fit_zero_time_waste, dict(probs=PROBS, labels=Y, l2=-1.0), ValueError, "^l2 must"),
    (fit_zero_time_waste, dict(probs=PROBS, labels=Y, steps=0), ValueError, "^steps must"),
    (fit_zero_time_waste, dict(probs=PROBS, labels=Y + 5), ValueError, "^labels must be class"),
    (ztw_exits, dict(probs=PROBS, ztw="ztw", thresholds=0.5), TypeError, "^ztw must"),
    (ztw_exits, dict(probs=PROBS, ztw=ZTW4, thresholds=1.5), ValueError, "^thresholds must"),
    (ztw_exits, dict(probs=PROBS[:2], ztw=ZTW4, thresholds=0.5), ValueError, "^probs must hold"),
    (ztw_exits, dict(probs=PROBS, ztw=ZTW4, thresholds=[0.5]), ValueError, "^thresholds must"),
    (ztw_early_exit, dict(model=MODEL, x=X, ztw=ZTW4, thresholds=0.5), ValueError, "^ztw must"),
    (ztw_early_exit, dict(model=MODEL, x=X, ztw=None, thresholds=0.5), TypeError, "^ztw must"),
    (ztw_early_exit, dict(model=MODEL, x=X, ztw=ZTW, thresholds=-1.0), ValueError, "^thresholds"),
    (ztw_early_exit, dict(model=MODEL, x="x", ztw=ZTW, thresholds=0.5), TypeError, "^x must"),
    (policy_points, SPLITS | dict(val_probs=PROBS[:2]), ValueError, "^val_probs and test_probs"),
    (policy_points, SPLITS | dict(lams=()), ValueError, "^lams must"),
    (policy_points, SPLITS | dict(lams="0.1"), TypeError, "^lams must"),
    (policy_points, SPLITS | dict(n_points=1), ValueError, "^n_points must"),
    (policy_points, SPLITS | dict(learned=3), TypeError, "^learned must"),
    (policy_points, SPLITS | dict(ztw=3), TypeError, "^ztw must"),
    (policy_points, SPLITS | dict(test_labels=Y[:3]), ValueError, "^test_labels must"),
    (compare_policies, SPLITS | dict(losses=(-0.1,)), ValueError, "^losses entry must"),
    (compare_policies, SPLITS | dict(losses=()), ValueError, "^losses must"),
    (compare_policies, SPLITS | dict(points=[1]), TypeError, "^points must"),
    (compare_policies, SPLITS | dict(Gamma=[1.0, 2.0]), ValueError, "^Gamma must"),
    (policy_rows, dict(model="m", data=DATA), TypeError, "^model must"),
    (policy_rows, dict(model=MODEL, data=X), TypeError, "^data must"),
    (policy_rows, dict(model=MODEL, data=DATA, costs="c"), TypeError, "^costs must"),
]


CASES += [
    (policy_points, SPLITS | dict(cost_weighted=[]), ValueError, "^cost_weighted must"),
    (policy_points, SPLITS | dict(cost_weighted=[3]), TypeError, "^cost_weighted must"),
    (policy_points, SPLITS | dict(cost_weighted="cw"), TypeError, "^cost_weighted must"),
]


@pytest.mark.parametrize(
    "fn,kwargs,error,match", CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_input(fn, kwargs, error, match):
    with pytest.raises(error, match=match):
        fn(**kwargs)
