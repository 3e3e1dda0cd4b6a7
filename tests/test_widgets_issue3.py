"""Tests for the explorers of notebooks 02, 06 and 07: set a control's `.value`, check
`result()` against the tools it wraps."""

from __future__ import annotations

import math

import pytest
import torch

from mexit.cost import CostProfile
from mexit.gates import gate_exits
from mexit.placement import evaluate_placement, greedy_placement, optimal_placement
from mexit.policies import LearnedConfidence, oracle_curve, policy_exits
from mexit.widgets import CostRegExplorer, PlacementSearchExplorer, PolicyExplorer


@pytest.fixture
def problem(make_probs):
    probs, labels = make_probs(E=4, N=120, K=5, spread=3.0)
    costs = CostProfile((10, 20, 30, 40), {1: 1, 2: 1, 3: 2, 4: 2})
    return probs, labels, costs


def test_placement_search_explorer(problem):
    probs, labels, costs = problem
    w = PlacementSearchExplorer(probs, labels, costs, (1, 2, 3, 4), target_accuracy=0.2)
    w.threshold.value = 0.6
    search = optimal_placement(probs, labels, costs, 0.6, 0.2)
    for e in (1, 2, 3):  # switch on exactly the optimal set
        w.toggles[f"exit_{e}"].value = e in search.best.exits
    r = w.result()
    assert r["exits"] == search.best.exits + (4,)
    assert r["optimal_exits"] == search.best.exits and r["is_optimal"]
    assert r["mean_flops"] == pytest.approx(search.best.mean_flops)
    # any other set is not optimal unless it costs the same and meets the target
    other = tuple(e for e in (1, 2, 3) if e not in search.best.exits)
    for e in (1, 2, 3):
        w.toggles[f"exit_{e}"].value = e in other
    r2 = w.result()
    assert r2["is_optimal"] == search.is_optimal(other)
    assert "optimal" in w.summary(r2)
    # the greedy TH slider: TH = 0 keeps no exit, and the greedy set is scored like any set
    w.th.value = 0.0
    r3 = w.result()
    assert r3["greedy_exits"] == ()
    assert r3["greedy_cost_fraction"] == pytest.approx(search.score(()).cost_fraction)
    # at TH = 1 the slider shows eq. 5's walk, scored like any other set
    w.th.value = 1.0
    r4 = w.result()
    walk = greedy_placement(probs, costs, threshold=0.6, th=1.0)
    assert r4["greedy_exits"] == walk
    scored = evaluate_placement(probs, labels, costs, walk, 0.6)
    assert r4["greedy_accuracy"] == pytest.approx(scored.accuracy)
    assert r4["greedy_meets_target"] == (scored.accuracy >= 0.2)
    assert "greedy eq. 5" in w.summary(r4)
    # a target no set reaches: the summary says so and still shows the greedy set
    hard = PlacementSearchExplorer(probs, labels, costs, (1, 2, 3, 4), target_accuracy=1.0)
    r5 = hard.compute(threshold=0.6, th=1.0)
    assert r5["optimal_exits"] is None and not r5["is_optimal"]
    assert "no exit set reaches" in hard.summary(r5) and "greedy eq. 5" in hard.summary(r5)
    w.plot(r2)
    with pytest.raises(ValueError, match="target_accuracy must be <= 1"):
        PlacementSearchExplorer(probs, labels, costs, (1, 2, 3, 4), target_accuracy=1.5)
    with pytest.raises(ValueError, match="every block"):
        PlacementSearchExplorer(probs[[0, 3]], labels, costs, (2, 4))


def test_policy_explorer(problem):
    probs, labels, costs = problem
    Gamma = costs.Gamma((1, 2, 3))
    g = LearnedConfidence(4).fit(probs, labels)
    w = PolicyExplorer(probs, labels, Gamma, costs.full, (1, 2, 3, 4), learned=g)
    oracle = oracle_curve(probs, labels, Gamma, costs.full)
    for criterion in ("entropy", "unnormalized_entropy", "max_probability", "learned"):
        w.criterion.value = criterion
        lo, hi = sorted((w.threshold.min, w.threshold.max))
        if criterion == "unnormalized_entropy":
            assert hi == pytest.approx(math.log(5))
        w.threshold.value = (lo + hi) / 2
        r = w.result()
        idx = policy_exits(probs, w.threshold.value, criterion, g)
        assert r["exit_counts"] == tuple(torch.bincount(idx, minlength=4).tolist())
        assert r["oracle_cost_fraction"] == pytest.approx(oracle.cost_at(r["accuracy"]))
        assert r["gap_to_oracle"] >= 1.0 - 1e-9  # no policy beats the oracle
    # per-exit thresholds: the strictest at every exit sends everyone to the final exit
    w.criterion.value = "max_probability"
    w.shared.value = False
    for s in w.per_exit.values():
        s.value = 1.0
    r = w.result()
    assert r["cost_fraction"] == pytest.approx(float(Gamma[-1]) / costs.full)
    w.plot(r)
    with pytest.raises(ValueError, match="criterion must be one of"):
        PolicyExplorer(probs, labels, Gamma, criterion="learned")
    assert not w.toggles  # exit toggles need the cost profile


def test_policy_explorer_exit_toggles_rescore_the_exits_kept(problem):
    probs, labels, costs = problem
    exits = (1, 2, 3, 4)
    Gamma = costs.Gamma(exits)
    g = LearnedConfidence(4).fit(probs, labels)
    w = PolicyExplorer(probs, labels, Gamma, costs.full, exits, learned=g, costs=costs)
    assert set(w.toggles) == {"exit_1", "exit_2", "exit_3"}
    w.criterion.value = "max_probability"
    w.threshold.value = 0.6
    everything = w.result()
    assert everything["exits"] == exits
    w.toggles["exit_2"].value = False
    r = w.result()
    kept = [0, 2, 3]
    sub = policy_exits(probs[kept], 0.6, "max_probability")
    sub_Gamma = costs.Gamma((1, 3, 4))
    assert r["exits"] == (1, 3, 4) and r["exit_counts"][1] == 0
    assert r["exit_counts"] == tuple(torch.bincount(torch.tensor(kept)[sub], minlength=4).tolist())
    assert r["mean_flops"] == pytest.approx(float(sub_Gamma[sub].mean()))
    oracle = oracle_curve(probs[kept], labels, sub_Gamma, costs.full)
    assert r["oracle_cost_fraction"] == pytest.approx(oracle.cost_at(r["accuracy"]))
    # the learned confidence keeps reading each kept exit with its own g_i
    w.criterion.value = "learned"
    w.threshold.value = 0.5
    scores = g(probs)[[0, 2]]
    first = ((scores >= 0.5).int().argmax(0)).where((scores >= 0.5).any(0), torch.tensor(2))
    assert w.result()["exit_counts"] == tuple(
        torch.bincount(torch.tensor(kept)[first], minlength=4).tolist()
    )
    # every early exit off: everyone runs to the final exit, at the plain network's cost
    for t in w.toggles.values():
        t.value = False
    r = w.result()
    assert r["exit_counts"] == (0, 0, 0, 120)
    assert r["cost_fraction"] == pytest.approx(1.0)
    w.plot(r)
    assert "exits 4" in w.summary(r)


def test_cost_reg_explorer(problem):
    probs, labels, costs = problem
    Gamma = costs.Gamma((1, 2, 3))
    gen = torch.Generator().manual_seed(0)
    runs = {lam: (probs, torch.rand(120, 3, generator=gen)) for lam in (0.0, 1.0, 4.0)}
    w = CostRegExplorer(
        runs, labels, Gamma, costs.full, (1, 2, 3, 4), frontier=([0.5, 1.0], [0.3, 0.4])
    )
    w.lam.value = 4.0
    w.threshold.value = 0.7
    r = w.result()
    idx = gate_exits(runs[4.0][1], 0.7)
    assert r["exit_counts"] == tuple(torch.bincount(idx, minlength=4).tolist())
    assert r["mean_flops"] == pytest.approx(float(Gamma[idx].mean()))
    w.threshold.value = 0.0  # every gate open: everyone leaves at the first exit
    assert w.result()["exit_counts"][0] == 120
    w.plot(w.result())
    with pytest.raises(ValueError, match="lam must be one of"):
        w.compute(lam=2.0)
    with pytest.raises(ValueError, match="λ \\(runs key\\) must be >= 0"):
        CostRegExplorer({-1.0: runs[0.0]}, labels, Gamma)
    with pytest.raises(ValueError, match="gates must have shape"):
        CostRegExplorer({0.0: (probs, torch.rand(120, 2))}, labels, Gamma)


def test_cost_reg_explorer_exit_toggles_and_entropy_on_the_same_exits(problem):
    from mexit.inference import evaluate_policy

    probs, labels, costs = problem
    Gamma = costs.Gamma((1, 2, 3))
    gen = torch.Generator().manual_seed(1)
    gates = torch.rand(120, 3, generator=gen)
    w = CostRegExplorer({0.0: (probs, gates)}, labels, Gamma, costs.full, (1, 2, 3, 4), costs=costs)
    assert set(w.toggles) == {"exit_1", "exit_2", "exit_3"}
    w.lam.value = 0.0
    w.threshold.value = 0.0  # every gate open: everyone leaves at the first exit still there
    w.toggles["exit_1"].value = False
    r = w.result()
    assert r["exits"] == (2, 3, 4)
    assert r["exit_counts"] == (120, 0, 0)
    # exit 1's head is not run any more: Γ of exit 2 drops by exit 1's head cost
    assert r["mean_flops"] == pytest.approx(10 + 20 + 1)
    assert r["mean_flops"] < float(Gamma[1])
    # the gate of a removed exit is ignored, the others are read where they were
    w.threshold.value = 0.6
    r = w.result()
    idx = gate_exits(gates[:, 1:], 0.6)
    assert r["exit_counts"] == tuple(torch.bincount(idx, minlength=3).tolist())
    # the entropy policy runs on the same heads and the same exit set
    w.beta.value = 0.4
    r = w.result()
    ent = evaluate_policy(probs[1:], labels, 0.4, "entropy", costs.Gamma((2, 3, 4)), costs.full)
    assert r["entropy_accuracy"] == pytest.approx(ent.accuracy)
    assert r["entropy_mean_flops"] == pytest.approx(ent.mean_flops)
    assert r["entropy_exit_counts"] == ent.exit_counts
    # β = 1 lets everyone out at the first exit still there, β = 0 (almost) nobody
    assert w.compute(lam=0.0, beta=1.0, exit_1=False)["entropy_exit_counts"][0] == 120
    assert "entropy ≤ β = 0.40" in w.summary(r)
    w.plot(r)
    with pytest.raises(ValueError, match="unknown controls"):
        w.compute(lam=0.0, exit_9=False)
    with pytest.raises(ValueError, match="costs must give the same Γ"):
        CostRegExplorer({0.0: (probs, gates)}, labels, Gamma * 2, exits=(1, 2, 3, 4), costs=costs)
    with pytest.raises(TypeError, match="costs must be a CostProfile"):
        CostRegExplorer({0.0: (probs, gates)}, labels, Gamma, costs=Gamma)
    # without costs there is nothing to recompute Γ from: no exit toggles
    assert CostRegExplorer({0.0: (probs, gates)}, labels, Gamma).toggles == {}
