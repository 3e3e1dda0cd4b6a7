"""Backbone explorer: the same exit threshold on different backbones — CNN, transformer,
graph network (§8, challenge 1) — through the same policies."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets

from .._checks import check_labels, check_probs
from ..cost import CostProfile
from ..inference import evaluate_policy, exit_accuracies
from .base import THRESHOLD_LABELS, Explorer, threshold_slider


class BackboneExplorer(Explorer):
    """Pick a backbone and a threshold → accuracy, cost and where the inputs leave.

    runs: {name: (probs (E, N, K), labels (N,), CostProfile, exits)}; each backbone may have
    its own task, number of exits and classes."""

    def __init__(self, runs: Mapping, criterion: str = "entropy"):
        if not isinstance(runs, Mapping) or not runs:
            raise TypeError("runs must be a non-empty dict {name: (probs, labels, costs, exits)}")
        self.runs = {}
        for name, run in runs.items():
            if not isinstance(run, (tuple, list)) or len(run) != 4:
                raise TypeError(f"runs[{name!r}] must be (probs, labels, costs, exits)")
            probs, labels, costs, exits = run
            probs = check_probs(probs, f"runs[{name!r}] probs")
            labels = check_labels(labels, probs.shape[1], f"runs[{name!r}] labels")
            if not isinstance(costs, CostProfile):
                raise TypeError(f"runs[{name!r}] costs must be a CostProfile")
            exits = tuple(exits)
            if len(exits) != probs.shape[0]:
                raise ValueError(f"runs[{name!r}] exits must name its {probs.shape[0]} exits")
            self.runs[str(name)] = (probs, labels, costs, exits)
        if criterion not in ("entropy", "max_probability"):
            raise ValueError(f"criterion must be 'entropy' or 'max_probability', got {criterion!r}")
        self.criterion = criterion
        self.exit_accuracy = {
            n: tuple(exit_accuracies(p, y).tolist()) for n, (p, y, _, _) in self.runs.items()
        }
        self.backbone = widgets.Dropdown(options=list(self.runs), description="backbone")
        self.threshold = threshold_slider(THRESHOLD_LABELS[criterion], 0.5)
        self.controls = {"backbone": self.backbone, "threshold": self.threshold}

    def compute(self, backbone=None, threshold=0.5) -> dict:
        backbone = next(iter(self.runs)) if backbone is None else backbone
        if backbone not in self.runs:
            raise ValueError(f"backbone must be one of {tuple(self.runs)}, got {backbone!r}")
        probs, labels, costs, exits = self.runs[backbone]
        r = evaluate_policy(
            probs,
            labels,
            threshold,
            self.criterion,
            Gamma=costs.Gamma(exits),
            full_cost=costs.full,
        )
        n = len(labels)
        return {
            "backbone": backbone,
            "threshold": float(threshold),
            "exits": exits,
            "accuracy": r.accuracy,
            "mean_flops": r.mean_flops,
            "cost_fraction": r.cost_fraction,
            "exit_counts": r.exit_counts,
            "exit_fractions": tuple(c / n for c in r.exit_counts),
            "exit_accuracy": self.exit_accuracy[backbone],
        }

    def summary(self, result: dict) -> str:
        return (
            f"backbone {result['backbone']}; {THRESHOLD_LABELS[self.criterion]} = "
            f"{result['threshold']:.2f}\n" + super().summary(result)
        )

    def family(self, result: dict):
        probs, labels, costs, exits = self.runs[result["backbone"]]
        return (
            result["backbone"],
            probs,
            labels,
            costs.Gamma(exits),
            costs.full,
            self.criterion,
            "threshold swept",
        )

    def build_view(self):
        first = next(iter(self.runs.values()))
        view = self.tradeoff_view(first[3])
        view.animate(view.axes[0].title)
        self._backbone_shown = None
        return view

    def draw(self, result: dict) -> None:
        if result["backbone"] != self._backbone_shown:
            if tuple(result["exits"]) != self.histogram.exits:
                self.histogram.set_exits(result["exits"])
            self.histogram.ax.set_title(
                f"where the inputs leave ({result['backbone']})", fontsize=9.5
            )
            self._backbone_shown = result["backbone"]
        self.draw_tradeoff(result, result["exit_counts"])
