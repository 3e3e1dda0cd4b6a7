"""Claims bound to checks: a notebook sentence about a result names the check that proves it.

A chapter writes `[✓ name]` after a sentence that states a measured result, and runs
`check("name", condition, **numbers)` in the same notebook. `tests/test_claims.py` fails when a
tag has no check or a check has no tag. A check compares two independently computed
quantities (or one with the survey's claim) with a margin; it never restates a property that
holds by construction.

The claims are about the reference run (MNIST-1D, the reference model, seeds 0-2). A chapter
run on something else (`-p dataset cifar10 -p backbone resnet18`) calls
`reference_run(False)`: a check that fails then prints `does not hold on this run: <name>
(<numbers>)` and the chapter goes on; on the reference run (the default) it raises.
"""

from __future__ import annotations

import math
import numbers
import re

import torch

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_STRICT = [True]  # is this the reference run? (a failing check raises there)


def reference_run(is_reference: bool) -> None:
    """Say whether the checks that follow are on the reference run their claims are about
    (True, the default: a failing check raises) or on another run (False: it prints
    `does not hold on this run: ...` instead). A chapter sets it from its parameters, e.g.
    `reference_run(dataset == "mnist1d" and backbone == "reference")`."""
    if not isinstance(is_reference, bool):
        raise TypeError(f"is_reference must be a bool, got {type(is_reference).__name__}")
    _STRICT[0] = is_reference


def is_reference_run() -> bool:
    """What `reference_run` last said (True unless told otherwise)."""
    return _STRICT[0]


def _format(value) -> str:
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return str(value)


def check(name: str, condition, **numbers) -> None:
    """Print `verified: <name> (<numbers>)` when `condition` holds, else raise AssertionError
    naming the claim and the numbers that broke it (off the reference run, see
    `reference_run`: print `does not hold on this run: <name> (<numbers>)` instead).

    `name` is the tag of the claim (lower case, digits and dashes: `jt-vs-separate`), written
    `[✓ jt-vs-separate]` after the sentence it proves. `numbers` are the quantities compared,
    printed with their names so a reader sees the evidence, e.g.
    `check("deeper-is-better", acc[-1] > acc[0] + 0.05, exit_1=acc[0], final=acc[-1])`."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not _NAME.match(name):
        raise ValueError(f"name must be lower case letters, digits and dashes, got {name!r}")
    if isinstance(condition, torch.Tensor):
        if condition.numel() != 1:
            raise ValueError(
                f"condition must be one boolean, got a tensor of shape {tuple(condition.shape)}"
            )
        condition = bool(condition.item())
    if not isinstance(condition, bool):
        import numpy as np

        if not isinstance(condition, np.bool_):
            raise TypeError(f"condition must be a bool, got {type(condition).__name__}")
        condition = bool(condition)
    evidence = ", ".join(f"{k}={_format(v)}" for k, v in numbers.items())
    if not condition:
        if not _STRICT[0]:
            print(f"does not hold on this run: {name}" + (f" ({evidence})" if evidence else ""))
            return
        raise AssertionError(f"claim [{name}] does not hold: {evidence or 'condition is False'}")
    print(f"verified: {name}" + (f" ({evidence})" if evidence else ""))
