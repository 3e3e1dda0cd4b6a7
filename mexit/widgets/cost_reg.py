"""Cost-regularisation explorer: pick λ among the trained gated networks, choose which exits
exist, move the gate threshold and the entropy threshold → accuracy, mean cost, where the
inputs leave, for the gates and for an entropy threshold on the *same* heads and exits
(§6.1, eq. 9, 11 and 12-14)."""

from __future__ import annotations

import ipywidgets as widgets
import torch

from .._checks import check_float, check_labels, check_probs, check_tensor
from ..cost import CostProfile
from ..gates import gate_exits
from ..inference import evaluate_policy
from ..policies import Curve, _exits_for_thresholds, accuracy_cost_curve, oracle_curve
from .base import Explorer, cost_text, exit_toggles, exits_taken, threshold_slider


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
            description="network trained with cost weight λ",
            continuous_update=False,
            style={"description_width": "initial"},
            layout=widgets.Layout(width="520px"),
        )
        self.threshold = threshold_slider("gates: exit when gate ≥ τ", 0.5)
        self.beta = threshold_slider(
            "same heads: exit when entropy ≤ β (eq. 11)", check_float(beta, "beta")
        )
        self.toggles = {} if costs is None else exit_toggles(self.exits[:-1])
        self._curves, self._gate_curves = {}, {}
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
            if len(rows) == 1:  # the final exit alone: one point
                probs = self.runs[lam][0][rows[0]]
                acc = float((probs.argmax(-1) == self.labels).double().mean())
                self._curves[key] = ([float(Gamma[0]) / self.full_cost], [acc])
                return self._curves[key]
            self._curves[key] = accuracy_cost_curve(
                self.runs[lam][0][rows], self.labels, "entropy", Gamma, self.full_cost, n_points=101
            )
        return self._curves[key]

    def gate_curve(self, lam, exits) -> tuple[Curve, Curve]:
        """(the gate threshold τ swept, the oracle) on run λ's heads with this exit set."""
        key = (lam, tuple(exits))
        if key not in self._gate_curves:
            rows = [self.exits.index(e) for e in exits]
            Gamma = self.Gamma if self.costs is None else self.costs.Gamma(exits)
            probs, gates = self.runs[lam]
            probs, gates = probs[rows], gates[:, rows[:-1]]
            correct = probs.argmax(-1) == self.labels  # (E, N)
            taus = torch.linspace(1, 0, 101, dtype=torch.float64)
            if len(rows) > 1:
                idx = _exits_for_thresholds(gates.T.double(), taus)  # (P, N): first g ≥ τ
            else:
                idx = torch.zeros(len(taus), len(self.labels), dtype=torch.long)
            acc = correct.gather(0, idx).double().mean(1)
            flops = Gamma.double()[idx].mean(1)
            gate = Curve(tuple(taus.tolist()), acc, flops, flops / self.full_cost)
            oracle = oracle_curve(probs, self.labels, Gamma, self.full_cost)
            self._gate_curves[key] = (gate, oracle)
        return self._gate_curves[key]

    def summary(self, result: dict) -> str:
        kept = ", ".join(str(e) for e in result["exits"])
        return (
            f"λ = {result['lam']:g}; exits kept: {kept}\n"
            f"gates (exit when gate ≥ τ = {result['threshold']:.2f}): accuracy "
            f"{100 * result['accuracy']:.1f} %  ·  mean cost "
            f"{cost_text(result['mean_flops'], result['cost_fraction'])}\n"
            f"exits taken by the gates: {exits_taken(result['exits'], result['exit_counts'])}\n"
            f"same heads, exit when entropy ≤ β = {result['beta']:.2f}: accuracy "
            f"{100 * result['entropy_accuracy']:.1f} %  ·  mean cost "
            f"{cost_text(result['entropy_mean_flops'], result['entropy_cost_fraction'])}"
        )

    def build_view(self):
        view = self.tradeoff_view(self.exits, title="accuracy vs cost (same heads)")
        self.histogram.ax.set_title("where the inputs leave by the gates")
        plane = self.plane
        plane.family.set_label("gates, τ swept")
        plane.point.set_label("gates at τ")
        plane.point.set_marker("*")
        plane.point.set_markersize(14)
        plane.add_curve("entropy", "entropy, β swept", color="tab:green", lw=1.2)
        plane.add_point("beta", "entropy at β", marker="o", color="tab:green", ms=8, mec="white")
        if self.frontier is not None:
            plane.add_curve("frontier", "reference network, entropy", color="gray", ls=":")
        self._key = None
        return view

    def draw(self, result: dict) -> None:
        counts, on = self.spread(self.exits, result["exits"], result["exit_counts"])
        self.histogram.update(counts, on)
        key = (result["lam"], result["exits"])
        if key != self._key:
            gate, oracle = self.gate_curve(*key)
            extra = {"entropy": self.entropy_curve(*key)}
            if self.frontier is not None:
                extra["frontier"] = self.frontier
            self.plane.set_curves(gate, oracle, **extra)
            self._key = key
        self.plane.move(result["cost_fraction"], result["accuracy"])
        self.plane.move(result["entropy_cost_fraction"], result["entropy_accuracy"], name="beta")
