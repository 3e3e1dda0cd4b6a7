"""Tier explorer: bandwidth and latency of the device → edge link, where the tier boundaries
sit, and the exit threshold → end-to-end latency, bytes sent, accuracy (§7.2)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt

from .._checks import check_labels, check_probs
from ..cost import CostProfile
from ..tiers import (
    TierSystem,
    all_placements,
    check_placement,
    evaluate_placements,
    placement_label,
    tier_system,
)
from .base import Explorer, threshold_slider

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
        self.bandwidth = widgets.FloatLogSlider(
            value=system.bandwidths[0] / 1e3,
            base=10,
            min=0,
            max=5,
            step=0.1,
            description="device→edge bandwidth (kB/s)",
            continuous_update=False,
            style={"description_width": "initial"},
        )
        self.latency = widgets.FloatSlider(
            value=1e3 * system.latencies[0],
            min=0.0,
            max=100.0,
            step=1.0,
            description="device→edge latency (ms)",
            continuous_update=False,
            style={"description_width": "initial"},
        )
        self.placement = widgets.Dropdown(
            options=[(placement_label(p, system.names), p) for p in self.placements],
            value=self.placements[-1],
            description="blocks 1..L on",
            style={"description_width": "initial"},
        )
        self.threshold = threshold_slider("threshold", 0.5)
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
        return {
            "placement": placement,
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
            f"accuracy {100 * result['accuracy']:.1f} %  ·  mean latency "
            f"{result['mean_latency_ms']:.2f} ms per input  ·  {result['mean_bytes']:.0f} bytes "
            f"sent per input\nanswered on "
            + ", ".join(f"{n} {100 * f:.0f} %" for n, f in zip(names, result["tier_fractions"]))
            + f"\nfastest placement at this threshold: "
            f"{placement_label(result['fastest_placement'], names)} "
            f"({result['fastest_latency_ms']:.2f} ms)"
        )

    def plot(self, result: dict) -> None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 2.8))
        labels = [f"exit {e}" for e in self.exits]
        colors = [TIER_COLORS[result["placement"][e - 1] % 4] for e in self.exits]
        a1.bar(labels, result["latency_per_exit_ms"], color=colors)
        a1.set(ylabel="latency if answered here (ms)", title="colour = tier of the exit")
        a2.bar(labels, [100 * f for f in result["exit_fractions"]], color=colors)
        a2.set(ylabel="inputs (%)", ylim=(0, 100), title="where the inputs leave")
        fig.tight_layout()
