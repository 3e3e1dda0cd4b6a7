"""Feedback explorer: compare training rules (backprop, local learning, feedback alignment,
§7.1) over cached runs, and move the exit threshold."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt

from .._checks import check_labels, check_probs
from ..cost import CostProfile
from ..inference import evaluate_policy, exit_accuracies
from .base import Explorer, exit_bars, threshold_slider


class FeedbackExplorer(Explorer):
    """Pick a trained run (feedback mode) and a threshold → per-exit accuracy, accuracy and
    cost of early exit, where the inputs leave.

    probs: {run name: (E, N, K) outputs of its exits on one labelled set}; costs: one
    CostProfile shared by every run, or {run name: CostProfile}; exits: block indices."""

    def __init__(self, probs: Mapping, labels, costs, exits, criterion: str = "entropy"):
        if not isinstance(probs, Mapping) or not probs:
            raise TypeError("probs must be a non-empty dict {run name: (E, N, K) exit outputs}")
        self.probs = {str(k): check_probs(v, f"probs[{k!r}]") for k, v in probs.items()}
        shapes = {tuple(p.shape) for p in self.probs.values()}
        if len(shapes) != 1:
            raise ValueError(f"every run must have outputs of the same shape, got {shapes}")
        E, N, _ = shapes.pop()
        self.labels = check_labels(labels, N)
        self.exits = tuple(exits)
        if len(self.exits) != E:
            raise ValueError(f"exits must name the {E} exits of every run, got {self.exits}")
        if isinstance(costs, CostProfile):
            costs = dict.fromkeys(self.probs, costs)
        if not isinstance(costs, Mapping) or set(costs) != set(self.probs):
            raise ValueError("costs must be a CostProfile or a dict with one per run of probs")
        for name, c in costs.items():
            if not isinstance(c, CostProfile):
                raise TypeError(f"costs[{name!r}] must be a CostProfile, got {type(c).__name__}")
        self.costs = dict(costs)
        if criterion not in ("entropy", "max_probability"):
            raise ValueError(f"criterion must be 'entropy' or 'max_probability', got {criterion!r}")
        self.criterion = criterion
        self.exit_accuracy = {
            k: tuple(exit_accuracies(p, self.labels).tolist()) for k, p in self.probs.items()
        }
        self.mode = widgets.Dropdown(
            options=list(self.probs), description="training", style={"description_width": "initial"}
        )
        self.threshold = threshold_slider("threshold", 0.5)
        self.controls = {"mode": self.mode, "threshold": self.threshold}

    def compute(self, mode=None, threshold=0.5) -> dict:
        mode = next(iter(self.probs)) if mode is None else mode
        if mode not in self.probs:
            raise ValueError(f"mode must be one of {tuple(self.probs)}, got {mode!r}")
        costs = self.costs[mode]
        r = evaluate_policy(
            self.probs[mode],
            self.labels,
            threshold,
            self.criterion,
            Gamma=costs.Gamma(self.exits),
            full_cost=costs.full,
        )
        n = len(self.labels)
        return {
            "mode": mode,
            "accuracy": r.accuracy,
            "mean_flops": r.mean_flops,
            "cost_fraction": r.cost_fraction,
            "exit_counts": r.exit_counts,
            "exit_fractions": tuple(c / n for c in r.exit_counts),
            "exit_accuracy": self.exit_accuracy[mode],
        }

    def plot(self, result: dict) -> None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 2.8))
        exit_bars(a1, self.exits, result["exit_accuracy"], f"each exit alone: {result['mode']}")
        for name, accs in self.exit_accuracy.items():
            if name != result["mode"]:
                a1.plot(range(len(self.exits)), [100 * a for a in accs], "o:", ms=4, label=name)
        a1.axhline(100 / self.probs[result["mode"]].shape[-1], color="gray", lw=1, ls="--")
        a1.set_ylabel("test accuracy (%)")
        if len(self.exit_accuracy) > 1:
            a1.legend(fontsize=7, loc="upper left")
        exit_bars(a2, self.exits, result["exit_fractions"], "where the inputs leave")
        a2.set_ylabel("inputs (%)")
        fig.tight_layout()
