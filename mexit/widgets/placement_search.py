"""Placement search explorer: toggle exits, move the threshold, and see whether the set you
picked is the cheapest one that meets the target accuracy (§4, exhaustive search)."""

from __future__ import annotations

import ipywidgets as widgets

from ..placement import evaluate_placement, greedy_placement, optimal_placement
from ..policies import ACC_TOL, check_target_accuracy
from .base import threshold_slider
from .placement import PlacementExplorer


class PlacementSearchExplorer(PlacementExplorer):
    """`PlacementExplorer` plus the exhaustive optimum at the current threshold, and eq. 5's
    greedy set for a TH slider (the survey's walk from the input side, its exit rates measured
    at the current threshold with the exits kept so far).

    probs: (L, N, K) outputs of a head at every block (trained once up front, so toggling
    never retrains); costs: their CostProfile; target_accuracy: what the optimum must reach
    (default: the final exit's accuracy minus one point)."""

    def __init__(self, probs, labels, costs, exits, criterion="entropy", target_accuracy=None):
        super().__init__(probs, labels, costs, exits, criterion)
        if len(self.exits) != costs.num_blocks:
            raise ValueError(
                f"exits must be every block 1..{costs.num_blocks} (a head at each), got "
                f"{self.exits}"
            )
        if target_accuracy is None:
            target_accuracy = max(self.accuracy_per_exit[-1] - 0.01, 1e-6)
        self.target_accuracy = check_target_accuracy(target_accuracy)
        self._searches = {}
        self.th = threshold_slider("greedy set of eq. 5: TH (higher keeps more exits)", 0.9)
        self.controls["th"] = self.th

    def layout(self):
        return widgets.VBox([widgets.HBox(list(self.toggles.values())), self.threshold, self.th])

    def search(self, threshold: float):
        """The exhaustive search at `threshold` (cached: the outputs never change)."""
        key = round(float(threshold), 6)
        if key not in self._searches:
            self._searches[key] = optimal_placement(
                self.probs,
                self.labels,
                self.costs,
                threshold=key,
                target_accuracy=self.target_accuracy,
                criterion=self.criterion,
            )
        return self._searches[key]

    def compute(self, threshold=0.5, th=0.9, **toggles) -> dict:
        result = super().compute(threshold=threshold, **toggles)
        greedy = greedy_placement(
            self.probs, self.costs, threshold=threshold, th=th, criterion=self.criterion
        )
        g = evaluate_placement(
            self.probs, self.labels, self.costs, greedy, threshold, self.criterion
        )
        early = result["exits"][:-1]
        try:
            search = self.search(threshold)
        except ValueError:  # no set reaches the target at this threshold
            search = None
        result.update(
            target_accuracy=self.target_accuracy,
            meets_target=result["accuracy"] >= self.target_accuracy - ACC_TOL,
            optimal_exits=None if search is None else search.best.exits,
            optimal_cost_fraction=None if search is None else search.best.cost_fraction,
            is_optimal=search is not None and search.is_optimal(early),
            greedy_exits=greedy,
            greedy_cost_fraction=g.cost_fraction,
            greedy_accuracy=g.accuracy,
            greedy_meets_target=g.accuracy >= self.target_accuracy - ACC_TOL,
        )
        return result

    def summary(self, result: dict) -> str:
        line = super().summary(result)
        greedy = (
            f"\ngreedy eq. 5 at TH: C = {set(result['greedy_exits']) or '{}'}, "
            f"{100 * result['greedy_accuracy']:.1f} % at "
            f"{100 * result['greedy_cost_fraction']:.1f} % "
            f"({'meets' if result['greedy_meets_target'] else 'misses'} the target)"
        )
        if result["optimal_exits"] is None:
            return line + f"\nno exit set reaches {100 * self.target_accuracy:.1f} % here" + greedy
        verdict = "this set IS optimal" if result["is_optimal"] else "not optimal"
        return (
            line
            + (
                f"\ntarget {100 * self.target_accuracy:.1f} %: "
                f"{'met' if result['meets_target'] else 'missed'}; cheapest set meeting it: "
                f"C = {set(result['optimal_exits']) or '{}'} at "
                f"{100 * result['optimal_cost_fraction']:.1f} % → {verdict}"
            )
            + greedy
        )

    def build_view(self):
        view = super().build_view()
        self._stars = [
            view.axes[0].text(k, 92, "★", ha="center", color="tab:orange", fontsize=12)
            for k in range(len(self.exits))
        ]
        view.axes[0].set_title("where the inputs leave (★ = optimal set)")
        view.animate(*self._stars)
        return view

    def draw(self, result: dict) -> None:
        best = set(result["optimal_exits"] or ()) | {self.exits[-1]}
        for star, e in zip(self._stars, self.exits):
            star.set_visible(result["optimal_exits"] is not None and e in best)
        super().draw(result)
