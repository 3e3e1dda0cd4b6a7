"""Interactive explorers: each owns its ipywidgets controls and a pure `compute(**values)`.

The pattern every notebook reuses: outputs of every exit are computed once, so moving a
control only re-runs `compute` (a few milliseconds), never the network. Tests set a
control's `.value` and check `result()`, no browser or kernel needed.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from ._checks import check_labels, check_probs
from .cost import CostProfile
from .inference import evaluate_policy, exit_accuracies

CRITERION_OPTIONS = [
    ("normalized entropy H ≤ β (eq. 11)", "entropy"),
    ("max probability ≥ τ", "max_probability"),
]


def _slider(description: str, value: float = 0.5) -> widgets.FloatSlider:
    return widgets.FloatSlider(
        value=value,
        min=0.0,
        max=1.0,
        step=0.01,
        description=description,
        continuous_update=False,
        readout_format=".2f",
        style={"description_width": "initial"},
    )


class Explorer:
    """Base class: `controls` maps names to widgets; `compute(**values)` is pure."""

    controls: dict

    def values(self) -> dict:
        """The controls' current values, as keyword arguments for `compute`."""
        return {name: c.value for name, c in self.controls.items()}

    def result(self) -> dict:
        """`compute` at the controls' current values."""
        return self.compute(**self.values())

    def compute(self, **values) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def plot(self, result: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def summary(self, result: dict) -> str:
        return (
            f"accuracy {100 * result['accuracy']:.1f} %  ·  mean cost "
            f"{result['mean_flops'] / 1e6:.3f} MFLOPs = "
            f"{100 * result['cost_fraction']:.1f} % of the full network"
        )

    def _render(self, **values) -> None:
        result = self.compute(**values)
        self.plot(result)
        plt.show()
        print(self.summary(result))

    def layout(self) -> widgets.Widget:
        return widgets.VBox(list(self.controls.values()))

    def show(self) -> widgets.Widget:
        """Display the controls and a live output (plot + numbers) in the notebook."""
        out = widgets.interactive_output(self._render, self.controls)
        box = widgets.VBox([self.layout(), out])
        display(box)
        return box


def _exit_bars(ax, exits, fractions, title: str, highlight=None) -> None:
    labels = [f"exit {e}" for e in exits]
    colors = [
        "tab:blue" if highlight is None or h else "lightgray"
        for h in (highlight or [True] * len(exits))
    ]
    ax.bar(labels, [100 * f for f in fractions], color=colors)
    ax.set_ylim(0, 100)
    ax.set_title(title)


class ThresholdExplorer(Explorer):
    """Move the exit threshold(s) → accuracy, mean cost and where the inputs leave (§6).

    probs: (E, N, K) outputs of every exit; Gamma: cumulative cost of each exit (FLOPs);
    full_cost: FLOPs of the plain network; exits: block indices, for labels."""

    def __init__(self, probs, labels, Gamma, full_cost=None, exits=None, criterion="entropy"):
        self.probs = check_probs(probs)
        self.labels = check_labels(labels, self.probs.shape[1])
        E = self.probs.shape[0]
        self.Gamma = torch.as_tensor(Gamma, dtype=torch.float64)
        if self.Gamma.shape != (E,):
            raise ValueError(f"Gamma must hold one cost per exit ({E}), got {self.Gamma.shape}")
        self.full_cost = float(self.Gamma[-1] if full_cost is None else full_cost)
        self.exits = tuple(range(1, E + 1)) if exits is None else tuple(exits)
        if len(self.exits) != E:
            raise ValueError(f"exits must name {E} exits, got {self.exits}")
        self.criterion = widgets.Dropdown(
            options=CRITERION_OPTIONS, value=criterion, description="criterion"
        )
        self.shared = widgets.Checkbox(value=True, description="one shared threshold")
        self.threshold = _slider("threshold", 0.5)
        self.per_exit = {
            f"threshold_{e}": _slider(f"threshold at exit {e}") for e in self.exits[:-1]
        }
        self.controls = {
            "criterion": self.criterion,
            "shared": self.shared,
            "threshold": self.threshold,
            **self.per_exit,
        }

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
            "thresholds": tuple(thresholds),
            "accuracy": r.accuracy,
            "mean_flops": r.mean_flops,
            "cost_fraction": r.cost_fraction,
            "exit_counts": r.exit_counts,
            "exit_fractions": tuple(c / n for c in r.exit_counts),
        }

    def plot(self, result: dict) -> None:
        fig, ax = plt.subplots(figsize=(6, 2.6))
        _exit_bars(ax, self.exits, result["exit_fractions"], "where the inputs leave")
        ax.set_ylabel("inputs (%)")


class PlacementExplorer(Explorer):
    """Toggle which early exits exist and move the threshold → per-exit accuracy, cost (§4).

    probs: (E, N, K) outputs of a model with a head at every candidate position
    (`exits`, ending with the final block L); costs: its measured CostProfile."""

    def __init__(self, probs, labels, costs: CostProfile, exits, criterion="entropy"):
        self.probs = check_probs(probs)
        self.labels = check_labels(labels, self.probs.shape[1])
        if not isinstance(costs, CostProfile):
            raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
        self.costs, self.exits = costs, tuple(exits)
        if len(self.exits) != self.probs.shape[0] or self.exits[-1] != costs.num_blocks:
            raise ValueError(
                f"exits must name the {self.probs.shape[0]} exits of probs, "
                f"ending at L={costs.num_blocks}; got {self.exits}"
            )
        if criterion not in ("entropy", "max_probability"):
            raise ValueError(f"criterion must be 'entropy' or 'max_probability', got {criterion!r}")
        self.criterion = criterion
        self.accuracy_per_exit = exit_accuracies(self.probs, self.labels).tolist()
        self.toggles = {
            f"exit_{e}": widgets.Checkbox(value=True, description=f"exit {e}", indent=False)
            for e in self.exits[:-1]
        }
        self.threshold = _slider("threshold", 0.5)
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

    def plot(self, result: dict) -> None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 2.6))
        on = [e in result["exits"] for e in self.exits]
        _exit_bars(a1, self.exits, self.accuracy_per_exit, "accuracy of each exit alone", on)
        a1.set_ylabel("test accuracy (%)")
        fractions = dict(zip(result["exits"], result["exit_fractions"]))
        _exit_bars(
            a2,
            self.exits,
            [fractions.get(e, 0.0) for e in self.exits],
            "where the inputs leave",
            on,
        )
        a2.set_ylabel("inputs (%)")
        fig.tight_layout()
