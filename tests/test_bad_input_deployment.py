"""Bad input gets a clear error in `mexit.deployment`, `mexit.speed` and `timing.verdict`
(counted by the meta-test of tests/test_bad_input_modules.py). The methods' cases (x of the
wrong device, dtype or shape; early exit without thresholds) are in tests/test_deploy.py."""

import torch

import mexit
from mexit import deployment, speed, timing

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    MODEL = mexit.mnist1d_cnn(channels=(4, 4, 4, 4), input_length=12).eval()
    X = torch.randn(6, 1, 12)
    PROBS = torch.randn(4, 6, 10).softmax(-1)
SHARES = [0.25, 0.25, 0.25, 0.25]

CASES = [
    (deployment.deploy, dict(model="net"), TypeError, "^model must"),
    (deployment.deploy, dict(model=MODEL, thresholds=1.5), ValueError, "^thresholds must"),
    (deployment.deploy, dict(model=MODEL, thresholds=[0.5, 0.5]), ValueError, "^thresholds must"),
    (deployment.deploy, dict(model=MODEL, criterion="margin"), ValueError, "^criterion must"),
    (deployment.DeployedNet, dict(model=torch.nn.Linear(2, 2)), TypeError, "^model must"),
    (deployment.DeployedNet, dict(model=MODEL, thresholds="0.5"), TypeError, "^thresholds must"),
    (deployment.DeployedNet, dict(model=MODEL, criterion=None), ValueError, "^criterion must"),
    (speed.thresholds_for_shares, dict(probs=PROBS, shares=[0.5, 0.5]), ValueError, "^shares"),
    (
        speed.thresholds_for_shares,
        dict(probs=PROBS, shares=[0.5, 0.5, 0.5, 0.5]),
        ValueError,
        "^shares must sum",
    ),
    (speed.thresholds_for_shares, dict(probs=PROBS * 3, shares=SHARES), ValueError, "^probs"),
    (speed.thresholds_for_shares, dict(probs=PROBS, shares=0.25), TypeError, "^shares must"),
    (
        speed.thresholds_for_shares,
        dict(probs=PROBS, shares=SHARES, criterion="margin"),
        ValueError,
        "^criterion must",
    ),
    (speed.deploy_speedup, dict(model="net", x=X, thresholds=0.5), TypeError, "^model must"),
    (speed.deploy_speedup, dict(model=MODEL, x=X.long(), thresholds=0.5), TypeError, "^x must"),
    (
        speed.deploy_speedup,
        dict(model=MODEL, x=X, thresholds=0.5, batch_size=0),
        ValueError,
        "^batch_size must",
    ),
    (
        speed.deploy_speedup,
        dict(model=MODEL, x=X, thresholds=0.5, costs={1: 2}),
        TypeError,
        "^costs must",
    ),
    (speed.width_sweep, dict(x=X[:, 0], shares=SHARES), ValueError, "^x must"),
    (speed.width_sweep, dict(x=X, shares=SHARES, multipliers=()), TypeError, "^multipliers"),
    (speed.width_sweep, dict(x=X, shares=SHARES, multipliers=(0,)), ValueError, "^multipliers"),
    (speed.width_sweep, dict(x=X, shares=SHARES, batch_sizes=5), TypeError, "^batch_sizes"),
    (speed.width_sweep, dict(x=X, shares=[1.0]), ValueError, "^shares must"),
    (speed.where_time_goes, dict(fn=3), TypeError, "^fn must"),
    (speed.where_time_goes, dict(fn=print, rows=0), ValueError, "^rows must"),
    (speed.where_time_goes, dict(fn=print, rows=2.0), TypeError, "^rows must"),
    (speed.where_time_goes, dict(fn=print, threads=0), ValueError, "^threads must"),
    (timing.time_ab, dict(fn_a=print, fn_b=print, clock="gpu"), ValueError, "^clock must"),
    (
        timing.time_ab,
        dict(fn_a=print, fn_b=print, clock="cpu", threads=2),
        ValueError,
        "^clock 'cpu' needs",
    ),
    (timing.verdict, dict(low=0.0, high=1.0), ValueError, "^low must"),
    (timing.verdict, dict(low=1.0, high="2"), ValueError, "^high must"),
    (timing.verdict, dict(low=2.0, high=1.0), ValueError, "^low must be <= high"),
    (speed.crossover, dict(rows="rows"), TypeError, "^rows must"),
    (speed.crossover, dict(rows=[], batch_size=0), ValueError, "^batch_size must"),
    (speed.crossover, dict(rows=[], target=-1.0), ValueError, "^target must"),
]
