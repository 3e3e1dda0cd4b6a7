"""Exercise of notebook 05 (§5.4, eq. 10): FreezeOut's learning-rate schedule."""

from __future__ import annotations

import math

import torch

from ..freezeout import freezeout_rates
from ._core import Case, Exercise, Mistake


def _cases() -> list[Case]:
    return [
        Case("the survey's example: η(0) = 0.1, T = 150, L = 3", (0.1, 150, 3)),
        Case("T = 10, L = 3 (t_i not integers)", (0.05, 10, 3)),
        Case("η(0) = 1, T = 8, L = 4", (1.0, 8, 4)),
        Case("one layer (L = 1)", (0.1, 7, 1)),
        Case("T = L = 5: one step per layer", (0.2, 5, 5)),
    ]


def _schedule(eta0, T, L, times, *, zero_after=True, pi=math.pi):
    rows = []
    for t_i in times:
        row = []
        for t in range(T + 1):
            rate = 0.5 * eta0 * (1 + math.cos(pi * t / t_i))
            row.append(0.0 if zero_after and t >= t_i else rate)
        rows.append(row)
    return rows


def _equispaced(T, L):
    return [i * T / L for i in range(1, L + 1)]


FREEZEOUT = Exercise(
    "freezeout",
    title="freezeout_schedule(eta0, T, L), η_i(t) of eq. 10 for layers i = 1..L, steps t = 0..T",
    params=("eta0", "T", "L"),
    reference=freezeout_rates,
    cases=_cases,
    success="your schedule equals mexit.freezeout.freezeout_rates",
    mistakes=[
        Mistake(
            "t_i = T for every layer",
            lambda eta0, T, L: _schedule(eta0, T, L, [T] * L),
            "the freezing points are equispaced, t_i = i·T/L: the first layer freezes "
            "first, at T/L, only the last one at T (otherwise nothing is ever frozen early, "
            "and nothing is saved).",
        ),
        Mistake(
            "learning rate not zero after t_i",
            lambda eta0, T, L: _schedule(eta0, T, L, _equispaced(T, L), zero_after=False),
            "η_i(t) = 0 for t ≥ t_i: past t_i the cosine rises again; a frozen layer must "
            "not learn.",
        ),
        Mistake(
            "integer division for t_i",
            lambda eta0, T, L: _schedule(eta0, T, L, [i * T // L for i in range(1, L + 1)]),
            "t_i = i·T/L is a real number (10/3 = 3.33…): i * T // L freezes layers early.",
        ),
        Mistake(
            "last layer frozen first",
            lambda eta0, T, L: _schedule(eta0, T, L, _equispaced(T, L)[::-1]),
            "FreezeOut freezes from the input side: layer 1 at T/L, layer L at T.",
        ),
        Mistake(
            "cos(t / t_i) without π",
            lambda eta0, T, L: _schedule(eta0, T, L, _equispaced(T, L), pi=1.0),
            "eq. 10 anneals with cos(π t / t_i): the rate goes from η(0) at t = 0 to 0 at t_i.",
        ),
        Mistake(
            "rows are steps, not layers",
            lambda eta0, T, L: torch.tensor(_schedule(eta0, T, L, _equispaced(T, L))).T,
            "return shape (L, T + 1): one row per layer i, one column per step t.",
        ),
    ],
)
check_freezeout = FREEZEOUT.checker_fn
