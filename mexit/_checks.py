"""Argument checks shared by every public function (scikit-learn style messages)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch


def check_int(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Return `value` as an int, or raise TypeError/ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_float(
    value,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    allow_inf: bool = False,
) -> float:
    """Return `value` as a finite float in [low, high], or raise TypeError/ValueError naming
    `name`. ±inf is rejected unless the caller says it means something (`allow_inf=True`)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if value != value:
        raise ValueError(f"{name} must not be NaN")
    if not allow_inf and math.isinf(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_fraction(value, name: str) -> float:
    """Return `value` as a float in the open interval (0, 1), or raise naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in (0, 1), got {type(value).__name__} {value!r}")
    if not 0 < value < 1:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value}")
    return float(value)


def check_tensor(
    value,
    name: str,
    *,
    ndim: int | None = None,
    dtype_kind: str | None = None,
    finite: bool = False,
):
    """Check that `value` is a non-empty tensor with `ndim` dims; dtype_kind 'float' or 'int'
    ('int' rejects bool tensors); finite=True rejects NaN and inf (naming the first bad row)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    if dtype_kind == "float" and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if dtype_kind == "int" and (
        value.is_floating_point() or value.is_complex() or value.dtype == torch.bool
    ):
        # a bool tensor would index as a mask, or count True as 1: never an index
        raise TypeError(f"{name} must be an integer tensor, got dtype {value.dtype}")
    if finite and value.is_floating_point() and not torch.isfinite(value).all():
        bad = (~torch.isfinite(value)).reshape(value.shape[0] if value.ndim else 1, -1)
        bad = bad.any(1).nonzero()
        raise ValueError(
            f"{name} must be finite: row {int(bad[0])} holds NaN or inf "
            f"({len(bad)} such row(s) of {value.shape[0]})"
        )
    return value


SEED_MAX = 2**32 - 1  # the largest seed Python, NumPy and torch all accept


def check_seed(value, name: str = "seed") -> int:
    """Return `value` as a seed every generator accepts (an int in 0..2**32-1)."""
    return check_int(value, name, low=0, high=SEED_MAX)


PROBS_ATOL = 1e-3  # how far a row's sum may be from 1 (float32 softmax of wide rows)


def check_probs(probs, name: str = "probs", *, ndim: int | None = 3) -> torch.Tensor:
    """Check exit outputs: rows of probabilities over the last axis, with no NaN, no negative
    value and each row summing to 1 (within PROBS_ATOL): logits passed by mistake are caught.

    ndim=3 (default): a tensor (E, N, K) or a list of E tensors (N, K); returns (E, N, K).
    ndim=None: any float tensor (..., K), returned as is."""
    if ndim == 3 and isinstance(probs, (list, tuple)):
        if len(probs) == 0:
            raise ValueError(f"{name} must hold at least one exit, got an empty sequence")
        for i, p in enumerate(probs):
            check_tensor(p, f"{name}[{i}]", ndim=2, dtype_kind="float")
        shapes = {tuple(p.shape) for p in probs}
        if len(shapes) != 1:
            raise ValueError(f"every exit in {name} must have the same shape (N, K), got {shapes}")
        probs = torch.stack(list(probs))
    check_tensor(probs, name, ndim=ndim, dtype_kind="float")
    if probs.ndim == 0 or probs.shape[-1] < 2:
        raise ValueError(
            f"{name} must have at least 2 classes on the last axis, got shape {tuple(probs.shape)}"
        )
    if probs.isnan().any():
        raise ValueError(f"{name} must not hold NaN")
    if (probs < 0).any() or (probs > 1).any():
        raise ValueError(f"{name} must be probabilities in [0, 1] (apply softmax to logits)")
    sums = probs.sum(-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=PROBS_ATOL, rtol=0.0):
        raise ValueError(
            f"{name} must be distributions over the last axis (rows summing to 1), got row "
            f"sums between {sums.min().item():.4g} and {sums.max().item():.4g}; "
            "pass softmax(logits), not logits"
        )
    return probs


def check_labels(
    labels, n: int, name: str = "labels", *, num_classes: int | None = None
) -> torch.Tensor:
    """Check an int label vector of length n, each label in 0..num_classes-1 when given."""
    check_tensor(labels, name, ndim=1, dtype_kind="int")
    if labels.shape[0] != n:
        raise ValueError(f"{name} must have one label per input ({n}), got {labels.shape[0]}")
    if num_classes is not None:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(
                f"{name} must be class indices in 0..{num_classes - 1} ({num_classes} classes), "
                f"got labels from {lo} to {hi}"
            )
    return labels


def check_thresholds(thresholds, n_exits: int, name: str = "thresholds") -> torch.Tensor:
    """Return thresholds for the n_exits - 1 early exits as a float64 tensor in [0, 1].

    A single number is shared by every early exit; a sequence gives one per early exit
    (the final exit has no threshold: every input still there exits).
    """
    n_early = n_exits - 1
    if type(thresholds).__module__ == "numpy":
        thresholds = torch.as_tensor(thresholds)  # numpy scalar or array
    if isinstance(thresholds, torch.Tensor):
        if thresholds.ndim > 1:
            raise ValueError(
                f"{name} must be a number or a 1-D sequence, got a tensor of shape "
                f"{tuple(thresholds.shape)}"
            )
        if thresholds.dtype == torch.bool or thresholds.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {thresholds.dtype}")
        thresholds = thresholds.item() if thresholds.ndim == 0 else thresholds.tolist()
    if isinstance(thresholds, numbers.Real) and not isinstance(thresholds, bool):
        values = [check_float(thresholds, name, low=0.0, high=1.0)] * n_early
    elif isinstance(thresholds, (Sequence, torch.Tensor)) and not isinstance(thresholds, str):
        values = [
            t.item() if isinstance(t, torch.Tensor) and t.ndim == 0 else t for t in thresholds
        ]
        if len(values) != n_early:
            raise ValueError(
                f"{name} must hold one value per early exit ({n_early}), got {len(values)}"
            )
        values = [check_float(t, f"{name}[{i}]", low=0.0, high=1.0) for i, t in enumerate(values)]
    else:
        raise TypeError(
            f"{name} must be a number in [0, 1] or a sequence of {n_early} numbers, "
            f"got {type(thresholds).__name__}"
        )
    return torch.tensor(values, dtype=torch.float64)


def check_exit_set(exits, n_blocks: int, name: str = "exits") -> tuple[int, ...]:
    """Check an exit set C: distinct block indices in 1..L-1 (the survey's numbering)."""
    if isinstance(exits, (str, bytes)) or not isinstance(exits, (Sequence, set, frozenset)):
        raise TypeError(f"{name} must be a sequence of block indices, got {type(exits).__name__}")
    values = [check_int(e, f"{name} entry") for e in exits]
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat an exit, got {sorted(values)}")
    bad = [e for e in values if not 1 <= e <= n_blocks - 1]
    if bad:
        raise ValueError(
            f"{name} must be block indices in 1..{n_blocks - 1} (the final exit {n_blocks} is "
            f"always there), got {bad}"
        )
    return tuple(sorted(values))
