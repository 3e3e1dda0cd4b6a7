"""Placement explorer: toggle which exits exist (§4)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt

from .._checks import check_labels, check_probs
from ..cost import CostProfile
from ..inference import evaluate_policy, exit_accuracies
from .base import Explorer, exit_bars, threshold_slider


class PlacementExplorer(Explorer):
    """Toggle which early exits exist and move the threshold → per-exit accuracy, cost (§4).

    probs: (E, N, K) outputs of a model with a head at every candidate position
    (`exits`, ending with the final block L); costs: its measured CostProfile."""

    def __init__(self, probs, labels, costs: CostProfile, exits, criterion="entropy"):
        self.probs = check_probs(probs)
        self.labels = check_labels(labels, self.probs.shape[1], num_classes=self.probs.shape[-1])
        if not isinstance(costs, CostProfile):
            raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
        self.costs, self.exits = costs, tuple(exits)
        increasing = list(self.exits) == sorted(set(self.exits))
        if (
            len(self.exits) != self.probs.shape[0]
            or self.exits[-1] != costs.num_blocks
            or not increasing
        ):
            raise ValueError(
                f"exits must name the {self.probs.shape[0]} exits of probs in increasing "
                f"order, ending at L={costs.num_blocks}; got {self.exits}"
            )
        if criterion not in ("entropy", "max_probability"):
            raise ValueError(f"criterion must be 'entropy' or 'max_probability', got {criterion!r}")
        self.criterion = criterion
        self.accuracy_per_exit = exit_accuracies(self.probs, self.labels).tolist()
        self.toggles = {
            f"exit_{e}": widgets.Checkbox(value=True, description=f"exit {e}", indent=False)
            for e in self.exits[:-1]
        }
        self.threshold = threshold_slider("threshold", 0.5)
        self.controls = {**self.toggles, "threshold": self.threshold}

    def layout(self) -> widgets.Widget:
        return widgets.VBox([widgets.HBox(list(self.toggles.values())), self.threshold])

    def compute(self, threshold=0.5, **toggles) -> dict:
        chosen = [e for e in self.exits[:-1] if toggles.get(f"exit_{e}", True)]
        exits = tuple(chosen) + (self.exits[-1],)
        rows = [self.exits.index(e) for e in exits]
        r = evaluate_policy(
            self.probs[rows],
            self.labels,
            threshold,
            self.criterion,
            Gamma=self.costs.Gamma(exits),
            full_cost=self.costs.full,
        )
        n = len(self.labels)
        return {
            "exits": exits,
            "accuracy": r.accuracy,
            "mean_flops": r.mean_flops,
            "cost_fraction": r.cost_fraction,
            "exit_counts": r.exit_counts,
            "exit_fractions": tuple(c / n for c in r.exit_counts),
            "exit_accuracy": tuple(self.accuracy_per_exit[i] for i in rows),
        }

    def plot(self, result: dict, figsize=(9, 2.6)):
        """Accuracy of each exit alone and where the inputs leave; returns (fig, axes)."""
        fig, (a1, a2) = plt.subplots(1, 2, figsize=figsize)
        on = [e in result["exits"] for e in self.exits]
        exit_bars(a1, self.exits, self.accuracy_per_exit, "accuracy of each exit alone", on)
        a1.set_ylabel("test accuracy (%)")
        fractions = dict(zip(result["exits"], result["exit_fractions"]))
        exit_bars(
            a2,
            self.exits,
            [fractions.get(e, 0.0) for e in self.exits],
            "where the inputs leave",
            on,
        )
        a2.set_ylabel("inputs (%)")
        fig.tight_layout()
        return fig, (a1, a2)
