"""Tests for mexit.placement (§4, eq. 4-5): percentile, the printed rule, the exact test,
greedy and exhaustive placement, on hand-made tables whose answers are known by hand."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mexit.cost import CostProfile
from mexit.placement import (
    best_feasible,
    conditional_exit_rates,
    eq4_table,
    evaluate_placement,
    exit_gain,
    filter_placement,
    greedy_placement,
    greedy_walk,
    is_efficient_exit,
    optimal_placement,
    percentile_placement,
    placement_sweep,
    placement_table,
    plot_cost_profile,
    plot_placement_search,
    set_cost,
)


def test_percentile_placement_by_hand():
    # equal blocks: cumulative cost 1/6 .. 5/6; 0.75 ties between 4/6 and 5/6 → the earlier
    assert percentile_placement([1] * 6, rule="closest") == (1, 2, 3, 4, 5)
    assert percentile_placement([10, 10, 80], fractions=[0.5], rule="closest") == (2,)
    assert percentile_placement([1, 9], rule="closest") == (1,)  # the only candidate
    # "reaches": 0.15 .. 0.9 of 1/6 .. 5/6 → blocks 1, 2, 3, 4, 5, 6 (the last one is L)
    assert percentile_placement([1] * 6) == (1, 2, 3, 4, 5)
    assert percentile_placement([10, 10, 80], fractions=[0.5]) == ()  # reached only at L
    profile = CostProfile((1, 1, 1, 1, 1, 1), {i: 0 for i in range(1, 7)})
    assert percentile_placement(profile, [0.3], rule="closest") == (2,)


def test_percentile_placement_reaches_is_the_first_block_at_or_past_each_fraction():
    # cumulative 0.1, 0.2, 0.6, 1.0: 0.15 is reached at block 2, 0.5 at 3, 0.9 only at L
    gf = [1, 1, 4, 4]
    assert percentile_placement(gf, [0.15, 0.5, 0.9]) == (2, 3)
    # the closest-block variant picks block 1 for 0.15 (tie 0.05/0.05 → the earlier one)
    assert percentile_placement(gf, [0.15, 0.5, 0.9], rule="closest") == (1, 3)
    # equal blocks: 1/6 .. 5/6; 0.5 is reached exactly at block 3
    assert percentile_placement([1] * 6, [0.5]) == (3,)
    assert percentile_placement([1] * 6, [0.51]) == (4,)


def test_eq4_as_printed_by_hand():
    # (γ2 − γ1)(I1 − I2) > γ1 I2
    assert is_efficient_exit([1, 10], [0.8, 0.2], 1)  # 9 · 0.6 = 5.4 > 0.2
    assert not is_efficient_exit([1, 3], [0.5, 0.5], 1)  # 0 > 0.5 is false
    assert not is_efficient_exit([5, 6], [0.6, 0.4], 1)  # 1 · 0.2 > 2 is false


def test_set_cost_and_exact_exit_gain_by_hand():
    gf, gc = [10, 10, 10], [1, 1, 1]
    # C = {1}: Γ_1 = 11, Γ_3 = 32; half the inputs leave at 1
    assert set_cost(gf, gc, exits=(1,), exit_fractions=[0.5, 0.5]) == pytest.approx(21.5)
    assert set_cost(gf, gc, exits=(), exit_fractions=[1.0]) == pytest.approx(31)
    # exit 1 saves 0.5 · (32 − 11) − its head on everyone: 10.5 − 1 = 9.5 FLOPs per input
    assert exit_gain(gf, gc, exits=(), i=1, fractions_with=[0.5, 0.5]) == pytest.approx(9.5)
    # with explicit rates for the set without it (same here) and i listed in `exits`
    gain = exit_gain(gf, gc, exits=(1,), i=1, fractions_with=[0.5, 0.5], fractions_without=[1.0])
    assert gain == pytest.approx(9.5)
    # a head nobody uses only costs
    assert exit_gain(gf, gc, exits=(2,), i=1, fractions_with=[0.0, 0.5, 0.5]) == pytest.approx(-1)
    # a CostProfile alone, no head_costs
    profile = CostProfile((10, 10, 10), {1: 1, 2: 1, 3: 1})
    assert exit_gain(profile, exits=(), i=1, fractions_with=[0.5, 0.5]) == pytest.approx(9.5)


def test_eq4_as_printed_and_the_exact_test_disagree_on_a_free_head():
    # block costs 1 and 9, a free head at 1 letting half the inputs out: Γ = 1, 11, the exact
    # test saves 11 − (0.5 · 1 + 0.5 · 11) = 5 FLOPs per input; eq. 4 as printed compares
    # (11 − 1)(0.5 − 0.5) = 0 with 1 · 0.5 and rejects the exit
    assert exit_gain([1, 9], [0, 1], exits=(), i=1, fractions_with=[0.5, 0.5]) == 5.0
    assert not is_efficient_exit([1, 11], [0.5, 0.5], 1)


def test_filter_eq5_by_hand():
    gf, gc, q = [1, 4, 4], [0.5, 0.5, 0.5], [0.5, 0.2]
    # i=1: cm=0.5: (TH − 0.5)·4 − 0.5·0.5 − (1 − TH)·1
    assert filter_placement(gf, gc, exit_rates=q, th=0.5) == ()  # −0.75
    assert filter_placement(gf, gc, exit_rates=q, th=0.9) == (1,)  # 1.25 ; i=2: < 0
    assert filter_placement(gf, gc, exit_rates=q, th=1.0) == (1, 2)  # i=2: 0.8 − 0.1 = 0.7
    # a larger TH never keeps fewer exits
    grid = torch.linspace(0, 1, 21).tolist()
    sets = [set(filter_placement(gf, gc, exit_rates=q, th=th)) for th in grid]
    assert all(a <= b for a, b in zip(sets, sets[1:]))


def walk_problem():
    """4 inputs, 3 blocks; max-probability policy at 0.9. Exit 1 is sure on input 0 only,
    exit 2 on inputs 0 and 1. Blocks cost 1, 4, 4; heads 0.5."""
    sure, unsure = [1.0, 0.0], [0.5, 0.5]
    probs = torch.tensor([[sure, unsure, unsure, unsure], [sure, sure, unsure, unsure], [sure] * 4])
    costs = CostProfile((1, 4, 4), {1: 0.5, 2: 0.5, 3: 0.5})
    return probs, costs


def test_greedy_walk_remeasures_rates_with_the_exits_kept():
    probs, costs = walk_problem()
    # with every exit present: exit 1 takes 1 of 4, exit 2 takes 1 of the 3 left
    assert conditional_exit_rates(probs, 0.9, "max_probability") == (0.25, pytest.approx(1 / 3))
    # TH = 0.9. exit 1: cm = 0.75 → (0.15)·4 − 0.25·0.5 − 0.1·1 = 0.375 ≥ 0 → kept;
    # exit 2 then sees inputs 1-3 and takes 1: cm = 2/3 → (0.9 − 2/3)·4 − 0.5/3 − 0.4 ≥ 0
    steps = greedy_walk(probs, costs, threshold=0.9, th=0.9, criterion="max_probability")
    assert [s["kept"] for s in steps] == [True, True]
    assert steps[1]["reach"] == 0.75 and steps[1]["rate"] == pytest.approx(1 / 3)
    # TH = 0.8: exit 1: (0.05)·4 − 0.125 − 0.2 < 0 → dropped; exit 2 now sees all 4 inputs
    # and 2 leave (rate 0.5, not the 1/3 measured with exit 1 present):
    # cm = 0.5 → (0.3)·4 − 0.5·0.5 − 0.2·4 = 0.15 ≥ 0 → kept
    steps = greedy_walk(probs, costs, threshold=0.9, th=0.8, criterion="max_probability")
    assert [s["kept"] for s in steps] == [False, True]
    assert steps[1]["reach"] == 1.0 and steps[1]["rate"] == 0.5
    assert steps[1]["score"] == pytest.approx(0.15)
    walk = greedy_placement(probs, costs, threshold=0.9, th=0.8, criterion="max_probability")
    assert walk == (2,)
    # the filter, with the rate 1/3 measured once with exit 1 present, drops exit 2:
    # cm = 2/3 → (0.8 − 2/3)·4 − (1/3)·0.5 − 0.2·4 < 0
    rates = conditional_exit_rates(probs, 0.9, "max_probability")
    assert filter_placement(costs, exit_rates=rates, th=0.8) == ()


def test_best_feasible_handles_no_feasible_set():
    probs, labels, costs = hand_problem()
    search = optimal_placement(probs, labels, costs, 0.9, 1.0, "max_probability")
    assert best_feasible(search, [(1,), (1, 2)]) is None  # both 3/4 < 1
    assert best_feasible(search, [(1, 2), (2,), ()]).exits == (2,)  # 6.5 < 12


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
            greedy_placement(probs, costs, threshold=0.6, th=th) for th in (0.2, 0.5, 0.8, 1.0)
        ]
        candidates += [filter_placement(costs, exit_rates=q, th=th) for th in (0.5, 1.0)]
        for C in candidates + [c for r in range(5) for c in itertools.combinations(range(1, 5), r)]:
            s = search.score(C)
            if s.accuracy >= target:
                assert search.best.mean_flops <= s.mean_flops + 1e-9


def test_bad_arguments():
    probs, labels, costs = hand_problem()
    with pytest.raises(ValueError, match="th must be <= 1"):
        filter_placement([1, 2, 3], [1, 1, 1], exit_rates=[0.5, 0.5], th=1.5)
    with pytest.raises(ValueError, match="th must be >= 0"):
        filter_placement([1, 2, 3], [1, 1, 1], exit_rates=[0.5, 0.5], th=-0.1)
    with pytest.raises(ValueError, match="head_costs must hold one cost per block"):
        filter_placement([1, 2, 3], [1, 1], exit_rates=[0.5, 0.5], th=0.5)
    with pytest.raises(ValueError, match="exit_rates must hold 2 values"):
        filter_placement([1, 2, 3], [1, 1, 1], exit_rates=[0.5], th=0.5)
    with pytest.raises(ValueError, match="target_accuracy must lie in"):
        optimal_placement(probs, labels, costs, 0.9, 0.0)
    with pytest.raises(ValueError, match="target_accuracy must be <= 1"):
        optimal_placement(probs, labels, costs, 0.9, 1.2)
    with pytest.raises(ValueError, match="exits must be block indices in 1..2"):
        evaluate_placement(probs, labels, costs, (3,), 0.9)
    with pytest.raises(ValueError, match="exits must not repeat"):
        set_cost([1, 2, 3], [1, 1, 1], exits=(1, 1), exit_fractions=[0.5, 0.5])
    with pytest.raises(ValueError, match="must sum to 1"):
        set_cost([1, 2, 3], [1, 1, 1], exits=(1,), exit_fractions=[0.5, 0.2])
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
    with pytest.raises(ValueError, match=r"\bunreachable\b"):
        optimal_placement(probs, labels, costs, 0.9, 1.0, "max_probability")


def test_eq4_table_matches_the_hand_computed_gains():
    # hand_problem at threshold 0.9 (max probability would be needed for "sure" rows; with
    # entropy, "sure" has H = 0 ≤ 0.2 and "unsure" H = 1): C = {1, 2} → exits 1/2, 1/4, 1/4
    probs, labels, costs = hand_problem()
    table = eq4_table(probs, labels, costs, threshold=0.2).set_index("exit i")
    assert list(table["exits (%)"]) == [50.0, 25.0]
    assert list(table["reach (%)"]) == [100.0, 50.0]
    # without exit 1: C = {2} takes inputs 0, 1, 2 (Γ = 4) and input 3 goes on (Γ = 14)
    # → 6.5, against 6.0 with it: gain 0.5 FLOPs = 0.5 / 12 of the plain network
    assert table.loc[1, "exact gain (%)"] == pytest.approx(100 * 0.5 / 12)
    # without exit 2: C = {1}: inputs 0, 1 at Γ = 2, inputs 2, 3 at Γ = 13 → 7.5: gain 1.5
    assert table.loc[2, "exact gain (%)"] == pytest.approx(100 * 1.5 / 12)
    # eq. 4 printed at i = 1 with Γ = (2, 5, 15): (5 − 2)(0.5 − 0.25) = 0.75 > 2 · 0.25 = 0.5
    assert bool(table.loc[1, "eq. 4 printed"]) and bool(table.loc[1, "printed agrees"])


def test_placement_sweep_agrees_with_the_search_and_marks_misses():
    probs, labels, costs = hand_problem()
    sweep = placement_sweep(
        probs, labels, costs, thresholds=(0.2,), max_losses=(0.0, 0.3), th_grid=(0.0, 1.0)
    )
    exact, loose = sweep.iloc[0], sweep.iloc[1]
    # a perfect target: only {2} and {} reach it; the optimum {2} costs 6.5 / 12
    assert exact["optimum C"] == (2,) and exact["optimum (%)"] == pytest.approx(100 * 6.5 / 12)
    # TH = 0 keeps no exit, so eq. 5's best set meeting the target is {} at 100 %
    assert exact["greedy (%)"] == pytest.approx(100.0)
    # SDN on blocks (1, 1, 10): cumulative 1/12, 2/12, 1 → 0.15 is reached at block 2, the
    # other fractions only at L: C = {2}, which is the optimum here
    assert percentile_placement(costs) == (2,) and exact["SDN gap (pts)"] == pytest.approx(0)
    # a 30-point budget: {1, 2} at 6 / 12 is the optimum; SDN's {2} costs 6.5 / 12
    assert loose["optimum C"] == (1, 2)
    assert loose["SDN gap (pts)"] == pytest.approx(100 * (6.5 - 6.0) / 12)
    # a set that misses the target: 0.05 is reached at block 1, and {1} scores 3/4 < 1
    assert math.isnan(
        placement_sweep(
            probs,
            labels,
            costs,
            thresholds=(0.2,),
            max_losses=(0.0,),
            th_grid=(1.0,),
            fractions=(0.05,),
        ).iloc[0]["SDN (%)"]
    )


def test_figures_draw(make_probs):
    import matplotlib

    matplotlib.use("Agg")
    probs, labels, costs = hand_problem()
    search = optimal_placement(probs, labels, costs, 0.2)
    table = placement_table(
        search, {"SDN reaches": (1,)}, test_probs=probs, test_labels=labels, costs=costs
    )
    assert list(table["method"]) == ["SDN reaches", "exhaustive optimum"]
    assert plot_placement_search(search, table).axes[0].get_xlabel().startswith("mean cost")
    assert plot_cost_profile(costs).axes[0].get_ylabel() == "cost (kFLOPs)"


@pytest.mark.parametrize("criterion", ["entropy", "max_probability"])
def test_optimal_placement_scores_every_set_as_evaluate_placement_does(make_probs, criterion):
    """The search computes each head's exit test once; every set's score must equal scoring
    that set on its own (`evaluate_placement`), exactly."""

    probs, labels = make_probs(E=5, N=300, K=4, seed=3, spread=2.0)
    costs = CostProfile(gamma_f=(40, 70, 70, 90, 60), gamma_c={1: 9, 2: 5, 3: 12, 4: 3, 5: 7})
    for threshold in (0.0, 0.35, 0.8, 1.0):
        search = optimal_placement(probs, labels, costs, threshold, None, criterion)
        sets = [C for r in range(5) for C in itertools.combinations(range(1, 5), r)]
        assert [s.exits for s in search.scores] == sets
        for s in search.scores:
            alone = evaluate_placement(probs, labels, costs, s.exits, threshold, criterion)
            assert s == alone
