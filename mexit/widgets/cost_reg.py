"""Cost-regularisation explorer: pick λ among the trained gated networks and move the gate
threshold → accuracy, mean cost, where the inputs leave (§6.1, eq. 9 and 12-14)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from .._checks import check_float, check_labels, check_probs, check_tensor
from ..gates import gate_exits
from .base import Explorer, exit_bars, threshold_slider


class CostRegExplorer(Explorer):
    """λ (over the cached runs) and the gate threshold τ → accuracy, mean cost, exits.

    runs: {λ: (probs (E, N, K), gates (N, E-1))} of gated networks trained with task loss
    + λ · expected cost, all with the same exits; Gamma: cumulative cost of each exit;
    frontier: optional (cost fractions, accuracies) of another policy drawn for reference."""

    def __init__(self, runs: dict, labels, Gamma, full_cost=None, exits=None, frontier=None):
        if not isinstance(runs, dict) or not runs:
            raise ValueError("runs must be a non-empty dict {λ: (probs, gates)}")
        self.runs = {}
        for lam, pair in sorted(runs.items()):
            lam = check_float(lam, "λ (runs key)", low=0.0)
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"runs[{lam}] must be a pair (probs, gates)")
            probs = check_probs(pair[0], f"runs[{lam}] probs")
            gates = check_tensor(pair[1], f"runs[{lam}] gates", ndim=2, dtype_kind="float")
            if gates.shape != (probs.shape[1], probs.shape[0] - 1):
                raise ValueError(
                    f"runs[{lam}] gates must have shape (N, E-1), got {tuple(gates.shape)}"
                )
            self.runs[lam] = (probs, gates)
        first = next(iter(self.runs.values()))[0]
        E, N = first.shape[:2]
        if any(p.shape[:2] != (E, N) for p, _ in self.runs.values()):
            raise ValueError("every run must have the same exits and inputs")
        self.labels = check_labels(labels, N)
        self.Gamma = torch.as_tensor(Gamma, dtype=torch.float64)
        if self.Gamma.shape != (E,):
            raise ValueError(f"Gamma must hold one cost per exit ({E}), got {self.Gamma.shape}")
        self.full_cost = float(self.Gamma[-1] if full_cost is None else full_cost)
        self.exits = tuple(range(1, E + 1)) if exits is None else tuple(exits)
        if len(self.exits) != E:
            raise ValueError(f"exits must name {E} exits, got {self.exits}")
        self.frontier = frontier
        lams = list(self.runs)
        self.lam = widgets.SelectionSlider(
            options=[(f"{v:g}", v) for v in lams],
            value=lams[len(lams) // 2],
            description="λ",
            continuous_update=False,
        )
        self.threshold = threshold_slider("gate threshold τ", 0.5)
        self.controls = {"lam": self.lam, "threshold": self.threshold}

    def compute(self, lam=None, threshold=0.5) -> dict:
        lam = next(iter(self.runs)) if lam is None else lam
        if lam not in self.runs:
            raise ValueError(f"lam must be one of the trained λ {list(self.runs)}, got {lam!r}")
        probs, gates = self.runs[lam]
        idx = gate_exits(gates, threshold)
        correct = probs.argmax(-1).gather(0, idx[None])[0] == self.labels
        mean_flops = float(self.Gamma[idx].mean())
        counts = tuple(torch.bincount(idx, minlength=len(self.exits)).tolist())
        n = len(self.labels)
        return {
            "lam": lam,
            "threshold": threshold,
            "accuracy": float(correct.float().mean()),
            "mean_flops": mean_flops,
            "cost_fraction": mean_flops / self.full_cost,
            "exit_counts": counts,
            "exit_fractions": tuple(c / n for c in counts),
        }

    def plot(self, result: dict) -> None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 2.8))
        exit_bars(
            a1,
            self.exits,
            result["exit_fractions"],
            f"where the inputs leave (λ = {result['lam']:g})",
        )
        a1.set_ylabel("inputs (%)")
        if self.frontier is not None:
            cost, acc = self.frontier
            a2.plot(
                100 * torch.as_tensor(cost),
                100 * torch.as_tensor(acc),
                "-",
                color="gray",
                label="threshold only (06)",
            )
        a2.plot(
            100 * result["cost_fraction"],
            100 * result["accuracy"],
            "r*",
            ms=14,
            label="gated network",
        )
        a2.set(xlabel="mean cost (% of the full network)", ylabel="test accuracy (%)")
        a2.legend(loc="lower right")
        fig.tight_layout()
