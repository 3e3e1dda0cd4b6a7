"""Tests for mexit.policies (§6): unnormalized entropy, learned confidence, tuned thresholds,
accuracy–cost curves, the oracle's lower bound and timing of real early exit."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import mexit
from mexit import policies
from mexit.cost import CostProfile
from mexit.inference import normalized_entropy, simulate_exits
from mexit.policies import (
    POLICIES,
    LearnedConfidence,
    accuracy_cost_curve,
    measure_speedup,
    oracle_curve,
    per_exit_thresholds,
    policy_exits,
    tune_threshold,
    unnormalized_entropy,
)


def test_unnormalized_entropy_is_eq11_times_log_C(make_probs):
    probs, _ = make_probs(E=2, N=30, K=7)
    assert torch.allclose(unnormalized_entropy(probs), normalized_entropy(probs) * math.log(7))
    assert unnormalized_entropy(torch.full((1, 5), 0.2)).item() == pytest.approx(math.log(5))
    assert unnormalized_entropy(torch.tensor([[1.0, 0.0, 0.0]])).item() == 0.0


def test_policy_exits_match_simulate_exits(make_probs):
    probs, _ = make_probs(E=4, N=100, K=5)
    for t in (0.0, 0.2, 0.55, 1.0):
        for c in ("entropy", "max_probability"):
            assert torch.equal(policy_exits(probs, t, c), simulate_exits(probs, t, c))
        # BranchyNet's β in nats is eq. 11's β times log C: the same policy
        nats = policy_exits(probs, t * math.log(5), "unnormalized_entropy")
        assert torch.equal(nats, simulate_exits(probs, t, "entropy"))
    per = [0.3, 0.6, 0.9]
    assert torch.equal(
        policy_exits(probs, per, "max_probability"), simulate_exits(probs, per, "max_probability")
    )


def test_learned_confidence_separates_right_from_wrong(make_probs):
    probs, labels = make_probs(E=3, N=400, K=4, spread=3.0)
    # make the labels agree with confident predictions more often, as in a trained net
    conf = probs.max(-1).values
    labels = torch.where(conf[0] > 0.7, probs[0].argmax(-1), labels)
    g = LearnedConfidence(3).fit(probs, labels)
    scores = g(probs)
    assert scores.shape == (2, 400) and ((scores >= 0) & (scores <= 1)).all()
    right = probs[0].argmax(-1) == labels
    assert scores[0][right].mean() > scores[0][~right].mean() + 0.1
    again = LearnedConfidence(3).fit(probs, labels)
    assert torch.equal(again(probs), scores)  # deterministic
    idx = policy_exits(probs, 0.5, "learned", learned=g)
    assert torch.equal(
        idx[scores[0] >= 0.5], torch.zeros(int((scores[0] >= 0.5).sum()), dtype=torch.long)
    )


def test_curves_looser_never_costs_more_and_oracle_is_a_lower_bound(make_probs):
    probs, labels = make_probs(E=4, N=300, K=5, spread=2.5)
    Gamma = torch.tensor([1.0, 2.5, 4.0, 10.0], dtype=torch.float64)
    g = LearnedConfidence(4).fit(probs, labels)
    oracle = oracle_curve(probs, labels, Gamma)
    final_acc = float((probs[-1].argmax(-1) == labels).float().mean())
    for c in POLICIES:
        curve = accuracy_cost_curve(probs, labels, c, Gamma, learned=g, n_points=51)
        # strictest first: everyone at the final exit; loosest last: everyone at exit 1
        assert curve.cost_fraction[0] == 1.0 and curve.accuracy[0] == pytest.approx(final_acc)
        assert curve.mean_flops[-1] == 1.0
        assert (torch.diff(curve.mean_flops) <= 1e-12).all()
        for a, f in zip(curve.accuracy.tolist(), curve.mean_flops.tolist()):
            assert oracle.cost_at(a) * 10.0 <= f + 1e-9
    # the oracle's top is at most the cost of mexit.oracle_exits (each at its earliest right)
    idx = mexit.oracle_exits(probs, labels)
    assert oracle.mean_flops[-1] <= float(Gamma[idx].mean()) + 1e-12
    assert oracle.accuracy[-1] == pytest.approx(
        float((probs.argmax(-1) == labels).any(0).float().mean())
    )


def test_oracle_curve_equals_brute_force(make_probs):
    probs, labels = make_probs(E=3, N=6, K=3, seed=4, spread=1.5)
    Gamma = torch.tensor([1.0, 3.0, 7.0], dtype=torch.float64)
    correct = probs.argmax(-1) == labels
    best = {}
    for assign in itertools.product(range(3), repeat=6):
        k = sum(bool(correct[e, n]) for n, e in enumerate(assign))
        cost = sum(float(Gamma[e]) for e in assign) / 6
        best[k] = min(best.get(k, math.inf), cost)
    oracle = oracle_curve(probs, labels, Gamma)
    for a, f in zip(oracle.accuracy.tolist(), oracle.mean_flops.tolist()):
        k = round(a * 6)
        assert f == pytest.approx(min(v for kk, v in best.items() if kk >= k))


def test_tune_threshold_meets_a_reachable_target(make_probs):
    probs, labels = make_probs(E=4, N=500, K=4, spread=3.0)
    full = float((probs[-1].argmax(-1) == labels).float().mean())
    for c in ("entropy", "max_probability", "unnormalized_entropy"):
        r = tune_threshold(probs, labels, full - 0.02, c, tol=0.01)
        assert r.accuracy >= full - 0.02
        assert r.trajectory[0] != r.threshold or r.converged
        assert len(r.trajectory) == len(r.accuracies)
        check = policy_exits(probs, r.threshold, c)
        assert float((probs.argmax(-1).gather(0, check[None]) == labels).float().mean()) == (
            pytest.approx(r.accuracy)
        )


def test_tune_threshold_says_when_a_target_is_unreachable(make_probs):
    probs, labels = make_probs(E=3, N=200, K=4)
    with pytest.raises(ValueError, match=r"\bunreachable\b"):
        tune_threshold(probs, labels, 1.0)
    with pytest.raises(ValueError, match="target_accuracy must lie in"):
        tune_threshold(probs, labels, 0.0)
    with pytest.raises(ValueError, match="target_accuracy must be <= 1"):
        tune_threshold(probs, labels, 1.5)


def test_per_exit_thresholds_calibrate_each_exit(make_probs):
    probs, labels = make_probs(E=4, N=600, K=3, spread=3.0)
    for c in ("entropy", "max_probability"):
        th = per_exit_thresholds(probs, labels, 0.8, c)
        idx = policy_exits(probs, th, c)
        right = probs.argmax(-1).gather(0, idx[None])[0] == labels
        for k in range(3):
            if (idx == k).any():
                assert right[idx == k].float().mean() >= 0.8 - 1e-9


def test_measure_speedup_counts_the_flops_it_spends(tiny_cnn, make_inputs):
    x = make_inputs(20, (1, 16))
    costs = mexit.measure_costs(tiny_cnn, (1, 16))
    s = measure_speedup(tiny_cnn, x, 0.5, batch_size=7, costs=costs, repeats=1)
    probs = mexit.exit_probs(tiny_cnn, x)
    r = mexit.evaluate_policy(
        probs,
        torch.zeros(20, dtype=torch.long),
        0.5,
        Gamma=costs.Gamma(tiny_cnn.exits),
        full_cost=costs.full,
    )
    assert s.flop_ratio == pytest.approx(1 / r.cost_fraction)
    assert s.seconds_full > 0 and s.seconds_exit > 0 and s.batch_size == 7


def test_bad_arguments(make_probs):
    probs, labels = make_probs(E=3, N=20, K=4)
    with pytest.raises(ValueError, match="criterion must be one of"):
        accuracy_cost_curve(probs, labels, "variance")
    with pytest.raises(TypeError, match="needs learned=LearnedConfidence"):
        policy_exits(probs, 0.5, "learned")
    with pytest.raises(ValueError, match="thresholds must be <= 1"):
        policy_exits(probs, 1.5, "max_probability")
    with pytest.raises(ValueError, match="thresholds must be <= 1.38"):
        policy_exits(probs, 2.0, "unnormalized_entropy")
    with pytest.raises(ValueError, match="one value per early exit"):
        policy_exits(probs, [0.1, 0.2, 0.3], "entropy")
    with pytest.raises(ValueError, match="Gamma must hold one cost per exit"):
        oracle_curve(probs, labels, [1.0, 2.0])
    with pytest.raises(ValueError, match="probs must hold 4 exits"):
        LearnedConfidence(4).fit(probs, labels)
    with pytest.raises(ValueError, match="n_exits must be >= 2"):
        LearnedConfidence(1)


def _deep_is_better(make_probs):
    """Outputs whose final exit is mostly right and the first mostly not, like a trained net."""
    probs, labels = make_probs(E=4, N=500, K=4, spread=3.0)
    keep = torch.arange(500) % 10 != 0  # 90 % of the labels follow the final exit
    return probs, torch.where(keep, probs[-1].argmax(-1), labels)


def test_tune_threshold_flags_its_fallback_and_never_claims_convergence(make_probs):
    probs, labels = _deep_is_better(make_probs)
    full = float((probs[-1].argmax(-1) == labels).float().mean())
    target = full - 0.02
    # step 0 never moves from the loosest threshold: the answer comes from the sweep
    stuck = tune_threshold(probs, labels, target, "max_probability", step=0.0, max_iter=5)
    assert not stuck.converged and stuck.fallback
    assert stuck.iterations == 5 and len(stuck.trajectory) == 7
    assert stuck.threshold == stuck.trajectory[-1] and stuck.accuracy >= target - 1e-9
    assert set(stuck.trajectory[:-1]) == {0.0}  # the iterates never left the start
    moving = tune_threshold(probs, labels, target, "max_probability", tol=0.01)
    assert moving.converged and not moving.fallback
    assert moving.iterations == len(moving.trajectory) - 1


def test_tune_threshold_constant_gain_is_the_plain_update(make_probs):
    probs, labels = _deep_is_better(make_probs)
    full = float((probs[-1].argmax(-1) == labels).float().mean())
    target = full - 0.02
    r = tune_threshold(probs, labels, target, "max_probability", step=0.3, adaptive=False)
    assert not r.adaptive and len(r.trajectory) > 3  # several updates to compare
    # max-probability: stricter is larger τ, range 1: τ_{k+1} = τ_k + η (a* − a(τ_k))
    for k in range(len(r.trajectory) - 1 - int(r.fallback)):
        expected = min(max(r.trajectory[k] + 0.3 * (target - r.accuracies[k]), 0.0), 1.0)
        assert r.trajectory[k + 1] == pytest.approx(expected)
    adaptive = tune_threshold(probs, labels, target, "max_probability", step=0.3)
    assert adaptive.adaptive and adaptive.trajectory[:2] == r.trajectory[:2]


def test_accuracy_cost_curve_matches_one_policy_at_a_time(make_probs):
    probs, labels = make_probs(E=4, N=200, K=5, spread=2.0)
    Gamma = torch.tensor([1.0, 2.0, 5.0, 9.0], dtype=torch.float64)
    for c in ("entropy", "max_probability"):
        thresholds = [0.0, 0.13, 0.4, 0.77, 1.0]
        curve = accuracy_cost_curve(probs, labels, c, Gamma, thresholds=thresholds)
        for t, a, f in zip(thresholds, curve.accuracy.tolist(), curve.mean_flops.tolist()):
            idx = policy_exits(probs, t, c)
            right = probs.argmax(-1).gather(0, idx[None])[0] == labels
            assert a == pytest.approx(float(right.double().mean()))
            assert f == pytest.approx(float(Gamma[idx].mean()))


def test_placement_costs_rescore_each_exit_set(make_probs):
    probs, labels = make_probs(E=4, N=300, K=4, spread=3.0)
    costs = CostProfile((10, 20, 30, 40), {1: 1, 2: 3, 3: 5, 4: 2})
    exits = (1, 2, 3, 4)
    acc = float((probs[-1].argmax(-1) == labels).float().mean()) - 0.03
    out = policies.placement_costs(probs, labels, costs, exits, acc, "entropy")
    assert [p.exits for p in out] == [(), (1,), (2,), (3,), (1, 2), (1, 3), (2, 3), (1, 2, 3)]
    for p in out:
        rows = [exits.index(e) for e in p.exits] + [3]
        Gamma = costs.Gamma(p.exits + (4,))
        oracle = oracle_curve(probs[rows], labels, Gamma, costs.full)
        assert p.oracle_cost_fraction == pytest.approx(oracle.cost_at(acc))
        if p.exits:
            curve = accuracy_cost_curve(probs[rows], labels, "entropy", Gamma, costs.full)
            assert p.cost_fraction == pytest.approx(curve.cost_at(acc))
        else:  # no early exit: the final exit alone, Γ without any early head
            assert p.cost_fraction == pytest.approx(1.0)
        assert p.oracle_cost_fraction <= p.cost_fraction + 1e-12
    # a switched-off head is not paid: Γ of exit 3 alone is below Γ_3 with every head
    assert costs.Gamma((3, 4))[0] < costs.Gamma(exits)[2]
    learned = LearnedConfidence(4).fit(probs, labels)
    mine = policies.placement_costs(
        probs, labels, costs, exits, acc, "learned", learned=learned, subsets=[(1, 2, 3)]
    )
    curve = accuracy_cost_curve(probs, labels, "learned", costs.Gamma(exits), costs.full, learned)
    assert mine[0].cost_fraction == pytest.approx(curve.cost_at(acc))


def test_speedup_verdict_follows_the_interval():
    def s(low, mid, high):
        return policies.Speedup(1000, 1.0, 1.0, mid, low, high, 2.0)

    assert s(1.1, 1.3, 1.5).verdict().startswith("early exit is faster")
    assert s(0.5, 0.7, 0.9).verdict().startswith("early exit is slower")
    for low, high in ((0.9, 1.4), (1.0, 1.4), (0.8, 1.0)):
        v = s(low, 1.1, high).verdict()
        assert v.startswith("no measurable difference") and "faster" not in v


def test_measure_speedup_gives_each_submodule_its_mode_back(tiny_cnn, make_inputs):
    model = tiny_cnn.train()
    model.heads["1"].eval()  # one submodule deliberately in eval mode
    modes = {name: m.training for name, m in model.named_modules()}
    measure_speedup(model, make_inputs(10, (1, 16)), 0.5, batch_size=5, repeats=1)
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert model.training and not model.heads["1"].training


def test_accuracy_at_reads_the_curve_at_equal_cost(make_probs):
    probs, labels = make_probs(E=3, N=200, K=4, seed=3)
    Gamma = torch.tensor([1.0, 3.0, 7.0])
    curve = accuracy_cost_curve(probs, labels, "entropy", Gamma, 7.0)
    for budget in (0.2, 0.5, 0.8, 1.0):
        # brute force over the curve's own points: the best accuracy that fits the budget
        fits = [float(a) for a, c in zip(curve.accuracy, curve.cost_fraction) if float(c) <= budget]
        assert curve.accuracy_at(budget) == pytest.approx(max(fits, default=0.0))
    assert curve.accuracy_at(0.0) <= curve.accuracy_at(1.0)
    with pytest.raises(ValueError, match=r"^cost_fraction must"):
        curve.accuracy_at(-0.1)
    with pytest.raises(TypeError, match=r"^cost_fraction must"):
        curve.accuracy_at("half")


def test_curve_exits_for_many_thresholds_match_exits_from_scores_one_by_one():
    from mexit.policies import _exits_for_thresholds, exits_from_scores

    g = torch.Generator().manual_seed(5)
    scores = torch.rand(4, 200, generator=g, dtype=torch.float64)
    scores[1, :20] = scores[2, :20]  # ties between exits: the first one wins
    score_t = torch.cat([torch.tensor([2.0, -1.0], dtype=torch.float64), scores[:, :30].flatten()])
    many = _exits_for_thresholds(scores, score_t)
    for p, t in enumerate(score_t):
        assert torch.equal(many[p], exits_from_scores(scores, t))
