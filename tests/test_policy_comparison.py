"""Tests for mexit.policy_comparison: every policy on one model, at equal accuracy, against
the oracle; each row is recomputed here from the policy's own functions."""

from __future__ import annotations

import math

import pytest
import torch

import mexit
from mexit.cost_weighted_policy import fit_cost_weighted_policy
from mexit.inference import evaluate_policy
from mexit.patience import patience_exits
from mexit.policies import LearnedConfidence, oracle_curve, policy_exits
from mexit.policy_comparison import POLICY_LABELS, compare_policies, policy_points, policy_rows
from mexit.zero_time_waste import fit_zero_time_waste, ztw_exits

GAMMA = torch.tensor([1.0, 3.0, 6.0, 10.0], dtype=torch.float64)


def _split(seed, N=300, K=4):
    """Exits that get better with depth: logits = depth · one-hot(label) + noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, K, (N,), generator=g)
    onehot = torch.nn.functional.one_hot(y, K).float()
    logits = torch.stack(
        [s * onehot + torch.randn(N, K, generator=g) for s in (0.5, 1.5, 2.5, 3.5)]
    )
    return logits.softmax(-1), y


@pytest.fixture(scope="module")
def comparison():
    (vp, vy), (tp, ty) = _split(0), _split(1)
    learned = LearnedConfidence(4).fit(vp, vy)
    ztw = fit_zero_time_waste(vp, vy)
    lams = (0.0, 0.01, 0.1, 1.0)
    rows = compare_policies(vp, vy, tp, ty, GAMMA, learned=learned, ztw=ztw, lams=lams)
    return (vp, vy, tp, ty), learned, ztw, lams, rows


def _test_point(name, param, tp, ty, learned, ztw, lams, vp, vy):
    """(test accuracy, test cost fraction) of one operating point, from the policy itself."""
    if name in ("entropy", "max_probability"):
        r = evaluate_policy(tp, ty, param, name, Gamma=GAMMA)
        return r.accuracy, r.cost_fraction
    if name == "learned":
        idx = policy_exits(tp, param, "learned", learned=learned)
        pred = tp.argmax(-1).gather(0, idx[None]).squeeze(0)
    elif name == "patience":
        idx, pred = patience_exits(tp, param)
    elif name == "zero_time_waste":
        idx, pred = ztw_exits(tp, ztw, param)
    else:
        pol = fit_cost_weighted_policy(vp, vy, GAMMA, param)
        idx = pol.exits(tp)
        pred = tp.argmax(-1).gather(0, idx[None]).squeeze(0)
    return float((pred == ty).double().mean()), float(GAMMA[idx].mean() / GAMMA[-1])


def test_every_policy_and_loss_has_a_row(comparison):
    *_, rows = comparison
    assert {r["policy"] for r in rows} == set(POLICY_LABELS)
    assert len(rows) == 3 * len(POLICY_LABELS)
    assert {r["accuracy_loss_points"] for r in rows} == {0.0, 0.5, 1.0}


def test_rows_recomputed_from_each_policy(comparison):
    (vp, vy, tp, ty), learned, ztw, lams, rows = comparison
    oracle = oracle_curve(tp, ty, GAMMA)
    for r in rows:
        if not r["reached"]:
            continue
        acc, cost = _test_point(r["policy"], r["parameter"], tp, ty, learned, ztw, lams, vp, vy)
        assert r["test_accuracy"] == pytest.approx(acc), r
        assert r["cost_fraction"] == pytest.approx(cost), r
        assert r["oracle_cost_fraction"] == pytest.approx(oracle.cost_at(acc)), r
        assert r["ratio_to_oracle"] == pytest.approx(cost / oracle.cost_at(acc)), r
        # no policy beats the oracle at the accuracy it reaches
        assert r["ratio_to_oracle"] >= 1 - 1e-9


def test_the_tuned_point_is_the_cheapest_that_reaches_the_target_on_validation(comparison):
    (vp, vy, tp, ty), _, _, _, rows = comparison
    full_val = float((vp[-1].argmax(-1) == vy).double().mean())
    grid = [0.0, 1.0] + vp[:-1].amax(-1).unique().tolist()  # every distinct threshold
    for r in rows:
        if r["policy"] != "max_probability":
            continue
        target = full_val - r["accuracy_loss_points"] / 100
        chosen = evaluate_policy(vp, vy, r["parameter"], "max_probability", Gamma=GAMMA)
        assert chosen.accuracy >= target - 1e-9
        # a brute-force sweep finds nothing cheaper on validation that reaches the target
        best = min(
            p.cost_fraction
            for p in (evaluate_policy(vp, vy, t, "max_probability", Gamma=GAMMA) for t in grid)
            if p.accuracy >= target - 1e-9
        )
        assert chosen.cost_fraction <= best + 1e-9


def test_patience_one_point_per_t_and_looser_loss_never_costs_more(comparison):
    (vp, vy, tp, ty), learned, ztw, lams, rows = comparison
    pts = policy_points(vp, vy, tp, ty, GAMMA, learned=learned, ztw=ztw, lams=lams, n_points=11)
    assert pts["patience"]["params"] == (1, 2, 3)
    assert pts["cost_weighted"]["params"] == lams
    for name in POLICY_LABELS:
        costs = [r["cost_fraction"] for r in rows if r["policy"] == name and r["reached"]]
        assert costs == sorted(costs, reverse=True), name


def test_an_unreachable_target_says_so():
    (vp, vy), (tp, ty) = _split(0), _split(1)
    # patience only, and a loss below zero is not allowed: ask for the impossible instead by
    # making validation labels disagree with every exit's prediction
    wrong = (vp[-1].argmax(-1) + 1) % vp.shape[-1]
    rows = compare_policies(vp, wrong, tp, ty, GAMMA, lams=(0.0,), n_points=5, losses=(0.0,))
    # the final exit is always wrong on validation: every point reaches 0 %, so all reach
    assert all(r["reached"] for r in rows if r["policy"] != "zero_time_waste")
    ztw = fit_zero_time_waste(vp, vy)
    points = policy_points(vp, vy, tp, ty, GAMMA, ztw=ztw, lams=(0.0,), n_points=5)
    points["patience"]["val_accuracy"] = torch.zeros(3, dtype=torch.float64)
    rows = compare_policies(vp, vy, tp, ty, GAMMA, points=points, losses=(0.0,))
    row = next(r for r in rows if r["policy"] == "patience")
    assert not row["reached"] and row["ratio_to_oracle"] is None and row["cost_fraction"] is None


def test_policy_rows_on_a_model(make_mlp, make_inputs):
    model = make_mlp(scale=3.0)
    x_val, x_test = make_inputs(60, (1, 6), seed=1), make_inputs(60, (1, 6), seed=2)
    y_val = mexit.exit_probs(model, x_val)[-1].argmax(-1)
    y_test = mexit.exit_probs(model, x_test)[-1].argmax(-1)
    data = mexit.data.DataBundle(
        "t", x_val, y_val, x_val, y_val, x_test, y_test, ("a", "b", "c", "d"), (1, 6)
    )
    rows = policy_rows(model, data, lams=(0.0, 0.1), n_points=11)
    assert len(rows) == 3 * len(POLICY_LABELS)
    for r in rows:
        for v in r.values():
            assert v is None or not (isinstance(v, float) and math.isnan(v))


def test_fitted_cost_weighted_policies_give_the_same_points_as_their_lams():
    (vp, vy), (tp, ty) = _split(0), _split(1)
    lams = (0.0, 0.05, 0.5)
    fitted = [fit_cost_weighted_policy(vp, vy, GAMMA, lam) for lam in lams]
    ztw = fit_zero_time_waste(vp, vy)
    a = policy_points(vp, vy, tp, ty, GAMMA, ztw=ztw, lams=lams, n_points=5)["cost_weighted"]
    b = policy_points(vp, vy, tp, ty, GAMMA, ztw=ztw, cost_weighted=fitted, n_points=5)
    b = b["cost_weighted"]
    assert a["params"] == b["params"] == lams
    for k in ("val_accuracy", "val_cost", "test_accuracy", "test_cost"):
        assert torch.equal(a[k], b[k]), k


def test_the_bench_calls_it(make_mlp, make_inputs):
    from mexit import bench

    model = make_mlp(scale=3.0)
    x = make_inputs(40, (1, 6), seed=1)
    y = mexit.exit_probs(model, x)[-1].argmax(-1)
    data = mexit.data.DataBundle("t", x, y, x, y, x, y, ("a", "b", "c", "d"), (1, 6))
    costs = mexit.measure_costs(model, (1, 6))
    rows = bench.bench_policy_comparison(model, data, costs)
    assert {r["policy"] for r in rows} == set(POLICY_LABELS)
    assert "ratio_to_oracle" in rows[0] and "label" not in rows[0]
