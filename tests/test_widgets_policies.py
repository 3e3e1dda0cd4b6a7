"""The policy explorer of notebook 06 (issue 13 §3, issue 14 §1): every policy on the same
accuracy–cost plane with the oracle envelope; set a control's `.value`, check `result()`
and the figure against the tools the explorer wraps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mexit.cost import CostProfile
from mexit.cost_weighted_policy import fit_cost_weighted_policy
from mexit.patience import patience_exits
from mexit.policies import LearnedConfidence, oracle_curve, policy_exits
from mexit.widgets import PolicyExplorer
from mexit.zero_time_waste import fit_zero_time_waste, ztw_exits

EXITS = (1, 2, 3, 4)


@pytest.fixture
def explorer(make_probs):
    probs, labels = make_probs(E=4, N=150, K=3, spread=2.5, seed=7)
    costs = CostProfile((10, 20, 30, 40), {1: 1, 2: 1, 3: 2, 4: 2})
    Gamma = costs.Gamma(EXITS)
    g = LearnedConfidence(4).fit(probs, labels)
    ztw = fit_zero_time_waste(probs, labels)
    cw = [fit_cost_weighted_policy(probs, labels, Gamma, lam) for lam in (0.0, 0.1, 1.0)]
    w = PolicyExplorer(
        probs, labels, Gamma, costs.full, EXITS, learned=g, costs=costs, ztw=ztw, cost_weighted=cw
    )
    return w, probs, labels, costs, Gamma, ztw, cw


def _acc(pred, labels):
    return float((pred == labels).double().mean())


def test_every_policy_is_offered_with_its_rule_in_words(explorer):
    w, *_ = explorer
    values = [v for _, v in w.criterion.options]
    assert values == [
        "entropy",
        "unnormalized_entropy",
        "max_probability",
        "learned",
        "patience",
        "zero_time_waste",
        "cost_weighted",
    ]
    for label, _ in w.criterion.options:
        assert "exit when" in label and "_" not in label
    assert w.threshold.description == "exit when entropy ≤ β"


def test_patience_ztw_and_cost_weighted_equal_their_own_functions(explorer):
    w, probs, labels, costs, Gamma, ztw, cw = explorer
    oracle = oracle_curve(probs, labels, Gamma, costs.full)
    w.criterion.value = "patience"
    for t in (1, 2, 3):
        w.patience.value = t
        r = w.result()
        idx, pred = patience_exits(probs, t)
        assert r["exit_counts"] == tuple(torch.bincount(idx, minlength=4).tolist())
        assert r["accuracy"] == pytest.approx(_acc(pred, labels))
        assert r["mean_flops"] == pytest.approx(float(Gamma[idx].mean()))
        assert r["oracle_cost_fraction"] == pytest.approx(oracle.cost_at(r["accuracy"]))
    w.criterion.value = "zero_time_waste"
    w.threshold.value = 0.7
    idx, pred = ztw_exits(probs, ztw, 0.7)
    r = w.result()
    assert r["exit_counts"] == tuple(torch.bincount(idx, minlength=4).tolist())
    assert r["accuracy"] == pytest.approx(_acc(pred, labels))
    w.shared.value = False
    w.per_exit["threshold_1"].value = 1.0  # nobody leaves at exit 1
    idx, pred = ztw_exits(probs, ztw, [1.0, 0.7, 0.7])
    r = w.result()
    assert r["exit_counts"] == tuple(torch.bincount(idx, minlength=4).tolist())
    assert r["exit_counts"][0] == 0 or ztw.ensemble(probs)[0].amax(-1).max() >= 1.0
    w.criterion.value = "cost_weighted"
    for pol in cw:
        w.lam.value = pol.lam
        idx = pol.exits(probs)
        r = w.result()
        assert r["exit_counts"] == tuple(torch.bincount(idx, minlength=4).tolist())
        assert r["accuracy"] == pytest.approx(
            _acc(probs.argmax(-1).gather(0, idx[None])[0], labels)
        )


def test_patience_over_the_exits_kept(explorer):
    w, probs, labels, costs, *_ = explorer
    w.criterion.value = "patience"
    w.patience.value = 1
    w.toggles["exit_2"].value = False
    kept = [0, 2, 3]
    sub, pred = patience_exits(probs[kept], 1)
    r = w.result()
    assert r["exits"] == (1, 3, 4)
    assert r["exit_counts"] == tuple(torch.bincount(torch.tensor(kept)[sub], minlength=4).tolist())
    assert r["mean_flops"] == pytest.approx(float(costs.Gamma((1, 3, 4))[sub].mean()))
    assert r["accuracy"] == pytest.approx(_acc(pred, labels))
    # ZTW and cost-weighted are fitted on every exit: the toggles do not act on them
    w.criterion.value = "zero_time_waste"
    assert w.result()["exits"] == EXITS


def test_switching_policies_keeps_the_values_set(explorer):
    w, *_ = explorer
    w.threshold.value = 0.3
    w.shared.value = False
    w.per_exit["threshold_2"].value = 0.8
    w.criterion.value = "max_probability"
    assert w.threshold.description == "exit when max probability ≥ τ"
    w.threshold.value = 0.9
    w.criterion.value = "unnormalized_entropy"
    assert w.threshold.max == pytest.approx(math.log(3))
    w.criterion.value = "patience"
    w.criterion.value = "entropy"
    assert w.threshold.value == pytest.approx(0.3)
    assert w.per_exit["threshold_2"].value == pytest.approx(0.8)
    assert not w.shared.value
    w.criterion.value = "max_probability"
    assert w.threshold.value == pytest.approx(0.9)


def test_controls_show_only_when_they_act(explorer):
    w, *_ = explorer
    w.layout()

    def shown(widget):
        return widget.layout.display != "none"

    assert shown(w.threshold) and not any(shown(s) for s in w.per_exit.values())
    assert not shown(w.patience) and not shown(w.lam)
    w.shared.value = False
    assert not shown(w.threshold) and all(shown(s) for s in w.per_exit.values())
    w.toggles["exit_2"].value = False  # a switched-off exit's slider does nothing
    assert not shown(w.per_exit["threshold_2"]) and shown(w.per_exit["threshold_1"])
    w.criterion.value = "patience"
    assert shown(w.patience) and not shown(w.threshold) and not shown(w.shared)
    assert not any(shown(s) for s in w.per_exit.values())
    w.criterion.value = "zero_time_waste"
    toggles_row = next(c for c in w.layout().children if w.toggles["exit_1"] in c.children)
    assert not shown(toggles_row)
    w.criterion.value = "cost_weighted"
    assert shown(w.lam) and not shown(w.threshold)


def test_one_redraw_per_change_and_the_plane_shows_the_family(explorer):
    w, probs, labels, costs, Gamma, *_ = explorer
    w.show()
    draws = []
    original = w.draw
    w.draw = lambda result: (draws.append(result), original(result))
    for change in (
        lambda: setattr(w.criterion, "value", "max_probability"),
        lambda: setattr(w.threshold, "value", 0.8),
        lambda: setattr(w.shared, "value", False),
        lambda: setattr(w.criterion, "value", "patience"),
        lambda: setattr(w.patience, "value", 2),
        lambda: setattr(w.criterion, "value", "entropy"),
    ):
        before = len(draws)
        change()
        assert len(draws) == before + 1
    # patience's family: one point per t, where patience_exits puts it
    w.criterion.value = "patience"
    x, y = w.plane.family.get_data()
    expected = []
    for t in (1, 2, 3):
        idx, pred = patience_exits(probs, t)
        expected.append((100 * float(Gamma[idx].mean()) / costs.full, 100 * _acc(pred, labels)))
    got = [v for xy in sorted(zip(x, y)) for v in xy]
    assert got == pytest.approx([v for xy in sorted(expected) for v in xy])
    r = w.result()
    px, py = w.plane.point.get_data()
    assert (px[0], py[0]) == pytest.approx((100 * r["cost_fraction"], 100 * r["accuracy"]))
    ox, oy = w.plane.oracle.get_data()
    oracle = oracle_curve(probs, labels, Gamma, costs.full)
    assert np.allclose(sorted(ox), sorted(100 * oracle.cost_fraction.numpy()))
    text = w.text.value
    assert "nan" not in text.lower() and "exit when 2 exits in a row agree" in text


def test_threshold_family_and_point_agree_with_policy_exits(explorer):
    w, probs, labels, costs, Gamma, *_ = explorer
    w.criterion.value = "max_probability"
    w.threshold.value = 0.6
    r = w.result()
    idx = policy_exits(probs, 0.6, "max_probability")
    assert r["exit_counts"] == tuple(torch.bincount(idx, minlength=4).tolist())
    assert r["gap_to_oracle"] >= 1 - 1e-9


def test_policy_explorer_rejects_bad_policies(make_probs):
    probs, labels = make_probs(E=4, N=20, K=3)
    Gamma = [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(TypeError, match="^ztw must"):
        PolicyExplorer(probs, labels, Gamma, ztw="ztw")
    with pytest.raises(TypeError, match="^cost_weighted must"):
        PolicyExplorer(probs, labels, Gamma, cost_weighted=[1])
    with pytest.raises(ValueError, match="^criterion must"):
        PolicyExplorer(probs, labels, Gamma, criterion="zero_time_waste")
    w = PolicyExplorer(probs, labels, Gamma)
    with pytest.raises(ValueError, match="^patience must"):
        w.compute(criterion="patience", patience=0)
