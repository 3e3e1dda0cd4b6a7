"""Feedback explorer: compare training rules (backprop, local learning, feedback alignment,
§7.1) over cached runs, and move the exit threshold."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import numpy as np

from .._checks import check_labels, check_probs
from ..cost import CostProfile
from ..inference import evaluate_policy, exit_accuracies
from .base import THRESHOLD_LABELS, Explorer, exit_toggles, threshold_slider


class FeedbackExplorer(Explorer):
    """Pick a trained run (feedback mode), which early exits to keep and a threshold →
    per-exit accuracy, accuracy and cost of early exit, where the inputs leave, beside the
    accuracy–cost plane of that run with those exits (threshold swept, oracle).

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
            options=list(self.probs),
            description="trained by",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="auto"),
        )
        self.toggles = exit_toggles(self.exits[:-1])
        self.threshold = threshold_slider(THRESHOLD_LABELS[criterion], 0.5)
        self.controls = {"mode": self.mode, **self.toggles, "threshold": self.threshold}

    def layout(self) -> widgets.Widget:
        return widgets.VBox([self.mode, widgets.HBox(list(self.toggles.values())), self.threshold])

    def _chosen(self, toggles) -> tuple:
        unknown = set(toggles) - set(self.toggles)
        if unknown:
            raise ValueError(f"toggles must be among {sorted(self.toggles)}, got {sorted(unknown)}")
        early = tuple(e for e in self.exits[:-1] if toggles.get(f"exit_{e}", True))
        return early + (self.exits[-1],)

    def compute(self, mode=None, threshold=0.5, **toggles) -> dict:
        mode = next(iter(self.probs)) if mode is None else mode
        if mode not in self.probs:
            raise ValueError(f"mode must be one of {tuple(self.probs)}, got {mode!r}")
        exits = self._chosen(toggles)
        rows = [self.exits.index(e) for e in exits]
        costs = self.costs[mode]
        r = evaluate_policy(
            self.probs[mode][rows],
            self.labels,
            threshold,
            self.criterion,
            Gamma=costs.Gamma(exits),
            full_cost=costs.full,
        )
        n = len(self.labels)
        return {
            "mode": mode,
            "threshold": float(threshold),
            "exits": exits,
            "accuracy": r.accuracy,
            "mean_flops": r.mean_flops,
            "cost_fraction": r.cost_fraction,
            "exit_counts": r.exit_counts,
            "exit_fractions": tuple(c / n for c in r.exit_counts),
            "exit_accuracy": self.exit_accuracy[mode],
        }

    def summary(self, result: dict) -> str:
        kept = ", ".join(str(e) for e in result["exits"])
        return (
            f"trained by {result['mode']}; exits kept: {kept}; "
            f"{THRESHOLD_LABELS[self.criterion]} = {result['threshold']:.2f}\n"
            + super().summary(result)
        )

    def family(self, result: dict):
        mode, exits = result["mode"], result["exits"]
        rows = [self.exits.index(e) for e in exits]
        costs = self.costs[mode]
        return (
            (mode, exits),
            self.probs[mode][rows],
            self.labels,
            costs.Gamma(exits),
            costs.full,
            self.criterion,
            "these exits, threshold swept",
        )

    def build_view(self):
        view = self.tradeoff_view(self.exits, extra=1)
        ax = view.axes[1]
        x = np.arange(len(self.exits))
        self._alone = list(
            ax.bar(x, np.zeros(len(x)), color="tab:blue", alpha=0.45, label="this run")
        )
        styles = ["o:", "s:", "^:", "v:", "d:"]
        self._runs = [
            ax.plot(x, [100 * a for a in accs], styles[k % 5], ms=4, label=name, lw=1.2)[0]
            for k, (name, accs) in enumerate(self.exit_accuracy.items())
        ]
        ax.axhline(
            100 / next(iter(self.probs.values())).shape[-1],
            color="gray",
            lw=1,
            ls="--",
            label="chance",
        )
        ax.set_xticks(x, [str(e) for e in self.exits])
        ax.set_xlabel("exit (block)")
        ax.set(ylim=(0, 100), ylabel="test accuracy (%)", title="each exit alone")
        ax.title.set_fontsize(10)
        # the key sits under the figure, never over the bars
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize=7, frameon=False, ncol=2
        )
        view.resize(12.5, 3.8)
        view.fig.subplots_adjust(bottom=0.4)
        view.animate(*self._alone, *self._runs, ax.title)  # the runs' lines over the bars
        self._shown = None
        return view

    def draw(self, result: dict) -> None:
        counts, on = self.spread(self.exits, result["exits"], result["exit_counts"])
        state = (result["mode"], tuple(on))
        if state != self._shown:
            for bar, a, o in zip(self._alone, result["exit_accuracy"], on):
                bar.set_height(100 * a)
                bar.set_color("tab:blue" if o else "lightgray")
            self.view.axes[1].set_title(f"each exit alone (bars: {result['mode']})", fontsize=9)
            self._shown = state
        self.draw_tradeoff(result, counts, on)
