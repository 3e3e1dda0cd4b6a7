"""The live explorers (issue 14 §1): every explorer shown, its controls moved in-process.

Each explorer: the text shown equals `summary(compute(**values))` at the controls' values; the
plane's operating point sits at the computed cost and accuracy; the histogram's bars hold the
exit counts of an independent `simulate_exits`; the plane's curves are those of an
independent `accuracy_cost_curve`/`oracle_curve`; a threshold move updates the same artists
(no full redraw, no new artist). One compute+redraw per explorer is timed and printed (not
asserted: timings on a shared machine are noisy)."""

from __future__ import annotations

import html
import statistics

import ipywidgets as widgets
import numpy as np
import pytest
import torch

import mexit
from mexit import tiers
from mexit.cost import CostProfile
from mexit.inference import evaluate_policy, simulate_exits
from mexit.policies import accuracy_cost_curve, oracle_curve
from mexit.widgets import (
    BackboneExplorer,
    CostRegExplorer,
    FeedbackExplorer,
    HeadKindExplorer,
    InformationExplorer,
    PlacementExplorer,
    PlacementSearchExplorer,
    SchemeExplorer,
    StagesExplorer,
    ThresholdExplorer,
    TierExplorer,
)
from mexit.widgets.plane import ExitHistogram, LiveFigure, Plane

COSTS = CostProfile(gamma_f=(100, 200, 300, 400), gamma_c={1: 30, 2: 30, 3: 30, 4: 10})
EXITS = (1, 2, 3, 4)
N = 150


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(11)
    labels = torch.randint(0, 5, (N,), generator=g)
    runs = []
    for k in range(3):
        logits = (
            torch.randn(4, N, 5, generator=g) * torch.tensor([1.0, 2.0, 3.0, 4.0])[:, None, None]
        )
        logits[torch.arange(4)[:, None], torch.arange(N)[None], labels[None]] += 1.0 + k
        runs.append(logits.softmax(-1))
    gates = torch.rand(N, 3, generator=g)
    return runs, labels, gates


def _explorers(data):
    """(name, explorer) of every explorer of notebooks 00-05 and 07-11, on small outputs."""
    (p0, p1, p2), labels, gates = data
    Gamma = COSTS.Gamma(EXITS)
    system = tiers.tier_system((1e9, 1e10, 1e11), (0.005, 0.02), (2.5e5, 1e6))
    h_bytes = (400, 800, 800, 400, 200)
    planes = {0.0: [(3.0, 1.0), (2.5, 1.2), (2.0, 1.5), (1.8, 1.6)], 0.5: [(2, 1)] * 4}
    yield "threshold", ThresholdExplorer(p0, labels, Gamma, full_cost=COSTS.full, exits=EXITS)
    yield "placement", PlacementExplorer(p0, labels, COSTS, EXITS)
    yield "search", PlacementSearchExplorer(p0, labels, COSTS, EXITS, target_accuracy=0.3)
    yield "scheme", SchemeExplorer({"uniform": p0, "final_only": p1}, labels, COSTS, EXITS)
    yield "stages", StagesExplorer(p0, labels, COSTS, reference=p1)
    yield (
        "heads",
        HeadKindExplorer(
            {"linear": p0, "tree": p1},
            {"linear": {1: 5, 2: 5, 3: 5}, "tree": {1: 1, 2: 1, 3: 1}},
            labels,
            COSTS,
            EXITS,
        ),
    )
    yield (
        "cost_reg",
        CostRegExplorer(
            {0.0: (p0, gates), 0.5: (p1, gates)}, labels, Gamma, COSTS.full, EXITS, costs=COSTS
        ),
    )
    yield "feedback", FeedbackExplorer({"backprop": p0, "local": p1}, labels, COSTS, EXITS)
    yield "tiers", TierExplorer(p0, labels, COSTS, EXITS, h_bytes, system)
    yield "information", InformationExplorer(planes, {0.0: p0, 0.5: p1}, labels, COSTS, EXITS)
    yield (
        "backbone",
        BackboneExplorer(
            {"cnn": (p0, labels, COSTS, EXITS), "small": (p2[[1, 3]], labels, COSTS, (2, 4))}
        ),
    )


def shown_text(ex) -> str:
    text = html.unescape(ex.text.value)
    return text[text.index(">") + 1 : text.rindex("</pre>")]


def sliders(w):
    out = [w] if isinstance(w, widgets.widgets.widget_float._Float) else []
    out += [w] if isinstance(w, widgets.IntSlider) else []
    for c in getattr(w, "children", ()):
        out += sliders(c)
    return out


def test_every_explorer_shows_what_compute_says_and_redraws_in_place(data, capsys):
    times = {}
    for name, ex in _explorers(data):
        box = ex.show()
        assert ex.view.image in box.children and ex.text in box.children
        point, family = ex.plane.point, ex.plane.family
        bars = list(ex.histogram.bars)
        full = ex.view.full_draws
        t = ex.threshold
        redraws = []
        for v in (0.1, 0.35, 0.6, 0.85):
            image = ex.view.image.value
            t.value = v
            redraws.append(ex.last_redraw_ms)
            values = ex.values()
            r = ex.compute(**values)
            # the text is the summary of compute at the controls' values
            assert shown_text(ex) == ex.summary(r), name
            # the operating point sits at the computed cost and accuracy
            x, y = ex.plane.point.get_data()
            assert (x[0], y[0]) == pytest.approx((100 * r["cost_fraction"], 100 * r["accuracy"]))
            assert ex.view.image.value != image or v == 0.1
        # a threshold move blits: same artists, no full redraw
        assert ex.view.full_draws == full, name
        assert ex.plane.point is point and ex.plane.family is family
        assert ex.histogram.bars == bars or name == "backbone"
        # every slider acts on release only (no work while dragging)
        assert all(not s.continuous_update for s in sliders(ex.layout())), name
        times[name] = statistics.median(redraws)
    with capsys.disabled():
        print("\nin-process compute+redraw per threshold move (median of 4, ms):")
        for name, ms in times.items():
            print(f"  {name:12s} {ms:6.1f}")


def test_histogram_and_curves_match_an_independent_computation(data):
    (p0, _, _), labels, _ = data
    ex = PlacementExplorer(p0, labels, COSTS, EXITS)
    ex.show()
    ex.toggles["exit_2"].value = False
    ex.threshold.value = 0.4
    exits = (1, 3, 4)
    rows = [0, 2, 3]
    idx = simulate_exits(p0[rows], 0.4)
    counts = torch.bincount(idx, minlength=3)
    heights = [b.get_height() for b in ex.histogram.bars]
    expected = [100 * counts[0] / N, 0.0, 100 * counts[1] / N, 100 * counts[2] / N]
    assert heights == pytest.approx([float(h) for h in expected])
    assert ex.histogram.bars[1].get_facecolor()[:3] == pytest.approx(
        (0.827, 0.827, 0.827), abs=0.01
    )
    Gamma = COSTS.Gamma(exits)
    curve = accuracy_cost_curve(p0[rows], labels, "entropy", Gamma, COSTS.full, n_points=101)
    oracle = oracle_curve(p0[rows], labels, Gamma, COSTS.full)
    for line, c in ((ex.plane.family, curve), (ex.plane.oracle, oracle)):
        x, y = line.get_data()
        order = np.argsort(100 * c.cost_fraction.numpy(), kind="stable")
        assert x == pytest.approx(100 * c.cost_fraction.numpy()[order])
        assert y == pytest.approx(100 * c.accuracy.numpy()[order])
    r = ex.result()
    policy = evaluate_policy(p0[rows], labels, 0.4, Gamma=Gamma, full_cost=COSTS.full)
    assert r["exit_counts"] == policy.exit_counts == tuple(counts.tolist())
    c1, c3, c4 = counts.tolist()
    assert f"exits taken: exit 1: {c1} · exit 3: {c3} · exit 4: {c4} inputs" in ex.summary(r)


def test_threshold_explorer_mode_switch_keeps_the_numbers_and_the_values(data):
    (p0, _, _), labels, _ = data
    ex = ThresholdExplorer(p0, labels, COSTS.Gamma(EXITS), full_cost=COSTS.full, exits=EXITS)
    ex.show()
    ex.threshold.value = 0.37
    before = ex.result()
    ex.shared.value = False  # per-exit sliders appear at the shared value: nothing jumps
    assert [s.value for s in ex.per_exit.values()] == [0.37] * 3
    after = ex.result()
    assert (after["accuracy"], after["exit_counts"]) == (before["accuracy"], before["exit_counts"])
    ex.per_exit["threshold_2"].value = 0.9
    ex.shared.value = True
    ex.threshold.value = 0.2  # the shared slider moves; the per-exit values the student set stay
    ex.shared.value = False
    assert [s.value for s in ex.per_exit.values()] == [0.37, 0.9, 0.37]
    r = ex.result()
    assert r["thresholds"] == (0.37, 0.9, 0.37)
    assert (
        r["exit_counts"]
        == evaluate_policy(p0, labels, [0.37, 0.9, 0.37], Gamma=COSTS.Gamma(EXITS)).exit_counts
    )
    ex.shared.value = True
    assert ex.threshold.value == 0.2 and ex.result()["thresholds"] == (0.2, 0.2, 0.2)
    # the slider says its rule in words, and follows the criterion
    assert ex.threshold.description == "exit when entropy ≤ β"
    ex.criterion.value = "max_probability"
    assert ex.threshold.description == "exit when max probability ≥ τ"
    assert ex.per_exit["threshold_1"].description.endswith("max probability ≥ τ1")


def test_cost_above_the_plain_network_is_explained_where_it_appears(data):
    (p0, _, _), labels, _ = data
    ex = PlacementExplorer(p0, labels, COSTS, EXITS)
    r = ex.compute(threshold=0.0)  # nobody leaves early: every head was paid for
    assert r["cost_fraction"] > 1
    assert "above 100 %: the early heads" in ex.summary(r)
    r = ex.compute(threshold=1.0)
    assert r["cost_fraction"] < 1 and "above 100 %" not in ex.summary(r)


def test_tier_sliders_read_plainly_and_fit(data):
    (p0, _, _), labels, _ = data
    system = tiers.tier_system((1e9, 1e10, 1e11), (0.005, 0.02), (2.5e5, 1e6))
    ex = TierExplorer(p0, labels, COSTS, EXITS, (400, 800, 800, 400, 200), system)
    assert "e" not in format(1000.0, ex.bandwidth.readout_format)  # 1,000, not 1.00e+3
    for s in (ex.bandwidth, ex.latency, ex.threshold):
        assert len(s.description) <= 30 and s.layout.width == "520px"
    ex.show()
    ex.threshold.value = 0.3
    # every tier colour is keyed
    handles = ex.view.axes[1].get_legend().legend_handles
    assert [h.get_label() for h in handles] == [f"exit on the {n}" for n in system.names]
    r = ex.result()
    p = evaluate_policy(p0, labels, 0.3, Gamma=COSTS.Gamma(EXITS), full_cost=COSTS.full)
    assert r["mean_flops"] == pytest.approx(p.mean_flops) and r["exit_counts"] == p.exit_counts


def test_cost_reg_gate_curve_matches_gate_exits(data):
    (p0, p1, _), labels, gates = data
    ex = CostRegExplorer({0.0: (p0, gates)}, labels, COSTS.Gamma(EXITS), COSTS.full, EXITS)
    gate, _ = ex.gate_curve(0.0, EXITS)
    for k in (0, 30, 70, 100):
        tau = gate.thresholds[k]
        idx = mexit.gates.gate_exits(gates.double(), tau)
        acc = (p0.argmax(-1).gather(0, idx[None])[0] == labels).double().mean()
        assert float(gate.accuracy[k]) == pytest.approx(float(acc))
        assert float(gate.mean_flops[k]) == pytest.approx(float(COSTS.Gamma(EXITS)[idx].mean()))


def test_plane_limits_only_grow_and_legend_sits_outside():
    live = LiveFigure(ncols=2)
    plane = Plane(live.axes[1], live)
    plane.set_curves(([0.1, 0.5], [0.6, 0.9]), ([0.1, 0.3], [0.6, 0.95]))
    live.render()
    xlim, ylim = plane.ax.get_xlim(), plane.ax.get_ylim()
    draws = live.full_draws
    plane.move(0.2, 0.7)
    plane.set_curves(([0.2, 0.4], [0.7, 0.8]), None)  # inside: nothing rescales
    live.render()
    assert plane.ax.get_xlim() == xlim and plane.ax.get_ylim() == ylim
    assert live.full_draws == draws  # curves are blitted
    plane.move(1.6, 0.99)  # outside: the limits grow once
    live.render()
    assert plane.ax.get_xlim()[1] > 160 and live.full_draws == draws + 1
    legend = plane.ax.get_legend()
    assert legend.get_bbox_to_anchor().x0 >= plane.ax.get_window_extent().x1
    hist = ExitHistogram(live.axes[0], live, (1, 2, 3))
    hist.update([5, 0, 15], on=[True, False, True])
    assert [b.get_height() for b in hist.bars] == pytest.approx([25.0, 0.0, 75.0])


def test_placement_controls_of_every_chapter_match_evaluate_policy(data):
    """The placement control of each explorer (exit toggles, stages, heads, backbone) acts
    as an independent evaluate_policy on the exits kept says."""
    (p0, p1, p2), labels, gates = data
    feedback = FeedbackExplorer({"backprop": p0, "local": p1}, labels, COSTS, EXITS)
    r = feedback.compute(mode="local", threshold=0.45, exit_1=False, exit_3=False)
    want = evaluate_policy(
        p1[[1, 3]], labels, 0.45, Gamma=COSTS.Gamma((2, 4)), full_cost=COSTS.full
    )
    assert r["exits"] == (2, 4) and r["exit_counts"] == want.exit_counts
    assert r["accuracy"] == pytest.approx(want.accuracy)
    assert r["mean_flops"] == pytest.approx(want.mean_flops)

    backbone = BackboneExplorer(
        {"cnn": (p0, labels, COSTS, EXITS), "small": (p2[[1, 3]], labels, COSTS, (2, 4))}
    )
    backbone.widget()
    backbone.backbone.value = "small"
    assert backbone.histogram.exits == (2, 4) and len(backbone.histogram.bars) == 2
    r = backbone.result()
    want = evaluate_policy(p2[[1, 3]], labels, 0.5, Gamma=COSTS.Gamma((2, 4)), full_cost=COSTS.full)
    assert r["exit_counts"] == want.exit_counts
    assert shown_text(backbone) == backbone.summary(r)

    stages = StagesExplorer(p0, labels, COSTS)
    r = stages.compute(stages=3, threshold=0.3, exit_2=False)
    Gamma = mexit.cost.cumulative_costs(COSTS.gamma_f[:3], COSTS.gamma_c, (1, 3))
    want = evaluate_policy(p0[[0, 2]], labels, 0.3, Gamma=Gamma, full_cost=COSTS.full)
    assert r["exits"] == (1, 3) and r["exit_counts"] == want.exit_counts
    assert r["mean_flops"] == pytest.approx(want.mean_flops)
