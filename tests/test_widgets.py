"""Tests for mexit.widgets: set a control's `.value`, check `result()`. No browser, no kernel."""

from __future__ import annotations

import ipywidgets as widgets
import pytest
import torch
from traitlets import TraitError

from mexit.cost import CostProfile, measure_costs
from mexit.inference import evaluate_policy, exit_accuracies, exit_probs
from mexit.widgets import PlacementExplorer, ThresholdExplorer

GAMMA = [100.0, 250.0, 400.0, 1000.0]


@pytest.fixture
def probs_labels(make_probs):
    return make_probs(E=4, N=120, K=5, seed=7, spread=2.5)


def assert_matches(result: dict, policy, n: int):
    assert result["accuracy"] == pytest.approx(policy.accuracy)
    assert result["mean_flops"] == pytest.approx(policy.mean_flops)
    assert result["cost_fraction"] == pytest.approx(policy.cost_fraction)
    assert result["exit_counts"] == policy.exit_counts
    assert result["exit_fractions"] == pytest.approx([c / n for c in policy.exit_counts])
    assert sum(result["exit_counts"]) == n


# ---------------------------------------------------------------------------
# ThresholdExplorer
# ---------------------------------------------------------------------------


def test_threshold_explorer_controls_drive_the_result(probs_labels):
    probs, labels = probs_labels
    ex = ThresholdExplorer(probs, labels, GAMMA, full_cost=800.0, exits=(1, 2, 3, 4))
    assert set(ex.controls) == {
        "criterion",
        "shared",
        "threshold",
        "threshold_1",
        "threshold_2",
        "threshold_3",
    }

    def policy(th, criterion):
        return evaluate_policy(probs, labels, th, criterion, Gamma=GAMMA, full_cost=800.0)

    r = ex.result()  # the defaults: entropy, one shared threshold 0.5
    assert r["thresholds"] == (0.5, 0.5, 0.5)
    assert_matches(r, policy(0.5, "entropy"), 120)

    ex.threshold.value = 0.8
    r = ex.result()
    assert r["thresholds"] == (0.8, 0.8, 0.8)
    assert_matches(r, policy(0.8, "entropy"), 120)

    ex.criterion.value = "max_probability"
    assert_matches(ex.result(), policy(0.8, "max_probability"), 120)

    # per-exit sliders are ignored while the threshold is shared...
    ex.per_exit["threshold_1"].value = 0.3
    ex.per_exit["threshold_2"].value = 0.9
    ex.per_exit["threshold_3"].value = 0.6
    assert ex.result()["thresholds"] == (0.8, 0.8, 0.8)
    # ...and used once it is not
    ex.shared.value = False
    r = ex.result()
    assert r["thresholds"] == (0.3, 0.9, 0.6)
    assert_matches(r, policy([0.3, 0.9, 0.6], "max_probability"), 120)
    ex.criterion.value = "entropy"
    assert_matches(ex.result(), policy([0.3, 0.9, 0.6], "entropy"), 120)


def test_threshold_explorer_moves_inputs_and_cost(probs_labels):
    probs, labels = probs_labels
    ex = ThresholdExplorer(probs, labels, GAMMA)
    # entropy: β = 1 lets everyone leave at the first exit, β = 0 nobody
    ex.threshold.value = 1.0
    r = ex.result()
    assert r["exit_counts"] == (120, 0, 0, 0) and r["mean_flops"] == GAMMA[0]
    ex.threshold.value = 0.0
    r = ex.result()
    assert r["exit_counts"] == (0, 0, 0, 120) and r["mean_flops"] == GAMMA[-1]
    assert r["cost_fraction"] == 1.0  # full_cost defaults to Γ of the final exit
    assert r["accuracy"] == pytest.approx(exit_accuracies(probs, labels)[-1].item())


@pytest.mark.parametrize("criterion", ["entropy", "max_probability"])
def test_a_looser_threshold_never_raises_the_mean_cost(probs_labels, criterion):
    probs, labels = probs_labels
    ex = ThresholdExplorer(probs, labels, GAMMA, criterion=criterion)
    assert ex.criterion.value == criterion
    costs = []
    for v in [i / 20 for i in range(21)]:
        ex.threshold.value = v
        costs.append(ex.result()["mean_flops"])
    # entropy: larger β is looser; max probability: smaller τ is looser
    looser_first = costs[::-1] if criterion == "entropy" else costs
    assert all(a <= b for a, b in zip(looser_first, looser_first[1:]))
    assert costs[0] != costs[-1]  # the sweep does move the cost


def test_threshold_explorer_rejects_bad_arguments(probs_labels):
    probs, labels = probs_labels
    with pytest.raises(ValueError, match="one cost per exit"):
        ThresholdExplorer(probs, labels, GAMMA[:3])
    with pytest.raises(ValueError, match="exits must name 4 exits"):
        ThresholdExplorer(probs, labels, GAMMA, exits=(1, 2, 3))
    with pytest.raises(ValueError, match="rows summing to 1"):
        ThresholdExplorer(probs * 0.5, labels, GAMMA)
    with pytest.raises(ValueError, match="one label per input"):
        ThresholdExplorer(probs, labels[:-1], GAMMA)
    with pytest.raises((ValueError, TraitError)):
        ThresholdExplorer(probs, labels, GAMMA, criterion="margin")


# ---------------------------------------------------------------------------
# PlacementExplorer, on a real tiny model and its measured costs
# ---------------------------------------------------------------------------


@pytest.fixture
def placement(make_cnn, make_inputs):
    model = make_cnn(scale=10.0)  # exits at blocks 1, 2, 3, 4
    x = make_inputs(90, (1, 16), seed=5)
    probs = exit_probs(model, x)
    g = torch.Generator().manual_seed(0)
    labels = torch.where(
        torch.rand(90, generator=g) < 0.7,
        probs[-1].argmax(-1),
        torch.randint(0, 5, (90,), generator=g),
    )
    costs = measure_costs(model, (1, 16))
    return model, x, probs, labels, costs


def test_placement_explorer_toggles_remove_exits(placement):
    model, x, probs, labels, costs = placement
    ex = PlacementExplorer(probs, labels, costs, model.exits)
    assert set(ex.controls) == {"exit_1", "exit_2", "exit_3", "threshold"}
    ex.threshold.value = 0.6

    r = ex.result()
    assert r["exits"] == (1, 2, 3, 4)
    policy = evaluate_policy(
        probs, labels, 0.6, Gamma=costs.Gamma((1, 2, 3, 4)), full_cost=costs.full
    )
    assert_matches(r, policy, 90)
    assert r["exit_accuracy"] == pytest.approx(exit_accuracies(probs, labels).tolist())

    ex.toggles["exit_2"].value = False
    r = ex.result()
    assert r["exits"] == (1, 3, 4) and len(r["exit_counts"]) == 3
    # a second path: the model rebuilt with exit set {1, 3}, run again
    sub = model.with_exits((1, 3))
    sub_probs = exit_probs(sub, x)
    policy = evaluate_policy(
        sub_probs, labels, 0.6, Gamma=costs.Gamma(sub.exits), full_cost=costs.full
    )
    assert_matches(r, policy, 90)
    all_acc = exit_accuracies(probs, labels).tolist()
    assert r["exit_accuracy"] == pytest.approx([all_acc[0], all_acc[2], all_acc[3]])
    # the inputs exit 2 took now leave at exit 3 or the final exit, never at exit 1
    before = evaluate_policy(probs, labels, 0.6).exit_index
    after = policy.exit_index
    assert torch.equal(after[before == 0], torch.zeros_like(after[before == 0]))
    assert torch.all(after[before == 1] >= 1)

    # every early exit off: the plain network
    ex.toggles["exit_1"].value = False
    ex.toggles["exit_3"].value = False
    r = ex.result()
    assert r["exits"] == (4,) and r["exit_counts"] == (90,)
    assert r["mean_flops"] == costs.full and r["cost_fraction"] == 1.0
    assert r["accuracy"] == pytest.approx(all_acc[-1])


def test_placement_explorer_threshold_and_criterion(placement):
    model, x, probs, labels, costs = placement
    ex = PlacementExplorer(probs, labels, costs, model.exits, criterion="max_probability")
    ex.toggles["exit_1"].value = False
    means = []
    for v in [i / 10 for i in range(11)]:
        ex.threshold.value = v
        r = ex.result()
        policy = evaluate_policy(
            probs[1:],
            labels,
            v,
            "max_probability",
            Gamma=costs.Gamma((2, 3, 4)),
            full_cost=costs.full,
        )
        assert_matches(r, policy, 90)
        means.append(r["mean_flops"])
    assert all(a <= b for a, b in zip(means, means[1:]))  # larger τ is stricter


def test_placement_explorer_rejects_bad_arguments(placement):
    model, x, probs, labels, costs = placement
    with pytest.raises(TypeError, match="CostProfile"):
        PlacementExplorer(probs, labels, list(costs.gamma_f), model.exits)
    with pytest.raises(ValueError, match="ending at L=4"):
        PlacementExplorer(probs, labels, costs, (1, 2, 3))
    with pytest.raises(ValueError, match="ending at L=4"):
        PlacementExplorer(probs, labels, costs, (1, 2, 3, 5))
    with pytest.raises(ValueError, match="ending at L=3"):
        PlacementExplorer(probs, labels, CostProfile((1, 1, 1), {1: 1, 2: 1, 3: 1}), model.exits)
    with pytest.raises(ValueError, match="criterion"):
        PlacementExplorer(probs, labels, costs, model.exits, criterion="margin")
    with pytest.raises(ValueError, match="one label per input"):
        PlacementExplorer(probs, labels[:10], costs, model.exits)


def test_placement_explorer_rejects_exits_out_of_order(placement):
    model, x, probs, labels, costs = placement
    with pytest.raises(ValueError, match="exits"):
        PlacementExplorer(probs, labels, costs, (3, 2, 1, 4))


# ---------------------------------------------------------------------------
# show(): the notebook view, outside a kernel
# ---------------------------------------------------------------------------


def descendants(w):
    kids = getattr(w, "children", ())
    return [w] + [d for k in kids for d in descendants(k)]


def visible(w):
    if w.layout.display == "none":
        return []
    return [w] + [d for k in getattr(w, "children", ()) for d in visible(k)]


def test_show_returns_a_widget_and_renders(probs_labels, placement):
    probs, labels = probs_labels
    t = ThresholdExplorer(probs, labels, GAMMA)
    box = t.show()
    assert isinstance(box, widgets.VBox)
    controls = descendants(box.children[0])
    assert all(c in controls for c in t.controls.values())
    assert t.text.value and "accuracy" in t.text.value  # the live summary was rendered
    assert t.view.image in box.children and t.view.image.value[:2] == b"\xff\xd8"  # a JPEG
    # only the sliders in use are visible: the shared one, or one per exit
    shown = visible(box.children[0])
    assert t.threshold in shown and not any(s in shown for s in t.per_exit.values())
    t.shared.value = False
    shown = visible(box.children[0])
    assert t.threshold not in shown and all(s in shown for s in t.per_exit.values())
    before = t.text.value
    t.per_exit["threshold_1"].value = 0.05  # re-renders through the observer
    assert t.text.value != before and t.summary(t.result()) in t.text.value.replace(
        "&gt;", ">"
    ).replace("&lt;", "<")

    model, x, p, y, costs = placement
    e = PlacementExplorer(p, y, costs, model.exits)
    box = e.show()
    assert isinstance(box, widgets.Widget)
    e.toggles["exit_2"].value = False
    assert "% of the plain network" in e.text.value and "exits kept: 1, 3, 4" in e.text.value
