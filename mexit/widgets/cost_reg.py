"""Cost-regularisation explorer: pick λ among the trained gated networks, choose which exits
exist, move the gate threshold and the entropy threshold → accuracy, mean cost, where the
inputs leave, for the gates and for an entropy threshold on the *same* heads and exits
(§6.1, eq. 9, 11 and 12-14)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from .._checks import check_float, check_labels, check_probs, check_tensor
from ..cost import CostProfile
from ..gates import gate_exits
from ..inference import evaluate_policy
from ..policies import accuracy_cost_curve
from .base import Explorer, exit_bars, threshold_slider


class CostRegExplorer(Explorer):
    """λ (over the cached runs), exit toggles, gate threshold τ and entropy threshold β →
    accuracy, mean cost and exits of the gate policy *and* of the entropy policy of eq. 11
    on the same network's heads and the same exit set.

    runs: {λ: (probs (E, N, K), gates (N, E-1))} of gated networks trained with task loss
    + λ · expected cost, all with the same exits; Gamma: cumulative cost of each exit;
    exits: block index of each exit (the last is L); frontier: optional (cost fractions,
    accuracies) of another policy drawn for reference; costs: the CostProfile of the gated
    networks (γ_f, γ_c with the gates' FLOPs) — when given, one checkbox per early exit lets
    you remove exits (a removed exit's head and gate are not run, Γ is recomputed)."""

    def __init__(
        self,
        runs: dict,
        labels,
        Gamma,
        full_cost=None,
        exits=None,
        frontier=None,
        *,
        costs: CostProfile | None = None,
        beta: float = 0.3,
    ):
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
        if costs is not None:
            if not isinstance(costs, CostProfile):
                raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
            try:
                theirs = costs.Gamma(self.exits)
            except ValueError as err:
                raise ValueError(f"costs do not cover exits {self.exits}: {err}") from err
            if not torch.allclose(theirs, self.Gamma, rtol=1e-6):
                raise ValueError(
                    f"costs must give the same Γ as Gamma for exits {self.exits}: "
                    f"{theirs.tolist()} vs {self.Gamma.tolist()}"
                )
        self.costs = costs
        self.frontier = frontier
        lams = list(self.runs)
        self.lam = widgets.SelectionSlider(
            options=[(f"{v:g}", v) for v in lams],
            value=lams[len(lams) // 2],
            description="λ",
            continuous_update=False,
        )
        self.threshold = threshold_slider("gate threshold τ", 0.5)
        self.beta = threshold_slider("entropy threshold β (eq. 11)", check_float(beta, "beta"))
        self.toggles = (
            {}
            if costs is None
            else {
                f"exit_{e}": widgets.Checkbox(value=True, description=f"exit {e}", indent=False)
                for e in self.exits[:-1]
            }
        )
        self._curves = {}
        self.controls = {
            "lam": self.lam,
            **self.toggles,
            "threshold": self.threshold,
            "beta": self.beta,
        }

    def layout(self) -> widgets.Widget:
        rows = [self.lam]
        if self.toggles:
            rows.append(widgets.HBox(list(self.toggles.values())))
        return widgets.VBox([*rows, self.threshold, self.beta])

    def _exit_set(self, toggles) -> tuple:
        unknown = [k for k in toggles if k not in self.toggles]
        if unknown:
            raise ValueError(f"unknown controls {unknown}; exit toggles are {list(self.toggles)}")
        chosen = tuple(e for e in self.exits[:-1] if toggles.get(f"exit_{e}", True))
        return chosen + (self.exits[-1],)

    def compute(self, lam=None, threshold=0.5, beta=0.3, **toggles) -> dict:
        lam = next(iter(self.runs)) if lam is None else lam
        if lam not in self.runs:
            raise ValueError(f"lam must be one of the trained λ {list(self.runs)}, got {lam!r}")
        threshold = check_float(threshold, "threshold", low=0.0, high=1.0)
        beta = check_float(beta, "beta", low=0.0, high=1.0)
        exits = self._exit_set(toggles)
        rows = [self.exits.index(e) for e in exits]
        Gamma = self.Gamma if self.costs is None else self.costs.Gamma(exits)
        probs, gates = self.runs[lam]
        probs, gates = probs[rows], gates[:, rows[:-1]]  # a removed exit has no head, no gate
        idx = gate_exits(gates, threshold)
        correct = probs.argmax(-1).gather(0, idx[None])[0] == self.labels
        mean_flops = float(Gamma[idx].mean())
        counts = tuple(torch.bincount(idx, minlength=len(exits)).tolist())
        ent = evaluate_policy(probs, self.labels, beta, "entropy", Gamma, self.full_cost)
        n = len(self.labels)
        return {
            "lam": lam,
            "threshold": threshold,
            "beta": beta,
            "exits": exits,
            "accuracy": float(correct.float().mean()),
            "mean_flops": mean_flops,
            "cost_fraction": mean_flops / self.full_cost,
            "exit_counts": counts,
            "exit_fractions": tuple(c / n for c in counts),
            "entropy_accuracy": ent.accuracy,
            "entropy_mean_flops": ent.mean_flops,
            "entropy_cost_fraction": ent.cost_fraction,
            "entropy_exit_counts": ent.exit_counts,
        }

    def entropy_curve(self, lam, exits):
        """The entropy threshold swept on run λ's heads with this exit set (cached)."""
        key = (lam, tuple(exits))
        if key not in self._curves:
            rows = [self.exits.index(e) for e in exits]
            Gamma = self.Gamma if self.costs is None else self.costs.Gamma(exits)
            self._curves[key] = accuracy_cost_curve(
                self.runs[lam][0][rows], self.labels, "entropy", Gamma, self.full_cost, n_points=101
            )
        return self._curves[key]

    def summary(self, result: dict) -> str:
        return (
            super().summary(result)
            + f"  (gates, τ = {result['threshold']:.2f})\nentropy β = {result['beta']:.2f}"
            f" on the same heads: accuracy {100 * result['entropy_accuracy']:.1f} %  ·  "
            f"mean cost {100 * result['entropy_cost_fraction']:.1f} % of the full network"
        )

    def plot(self, result: dict) -> None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 2.8))
        on = [e in result["exits"] for e in self.exits]
        fractions = dict(zip(result["exits"], result["exit_fractions"]))
        exit_bars(
            a1,
            self.exits,
            [fractions.get(e, 0.0) for e in self.exits],
            f"where the inputs leave by the gates (λ = {result['lam']:g})",
            on,
        )
        a1.set_ylabel("inputs (%)")
        if self.frontier is not None:
            cost, acc = self.frontier
            a2.plot(
                100 * torch.as_tensor(cost),
                100 * torch.as_tensor(acc),
                ":",
                color="gray",
                label="reference network, entropy",
            )
        curve = self.entropy_curve(result["lam"], result["exits"])
        a2.plot(
            100 * curve.cost_fraction,
            100 * curve.accuracy,
            "-",
            color="tab:blue",
            label="same heads, entropy β",
        )
        a2.plot(
            100 * result["entropy_cost_fraction"],
            100 * result["entropy_accuracy"],
            "bo",
            ms=8,
            label=f"β = {result['beta']:.2f}",
        )
        a2.plot(
            100 * result["cost_fraction"],
            100 * result["accuracy"],
            "r*",
            ms=14,
            label=f"gates, τ = {result['threshold']:.2f}",
        )
        a2.set(xlabel="mean cost (% of the full network)", ylabel="test accuracy (%)")
        a2.legend(loc="lower right", fontsize=7)
        fig.tight_layout()
