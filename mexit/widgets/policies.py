"""Policy explorer: every exit criterion of §6, one shared threshold or one per exit, which
exits exist (placement, §4), and the gap to the oracle (the least cost any policy could pay
for the same accuracy with the same exits)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from .._checks import check_float, check_labels, check_probs
from ..cost import CostProfile
from ..policies import (
    LearnedConfidence,
    _check_exits_of,
    _check_policy_thresholds,
    _sign,
    confidence_scores,
    exits_from_scores,
    oracle_curve,
    threshold_range,
)
from .base import Explorer, exit_bars

POLICY_OPTIONS = [
    ("normalized entropy H ≤ β (eq. 11)", "entropy"),
    ("unnormalized entropy ≤ β nats (BranchyNet)", "unnormalized_entropy"),
    ("max probability ≥ τ", "max_probability"),
    ("learned confidence g_i ≥ τ", "learned"),
]


def _slider(description, lo, hi, value):
    return widgets.FloatSlider(
        value=value,
        min=lo,
        max=hi,
        step=0.01,
        description=description,
        continuous_update=False,
        readout_format=".2f",
        style={"description_width": "initial"},
    )


class PolicyExplorer(Explorer):
    """Criterion, shared or per-exit thresholds, and (with `costs`) which early exits exist →
    accuracy, cost, exit histogram, and the cost of this policy divided by the oracle's at
    the same accuracy with the same exits (§6; placement as in §4).

    probs: (E, N, K) outputs of every exit; Gamma: cumulative cost of each exit (FLOPs);
    full_cost: FLOPs of the plain network; learned: a fitted LearnedConfidence (optional:
    without it the 'learned' criterion is not offered); costs: the model's CostProfile
    (optional: with it, one toggle per early exit switches it off, and Γ of the exits kept is
    recomputed without the heads switched off; nothing is retrained, the outputs of the
    exits kept do not change). Sliders are in the criterion's units (nats for the
    unnormalized entropy); switching criterion resets them to its range."""

    def __init__(
        self,
        probs,
        labels,
        Gamma,
        full_cost=None,
        exits=None,
        learned=None,
        criterion="entropy",
        *,
        costs=None,
    ):
        self.probs = check_probs(probs)
        self.labels = check_labels(labels, self.probs.shape[1])
        E, self.num_classes = self.probs.shape[0], self.probs.shape[-1]
        self.Gamma = torch.as_tensor(Gamma, dtype=torch.float64)
        if self.Gamma.shape != (E,):
            raise ValueError(f"Gamma must hold one cost per exit ({E}), got {self.Gamma.shape}")
        self.full_cost = float(self.Gamma[-1] if full_cost is None else full_cost)
        if not self.full_cost > 0:
            raise ValueError(f"full_cost must be positive, got {self.full_cost}")
        self.exits = tuple(range(1, E + 1)) if exits is None else tuple(exits)
        if len(self.exits) != E:
            raise ValueError(f"exits must name {E} exits, got {self.exits}")
        if costs is not None:
            if not isinstance(costs, CostProfile):
                raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
            self.exits = _check_exits_of(self.exits, E, costs)
            expected = costs.Gamma(self.exits).double()
            if not torch.allclose(expected, self.Gamma, rtol=1e-6):
                raise ValueError(
                    f"costs must be the profile Gamma comes from: costs.Gamma(exits) = "
                    f"{expected.tolist()}, Gamma = {self.Gamma.tolist()}"
                )
        self.costs = costs
        if learned is not None and not isinstance(learned, LearnedConfidence):
            raise TypeError(f"learned must be a LearnedConfidence, got {type(learned).__name__}")
        self.learned = learned
        options = [o for o in POLICY_OPTIONS if o[1] != "learned" or learned is not None]
        if criterion not in [v for _, v in options]:
            raise ValueError(
                f"criterion must be one of {[v for _, v in options]}, got {criterion!r}"
            )
        # every control only re-reads these: scores of every early exit, per criterion
        self.scores = {c: confidence_scores(self.probs, c, learned) for _, c in options}
        self.correct = self.probs.argmax(-1) == self.labels
        self._oracles = {}
        self.oracle = self._oracle(self.exits[:-1])
        self.criterion = widgets.Dropdown(options=options, value=criterion, description="criterion")
        self.shared = widgets.Checkbox(value=True, description="one shared threshold")
        lo, hi = sorted(threshold_range(criterion, self.num_classes))
        mid = (lo + hi) / 2
        self.threshold = _slider("threshold", lo, hi, mid)
        self.per_exit = {
            f"threshold_{e}": _slider(f"threshold at exit {e}", lo, hi, mid)
            for e in self.exits[:-1]
        }
        self.toggles = (
            {}
            if costs is None
            else {
                f"exit_{e}": widgets.Checkbox(value=True, description=f"exit {e}", indent=False)
                for e in self.exits[:-1]
            }
        )
        self.controls = {
            "criterion": self.criterion,
            "shared": self.shared,
            "threshold": self.threshold,
            **self.per_exit,
            **self.toggles,
        }
        self.criterion.observe(self._reset_sliders, names="value")

    def layout(self) -> widgets.Widget:
        rows = [self.criterion, self.shared, self.threshold, *self.per_exit.values()]
        if self.toggles:
            rows.insert(0, widgets.HBox([widgets.Label("exits:"), *self.toggles.values()]))
        return widgets.VBox(rows)

    def _reset_sliders(self, change) -> None:
        lo, hi = sorted(threshold_range(change["new"], self.num_classes))
        for s in [self.threshold, *self.per_exit.values()]:
            value = min(max(s.value, lo), hi) if (s.min, s.max) == (lo, hi) else (lo + hi) / 2
            s.min, s.max = min(s.min, lo), max(s.max, hi)  # widen first, then narrow
            s.value = value
            s.min, s.max = lo, hi

    def _Gamma_of(self, chosen: tuple) -> torch.Tensor:
        if self.costs is None:
            return self.Gamma
        return self.costs.Gamma(chosen + (self.exits[-1],)).double()

    def _oracle(self, chosen: tuple):
        if chosen not in self._oracles:
            rows = [self.exits.index(e) for e in chosen] + [len(self.exits) - 1]
            self._oracles[chosen] = oracle_curve(
                self.probs[rows], self.labels, self._Gamma_of(chosen), self.full_cost
            )
        return self._oracles[chosen]

    def compute(self, criterion="entropy", shared=True, threshold=0.5, **rest) -> dict:
        if criterion not in self.scores:
            raise ValueError(f"criterion must be one of {tuple(self.scores)}, got {criterion!r}")
        unknown = [k for k in rest if k not in self.per_exit and k not in self.toggles]
        if unknown:
            raise ValueError(
                f"unknown controls {unknown}: this explorer has {list(self.controls)} "
                "(exit toggles only when built with costs=)"
            )
        early = self.exits[:-1]
        chosen = tuple(e for e in early if rest.get(f"exit_{e}", True))
        lo, hi = sorted(threshold_range(criterion, self.num_classes))
        own = [] if shared else [f"threshold_{e}" for e in early if f"threshold_{e}" in rest]
        used = own if len(own) == len(early) else ["threshold", *own]
        for name in used:  # each control named as it was passed
            check_float(rest.get(name, threshold), name, low=lo, high=hi)
        if shared:
            thresholds = [threshold] * len(early)
        else:
            thresholds = [rest.get(f"threshold_{e}", threshold) for e in early]
        t = _check_policy_thresholds(thresholds, len(early), criterion, self.num_classes)
        rows = [early.index(e) for e in chosen]
        positions = torch.tensor(rows + [len(self.exits) - 1])
        if rows:
            sub = exits_from_scores(self.scores[criterion][rows], _sign(criterion) * t[rows])
        else:
            sub = torch.full((len(self.labels),), 0, dtype=torch.long)
        idx = positions[sub]  # exit position among all E exits
        Gamma = self._Gamma_of(chosen)
        accuracy = float(self.correct.gather(0, idx[None]).float().mean())
        mean_flops = float(Gamma[sub].mean())
        cost_fraction = mean_flops / self.full_cost
        oracle_cost = self._oracle(chosen).cost_at(accuracy)
        counts = tuple(torch.bincount(idx, minlength=len(self.exits)).tolist())
        n = len(self.labels)
        return {
            "criterion": criterion,
            "exits": chosen + (self.exits[-1],),
            "thresholds": tuple(float(x) for x in t[rows]),
            "accuracy": accuracy,
            "mean_flops": mean_flops,
            "cost_fraction": cost_fraction,
            "exit_counts": counts,
            "exit_fractions": tuple(c / n for c in counts),
            "oracle_cost_fraction": oracle_cost,
            "gap_to_oracle": cost_fraction / oracle_cost if oracle_cost > 0 else float("inf"),
        }

    def summary(self, result: dict) -> str:
        exits = ", ".join(str(e) for e in result["exits"])
        return super().summary(result) + (
            f"\nexits {exits}: the oracle reaches this accuracy with "
            f"{100 * result['oracle_cost_fraction']:.1f} % → this policy pays "
            f"{result['gap_to_oracle']:.2f}× the least possible cost"
        )

    def plot(self, result: dict) -> None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 2.8))
        on = [e in result["exits"] for e in self.exits]
        exit_bars(a1, self.exits, result["exit_fractions"], "where the inputs leave", on)
        a1.set_ylabel("inputs (%)")
        oracle = self._oracle(result["exits"][:-1])
        a2.plot(
            100 * oracle.cost_fraction,
            100 * oracle.accuracy,
            "k--",
            label="oracle, these exits (least cost)",
        )
        a2.plot(
            100 * result["cost_fraction"],
            100 * result["accuracy"],
            "r*",
            ms=14,
            label="this policy",
        )
        a2.set(
            xlabel="mean cost (% of the full network)",
            ylabel="test accuracy (%)",
            title="the oracle is the upper-left envelope",
        )
        a2.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
