"""Information-plane explorer: β of the local IB objective (over cached runs), a layer, and
the exit threshold → position in the information plane, accuracy, cost (§7.3)."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt

from .._checks import check_labels, check_probs
from ..cost import CostProfile
from ..inference import evaluate_policy, exit_accuracies
from .base import Explorer, threshold_slider


class InformationExplorer(Explorer):
    """Pick β (one trained run each), a layer and a threshold.

    planes: {β: [(I(X;F_i), I(F_i;Y)) for each layer i]} in bits; probs: {β: (E, N, K) exit
    outputs}; costs: one CostProfile or {β: CostProfile}; exits: block indices (one exit per
    layer of the planes)."""

    def __init__(self, planes: Mapping, probs: Mapping, labels, costs, exits):
        if not isinstance(planes, Mapping) or not planes:
            raise TypeError("planes must be a non-empty dict {beta: [(I_XT, I_TY) per layer]}")
        if not isinstance(probs, Mapping) or set(probs) != set(planes):
            raise ValueError("probs must be a dict with the same betas as planes")
        self.betas = sorted(float(b) for b in planes)
        self.planes = {float(b): [tuple(map(float, p)) for p in v] for b, v in planes.items()}
        self.probs = {float(b): check_probs(v, f"probs[{b}]") for b, v in probs.items()}
        self.exits = tuple(exits)
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
        self.exit_accuracy = {
            b: tuple(exit_accuracies(p, self.labels).tolist()) for b, p in self.probs.items()
        }
        self.beta = widgets.Dropdown(options=self.betas, description="β")
        self.layer = widgets.IntSlider(
            value=self.exits[-1], min=self.exits[0], max=self.exits[-1], description="layer i"
        )
        self.threshold = threshold_slider("threshold", 0.5)
        self.controls = {"beta": self.beta, "layer": self.layer, "threshold": self.threshold}

    def compute(self, beta=None, layer=None, threshold=0.5) -> dict:
        beta = self.betas[0] if beta is None else float(beta)
        if beta not in self.planes:
            raise ValueError(f"beta must be one of the cached runs {self.betas}, got {beta}")
        layer = self.exits[-1] if layer is None else layer
        if layer not in self.exits:
            raise ValueError(f"layer must be one of {self.exits}, got {layer!r}")
        k = self.exits.index(layer)
        costs = self.costs[beta]
        r = evaluate_policy(
            self.probs[beta],
            self.labels,
            threshold,
            Gamma=costs.Gamma(self.exits),
            full_cost=costs.full,
        )
        i_xt, i_ty = self.planes[beta][k]
        return {
            "beta": beta,
            "layer": layer,
            "I_XT": i_xt,
            "I_TY": i_ty,
            "exit_accuracy": self.exit_accuracy[beta][k],
            "accuracy": r.accuracy,
            "mean_flops": r.mean_flops,
            "cost_fraction": r.cost_fraction,
            "exit_counts": r.exit_counts,
        }

    def summary(self, result: dict) -> str:
        return (
            f"β = {result['beta']:g}, layer {result['layer']}: I(X;F) = {result['I_XT']:.2f} "
            f"bits, I(F;Y) = {result['I_TY']:.2f} bits, exit accuracy "
            f"{100 * result['exit_accuracy']:.1f} %\nearly exit at this threshold: "
            + super().summary(result)
        )

    def plot(self, result: dict) -> None:
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        for b in self.betas:
            xs, ys = zip(*self.planes[b])
            alpha = 1.0 if b == result["beta"] else 0.3
            ax.plot(xs, ys, "o-", alpha=alpha, label=f"β = {b:g}")
        ax.plot(result["I_XT"], result["I_TY"], "r*", ms=16, label=f"layer {result['layer']}")
        ax.set(xlabel="I(X; F_i) (bits)", ylabel="I(F_i; Y) (bits)", title="information plane")
        ax.legend(fontsize=8)
        fig.tight_layout()
