"""Information-plane explorer: β of the local IB objective (over cached runs), the exit set
(which layers get an exit) and the exit threshold → the chosen exits in the information
plane, accuracy and cost of early exit through them (§7.3, §4)."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets

from .._checks import check_labels, check_probs
from ..cost import CostProfile
from ..inference import evaluate_policy, exit_accuracies
from .base import THRESHOLD_LABELS, Explorer, exit_toggles, threshold_slider


class InformationExplorer(Explorer):
    """Pick β (one trained run each), which early exits exist (one toggle per layer, the
    final exit L always on) and a threshold on the normalized entropy (eq. 11).

    planes: {β: [(I(X;T_i), I(T_i;Y)) for each layer i]} in bits; probs: {β: (E, N, K) exit
    outputs}; costs: one CostProfile or {β: CostProfile}; exits: block indices (one exit per
    layer of the planes, increasing, ending at L)."""

    def __init__(self, planes: Mapping, probs: Mapping, labels, costs, exits):
        if not isinstance(planes, Mapping) or not planes:
            raise TypeError("planes must be a non-empty dict {beta: [(I_XT, I_TY) per layer]}")
        if not isinstance(probs, Mapping) or set(probs) != set(planes):
            raise ValueError("probs must be a dict with the same betas as planes")
        self.betas = sorted(float(b) for b in planes)
        self.planes = {float(b): [tuple(map(float, p)) for p in v] for b, v in planes.items()}
        self.probs = {float(b): check_probs(v, f"probs[{b}]") for b, v in probs.items()}
        self.exits = tuple(exits)
        if list(self.exits) != sorted(set(self.exits)) or not self.exits:
            raise ValueError(f"exits must be increasing block indices, got {self.exits}")
        for b in self.betas:
            if len(self.planes[b]) != len(self.exits) or self.probs[b].shape[0] != len(self.exits):
                raise ValueError(f"run β = {b} must give one plane point and one exit per layer")
        N = next(iter(self.probs.values())).shape[1]
        self.labels = check_labels(labels, N)
        if isinstance(costs, CostProfile):
            costs = dict.fromkeys(self.betas, costs)
        if not isinstance(costs, Mapping):
            raise TypeError("costs must be a CostProfile or a dict {beta: CostProfile}")
        self.costs = {float(b): c for b, c in costs.items()}
        if set(self.costs) != set(self.betas) or not all(
            isinstance(c, CostProfile) for c in self.costs.values()
        ):
            raise ValueError("costs must give a CostProfile for every beta")
        if any(c.num_blocks != self.exits[-1] for c in self.costs.values()):
            raise ValueError(f"costs must describe L = {self.exits[-1]} blocks (the last exit)")
        self.exit_accuracy = {
            b: tuple(exit_accuracies(p, self.labels).tolist()) for b, p in self.probs.items()
        }
        self.beta = widgets.Dropdown(
            options=[(f"{b:g}", b) for b in self.betas],
            description="trained with IB weight β(IB), eq. 15",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="auto"),
        )
        self.toggles = exit_toggles(self.exits[:-1])
        self.threshold = threshold_slider(THRESHOLD_LABELS["entropy"], 0.5)
        self.controls = {"beta": self.beta, **self.toggles, "threshold": self.threshold}

    def layout(self) -> widgets.Widget:
        return widgets.VBox([self.beta, widgets.HBox(list(self.toggles.values())), self.threshold])

    def compute(self, beta=None, threshold=0.5, **toggles) -> dict:
        beta = self.betas[0] if beta is None else float(beta)
        if beta not in self.planes:
            raise ValueError(f"beta must be one of the cached runs {self.betas}, got {beta}")
        unknown = set(toggles) - set(self.toggles)
        if unknown:
            raise ValueError(f"toggles must name early exits {sorted(self.toggles)}: {unknown}")
        exits = tuple(e for e in self.exits[:-1] if toggles.get(f"exit_{e}", True))
        exits += (self.exits[-1],)
        rows = [self.exits.index(e) for e in exits]
        costs = self.costs[beta]
        r = evaluate_policy(
            self.probs[beta][rows],
            self.labels,
            threshold,
            Gamma=costs.Gamma(exits),
            full_cost=costs.full,
        )
        return {
            "beta": beta,
            "threshold": float(threshold),
            "exits": exits,
            "plane": tuple(self.planes[beta][k] for k in rows),
            "exit_accuracy": tuple(self.exit_accuracy[beta][k] for k in rows),
            "accuracy": r.accuracy,
            "mean_flops": r.mean_flops,
            "cost_fraction": r.cost_fraction,
            "exit_counts": r.exit_counts,
        }

    def summary(self, result: dict) -> str:
        parts = "\n".join(
            f"  exit {e}: I(T;Y) = {p[1]:.2f} bits, alone {100 * a:.1f} %"
            for e, p, a in zip(result["exits"], result["plane"], result["exit_accuracy"])
        )
        return (
            f"β(IB) = {result['beta']:g}; {THRESHOLD_LABELS['entropy']} = "
            f"{result['threshold']:.2f}\n" + super().summary(result) + "\n" + parts
        )

    def family(self, result: dict):
        beta, exits = result["beta"], result["exits"]
        rows = [self.exits.index(e) for e in exits]
        costs = self.costs[beta]
        return (
            (beta, exits),
            self.probs[beta][rows],
            self.labels,
            costs.Gamma(exits),
            costs.full,
            "entropy",
            "these exits, β swept",
        )

    def build_view(self):
        view = self.tradeoff_view(self.exits, extra=1)
        ax = view.axes[1]
        self._runs = {}
        for b in self.betas:
            xs, ys = zip(*self.planes[b])
            (self._runs[b],) = ax.plot(xs, ys, "o-", ms=3, lw=1, label=rf"$\beta_{{IB}}$ = {b:g}")
        (self._placed,) = ax.plot([], [], "r*", ms=12, label="exits kept (this run)")
        view.animate(self._placed)
        ax.set(
            xlabel=r"$I(X; T)$ (bits, upper bound)",
            ylabel=r"$I(T; Y)$ (bits, estimate)",
            title="information plane, one point per layer",
        )
        ax.title.set_fontsize(9)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, fontsize=7, frameon=False)
        view.resize(12.5, 3.7)
        view.fig.subplots_adjust(bottom=0.36)
        view.animate(*self._runs.values())
        self._beta_shown = None
        return view

    def draw(self, result: dict) -> None:
        if result["beta"] != self._beta_shown:
            for b, line in self._runs.items():
                line.set_alpha(1.0 if b == result["beta"] else 0.25)
            self._beta_shown = result["beta"]
        xs, ys = zip(*result["plane"])
        self._placed.set_data(xs, ys)
        counts, on = self.spread(self.exits, result["exits"], result["exit_counts"])
        self.draw_tradeoff(result, counts, on)
