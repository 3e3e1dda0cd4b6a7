"""Threshold explorer: move the exit threshold(s) of a multi-exit network (§6)."""

from __future__ import annotations

import ipywidgets as widgets

from .._checks import check_float, check_labels, check_probs
from ..cost import _check_Gamma
from ..inference import evaluate_policy
from .base import (
    CRITERION_OPTIONS,
    THRESHOLD_LABELS,
    Explorer,
    LinkedThresholds,
    threshold_slider,
)

SYMBOL = {"entropy": ("entropy ≤", "β"), "max_probability": ("max probability ≥", "τ")}


def per_exit_label(criterion: str, e) -> str:
    rule, sym = SYMBOL[criterion]
    return f"exit {e}: leave if {rule} {sym}{e}"


class ThresholdExplorer(LinkedThresholds, Explorer):
    """Move the exit threshold(s) → accuracy, mean cost and where the inputs leave (§6),
    beside the accuracy–cost plane (the criterion's shared threshold swept, the oracle).

    probs: (E, N, K) outputs of every exit; Gamma: cumulative cost of each exit (FLOPs);
    full_cost: FLOPs of the plain network; exits: block indices, for labels.

    Per-exit sliders are shown only while "one shared threshold" is unticked; they start at
    the shared value and follow it until the student moves one of them, so unticking never
    changes the numbers by itself, and ticking/unticking keeps every value set."""

    def __init__(self, probs, labels, Gamma, full_cost=None, exits=None, criterion="entropy"):
        self.probs = check_probs(probs)
        self.labels = check_labels(labels, self.probs.shape[1], num_classes=self.probs.shape[-1])
        E = self.probs.shape[0]
        self.Gamma = _check_Gamma(Gamma, E, cumulative=True)
        self.full_cost = (
            float(self.Gamma[-1]) if full_cost is None else check_float(full_cost, "full_cost")
        )
        if self.full_cost <= 0:
            raise ValueError(f"full_cost must be positive, got {self.full_cost}")
        if criterion not in ("entropy", "max_probability"):
            raise ValueError(f"criterion must be 'entropy' or 'max_probability', got {criterion!r}")
        self.exits = tuple(range(1, E + 1)) if exits is None else tuple(exits)
        if len(self.exits) != E:
            raise ValueError(f"exits must name {E} exits, got {self.exits}")
        self.criterion = widgets.Dropdown(
            options=CRITERION_OPTIONS,
            value=criterion,
            description="exit rule",
            layout=widgets.Layout(width="300px"),
        )
        self.shared = widgets.Checkbox(
            value=True, description="one shared threshold", layout=widgets.Layout(width="auto")
        )
        self.threshold = threshold_slider(THRESHOLD_LABELS[criterion], 0.5)
        self.per_exit = {
            f"threshold_{e}": threshold_slider(per_exit_label(criterion, e))
            for e in self.exits[:-1]
        }
        self.controls = {
            "criterion": self.criterion,
            "shared": self.shared,
            "threshold": self.threshold,
            **self.per_exit,
        }
        # registered before show()'s redraw observers, so they run first
        self._link_thresholds()
        self.criterion.observe(self._on_criterion, names="value")
        self._sync()

    def _on_criterion(self, change) -> None:
        self.threshold.description = THRESHOLD_LABELS[change["new"]]
        for e in self.exits[:-1]:
            self.per_exit[f"threshold_{e}"].description = per_exit_label(change["new"], e)

    def layout(self) -> widgets.Widget:
        """The shared slider while "one shared threshold" is ticked, else one per exit."""
        shared_box = widgets.VBox([self.threshold])
        per_exit_box = widgets.VBox(list(self.per_exit.values()))

        def toggle(_=None):
            shared_box.layout.display = None if self.shared.value else "none"
            per_exit_box.layout.display = "none" if self.shared.value else None

        self.shared.observe(toggle, names="value")
        toggle()
        return widgets.VBox([widgets.HBox([self.criterion, self.shared]), shared_box, per_exit_box])

    def compute(self, criterion="entropy", shared=True, threshold=0.5, **per_exit) -> dict:
        if shared:
            thresholds = [threshold] * (len(self.exits) - 1)
        else:
            thresholds = [per_exit.get(f"threshold_{e}", threshold) for e in self.exits[:-1]]
        r = evaluate_policy(
            self.probs,
            self.labels,
            thresholds,
            criterion,
            Gamma=self.Gamma,
            full_cost=self.full_cost,
        )
        n = len(self.labels)
        return {
            "criterion": criterion,
            "exits": self.exits,
            "thresholds": tuple(thresholds),
            "accuracy": r.accuracy,
            "mean_flops": r.mean_flops,
            "cost_fraction": r.cost_fraction,
            "exit_counts": r.exit_counts,
            "exit_fractions": tuple(c / n for c in r.exit_counts),
        }

    def summary(self, result: dict) -> str:
        rule, sym = SYMBOL[result["criterion"]]
        ts = sorted(set(result["thresholds"]))
        if len(ts) == 1:
            setting = f"exit when {rule} {sym} = {ts[0]:.2f}"
        else:
            setting = "exit when " + ", ".join(
                f"{rule} {sym}{e} = {t:.2f}" for e, t in zip(self.exits, result["thresholds"])
            )
        return f"{setting}\n{super().summary(result)}"

    def family(self, result: dict):
        criterion = result["criterion"]
        rule, sym = SYMBOL[criterion]
        return (
            ("threshold", criterion),
            self.probs,
            self.labels,
            self.Gamma,
            self.full_cost,
            criterion,
            f"{rule} {sym}, one {sym} swept",
        )

    def build_view(self):
        return self.tradeoff_view(self.exits)

    def draw(self, result: dict) -> None:
        self.draw_tradeoff(result, result["exit_counts"])
