"""Placement explorer: toggle which exits exist (§4)."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from .._checks import check_labels, check_probs
from ..cost import CostProfile
from ..inference import evaluate_policy, exit_accuracies
from .base import THRESHOLD_LABELS, Explorer, exit_toggles, threshold_slider


class PlacementExplorer(Explorer):
    """Toggle which early exits exist and move the threshold → per-exit accuracy, cost (§4),
    beside the accuracy–cost plane of the exits kept (threshold swept, oracle).

    probs: (E, N, K) outputs of a model with a head at every candidate position
    (`exits`, ending with the final block L); costs: its measured CostProfile. Switching an
    exit off removes its head's cost (Γ recomputed); nothing is retrained."""

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
        self.toggles = exit_toggles(self.exits[:-1])
        self.threshold = threshold_slider(THRESHOLD_LABELS[criterion], 0.5)
        self.controls = {**self.toggles, "threshold": self.threshold}

    def layout(self) -> widgets.Widget:
        return widgets.VBox([widgets.HBox(list(self.toggles.values())), self.threshold])

    def chosen(self, toggles) -> tuple:
        unknown = set(toggles) - set(self.toggles)
        if unknown:
            raise ValueError(f"toggles must be among {sorted(self.toggles)}, got {sorted(unknown)}")
        early = tuple(e for e in self.exits[:-1] if toggles.get(f"exit_{e}", True))
        return early + (self.exits[-1],)

    def compute(self, threshold=0.5, **toggles) -> dict:
        exits = self.chosen(toggles)
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
            "threshold": float(threshold),
            "exits": exits,
            "accuracy": r.accuracy,
            "mean_flops": r.mean_flops,
            "cost_fraction": r.cost_fraction,
            "exit_counts": r.exit_counts,
            "exit_fractions": tuple(c / n for c in r.exit_counts),
            "exit_accuracy": tuple(self.accuracy_per_exit[i] for i in rows),
        }

    def summary(self, result: dict) -> str:
        rule = THRESHOLD_LABELS[self.criterion]
        kept = ", ".join(str(e) for e in result["exits"])
        return f"exits kept: {kept}; {rule} = {result['threshold']:.2f}\n" + super().summary(result)

    # -- live view: histogram | accuracy of each exit alone | plane ----------------------
    def family(self, result: dict):
        exits = result["exits"]
        rows = [self.exits.index(e) for e in exits]
        sym = "β" if self.criterion == "entropy" else "τ"
        return (
            ("exits", exits),
            self.probs[rows],
            self.labels,
            self.costs.Gamma(exits),
            self.costs.full,
            self.criterion,
            f"these exits, {sym} swept",
        )

    def build_view(self):
        view = self.tradeoff_view(self.exits, extra=1)
        ax = view.axes[1]
        x = np.arange(len(self.exits))
        self._alone = ax.bar(x, [100 * a for a in self.accuracy_per_exit], color="tab:blue")
        ax.set_xticks(x, [str(e) for e in self.exits])
        ax.set_xlabel("exit (block)")
        ax.set(ylim=(0, 100), ylabel="test accuracy (%)", title="each exit alone")
        ax.title.set_fontsize(10)
        view.animate(*self._alone)  # recoloured by the toggles: blitted
        self._alone_on = None
        return view

    def draw(self, result: dict) -> None:
        counts, on = self.spread(self.exits, result["exits"], result["exit_counts"])
        if on != self._alone_on:  # structure changed: grey the exits switched off
            for bar, o in zip(self._alone, on):
                bar.set_color("tab:blue" if o else "lightgray")
            self._alone_on = on
        self.draw_tradeoff(result, counts, on)
