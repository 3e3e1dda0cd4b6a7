"""Exercise of notebook 10 (§7.3): the binning estimator of mutual information."""

from __future__ import annotations

import math

import torch

from ..information import binned_mi
from ._core import Case, Exercise, Mistake


def _mi_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1001)
    n = 400
    a = torch.randn(n, 1, generator=g)
    b = 0.8 * a + 0.6 * torch.randn(n, 1, generator=g)
    labels = torch.randint(0, 10, (300,), generator=g)
    layer = labels[:, None].float() * torch.tensor([0.3, -0.2, 0.1]) + torch.randn(
        300, 3, generator=g
    ) * torch.tensor([1.0, 0.5, 2.0])
    layer64 = torch.randn(200, 2, generator=g, dtype=torch.float64)
    return [
        Case("correlated Gaussians ρ = 0.8, N = 400, 16 bins", (a, b, 16)),
        Case("a 3-unit layer and integer labels (10 classes), 8 bins", (layer, labels, 8)),
        Case("b = a: I(A; A) = H(A), 4-unit rows, 5 bins", (layer[:, :2], layer[:, :2], 5)),
        Case("a constant layer (one bin: I = 0)", (torch.zeros(50, 4), labels[:50], 30)),
        Case(
            "labels against labels, 4 bins (integers are not binned)",
            (labels, labels % 3, 4),
        ),
        Case("float64 layer and labels, 6 bins", (layer64, labels[:200], 6)),
    ]


def _symbols(t, bins, *, per_unit=False, bin_ints=False, no_clamp=False):
    t = t.reshape(t.shape[0], -1)
    if not t.is_floating_point() and not bin_ints:
        return t.long()
    t = t if t.is_floating_point() else t.double()
    lo = t.min(0).values if per_unit else t.min()
    hi = t.max(0).values if per_unit else t.max()
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi - lo))
    idx = ((t - lo) / span * bins).long()
    return idx if no_clamp else idx.clamp(0, bins - 1)


def _entropy(s, *, base=2.0, rows=True):
    if rows:
        _, counts = torch.unique(s, dim=0, return_counts=True)
    else:
        _, counts = torch.unique(s, return_counts=True)
    p = counts.double() / counts.sum()
    return float(-(p * p.log()).sum() / math.log(base))


def _variant(a, b, bins, *, base=2.0, rows=True, **binning):
    sa, sb = _symbols(a, bins, **binning), _symbols(b, bins, **binning)
    joint = torch.cat([sa, sb], dim=1)
    return sum(
        sign * _entropy(s, base=base, rows=rows) for sign, s in ((1, sa), (1, sb), (-1, joint))
    )


def _nats(a, b, bins):
    return _variant(a, b, bins, base=math.e)


def _entries(a, b, bins):
    return _variant(a, b, bins, rows=False)


def _ints_binned(a, b, bins):
    return _variant(a, b, bins, bin_ints=True)


def _no_clamp(a, b, bins):
    return _variant(a, b, bins, no_clamp=True)


def _per_unit(a, b, bins):
    return _variant(a, b, bins, per_unit=True)


BINNED_MI = Exercise(
    "binned_mi",
    title="binned_mi(a, b, bins), the binning estimate of I(A; B) in bits",
    params=("a", "b", "bins"),
    reference=binned_mi,
    cases=_mi_cases,
    success="your estimate equals mexit.information.binned_mi",
    mistakes=[
        Mistake(
            "nats, not bits",
            _nats,
            "information-plane estimates are in bits: use log2 (or divide the natural-log "
            "entropies by ln 2).",
        ),
        Mistake(
            "entries counted as symbols, not rows",
            _entries,
            "a layer's state is the whole row of bin indices: count distinct ROWS "
            "(torch.unique(s, dim=0, return_counts=True)). Without dim=0 you count single "
            "values, as if the units were one long variable.",
        ),
        Mistake(
            "integer labels binned too",
            _ints_binned,
            "labels are already discrete: use them as they are. Binning 10 labels into fewer "
            "bins merges classes and loses information.",
        ),
        Mistake(
            "the maximum in an extra bin",
            _no_clamp,
            "(t − min) / (max − min) · bins is exactly `bins` at the maximum: that value gets "
            "a bin of its own (bins + 1 bins). Clamp the index to bins − 1.",
        ),
        Mistake(
            "each unit binned over its own range",
            _per_unit,
            "one grid of equal-width bins spans the whole layer (its overall min and max), "
            "as Shwartz-Ziv & Tishby bin a layer's activations; you gave every unit its own "
            "range.",
        ),
    ],
)
check_binned_mi = BINNED_MI.checker_fn
