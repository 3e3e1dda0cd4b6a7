"""Policy explorer: every exit criterion of §6, one shared threshold or one per exit, and the
gap to the oracle (the least cost any policy could pay for the same accuracy)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from .._checks import check_labels, check_probs
from ..policies import (
    POLICIES,
    LearnedConfidence,
    oracle_curve,
    policy_exits,
    threshold_range,
)
from .base import Explorer, exit_bars

POLICY_OPTIONS = [
    ("normalized entropy H ≤ β (eq. 11)", "entropy"),
    ("unnormalized entropy ≤ β nats (BranchyNet)", "unnormalized_entropy"),
    ("max probability ≥ τ", "max_probability"),
    ("learned confidence g_i ≥ τ", "learned"),
]


def _slider(description, lo, hi, value):
    return widgets.FloatSlider(
        value=value,
        min=lo,
        max=hi,
        step=0.01,
        description=description,
        continuous_update=False,
        readout_format=".2f",
        style={"description_width": "initial"},
    )


class PolicyExplorer(Explorer):
    """Criterion, shared or per-exit thresholds → accuracy, cost, exit histogram, and the
    cost of this policy divided by the oracle's at the same accuracy (§6).

    probs: (E, N, K) outputs of every exit; Gamma: cumulative cost of each exit (FLOPs);
    full_cost: FLOPs of the plain network; learned: a fitted LearnedConfidence (optional:
    without it the 'learned' criterion is not offered). Sliders are in the criterion's units
    (nats for the unnormalized entropy); switching criterion resets them to its range."""

    def __init__(
        self, probs, labels, Gamma, full_cost=None, exits=None, learned=None, criterion="entropy"
    ):
        self.probs = check_probs(probs)
        self.labels = check_labels(labels, self.probs.shape[1])
        E, self.num_classes = self.probs.shape[0], self.probs.shape[-1]
        self.Gamma = torch.as_tensor(Gamma, dtype=torch.float64)
        if self.Gamma.shape != (E,):
            raise ValueError(f"Gamma must hold one cost per exit ({E}), got {self.Gamma.shape}")
        self.full_cost = float(self.Gamma[-1] if full_cost is None else full_cost)
        self.exits = tuple(range(1, E + 1)) if exits is None else tuple(exits)
        if len(self.exits) != E:
            raise ValueError(f"exits must name {E} exits, got {self.exits}")
        if learned is not None and not isinstance(learned, LearnedConfidence):
            raise TypeError(f"learned must be a LearnedConfidence, got {type(learned).__name__}")
        self.learned = learned
        options = [o for o in POLICY_OPTIONS if o[1] != "learned" or learned is not None]
        if criterion not in [v for _, v in options]:
            raise ValueError(
                f"criterion must be one of {[v for _, v in options]}, got {criterion!r}"
            )
        self.oracle = oracle_curve(self.probs, self.labels, self.Gamma, self.full_cost)
        self.correct = self.probs.argmax(-1) == self.labels
        self.criterion = widgets.Dropdown(options=options, value=criterion, description="criterion")
        self.shared = widgets.Checkbox(value=True, description="one shared threshold")
        lo, hi = sorted(threshold_range(criterion, self.num_classes))
        mid = (lo + hi) / 2
        self.threshold = _slider("threshold", lo, hi, mid)
        self.per_exit = {
            f"threshold_{e}": _slider(f"threshold at exit {e}", lo, hi, mid)
            for e in self.exits[:-1]
        }
        self.controls = {
            "criterion": self.criterion,
            "shared": self.shared,
            "threshold": self.threshold,
            **self.per_exit,
        }
        self.criterion.observe(self._reset_sliders, names="value")

    def _reset_sliders(self, change) -> None:
        lo, hi = sorted(threshold_range(change["new"], self.num_classes))
        for s in [self.threshold, *self.per_exit.values()]:
            value = min(max(s.value, lo), hi) if (s.min, s.max) == (lo, hi) else (lo + hi) / 2
            s.min, s.max = min(s.min, lo), max(s.max, hi)  # widen first, then narrow
            s.value = value
            s.min, s.max = lo, hi

    def compute(self, criterion="entropy", shared=True, threshold=0.5, **per_exit) -> dict:
        if criterion not in POLICIES:
            raise ValueError(f"criterion must be one of {POLICIES}, got {criterion!r}")
        if shared:
            thresholds = [threshold] * (len(self.exits) - 1)
        else:
            thresholds = [per_exit.get(f"threshold_{e}", threshold) for e in self.exits[:-1]]
        idx = policy_exits(self.probs, thresholds, criterion, self.learned)
        accuracy = float(self.correct.gather(0, idx[None]).float().mean())
        mean_flops = float(self.Gamma[idx].mean())
        cost_fraction = mean_flops / self.full_cost
        oracle_cost = self.oracle.cost_at(accuracy)
        counts = tuple(torch.bincount(idx, minlength=len(self.exits)).tolist())
        n = len(self.labels)
        return {
            "criterion": criterion,
            "thresholds": tuple(thresholds),
            "accuracy": accuracy,
            "mean_flops": mean_flops,
            "cost_fraction": cost_fraction,
            "exit_counts": counts,
            "exit_fractions": tuple(c / n for c in counts),
            "oracle_cost_fraction": oracle_cost,
            "gap_to_oracle": cost_fraction / oracle_cost if oracle_cost > 0 else float("inf"),
        }

    def summary(self, result: dict) -> str:
        return super().summary(result) + (
            f"\noracle at this accuracy: {100 * result['oracle_cost_fraction']:.1f} % → this "
            f"policy pays {result['gap_to_oracle']:.2f}× the least possible cost"
        )

    def plot(self, result: dict) -> None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 2.8))
        exit_bars(a1, self.exits, result["exit_fractions"], "where the inputs leave")
        a1.set_ylabel("inputs (%)")
        a2.plot(
            100 * self.oracle.cost_fraction,
            100 * self.oracle.accuracy,
            "k--",
            label="oracle (lower bound)",
        )
        a2.plot(
            100 * result["cost_fraction"],
            100 * result["accuracy"],
            "r*",
            ms=14,
            label="this policy",
        )
        a2.set(
            xlabel="mean cost (% of the full network)",
            ylabel="test accuracy (%)",
            title="against the oracle",
        )
        a2.legend(loc="lower right")
        fig.tight_layout()
