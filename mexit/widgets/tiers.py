"""Tier explorer: bandwidth and latency of the device → edge link, where the tier boundaries
sit, and the exit threshold → end-to-end latency, bytes sent, accuracy (§7.2)."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter

from .._checks import check_labels, check_probs
from ..cost import CostProfile
from ..inference import evaluate_policy
from ..tiers import (
    TierSystem,
    all_placements,
    check_placement,
    evaluate_placements,
    placement_label,
    tier_system,
)
from .base import THRESHOLD_LABELS, Explorer, cost_text, exits_taken, threshold_slider

TIER_COLORS = ("tab:green", "tab:orange", "tab:purple", "tab:gray")


class TierExplorer(Explorer):
    """Move the device → edge link (bandwidth in kB/s, latency in ms), pick a placement of
    the blocks on the tiers and a threshold → mean latency per input, bytes sent, accuracy.

    probs: (E, N, K) outputs of every exit; costs: the model's CostProfile; exits: block
    indices; h_bytes: bytes of h_0..h_L (`tiers.embedding_bytes`); system: the other links
    and the compute speeds (its first link is what the sliders replace)."""

    def __init__(self, probs, labels, costs: CostProfile, exits, h_bytes, system: TierSystem):
        self.probs = check_probs(probs)
        self.labels = check_labels(labels, self.probs.shape[1])
        if not isinstance(costs, CostProfile):
            raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
        if not isinstance(system, TierSystem):
            raise TypeError(f"system must be a TierSystem, got {type(system).__name__}")
        self.costs, self.system = costs, system
        self.exits, self.h_bytes = tuple(exits), tuple(h_bytes)
        if len(self.exits) != self.probs.shape[0]:
            raise ValueError(f"exits must name the {self.probs.shape[0]} exits, got {self.exits}")
        self.placements = all_placements(costs.num_blocks, system.num_tiers)
        wide = {"description_width": "150px"}
        self.bandwidth = widgets.FloatLogSlider(
            value=system.bandwidths[0] / 1e3,
            base=10,
            min=0,
            max=5,
            step=0.1,
            description="uplink speed (kB/s)",
            readout_format=",.0f",
            continuous_update=False,
            style=wide,
            layout=widgets.Layout(width="520px"),
        )
        self.latency = widgets.FloatSlider(
            value=1e3 * system.latencies[0],
            min=0.0,
            max=100.0,
            step=1.0,
            description="uplink delay (ms)",
            readout_format=".0f",
            continuous_update=False,
            style=wide,
            layout=widgets.Layout(width="520px"),
        )
        self.placement = widgets.Dropdown(
            options=[(placement_label(p, system.names), p) for p in self.placements],
            value=self.placements[-1],
            description="blocks on tiers",
            style=wide,
            layout=widgets.Layout(width="520px"),
        )
        self.threshold = threshold_slider(THRESHOLD_LABELS["entropy"], 0.5)
        self.threshold.style.description_width = "150px"
        self.controls = {
            "bandwidth": self.bandwidth,
            "latency": self.latency,
            "placement": self.placement,
            "threshold": self.threshold,
        }

    def system_at(self, bandwidth: float, latency: float) -> TierSystem:
        """The tier system with the device → edge link at `bandwidth` kB/s, `latency` ms."""
        s = self.system
        return tier_system(
            s.speeds,
            (latency / 1e3,) + s.latencies[1:],
            (bandwidth * 1e3,) + s.bandwidths[1:],
            s.names,
        )

    def compute(self, bandwidth=250.0, latency=5.0, placement=None, threshold=0.5) -> dict:
        system = self.system_at(bandwidth, latency)
        placement = self.placements[-1] if placement is None else placement
        placement = check_placement(placement, self.costs.num_blocks, system.num_tiers)

        results = evaluate_placements(
            self.probs,
            self.labels,
            threshold,
            self.costs,
            self.exits,
            self.h_bytes,
            system,
            self.placements,
        )
        r = results[self.placements.index(placement)]
        fastest = min(results, key=lambda x: x.mean_latency)
        n = len(self.labels)
        flops = evaluate_policy(
            self.probs,
            self.labels,
            threshold,
            Gamma=self.costs.Gamma(self.exits),
            full_cost=self.costs.full,
        )
        return {
            "bandwidth": float(bandwidth),
            "latency": float(latency),
            "threshold": float(threshold),
            "placement": placement,
            "exits": self.exits,
            "mean_flops": flops.mean_flops,
            "cost_fraction": flops.cost_fraction,
            "accuracy": r.accuracy,
            "mean_latency_ms": 1e3 * r.mean_latency,
            "mean_bytes": r.mean_bytes,
            "exit_counts": r.exit_counts,
            "exit_fractions": tuple(c / n for c in r.exit_counts),
            "tier_fractions": r.tier_fractions,
            "latency_per_exit_ms": tuple(1e3 * v for v in r.latency_per_exit),
            "bytes_per_exit": r.bytes_per_exit,
            "fastest_placement": fastest.placement,
            "fastest_latency_ms": 1e3 * fastest.mean_latency,
        }

    def summary(self, result: dict) -> str:
        names = self.system.names
        return (
            f"uplink {result['bandwidth']:,.0f} kB/s, {result['latency']:.0f} ms; blocks on "
            f"{placement_label(result['placement'], names)}; "
            f"{THRESHOLD_LABELS['entropy']} = {result['threshold']:.2f}\n"
            f"accuracy {100 * result['accuracy']:.1f} %  ·  mean latency "
            f"{result['mean_latency_ms']:.2f} ms per input  ·  {result['mean_bytes']:.0f} bytes "
            f"sent per input  ·  mean cost "
            f"{cost_text(result['mean_flops'], result['cost_fraction'])}\n"
            f"exits taken: {exits_taken(self.exits, result['exit_counts'])}; answered on "
            + ", ".join(f"{n} {100 * f:.0f} %" for n, f in zip(names, result["tier_fractions"]))
            + f"\nfastest placement at this threshold: "
            f"{placement_label(result['fastest_placement'], names)} "
            f"({result['fastest_latency_ms']:.2f} ms)"
        )

    def family(self, result: dict):
        return (
            "all exits",
            self.probs,
            self.labels,
            self.costs.Gamma(self.exits),
            self.costs.full,
            "entropy",
            "entropy ≤ β, β swept",
        )

    def _colors(self, placement) -> list:
        return [TIER_COLORS[placement[e - 1] % len(TIER_COLORS)] for e in self.exits]

    def build_view(self):
        view = self.tradeoff_view(self.exits, extra=1, title="accuracy vs cost in FLOPs")
        ax = view.axes[1]
        x = np.arange(len(self.exits))
        self._latency_bars = list(ax.bar(x, np.ones(len(x)), color="tab:gray"))
        ax.set_xticks(x, [str(e) for e in self.exits])
        ax.set_xlabel("exit (block)")
        ax.set(ylabel="ms if answered here (log)", title="latency of an input leaving at each exit")
        # fixed log limits covering the sliders' extremes and every placement: never rescales
        ms = []
        for bandwidth, latency in (
            (10**self.bandwidth.max, self.latency.min),
            (10**self.bandwidth.min, self.latency.max),
        ):
            for r in evaluate_placements(
                self.probs,
                self.labels,
                0.5,
                self.costs,
                self.exits,
                self.h_bytes,
                self.system_at(bandwidth, latency),
                self.placements,
            ):
                ms += [1e3 * v for v in r.latency_per_exit if v > 0]
        ax.set_yscale("log")
        ax.set_ylim(0.5 * min(ms), 2 * max(ms))
        ax.yaxis.set_minor_formatter(NullFormatter())
        view.animate(*self._latency_bars)
        ax.title.set_fontsize(9)
        n = self.system.num_tiers
        key = [
            Patch(color=TIER_COLORS[t % len(TIER_COLORS)], label=f"exit on the {name}")
            for t, name in enumerate(self.system.names[:n])
        ]
        # the tier key sits under the figure: it keys the bar colours of both panels
        ax.legend(
            handles=key,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18),
            ncol=min(n, 3),
            fontsize=7.5,
            frameon=False,
        )
        view.resize(12.5, 3.5)
        view.fig.subplots_adjust(bottom=0.3)
        self._link = None
        return view

    def draw(self, result: dict) -> None:
        colors = self._colors(result["placement"])
        link = (result["bandwidth"], result["latency"], tuple(result["placement"]))
        if link != self._link:  # the latency panel changes (its bars are blitted)
            for bar, v, c in zip(self._latency_bars, result["latency_per_exit_ms"], colors):
                bar.set_height(v)
                bar.set_color(c)
            self._link = link
        self.histogram.update(result["exit_counts"], colors=colors)
        self.draw_tradeoff(result, result["exit_counts"])
