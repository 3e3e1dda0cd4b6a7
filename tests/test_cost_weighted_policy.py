"""Tests for mexit.cost_weighted_policy: Bolukbasi et al.'s cost-weighted exit decisions on a
frozen network (survey §6.1, [12]), and mexit.cost.counted_flops."""

from __future__ import annotations

import pytest
import torch

import mexit
from mexit.cost import counted_flops
from mexit.cost_weighted_policy import (
    CostWeightedPolicy,
    accuracy_at_cost,
    cost_weighted_curve,
    fit_cost_weighted_policy,
)
from mexit.policies import Curve


def two_kinds(N=200, K=3, seed=0):
    """Exit 0 is confident and right on the first half, unsure and wrong on the second;
    the final exit is right everywhere."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, K, (N,), generator=g)
    sure = torch.nn.functional.one_hot(labels, K).double() * 0.9 + 0.1 / K
    wrong = torch.full((N, K), 1.0 / K, dtype=torch.float64)
    wrong[torch.arange(N), (labels + 1) % K] += 0.05  # a slight preference, for the wrong class
    wrong = wrong / wrong.sum(-1, keepdim=True)
    half = torch.arange(N) < N // 2
    exit0 = torch.where(half[:, None], sure, wrong)
    final = torch.nn.functional.one_hot(labels, K).double() * 0.8 + 0.2 / K
    return torch.stack([exit0, final]), labels, half


def test_the_policy_lets_out_exactly_the_inputs_worth_letting_out():
    probs, labels, half = two_kinds()
    Gamma = [1.0, 2.0]
    pol = fit_cost_weighted_policy(probs, labels, Gamma, lam=0.5)
    idx = pol.exits(probs)
    assert torch.equal(idx == 0, half)  # the confident, right inputs leave; the others go on
    assert pol.train_leave_fraction == (0.5,)
    # when computation is priced above an error, leaving everywhere is cheaper
    everyone = fit_cost_weighted_policy(probs, labels, Gamma, lam=10.0).exits(probs)
    assert (everyone == 0).all()


def test_lambda_zero_never_pays_an_error_to_save_cost():
    probs, labels, half = two_kinds(seed=1)
    pol = fit_cost_weighted_policy(probs, labels, [1.0, 2.0], lam=0.0)
    idx = pol.exits(probs)
    right = probs.argmax(-1).gather(0, idx[None])[0] == labels
    assert right.all()  # exit 0's errors all go on to the (right) final exit


def test_decisions_are_learned_from_the_last_exit_back():
    # three exits; exit 1 (the middle one) is never right, so at exit 0 "go on" means paying
    # for exit 1 *and* the final exit: a large enough λ makes the confident inputs leave at 0
    probs, labels, half = two_kinds(N=100)
    middle = torch.full_like(probs[0], 1.0 / 3)
    middle[torch.arange(100), (labels + 2) % 3] += 0.3
    middle = middle / middle.sum(-1, keepdim=True)
    probs3 = torch.stack([probs[0], middle, probs[1]])
    Gamma = [1.0, 2.0, 3.0]
    pol = fit_cost_weighted_policy(probs3, labels, Gamma, lam=0.3)
    idx = pol.exits(probs3)
    assert (idx[half] == 0).all() and (idx[~half] == 2).all()
    assert pol.n_exits == 3 and pol.weights.shape == (2, 4)


def test_curve_on_held_out_data_and_accuracy_at_cost(make_probs):
    probs, labels = make_probs(E=3, N=300, K=4, spread=3.0)
    fit, test = slice(0, 150), slice(150, 300)
    curve, pols = cost_weighted_curve(
        probs[:, fit], labels[fit], probs[:, test], labels[test], [1.0, 2.0, 4.0], (0.0, 0.2, 5.0)
    )
    assert curve.thresholds == (0.0, 0.2, 5.0) and len(pols) == 3
    # the price of cost only goes up along the sweep: the cheapest point is the last
    assert float(curve.cost_fraction[-1]) <= float(curve.cost_fraction[0])
    for pol, a in zip(pols, curve.accuracy.tolist()):
        idx = pol.exits(probs[:, test])
        right = probs[:, test].argmax(-1).gather(0, idx[None])[0] == labels[test]
        assert a == pytest.approx(right.double().mean().item())


def test_accuracy_at_cost_interpolates_the_upper_envelope():
    c = Curve(
        (0, 1, 2, 3),
        torch.tensor([0.5, 0.6, 0.9, 0.95], dtype=torch.float64),
        torch.tensor([2.0, 2.0, 6.0, 10.0], dtype=torch.float64),
        torch.tensor([0.2, 0.2, 0.6, 1.0], dtype=torch.float64),
    )
    assert accuracy_at_cost(c, 0.4) == pytest.approx(0.75)  # halfway between 0.6 and 0.9
    assert accuracy_at_cost(c, 0.2) == pytest.approx(0.6)  # a tie in cost: the best point
    assert accuracy_at_cost(c, 1.0) == pytest.approx(0.95)
    with pytest.raises(ValueError, match="cost_fraction must lie within"):
        accuracy_at_cost(c, 0.1)


def test_counted_flops_counts_what_really_ran():
    lin = torch.nn.Linear(10, 5)
    flops, out = counted_flops(lin, torch.zeros(3, 10))
    assert flops == 2 * 10 * 5 * 3 and out.shape == (3, 5)
    model = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3).eval()
    costs = mexit.measure_costs(model, (1, 6))
    x = torch.randn(40, 1, 6)
    flops, run = counted_flops(mexit.early_exit_predict, model, x, 0.9, costs=costs)
    assert flops == pytest.approx(float(run.flops.double().sum()))
    # stricter thresholds run more of the network: the count follows
    flops_all, _ = counted_flops(mexit.early_exit_predict, model, x, 0.0, costs=costs)
    assert flops_all == pytest.approx(40 * costs.full + 40 * sum(costs.gamma_c[e] for e in (1, 2)))


def test_policy_record_validates_its_fields():
    with pytest.raises(ValueError, match="weights must have shape"):
        CostWeightedPolicy(torch.zeros(2, 3), 0.1, (0.0, 0.0))
    pol = CostWeightedPolicy(torch.zeros(1, 4, dtype=torch.float64), 0.1, (0.0,))
    with pytest.raises(ValueError, match="probs must hold the 2 exits"):
        pol.exits(torch.full((3, 5, 4), 0.25))
