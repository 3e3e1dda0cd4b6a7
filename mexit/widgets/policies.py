"""Policy explorer: every exit policy of §6 and the field's later ones on the same
accuracy–cost plane, with the oracle envelope and the current operating point.

The survey's criteria (normalized and unnormalized entropy, max-probability, a learned
confidence; one shared threshold or one per exit), PABEE's patience (Zhou et al. 2020), Zero
Time Waste's ensembles of earlier exits (Wołczyk et al. 2021) and Bolukbasi et al.'s
cost-weighted decisions (2017); which early exits exist (placement, §4) for the policies
that read each exit on its own; and the gap to the oracle (the least cost any assignment of
inputs to the same exits pays for the same accuracy)."""

from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
import torch

from .._checks import check_float, check_int, check_labels, check_probs
from ..cost import CostProfile
from ..cost_weighted_policy import CostWeightedPolicy
from ..patience import patience_exits
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
from ..policy_comparison import _sweep
from ..zero_time_waste import ZeroTimeWaste
from .base import Explorer, LinkedThresholds, exit_toggles, exits_taken, threshold_slider

# dropdown: what the policy is, and its exit rule in words
POLICY_OPTIONS = [
    ("normalized entropy: exit when H ≤ β (eq. 11)", "entropy"),
    ("unnormalized entropy (BranchyNet): exit when −Σ c log c ≤ β nats", "unnormalized_entropy"),
    ("max probability: exit when max c ≥ τ", "max_probability"),
    ("learned confidence: exit when gᵢ(cᵢ) ≥ τ", "learned"),
    ("patience (PABEE): exit when t exits in a row agree", "patience"),
    ("Zero Time Waste: exit when the ensemble of exits ≤ i has max ≥ τ", "zero_time_waste"),
    ("cost-weighted (Bolukbasi et al.): exit when its classifier says leave", "cost_weighted"),
]
THRESHOLD_POLICIES = (
    "entropy",
    "unnormalized_entropy",
    "max_probability",
    "learned",
    "zero_time_waste",
)
# policies that read each exit on its own: switching an exit off leaves the others as they are
PLACEABLE = ("entropy", "unnormalized_entropy", "max_probability", "learned", "patience")
RULE = {  # (rule in words, symbol)
    "entropy": ("entropy ≤", "β"),
    "unnormalized_entropy": ("entropy in nats ≤", "β"),
    "max_probability": ("max probability ≥", "τ"),
    "learned": ("learned confidence ≥", "τ"),
    "zero_time_waste": ("ensemble's max probability ≥", "τ"),
}


def _rule(criterion: str) -> str:
    rule, sym = RULE[criterion]
    return f"exit when {rule} {sym}"


def _per_exit_rule(criterion: str, e) -> str:
    rule, sym = RULE[criterion]
    return f"exit {e}: leave if {rule} {sym}{e}"


class PolicyExplorer(LinkedThresholds, Explorer):
    """Exit policy, its parameter, and (with `costs`) which early exits exist → accuracy,
    cost, exits taken, and the cost of this policy divided by the oracle's at the same
    accuracy with the same exits, on the accuracy–cost plane (the policy's curve, the
    oracle envelope, the current point).

    probs: (E, N, K) outputs of every exit; Gamma: cumulative cost of each exit (FLOPs);
    full_cost: FLOPs of the plain network; exits: block indices; learned: a fitted
    LearnedConfidence (without it the 'learned' policy is not offered); costs: the model's
    CostProfile (with it, "keep exit e" toggles switch early exits off for the policies that
    read each exit on its own; nothing is retrained). ztw: a fitted ZeroTimeWaste; and
    cost_weighted: fitted CostWeightedPolicy objects, one per λ (each policy offered only
    when given; both are fitted on all exits, so the toggles hide in their modes).
    Patience is always offered. Thresholds are in each criterion's own units; every policy
    remembers the values the student set when they switch away and back."""

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
        ztw=None,
        cost_weighted=None,
    ):
        self.probs = check_probs(probs)
        self.labels = check_labels(labels, self.probs.shape[1], num_classes=self.probs.shape[-1])
        E, self.num_classes = self.probs.shape[0], self.probs.shape[-1]
        if E < 2:
            raise ValueError(f"probs must hold an early exit and the final one, got E={E}")
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
        if ztw is not None:
            if not isinstance(ztw, ZeroTimeWaste):
                raise TypeError(f"ztw must be a ZeroTimeWaste, got {type(ztw).__name__}")
            if ztw.n_exits != E:
                raise ValueError(f"ztw must be fitted on these {E} exits, got {ztw.n_exits}")
        self.ztw = ztw
        self.cost_weighted = self._check_cost_weighted(cost_weighted, E)
        offered = {
            "learned": learned is not None,
            "zero_time_waste": ztw is not None,
            "cost_weighted": bool(self.cost_weighted),
        }
        options = [o for o in POLICY_OPTIONS if offered.get(o[1], True)]
        names = [v for _, v in options]
        if criterion not in names:
            raise ValueError(f"criterion must be one of {names}, got {criterion!r}")

        # everything a control re-reads, computed once
        self.correct = self.probs.argmax(-1) == self.labels
        self.scores = {
            c: confidence_scores(self.probs, c, learned)
            for c in ("entropy", "unnormalized_entropy", "max_probability", "learned")
            if c in names
        }
        if ztw is not None:
            q = ztw.ensemble(self.probs)
            self.scores["zero_time_waste"] = q[:-1].amax(-1)
            self.ztw_correct = q.argmax(-1) == self.labels
        self.cw_exits = {lam: pol.exits(self.probs) for lam, pol in self.cost_weighted.items()}
        self._oracles, self._families = {}, {}

        self.criterion = widgets.Dropdown(
            options=options,
            value=criterion,
            description="exit policy",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="660px"),  # the longest label fits whole
        )
        self.shared = widgets.Checkbox(
            value=True, description="one shared threshold", layout=widgets.Layout(width="auto")
        )
        mode = criterion if criterion in THRESHOLD_POLICIES else "entropy"
        lo, hi = sorted(
            threshold_range(
                mode if mode != "zero_time_waste" else "max_probability", self.num_classes
            )
        )
        self.threshold = threshold_slider(_rule(mode), (lo + hi) / 2, lo, hi)
        self.per_exit = {
            f"threshold_{e}": threshold_slider(_per_exit_rule(mode, e), (lo + hi) / 2, lo, hi)
            for e in self.exits[:-1]
        }
        self.patience = widgets.IntSlider(
            value=1,
            min=1,
            max=max(E - 1, 1),
            description="exit when this many exits in a row agree: t",
            continuous_update=False,
            style={"description_width": "initial"},
            layout=widgets.Layout(width="520px"),
        )
        self.toggles = exit_toggles(self.exits[:-1]) if costs is not None else {}
        self.controls = {
            "criterion": self.criterion,
            "shared": self.shared,
            "threshold": self.threshold,
            **self.per_exit,
            "patience": self.patience,
            **self.toggles,
        }
        if self.cost_weighted:
            lams = list(self.cost_weighted)
            self.lam = widgets.SelectionSlider(
                options=[(f"{v:g}", v) for v in lams],
                value=lams[len(lams) // 2],
                description="price of cost λ (higher: leave earlier)",
                continuous_update=False,
                style={"description_width": "initial"},
                layout=widgets.Layout(width="520px"),
            )
            self.controls["lam"] = self.lam
        # each criterion remembers its own slider values (switching keeps what was set)
        self._mode = mode
        self._memory: dict = {}
        # registered before show()'s redraw observers, so they run first (one redraw)
        self.criterion.observe(self._on_criterion, names="value")
        self._link_thresholds()
        self._rows: dict = {}

    @staticmethod
    def _check_cost_weighted(cost_weighted, E: int) -> dict:
        if cost_weighted is None:
            return {}
        if isinstance(cost_weighted, (str, bytes)) or not hasattr(cost_weighted, "__iter__"):
            raise TypeError(
                "cost_weighted must be a sequence of fitted CostWeightedPolicy, got "
                f"{type(cost_weighted).__name__}"
            )
        out = {}
        for pol in cost_weighted:
            if not isinstance(pol, CostWeightedPolicy):
                raise TypeError(
                    f"cost_weighted must hold CostWeightedPolicy objects, got {type(pol).__name__}"
                )
            if pol.n_exits != E:
                raise ValueError(
                    f"cost_weighted must be fitted on these {E} exits, got {pol.n_exits}"
                )
            out[float(pol.lam)] = pol
        if not out:
            raise ValueError("cost_weighted must hold at least one fitted policy")
        return dict(sorted(out.items()))

    # -- controls ------------------------------------------------------------------------
    def _on_criterion(self, change) -> None:
        new = change["new"]
        if new not in THRESHOLD_POLICIES or new == self._mode:
            return
        sliders = [self.threshold, *self.per_exit.values()]
        self._memory[self._mode] = ([s.value for s in sliders], self._linked)
        units = "max_probability" if new == "zero_time_waste" else new
        lo, hi = sorted(threshold_range(units, self.num_classes))
        values, linked = self._memory.get(new, ([(lo + hi) / 2] * len(sliders), True))
        self._syncing = True
        try:
            with self.quiet():
                for s, v in zip(sliders, values):
                    s.min, s.max = min(s.min, lo), max(s.max, hi)  # widen first, then narrow
                    s.value = v
                    s.min, s.max = lo, hi
        finally:
            self._syncing = False
        self._linked = linked
        self.threshold.description = _rule(new)
        for e in self.exits[:-1]:
            self.per_exit[f"threshold_{e}"].description = _per_exit_rule(new, e)
        self._mode = new

    def layout(self) -> widgets.Widget:
        """Only the controls that act on the current policy are shown."""
        toggles = widgets.HBox(list(self.toggles.values()))
        head = widgets.HBox([self.criterion, self.shared])
        rows = [head, toggles, self.threshold, *self.per_exit.values(), self.patience]
        if self.cost_weighted:
            rows.append(self.lam)

        def visible(w, on):
            w.layout.display = None if on else "none"

        def update(_=None):
            c = self.criterion.value
            thr = c in THRESHOLD_POLICIES
            visible(self.shared, thr)
            visible(toggles, bool(self.toggles) and c in PLACEABLE)
            visible(self.threshold, thr and self.shared.value)
            for e in self.exits[:-1]:
                kept = c not in PLACEABLE or self.toggles.get(f"exit_{e}", _ON).value
                visible(self.per_exit[f"threshold_{e}"], thr and not self.shared.value and kept)
            visible(self.patience, c == "patience")
            if self.cost_weighted:
                visible(self.lam, c == "cost_weighted")

        for w in (self.criterion, self.shared, *self.toggles.values()):
            w.observe(update, names="value")
        update()
        return widgets.VBox(rows)

    # -- the model of the explorer ---------------------------------------------------------
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

    def _family(self, criterion: str, chosen: tuple):
        """(cost fractions, accuracies) of the policy's whole family with these exits."""
        key = (criterion, chosen)
        if key in self._families:
            return self._families[key]
        early = self.exits[:-1]
        rows = [early.index(e) for e in chosen]
        Gamma = self._Gamma_of(chosen)
        every = rows + [len(self.exits) - 1]
        if criterion == "patience":
            pts = [self._patience(every, t) for t in range(1, max(len(every) - 1, 1) + 1)]
            fam = ([c for c, _ in pts], [a for _, a in pts])
        elif criterion == "cost_weighted":
            pts = [self._point(idx, self.correct, self.Gamma) for idx in self.cw_exits.values()]
            fam = ([c for _, c in pts], [a for a, _ in pts])
        elif not rows:
            fam = ([float(Gamma[-1]) / self.full_cost], [float(self.correct[-1].double().mean())])
        else:
            correct = self.ztw_correct if criterion == "zero_time_waste" else self.correct
            scores = self.scores[criterion][rows]
            q = torch.quantile(scores.flatten(), torch.linspace(0, 1, 101, dtype=torch.float64))
            inf = torch.tensor([math.inf, -math.inf], dtype=torch.float64)
            grid = torch.cat([inf, q]).unique().flip(0)
            acc, cost = _sweep(scores, correct[every], Gamma, self.full_cost, grid)
            fam = (cost.tolist(), acc.tolist())
        self._families[key] = fam
        return fam

    def _point(self, idx, correct, Gamma):
        """(accuracy, cost fraction) of exit positions idx among the rows of `correct`."""
        acc = float(correct.gather(0, idx[None]).double().mean())
        return acc, float(Gamma[idx].mean()) / self.full_cost

    def _patience(self, every: list, t: int):
        """(cost fraction, accuracy) of PABEE with patience t over the exits `every`."""
        key = (tuple(every), t)
        if key not in self._rows:
            sub, _ = patience_exits(self.probs[every], t)
            chosen = tuple(self.exits[r] for r in every[:-1])
            acc, cost = self._point(sub, self.correct[every], self._Gamma_of(chosen))
            self._rows[key] = (cost, acc, sub)
        return self._rows[key][:2]

    def compute(
        self, criterion="entropy", shared=True, threshold=0.5, patience=1, lam=None, **rest
    ) -> dict:
        names = [v for _, v in self.criterion.options]
        if criterion not in names:
            raise ValueError(f"criterion must be one of {names}, got {criterion!r}")
        unknown = [k for k in rest if k not in self.per_exit and k not in self.toggles]
        if unknown:
            raise ValueError(
                f"unknown controls {unknown}: this explorer has {list(self.controls)} "
                "(exit toggles only when built with costs=)"
            )
        early = self.exits[:-1]
        if criterion in PLACEABLE:
            chosen = tuple(e for e in early if rest.get(f"exit_{e}", True))
        else:
            chosen = early
        rows = [early.index(e) for e in chosen]
        every = rows + [len(self.exits) - 1]
        positions = torch.tensor(every)
        Gamma = self._Gamma_of(chosen)
        correct = self.correct
        thresholds, setting = (), ""
        if criterion in THRESHOLD_POLICIES:
            units = "max_probability" if criterion == "zero_time_waste" else criterion
            lo, hi = sorted(threshold_range(units, self.num_classes))
            own = [] if shared else [f"threshold_{e}" for e in early if f"threshold_{e}" in rest]
            used = own if len(own) == len(early) else ["threshold", *own]
            for name in used:  # each control named as it was passed
                check_float(rest.get(name, threshold), name, low=lo, high=hi)
            if shared:
                values = [threshold] * len(early)
            else:
                values = [rest.get(f"threshold_{e}", threshold) for e in early]
            t = _check_policy_thresholds(values, len(early), units, self.num_classes)
            thresholds = tuple(float(x) for x in t[rows])
            if rows:
                sub = exits_from_scores(self.scores[criterion][rows], _sign(units) * t[rows])
            else:
                sub = torch.zeros(len(self.labels), dtype=torch.long)
            if criterion == "zero_time_waste":
                correct = self.ztw_correct
            rule, sym = RULE[criterion]
            ts = sorted(set(thresholds))
            if len(ts) <= 1:
                setting = f"exit when {rule} {sym} = {ts[0] if ts else threshold:.2f}"
            else:
                setting = "exit when " + ", ".join(
                    f"{rule} {sym}{e} = {v:.2f}" for e, v in zip(chosen, thresholds)
                )
        elif criterion == "patience":
            t = check_int(patience, "patience", low=1)
            self._patience(every, t)
            sub = self._rows[(tuple(every), t)][2]
            setting = f"exit when {t} exit{'s' if t > 1 else ''} in a row agree with the one before"
        else:  # cost_weighted
            lams = list(self.cost_weighted)
            lam = lams[len(lams) // 2] if lam is None else check_float(lam, "lam", low=0.0)
            if lam not in self.cost_weighted:
                raise ValueError(f"lam must be one of the fitted λ {lams}, got {lam}")
            sub = self.cw_exits[lam]
            setting = f"exit when the classifier fitted at λ = {lam:g} says leave"
        idx = positions[sub]  # exit position among all E exits
        acc, cost_fraction = self._point(sub, correct[every], Gamma)
        mean_flops = cost_fraction * self.full_cost
        oracle_cost = self._oracle(chosen).cost_at(acc)
        counts = tuple(torch.bincount(idx, minlength=len(self.exits)).tolist())
        n = len(self.labels)
        return {
            "criterion": criterion,
            "setting": setting,
            "exits": chosen + (self.exits[-1],),
            "thresholds": thresholds,
            "accuracy": acc,
            "mean_flops": mean_flops,
            "cost_fraction": cost_fraction,
            "exit_counts": counts,
            "exit_fractions": tuple(c / n for c in counts),
            "oracle_cost_fraction": oracle_cost,
            "gap_to_oracle": cost_fraction / oracle_cost if oracle_cost > 0 else math.inf,
        }

    def summary(self, result: dict) -> str:
        exits = ", ".join(str(e) for e in result["exits"])
        text = (
            f"{result['setting']}\n"
            f"accuracy {100 * result['accuracy']:.1f} %  ·  mean cost "
            f"{self._cost_text(result)}\n"
            f"exits taken: {exits_taken(self.exits, result['exit_counts'])}\n"
        )
        if math.isfinite(result["oracle_cost_fraction"]):
            text += (
                f"with exits {exits}, the oracle reaches this accuracy at "
                f"{100 * result['oracle_cost_fraction']:.1f} %: this policy pays "
                f"{result['gap_to_oracle']:.2f}× the least possible cost"
            )
        else:
            text += f"with exits {exits}, no assignment of inputs reaches this accuracy"
        return text

    @staticmethod
    def _cost_text(result):
        from .base import cost_text

        return cost_text(result["mean_flops"], result["cost_fraction"])

    # -- the live view -------------------------------------------------------------------
    def build_view(self):
        """The exit histogram beside the plane. The family's curve and the oracle are
        redrawn like the point (blitted), and the axes are sized once for every policy's
        curve, so switching policy or exits redraws only what moves (no full redraw)."""
        view = self.tradeoff_view(self.exits, title="this policy against the oracle")
        plane = self.plane
        plane.family.set_label("this policy, its parameter swept")
        plane.family.set_markersize(4)
        early = self.exits[:-1]
        for c in [v for _, v in self.criterion.options]:
            plane.set_curves(self._family(c, early), self._oracle(early))
        view.animate(plane.family, plane.oracle)
        plane._legend()
        self._family_key = None
        return view

    def draw(self, result: dict) -> None:
        on = [e in result["exits"] for e in self.exits]
        self.histogram.update(result["exit_counts"], on)
        key = (result["criterion"], result["exits"][:-1])
        if key != self._family_key:
            oracle = self._oracle(key[1])
            for artist, (x, y) in (
                (self.plane.family, self._family(*key)),
                (self.plane.oracle, (oracle.cost_fraction.tolist(), oracle.accuracy.tolist())),
            ):
                x, y = 100 * np.asarray(x, dtype=float), 100 * np.asarray(y, dtype=float)
                order = np.argsort(x, kind="stable")
                artist.set_data(x[order], y[order])
                self.plane._grow(x, y)  # a full redraw only if the axes must grow
            discrete = result["criterion"] in ("patience", "cost_weighted")
            self.plane.family.set_marker("o" if discrete else "None")
            self._family_key = key
        self.plane.move(result["cost_fraction"], result["accuracy"])


class _On:
    value = True


_ON = _On()
