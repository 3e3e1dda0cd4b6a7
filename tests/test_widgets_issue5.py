"""The explorers of notebooks 08-11: set controls, read `result()`."""

from __future__ import annotations

import pytest
import torch

from mexit import tiers
from mexit.cost import CostProfile
from mexit.widgets import (
    BackboneExplorer,
    FeedbackExplorer,
    InformationExplorer,
    TierExplorer,
)

COSTS = CostProfile(gamma_f=(100, 200, 300, 400), gamma_c={1: 10, 2: 10, 3: 10, 4: 10})
EXITS = (1, 2, 3, 4)


@pytest.fixture
def runs(make_probs):
    a, labels = make_probs(E=4, N=60, K=5, seed=0)
    b, _ = make_probs(E=4, N=60, K=5, seed=1, spread=5.0)
    return {"backprop": a, "local": b}, labels


def test_feedback_explorer(runs):
    probs, labels = runs
    w = FeedbackExplorer(probs, labels, COSTS, EXITS)
    w.mode.value = "local"
    w.threshold.value = 0.0
    r = w.result()
    assert r["mode"] == "local" and r["exit_counts"][-1] == 60  # β = 0: nobody leaves early
    acc = (probs["local"][-1].argmax(-1) == labels).float().mean().item()
    assert r["accuracy"] == pytest.approx(acc)
    w.threshold.value = 1.0
    assert w.result()["exit_counts"][0] == 60 and w.result()["cost_fraction"] < 0.5
    w.plot(w.result())
    with pytest.raises(ValueError, match="mode"):
        w.compute(mode="hebbian")
    with pytest.raises(ValueError, match="costs"):
        FeedbackExplorer(probs, labels, {"backprop": COSTS}, EXITS)


def test_tier_explorer(runs):
    probs, labels = runs
    system = tiers.tier_system([1e6, 1e8, 1e9], [0.01, 0.05], [1e4, 1e6])
    h_bytes = (16, 64, 64, 32, 32)
    w = TierExplorer(probs["local"], labels, COSTS, EXITS, h_bytes, system)
    w.placement.value = (0, 0, 1, 2)
    w.threshold.value = 0.5
    w.bandwidth.value = 10.0  # kB/s
    base = w.result()
    w.bandwidth.value = 1000.0
    faster = w.result()
    assert faster["mean_latency_ms"] < base["mean_latency_ms"]
    assert faster["accuracy"] == base["accuracy"]  # the link never changes the answers
    w.latency.value = 50.0
    assert w.result()["mean_latency_ms"] > faster["mean_latency_ms"]
    w.placement.value = (0, 0, 0, 0)
    r = w.result()
    assert r["mean_bytes"] == 0 and r["tier_fractions"] == (1.0, 0.0, 0.0)
    assert r["fastest_latency_ms"] <= r["mean_latency_ms"]
    w.plot(r)
    assert "fastest placement" in w.summary(r)
    with pytest.raises(ValueError, match="tier order"):
        w.compute(placement=(1, 0, 0, 0))
    with pytest.raises(ValueError, match="bandwidths"):
        w.compute(bandwidth=-1.0)


def test_information_explorer(runs):
    probs, labels = runs
    planes = {0.0: [(4, 1), (4, 1.5), (3.5, 2), (3, 2.2)], 0.5: [(3, 1), (2, 1), (1.5, 1), (1, 1)]}
    w = InformationExplorer(
        planes, {0.0: probs["backprop"], 0.5: probs["local"]}, labels, COSTS, EXITS
    )
    w.beta.value = 0.5
    w.threshold.value = 1.0  # everyone leaves at the first exit placed
    r = w.result()
    assert r["exits"] == (1, 2, 3, 4) and r["exit_counts"][0] == 60
    assert r["cost_fraction"] == pytest.approx(
        110 / 1010
    )  # block 1 + head 1 of the full network (blocks + final head)
    # placing no exit at layers 1 and 2: the inputs leave at exit 3, which costs more
    w.toggles["exit_1"].value = False
    w.toggles["exit_2"].value = False
    r = w.result()
    assert r["exits"] == (3, 4) and r["exit_counts"] == (60, 0)
    assert r["plane"] == ((1.5, 1.0), (1.0, 1.0))
    acc = (probs["local"][2].argmax(-1) == labels).float().mean().item()
    assert r["accuracy"] == pytest.approx(acc) and r["exit_accuracy"][0] == pytest.approx(acc)
    assert r["cost_fraction"] == pytest.approx(610 / 1010)  # blocks 1-3 + head 3 (no heads 1, 2)
    w.plot(r)
    assert "exit 3" in w.summary(r)
    with pytest.raises(ValueError, match="beta"):
        w.compute(beta=0.2)
    with pytest.raises(ValueError, match="toggles"):
        w.compute(beta=0.5, exit_9=True)
    with pytest.raises(ValueError, match="same betas"):
        InformationExplorer(planes, {0.0: probs["local"]}, labels, COSTS, EXITS)


def test_backbone_explorer(runs, make_probs):
    probs, labels = runs
    g_probs, g_labels = make_probs(E=3, N=40, K=3, seed=5)
    g_costs = CostProfile(gamma_f=(10, 10, 10), gamma_c={1: 1, 2: 1, 3: 1})
    w = BackboneExplorer(
        {
            "cnn": (probs["backprop"], labels, COSTS, EXITS),
            "gnn": (g_probs, g_labels, g_costs, (1, 2, 3)),
        }
    )
    w.backbone.value = "gnn"
    w.threshold.value = 1.0
    r = w.result()
    assert r["exits"] == (1, 2, 3) and r["exit_counts"] == (40, 0, 0)
    assert r["cost_fraction"] == pytest.approx(11 / 31)  # full network: 3 blocks + final head
    w.plot(r)
    with pytest.raises(ValueError, match="backbone"):
        w.compute(backbone="rnn")
    with pytest.raises(TypeError, match="probs, labels, costs, exits"):
        BackboneExplorer({"cnn": (probs["backprop"], labels)})
    assert torch.is_tensor(w.runs["cnn"][0])
