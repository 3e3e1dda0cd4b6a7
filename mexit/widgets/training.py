"""Training explorers (§5): compare how a multi-exit network was trained, at a threshold.

- `SchemeExplorer`: α scheme of joint training (eq. 6) + exit placement + threshold;
- `StagesExplorer`: how many layer-wise stages are trained (§5.3) + exit toggles + threshold;
- `HeadKindExplorer`: which head (neural or scikit-learn) sits at each exit of a frozen
  backbone (§5.4) + threshold.

Every trained network's exit outputs are computed beforehand: the controls never retrain.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch

from .._checks import check_labels, check_probs
from ..cost import CostProfile, cumulative_costs
from ..inference import evaluate_policy, exit_accuracies
from .base import THRESHOLD_LABELS, Explorer, exit_toggles, threshold_slider
from .placement import PlacementExplorer

BETA = THRESHOLD_LABELS["entropy"]


def _alone_panel(ax, exits, accuracy, title="each exit alone"):
    """Bars of each exit's accuracy alone on `ax`; returns the bars (recoloured on toggles)."""
    x = np.arange(len(exits))
    bars = ax.bar(x, [100 * a for a in accuracy], color="tab:blue")
    ax.set_xticks(x, [str(e) for e in exits])
    ax.set_xlabel("exit (block)")
    ax.set(ylim=(0, 100), ylabel="test accuracy (%)", title=title)
    ax.title.set_fontsize(10)
    return list(bars)


def _check_costs(costs) -> CostProfile:
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    return costs


def _policy(probs, labels, threshold, Gamma, full_cost) -> dict:
    r = evaluate_policy(probs, labels, threshold, Gamma=Gamma, full_cost=full_cost)
    n = len(labels)
    return {
        "accuracy": r.accuracy,
        "mean_flops": r.mean_flops,
        "cost_fraction": r.cost_fraction,
        "exit_counts": r.exit_counts,
        "exit_fractions": tuple(c / n for c in r.exit_counts),
    }


class SchemeExplorer(Explorer):
    """Pick the α scheme a network was jointly trained with, toggle exits, move the threshold
    → per-exit accuracy, accuracy and cost of the early-exit policy (§5.1), beside the
    accuracy–cost plane of that network with those exits.

    probs_by_scheme: {scheme name: (E, N, K) test outputs of the network trained with it};
    every network has the same architecture (`exits`, `costs`)."""

    def __init__(self, probs_by_scheme: dict, labels, costs: CostProfile, exits):
        if not isinstance(probs_by_scheme, dict) or not probs_by_scheme:
            raise TypeError("probs_by_scheme must be a non-empty dict {scheme: probs (E, N, K)}")
        self.costs, self.exits = _check_costs(costs), tuple(exits)
        self.by_scheme = {
            name: PlacementExplorer(
                check_probs(p, f"probs_by_scheme[{name!r}]"), labels, costs, exits
            )
            for name, p in probs_by_scheme.items()
        }
        first = next(iter(self.by_scheme))
        self.scheme = widgets.Dropdown(
            options=list(self.by_scheme),
            value=first,
            description="trained with α scheme",
            style={"description_width": "initial"},
        )
        self.toggles = self.by_scheme[first].toggles  # the same toggles drive every scheme
        self.threshold = threshold_slider(BETA, 0.5)
        self.controls = {"scheme": self.scheme, **self.toggles, "threshold": self.threshold}

    def layout(self) -> widgets.Widget:
        return widgets.VBox(
            [self.scheme, widgets.HBox(list(self.toggles.values())), self.threshold]
        )

    def compute(self, scheme=None, threshold=0.5, **toggles) -> dict:
        scheme = self.scheme.options[0] if scheme is None else scheme
        if scheme not in self.by_scheme:
            raise ValueError(f"scheme must be one of {tuple(self.by_scheme)}, got {scheme!r}")
        result = self.by_scheme[scheme].compute(threshold=threshold, **toggles)
        result["scheme"] = scheme
        result["accuracy_per_exit"] = tuple(self.by_scheme[scheme].accuracy_per_exit)
        return result

    def summary(self, result: dict) -> str:
        return f"α scheme {result['scheme']}; " + self.by_scheme[result["scheme"]].summary(result)

    def family(self, result: dict):
        key, *rest, label = self.by_scheme[result["scheme"]].family(result)
        return ((result["scheme"], key), *rest, label)

    def build_view(self):
        view = self.tradeoff_view(self.exits, extra=1)
        self._alone = _alone_panel(view.axes[1], self.exits, [0.0] * len(self.exits))
        view.animate(*self._alone, view.axes[1].title)
        self._shown = None
        return view

    def draw(self, result: dict) -> None:
        counts, on = self.spread(self.exits, result["exits"], result["exit_counts"])
        state = (result["scheme"], tuple(on))
        if state != self._shown:
            for bar, a, o in zip(self._alone, result["accuracy_per_exit"], on):
                bar.set_height(100 * a)
                bar.set_color("tab:blue" if o else "lightgray")
            self.view.axes[1].set_title(f"each exit alone ({result['scheme']})", fontsize=9.5)
            self._shown = state
        self.draw_tradeoff(result, counts, on)


class StagesExplorer(Explorer):
    """How many layer-wise stages are trained (§5.3) and which early exits are kept: the
    network after k stages is the first k blocks, its final exit is k, and the toggles choose
    which of the exits 1..k-1 exist (placement, §4). Move k, the toggles and the threshold →
    accuracy and cost (as a fraction of the full L-block network).

    probs: (L, N, K) test outputs of the layer-wise network's exits 1..L;
    reference: optional (L, N, K) outputs of a jointly trained twin: it is evaluated at the
    same stages, exits and threshold (`result["reference"]`), for comparison."""

    def __init__(self, probs, labels, costs: CostProfile, reference=None):
        self.probs = check_probs(probs)
        self.labels = check_labels(labels, self.probs.shape[1])
        self.costs = _check_costs(costs)
        L = costs.num_blocks
        if self.probs.shape[0] != L:
            raise ValueError(
                f"probs must hold one exit per block (L={L}), got {self.probs.shape[0]}"
            )
        self.accuracy_per_exit = exit_accuracies(self.probs, self.labels).tolist()
        self.reference_probs, self.reference = None, None
        if reference is not None:
            reference = check_probs(reference, "reference")
            if reference.shape != self.probs.shape:
                raise ValueError(f"reference must have shape {tuple(self.probs.shape)}")
            self.reference_probs = reference
            self.reference = exit_accuracies(reference, self.labels).tolist()
        self.stages = widgets.IntSlider(
            value=L,
            min=1,
            max=L,
            description="stages trained (blocks kept)",
            continuous_update=False,
            style={"description_width": "initial"},
            layout=widgets.Layout(width="520px"),
        )
        self.toggles = exit_toggles(range(1, L))
        self.threshold = threshold_slider(BETA, 0.5)
        self.controls = {"stages": self.stages, **self.toggles, "threshold": self.threshold}

    def layout(self) -> widgets.Widget:
        return widgets.VBox(
            [self.stages, widgets.HBox(list(self.toggles.values())), self.threshold]
        )

    def compute(self, stages=None, threshold=0.5, **toggles) -> dict:
        L = self.costs.num_blocks
        k = L if stages is None else int(stages)
        if not 1 <= k <= L:
            raise ValueError(f"stages must be in 1..{L}, got {stages}")
        unknown = set(toggles) - set(self.toggles)
        if unknown:
            raise ValueError(f"toggles must be among {sorted(self.toggles)}, got {sorted(unknown)}")
        exits = tuple(e for e in range(1, k) if toggles.get(f"exit_{e}", True)) + (k,)
        rows = [e - 1 for e in exits]
        Gamma = cumulative_costs(self.costs.gamma_f[:k], self.costs.gamma_c, exits)
        result = _policy(self.probs[rows], self.labels, threshold, Gamma, self.costs.full)
        result.update(
            stages=k,
            threshold=float(threshold),
            exits=exits,
            accuracy_per_exit=tuple(self.accuracy_per_exit[r] for r in rows),
        )
        if self.reference_probs is not None:
            result["reference"] = _policy(
                self.reference_probs[rows], self.labels, threshold, Gamma, self.costs.full
            )
        return result

    def family(self, result: dict):
        k, exits = result["stages"], result["exits"]
        rows = [e - 1 for e in exits]
        Gamma = cumulative_costs(self.costs.gamma_f[:k], self.costs.gamma_c, exits)
        return (
            ("stages", k, exits),
            self.probs[rows],
            self.labels,
            Gamma,
            self.costs.full,
            "entropy",
            "layer-wise, β swept",
        )

    def build_view(self):
        L = self.costs.num_blocks
        view = self.tradeoff_view(range(1, L + 1), extra=1)
        ax = view.axes[1]
        x = np.arange(L)
        self._alone = list(
            ax.bar(x - 0.2, [100 * a for a in self.accuracy_per_exit], 0.4, label="layer-wise")
        )
        if self.reference is not None:
            ax.bar(
                x + 0.2, [100 * a for a in self.reference], 0.4, label="joint", color="tab:orange"
            )
            self.plane.add_point(
                "joint", "joint twin, same exits and β", marker="s", color="tab:orange", ms=7
            )
        ax.set_xticks(x, [str(e) for e in range(1, L + 1)])
        ax.set_xlabel("exit (block)")
        ax.set(ylim=(0, 128), ylabel="test accuracy (%)", title="each exit alone")
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.title.set_fontsize(10)
        ax.legend(loc="upper center", ncol=2, fontsize=7.5, frameon=False)  # above the bars
        view.animate(*self._alone)
        self._shown = None
        return view

    def draw(self, result: dict) -> None:
        L = self.costs.num_blocks
        counts, on = self.spread(range(1, L + 1), result["exits"], result["exit_counts"])
        if on != self._shown:
            for bar, o in zip(self._alone, on):
                bar.set_color("tab:blue" if o else "lightgray")
            self._shown = on
        self.draw_tradeoff(result, counts, on)
        if "reference" in result:
            ref = result["reference"]
            self.plane.move(ref["cost_fraction"], ref["accuracy"], name="joint")

    def summary(self, result: dict) -> str:
        kept = ", ".join(str(e) for e in result["exits"])
        text = (
            f"{result['stages']} stages trained; exits kept: {kept}; "
            f"{BETA} = {result['threshold']:.2f}\nlayer-wise: {super().summary(result)}"
        )
        if "reference" in result:
            ref = dict(result["reference"], exits=result["exits"])
            text += f"\njoint twin, same exits and β: {super().summary(ref)}"
        return text


class HeadKindExplorer(Explorer):
    """Choose the head at each early exit of a frozen backbone (§5.4), or none, and move the
    threshold → accuracy and cost.

    probs_by_kind: {kind: (E, N, K) test outputs of the backbone with heads of that kind at
    the early exits `exits[:-1]` and the backbone's own final head};
    gamma_c_by_kind: {kind: {exit: FLOPs of that head}}; costs: the backbone's γ_f and its
    final head's γ_c."""

    def __init__(self, probs_by_kind: dict, gamma_c_by_kind: dict, labels, costs, exits):
        if not isinstance(probs_by_kind, dict) or not probs_by_kind:
            raise TypeError("probs_by_kind must be a non-empty dict {kind: probs (E, N, K)}")
        self.costs, self.exits = _check_costs(costs), tuple(exits)
        L = costs.num_blocks
        if self.exits[-1] != L:
            raise ValueError(f"exits must end with the final block L={L}, got {self.exits}")
        self.probs = {k: check_probs(p, f"probs_by_kind[{k!r}]") for k, p in probs_by_kind.items()}
        first = next(iter(self.probs.values()))
        for k, p in self.probs.items():
            if p.shape != first.shape or p.shape[0] != len(self.exits):
                raise ValueError(f"probs_by_kind[{k!r}] must have shape {tuple(first.shape)}")
            if set(gamma_c_by_kind.get(k, {})) < set(self.exits[:-1]):
                raise ValueError(f"gamma_c_by_kind[{k!r}] must give the FLOPs of every early exit")
        self.labels = check_labels(labels, first.shape[1])
        self.gamma_c = {k: dict(v) for k, v in gamma_c_by_kind.items()}
        self.accuracy = {k: exit_accuracies(p, self.labels).tolist() for k, p in self.probs.items()}
        kinds = ["none", *self.probs]
        default = next(iter(self.probs))
        self.kinds = {
            f"head_{e}": widgets.Dropdown(
                options=[("no exit" if k == "none" else k, k) for k in kinds],
                value=default,
                description=f"head at exit {e}",
                style={"description_width": "initial"},
                layout=widgets.Layout(width="auto"),
            )
            for e in self.exits[:-1]
        }
        self.threshold = threshold_slider(BETA, 0.5)
        self.controls = {**self.kinds, "threshold": self.threshold}

    def layout(self) -> widgets.Widget:
        return widgets.VBox([widgets.HBox(list(self.kinds.values())), self.threshold])

    def _assemble(self, kinds: dict):
        """(exits, {exit: head kind}, stacked outputs, Γ) of this choice of heads."""
        default = next(iter(self.probs))
        unknown = set(kinds) - set(self.kinds)
        if unknown:
            raise ValueError(f"kinds must be among {sorted(self.kinds)}, got {sorted(unknown)}")
        chosen = {}
        for e in self.exits[:-1]:
            kind = kinds.get(f"head_{e}", default)
            if kind != "none" and kind not in self.probs:
                raise ValueError(
                    f"head_{e} must be 'none' or one of {tuple(self.probs)}, got {kind!r}"
                )
            if kind != "none":
                chosen[e] = kind
        L = self.exits[-1]
        exits = tuple(chosen) + (L,)
        rows = [self.probs[chosen[e]][self.exits.index(e)] for e in chosen]
        rows.append(self.probs[default][-1])
        gamma_c = {e: self.gamma_c[chosen[e]][e] for e in chosen}
        gamma_c[L] = self.costs.gamma_c[L]
        Gamma = cumulative_costs(self.costs.gamma_f, gamma_c, exits)
        return exits, chosen, torch.stack(rows), Gamma

    def compute(self, threshold=0.5, **kinds) -> dict:
        default = next(iter(self.probs))
        exits, chosen, probs, Gamma = self._assemble(kinds)
        result = _policy(probs, self.labels, threshold, Gamma, self.costs.full)
        accuracy = [self.accuracy[chosen[e]][self.exits.index(e)] for e in chosen]
        result.update(
            threshold=float(threshold),
            exits=exits,
            heads=tuple(chosen[e] for e in chosen) + ("final",),
            accuracy_per_exit=tuple(accuracy) + (self.accuracy[default][-1],),
        )
        return result

    def family(self, result: dict):
        kinds = {f"head_{e}": h for e, h in zip(result["exits"][:-1], result["heads"])}
        kinds.update({f"head_{e}": "none" for e in self.exits[:-1] if e not in result["exits"]})
        exits, _, probs, Gamma = self._assemble(kinds)
        return (
            ("heads", result["heads"], exits),
            probs,
            self.labels,
            Gamma,
            self.costs.full,
            "entropy",
            "these heads, β swept",
        )

    def build_view(self):
        view = self.tradeoff_view(self.exits, extra=1)
        self._alone = _alone_panel(view.axes[1], self.exits, [0.0] * len(self.exits))
        view.animate(*self._alone)
        self._shown = None
        return view

    def draw(self, result: dict) -> None:
        counts, on = self.spread(self.exits, result["exits"], result["exit_counts"])
        acc = dict(zip(result["exits"], result["accuracy_per_exit"]))
        state = tuple(result["heads"]) + tuple(result["exits"])
        if state != self._shown:
            for bar, e, o in zip(self._alone, self.exits, on):
                bar.set_height(100 * acc.get(e, 0.0))
                bar.set_color("tab:blue" if o else "lightgray")
            self._shown = state
        self.draw_tradeoff(result, counts, on)

    def summary(self, result: dict) -> str:
        heads = ", ".join(f"exit {e}: {h}" for e, h in zip(result["exits"], result["heads"]))
        return f"heads {heads}; {BETA} = {result['threshold']:.2f}\n{super().summary(result)}"
