"""Reproducibility: every seed is set here, in one place."""

from __future__ import annotations

import random

import numpy as np
import torch

from ._checks import check_seed


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's generators so two runs print the same numbers.

    seed: an int in 0..2**32-1 (the range every one of these generators accepts)."""
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
