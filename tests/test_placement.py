"""Tests for mexit.placement (§4, eq. 4-5): percentile, the printed rule, the exact test,
greedy and exhaustive placement, on hand-made tables whose answers are known by hand."""

from __future__ import annotations

import itertools

import pytest
import torch

from mexit.cost import CostProfile
from mexit.placement import (
    conditional_exit_rates,
    evaluate_placement,
    exit_gain,
    greedy_placement,
    is_efficient_exit,
    optimal_placement,
    percentile_placement,
    set_cost,
)


def test_percentile_placement_by_hand():
    # equal blocks: cumulative cost 1/6 .. 5/6; 0.75 ties between 4/6 and 5/6 → the earlier
    assert percentile_placement([1] * 6) == (1, 2, 3, 4, 5)
    assert percentile_placement([10, 10, 80], fractions=[0.5]) == (2,)
    assert percentile_placement([1, 9]) == (1,)  # every fraction lands on the only candidate
    profile = CostProfile((1, 1, 1, 1, 1, 1), {i: 0 for i in range(1, 7)})
    assert percentile_placement(profile, [0.3]) == (2,)


def test_eq4_as_printed_by_hand():
    # (γ2 − γ1)(I1 − I2) > γ1 I2
    assert is_efficient_exit([1, 10], [0.8, 0.2], 1)  # 9 · 0.6 = 5.4 > 0.2
    assert not is_efficient_exit([1, 3], [0.5, 0.5], 1)  # 0 > 0.5 is false
    assert not is_efficient_exit([5, 6], [0.6, 0.4], 1)  # 1 · 0.2 > 2 is false


def test_set_cost_and_exact_exit_gain_by_hand():
    gf, gc = [10, 10, 10], [1, 1, 1]
    # C = {1}: Γ_1 = 11, Γ_3 = 32; half the inputs leave at 1
    assert set_cost(gf, gc, (1,), [0.5, 0.5]) == pytest.approx(21.5)
    assert set_cost(gf, gc, (), [1.0]) == pytest.approx(31)
    # exit 1 saves 0.5 · (32 − 11) − its head on everyone: 10.5 − 1 = 9.5 FLOPs per input
    assert exit_gain(gf, gc, (), 1, [0.5, 0.5]) == pytest.approx(9.5)
    # with explicit rates for the set without it (same here) and i listed in `exits`
    assert exit_gain(gf, gc, (1,), 1, [0.5, 0.5], [1.0]) == pytest.approx(9.5)
    # a head nobody uses only costs
    assert exit_gain(gf, gc, (2,), 1, [0.0, 0.5, 0.5]) == pytest.approx(-1.0)


def test_greedy_eq5_by_hand():
    gf, gc, q = [1, 4, 4], [0.5, 0.5, 0.5], [0.5, 0.2]
    # i=1: cm=0.5: (TH − 0.5)·4 − 0.5·0.5 − (1 − TH)·1
    assert greedy_placement(gf, gc, q, 0.5) == ()  # −0.75
    assert greedy_placement(gf, gc, q, 0.9) == (1,)  # 1.25 ; i=2: 0.4 − 0.1 − 0.4 < 0
    assert greedy_placement(gf, gc, q, 1.0) == (1, 2)  # i=2: 0.8 − 0.1 = 0.7
    # a larger TH never keeps fewer exits
    sets = [set(greedy_placement(gf, gc, q, th)) for th in torch.linspace(0, 1, 21).tolist()]
    assert all(a <= b for a, b in zip(sets, sets[1:]))


def hand_problem():
    """3 blocks, 4 inputs of class 0. Exit 1: right and sure on input 0, wrong and sure on
    input 1, unsure on 2 and 3. Exit 2: right and sure on 0, 1, 2, unsure on 3. Final: right."""
    sure, wrong, unsure, final = [1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.9, 0.1]
    probs = torch.tensor(
        [
            [sure, wrong, unsure, unsure],
            [sure, sure, sure, unsure],
            [final, final, final, final],
        ]
    )
    labels = torch.zeros(4, dtype=torch.long)
    costs = CostProfile((1, 1, 10), {1: 1, 2: 2, 3: 0})
    return probs, labels, costs


def test_optimal_placement_by_hand():
    probs, labels, costs = hand_problem()
    # Γ for C={1,2}: 2, 5, 15 → (2 + 2 + 5 + 15)/4 = 6, accuracy 3/4
    # C={2}: 4, 14 → (4·3 + 14)/4 = 6.5, accuracy 1;  C={1}: 7.5, 3/4;  C={}: 12, 1
    s = evaluate_placement(probs, labels, costs, (1, 2), 0.9, "max_probability")
    assert (s.mean_flops, s.accuracy) == (pytest.approx(6.0), 0.75)
    assert s.exit_fractions == (0.5, 0.25, 0.25)
    any_acc = optimal_placement(probs, labels, costs, 0.9, None, "max_probability")
    assert any_acc.best.exits == (1, 2) and any_acc.best.mean_flops == pytest.approx(6.0)
    exact = optimal_placement(probs, labels, costs, 0.9, 1.0, "max_probability")
    assert exact.best.exits == (2,) and exact.best.mean_flops == pytest.approx(6.5)
    assert exact.is_optimal((2,)) and not exact.is_optimal((1, 2)) and not exact.is_optimal(())
    assert len(exact.scores) == 4
    assert exact.score(()).mean_flops == pytest.approx(12.0)
    # measured conditional exit rates with every exit present: 2/4 leave at 1, 1/2 of the rest
    assert conditional_exit_rates(probs, 0.9, "max_probability") == (0.5, 0.5)


def test_exhaustive_is_never_worse_than_greedy_or_percentile(make_probs):
    gen = torch.Generator().manual_seed(3)
    for seed in range(5):
        probs, labels = make_probs(E=5, N=200, K=4, seed=seed, spread=3.0)
        gf = (torch.rand(5, generator=gen) * 100 + 1).tolist()
        gc = (torch.rand(5, generator=gen) * 10).tolist()
        costs = CostProfile(tuple(gf), {i + 1: c for i, c in enumerate(gc)})
        final_acc = float((probs[-1].argmax(-1) == labels).float().mean())
        target = final_acc - 0.05
        search = optimal_placement(probs, labels, costs, 0.6, target)
        q = conditional_exit_rates(probs, 0.6)
        candidates = [percentile_placement(costs)] + [
            greedy_placement(costs, None, q, th) for th in (0.2, 0.5, 0.8, 1.0)
        ]
        for C in candidates + [c for r in range(5) for c in itertools.combinations(range(1, 5), r)]:
            s = search.score(C)
            if s.accuracy >= target:
                assert search.best.mean_flops <= s.mean_flops + 1e-9


def test_bad_arguments():
    probs, labels, costs = hand_problem()
    with pytest.raises(ValueError, match="th must be <= 1"):
        greedy_placement([1, 2, 3], [1, 1, 1], [0.5, 0.5], 1.5)
    with pytest.raises(ValueError, match="th must be >= 0"):
        greedy_placement([1, 2, 3], [1, 1, 1], [0.5, 0.5], -0.1)
    with pytest.raises(ValueError, match="head_costs must hold one cost per block"):
        greedy_placement([1, 2, 3], [1, 1], [0.5, 0.5], 0.5)
    with pytest.raises(ValueError, match="exit_rates must hold 2 values"):
        greedy_placement([1, 2, 3], [1, 1, 1], [0.5], 0.5)
    with pytest.raises(ValueError, match="target_accuracy must lie in"):
        optimal_placement(probs, labels, costs, 0.9, 0.0)
    with pytest.raises(ValueError, match="target_accuracy must be <= 1"):
        optimal_placement(probs, labels, costs, 0.9, 1.2)
    with pytest.raises(ValueError, match="exits must be block indices in 1..2"):
        evaluate_placement(probs, labels, costs, (3,), 0.9)
    with pytest.raises(ValueError, match="exits must not repeat"):
        set_cost([1, 2, 3], [1, 1, 1], (1, 1), [0.5, 0.5])
    with pytest.raises(ValueError, match="must sum to 1"):
        set_cost([1, 2, 3], [1, 1, 1], (1,), [0.5, 0.2])
    with pytest.raises(ValueError, match="fractions must lie strictly between 0 and 1"):
        percentile_placement([1, 2, 3], [0.0, 0.5])
    with pytest.raises(ValueError, match="block_costs must not be empty"):
        percentile_placement([])
    with pytest.raises(ValueError, match="i must be <= 1"):
        is_efficient_exit([1, 2], [0.5, 0.5], 2)
    with pytest.raises(ValueError, match="I must hold one value per exit"):
        is_efficient_exit([1, 2], [0.5], 1)
    with pytest.raises(ValueError, match="probs must hold the outputs of a head at every block"):
        evaluate_placement(probs[:2], labels, costs, (), 0.9)
    # every set wrong on input 3 → a perfect target is unreachable, and says so
    probs[2, 3] = torch.tensor([0.1, 0.9])
    probs[1, 3] = torch.tensor([0.1, 0.9])
    probs[0, 3] = torch.tensor([0.1, 0.9])
    with pytest.raises(ValueError, match="unreachable"):
        optimal_placement(probs, labels, costs, 0.9, 1.0, "max_probability")
