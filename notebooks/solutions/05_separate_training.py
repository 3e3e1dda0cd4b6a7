# %% [markdown]
# # Solutions: 05 Separate training and FreezeOut (§5.4, eq. 10)
#
# For instructors: one cell per exercise of `notebooks/05_separate_training.ipynb`, tagged
# like the exercise cell it replaces.

# %% tags=["exercise-freezeout"]
import math

import torch


def freezeout_schedule(eta0, T, L):
    """η_i(t) of eq. 10: a (L, T + 1) table, layer i = 1..L in rows, step t = 0..T in columns."""
    table = torch.zeros(L, T + 1, dtype=torch.float64)
    for i in range(1, L + 1):
        t_i = i * T / L  # equispaced freezing points, the first layer first
        for t in range(T + 1):
            if t < t_i:
                table[i - 1, t] = 0.5 * eta0 * (1 + math.cos(math.pi * t / t_i))
    return table
