"""Tests for the training explorers (mexit.widgets.training): set controls, check result()."""

from __future__ import annotations

import pytest
import torch

import mexit
from mexit.cost import CostProfile, cumulative_costs
from mexit.widgets import HeadKindExplorer, SchemeExplorer, StagesExplorer

COSTS = CostProfile(gamma_f=(100, 200, 400, 800), gamma_c={1: 10, 2: 20, 3: 30, 4: 40})
EXITS = (1, 2, 3, 4)


def test_scheme_explorer_switches_between_precomputed_schemes(make_probs):
    pa, labels = make_probs(E=4, N=80, K=5, seed=0)
    pb, _ = make_probs(E=4, N=80, K=5, seed=1)
    w = SchemeExplorer({"uniform": pa, "final_only": pb}, labels, COSTS, EXITS)
    r = w.result()
    assert r["scheme"] == "uniform"
    expected = mexit.evaluate_policy(pa, labels, 0.5, Gamma=COSTS.Gamma(EXITS), full_cost=1540)
    assert r["accuracy"] == pytest.approx(expected.accuracy)
    assert r["mean_flops"] == pytest.approx(expected.mean_flops)
    w.scheme.value = "final_only"
    r2 = w.result()
    assert r2["scheme"] == "final_only"
    assert r2["accuracy_per_exit"] == pytest.approx(mexit.exit_accuracies(pb, labels).tolist())
    # placement: switching exit 1 off removes it for the chosen scheme
    w.toggles["exit_1"].value = False
    r3 = w.result()
    assert r3["exits"] == (2, 3, 4) and len(r3["exit_counts"]) == 3
    w.plot(r3)
    assert "accuracy" in w.summary(r3)
    with pytest.raises(ValueError, match="scheme must be one of"):
        w.compute(scheme="sdn")


def test_scheme_explorer_threshold_trades_cost_for_accuracy(make_probs):
    p, labels = make_probs(E=4, N=200, K=5, seed=2)
    w = SchemeExplorer({"uniform": p}, labels, COSTS, EXITS)
    w.threshold.value = 0.0  # nobody is that sure: everyone goes to the end
    assert w.result()["cost_fraction"] == pytest.approx(1.0 + 60 / 1540)
    w.threshold.value = 1.0  # everyone leaves at exit 1
    assert w.result()["exit_counts"][0] == 200


def test_scheme_explorer_rejects_bad_input(make_probs):
    p, labels = make_probs(E=4, N=20, K=5)
    with pytest.raises(TypeError, match="non-empty dict"):
        SchemeExplorer({}, labels, COSTS, EXITS)
    with pytest.raises(TypeError, match="CostProfile"):
        SchemeExplorer({"a": p}, labels, {"gamma_f": 1}, EXITS)
    with pytest.raises(ValueError):
        SchemeExplorer({"a": p[:3]}, labels, COSTS, EXITS)


def test_stages_explorer_truncates_the_network_after_k_stages(make_probs):
    p, labels = make_probs(E=4, N=120, K=5, seed=3)
    ref, _ = make_probs(E=4, N=120, K=5, seed=4)
    w = StagesExplorer(p, labels, COSTS, reference=ref)
    assert w.result()["exits"] == EXITS
    w.stages.value = 2
    w.threshold.value = 0.4
    r = w.result()
    assert r["exits"] == (1, 2)
    Gamma = cumulative_costs(COSTS.gamma_f[:2], COSTS.gamma_c, (1, 2))
    expected = mexit.evaluate_policy(p[:2], labels, 0.4, Gamma=Gamma, full_cost=COSTS.full)
    assert r["accuracy"] == pytest.approx(expected.accuracy)
    assert r["cost_fraction"] == pytest.approx(expected.mean_flops / COSTS.full)
    assert r["cost_fraction"] < 1.0
    w.stages.value = 1  # one stage: every input leaves at exit 1
    r1 = w.result()
    assert r1["exit_counts"] == (120,)
    assert r1["accuracy"] == pytest.approx(mexit.exit_accuracies(p, labels)[0].item())
    w.plot(r1)
    with pytest.raises(ValueError, match="stages must be in"):
        w.compute(stages=5)
    with pytest.raises(ValueError, match="one exit per block"):
        StagesExplorer(p[:3], labels, COSTS)
    with pytest.raises(ValueError, match="reference"):
        StagesExplorer(p, labels, COSTS, reference=ref[:, :10])


def test_stages_explorer_toggles_exits_and_evaluates_the_twin_at_the_same_placement(make_probs):
    p, labels = make_probs(E=4, N=150, K=5, seed=7)
    ref, _ = make_probs(E=4, N=150, K=5, seed=8)
    w = StagesExplorer(p, labels, COSTS, reference=ref)
    assert set(w.toggles) == {"exit_1", "exit_2", "exit_3"}
    w.stages.value = 3
    w.toggles["exit_1"].value = False
    w.threshold.value = 0.5
    r = w.result()
    assert r["exits"] == (2, 3)
    Gamma = cumulative_costs(COSTS.gamma_f[:3], COSTS.gamma_c, (2, 3))
    for probs, got in ((p, r), (ref, r["reference"])):
        expected = mexit.evaluate_policy(
            probs[[1, 2]], labels, 0.5, Gamma=Gamma, full_cost=COSTS.full
        )
        assert got["accuracy"] == pytest.approx(expected.accuracy)
        assert got["mean_flops"] == pytest.approx(expected.mean_flops)
    # without exit 1 nobody pays for head c_1: cheaper than with it at β = 1 (all leave first)
    w.threshold.value = 1.0
    without = w.result()["mean_flops"]
    w.toggles["exit_1"].value = True
    assert w.result()["mean_flops"] < without
    # a toggle above the trained stages is ignored: the last stage is always the final exit
    w.stages.value = 2
    w.toggles["exit_2"].value = False
    assert w.result()["exits"] == (1, 2)
    assert "joint twin" in w.summary(w.result())
    w.plot(w.result())
    with pytest.raises(ValueError, match="toggles"):
        w.compute(stages=2, exit_9=True)


def head_kind_setup(make_probs):
    pa, labels = make_probs(E=4, N=100, K=5, seed=5)
    pb, _ = make_probs(E=4, N=100, K=5, seed=6)
    pb[-1] = pa[-1]  # both kinds share the backbone's final head
    gammas = {"pooled": {1: 10, 2: 20, 3: 30}, "tree": {1: 2, 2: 3, 3: 4}}
    return {"pooled": pa, "tree": pb}, gammas, labels


def test_head_kind_explorer_mixes_heads_per_exit(make_probs):
    probs, gammas, labels = head_kind_setup(make_probs)
    w = HeadKindExplorer(probs, gammas, labels, COSTS, EXITS)
    w.kinds["head_1"].value = "tree"
    w.kinds["head_2"].value = "none"
    w.threshold.value = 0.6
    r = w.result()
    assert r["exits"] == (1, 3, 4) and r["heads"] == ("tree", "pooled", "final")
    mixed = torch.stack([probs["tree"][0], probs["pooled"][2], probs["pooled"][3]])
    Gamma = cumulative_costs(COSTS.gamma_f, {1: 2, 3: 30, 4: 40}, (1, 3, 4))
    expected = mexit.evaluate_policy(mixed, labels, 0.6, Gamma=Gamma, full_cost=COSTS.full)
    assert r["accuracy"] == pytest.approx(expected.accuracy)
    assert r["mean_flops"] == pytest.approx(expected.mean_flops)
    assert r["exit_counts"] == expected.exit_counts
    assert "exit 1: tree" in w.summary(r)
    w.plot(r)


def test_head_kind_explorer_without_heads_is_the_backbone(make_probs):
    probs, gammas, labels = head_kind_setup(make_probs)
    w = HeadKindExplorer(probs, gammas, labels, COSTS, EXITS)
    for c in w.kinds.values():
        c.value = "none"
    r = w.result()
    assert r["exits"] == (4,)
    assert r["cost_fraction"] == pytest.approx(1.0)
    assert r["accuracy"] == pytest.approx(mexit.exit_accuracies(probs["pooled"], labels)[-1].item())


def test_head_kind_explorer_rejects_bad_input(make_probs):
    probs, gammas, labels = head_kind_setup(make_probs)
    with pytest.raises(ValueError, match="gamma_c_by_kind"):
        HeadKindExplorer(probs, {"pooled": gammas["pooled"]}, labels, COSTS, EXITS)
    with pytest.raises(ValueError, match="end with the final block"):
        HeadKindExplorer(probs, gammas, labels, COSTS, (1, 2, 3))
    w = HeadKindExplorer(probs, gammas, labels, COSTS, EXITS)
    with pytest.raises(ValueError, match="head_1 must be"):
        w.compute(head_1="forest")
