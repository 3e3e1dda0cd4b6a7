"""Tests for mexit.inference: exit criteria (eq. 11), simulated policies and real early exit."""

from __future__ import annotations

import math

import pytest
import torch

from mexit.cost import measure_costs
from mexit.inference import (
    early_exit_predict,
    evaluate_policy,
    exit_accuracies,
    exit_probs,
    max_probability,
    normalized_entropy,
    oracle_exits,
    overthinking,
    simulate_exits,
)

GRID = [i / 20 for i in range(21)]  # 0.0, 0.05, ..., 1.0

# ---------------------------------------------------------------------------
# Reference implementations: plain Python loops over floats, one input at a time
# ---------------------------------------------------------------------------


def entropy_by_hand(row: list[float]) -> float:
    return -sum(p * math.log(p) for p in row if p > 0) / math.log(len(row))


def score_by_hand(row, criterion):
    return entropy_by_hand(row) if criterion == "entropy" else max(row)


def exits_by_hand(probs: torch.Tensor, thresholds, criterion: str) -> list[int]:
    """Exit position of each input: the first early exit whose output is confident enough."""
    E, N, _ = probs.shape
    th = [thresholds] * (E - 1) if isinstance(thresholds, float) else list(thresholds)
    out = []
    for n in range(N):
        k_exit = E - 1
        for k in range(E - 1):
            s = score_by_hand(probs[k, n].tolist(), criterion)
            if (s <= th[k]) if criterion == "entropy" else (s >= th[k]):
                k_exit = k
                break
        out.append(k_exit)
    return out


def policy_by_hand(probs, labels, thresholds, criterion, Gamma):
    exits = exits_by_hand(probs, thresholds, criterion)
    preds = [int(probs[k, n].argmax()) for n, k in enumerate(exits)]
    accuracy = sum(int(p == y) for p, y in zip(preds, labels.tolist())) / len(exits)
    mean_flops = sum(float(Gamma[k]) for k in exits) / len(exits)
    counts = tuple(exits.count(k) for k in range(probs.shape[0]))
    return exits, preds, accuracy, mean_flops, counts


# ---------------------------------------------------------------------------
# Eq. 11 and the max-probability score
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("K", [2, 3, 4, 10])
def test_normalized_entropy_of_uniform_and_one_hot(K):
    uniform = torch.full((3, K), 1.0 / K)
    torch.testing.assert_close(normalized_entropy(uniform), torch.ones(3))
    one_hot = torch.eye(K)
    assert torch.all(normalized_entropy(one_hot) == 0)


def test_normalized_entropy_by_hand_on_random_softmaxes(make_probs):
    probs, _ = make_probs(E=2, N=30, K=5)
    H = normalized_entropy(probs)
    assert H.shape == (2, 30)  # reduces the last axis
    assert torch.all((H >= 0) & (H <= 1))
    expected = torch.tensor([[entropy_by_hand(r) for r in e.tolist()] for e in probs])
    torch.testing.assert_close(H, expected.float())
    # a hand case: p = (1/2, 1/4, 1/4) -> 1.5 bits / log2(3)
    p = torch.tensor([0.5, 0.25, 0.25])
    assert normalized_entropy(p).item() == pytest.approx(1.5 / math.log2(3))


def test_max_probability_by_hand():
    p = torch.tensor([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
    torch.testing.assert_close(max_probability(p), torch.tensor([0.7, 0.5]))


def test_scores_reject_bad_input():
    with pytest.raises(ValueError, match="at least 2 classes"):
        normalized_entropy(torch.ones(3, 1))
    with pytest.raises(TypeError, match="floating-point"):
        normalized_entropy(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        max_probability([0.5, 0.5])


# ---------------------------------------------------------------------------
# simulate_exits
# ---------------------------------------------------------------------------


def test_simulate_exits_extremes(make_probs):
    probs, _ = make_probs(E=4, N=100, K=5)
    assert probs.max() < 1 and normalized_entropy(probs).min() > 0  # no one-hot output
    # everything is confident enough at the first exit
    assert torch.equal(simulate_exits(probs, 1.0, "entropy"), torch.zeros(100, dtype=torch.long))
    assert torch.equal(simulate_exits(probs, 0.0, "max_probability"), torch.zeros(100).long())
    # nothing is: every input goes to the final exit
    assert torch.equal(simulate_exits(probs, 0.0, "entropy"), torch.full((100,), 3))
    assert torch.equal(simulate_exits(probs, 1.0, "max_probability"), torch.full((100,), 3))


def test_simulate_exits_boundaries_and_one_hot_outputs():
    # exit 1: p = (1/2, 1/2): H = 1, max = 1/2; exit 2: one-hot; final exit: anything
    probs = torch.tensor([[[0.5, 0.5]], [[1.0, 0.0]], [[0.3, 0.7]]])
    assert simulate_exits(probs, 1.0, "entropy").tolist() == [0]  # H <= β at equality
    assert simulate_exits(probs, 0.0, "entropy").tolist() == [1]  # the one-hot exit, H = 0
    assert simulate_exits(probs, 0.5, "max_probability").tolist() == [0]  # max >= τ
    assert simulate_exits(probs, 0.51, "max_probability").tolist() == [1]
    assert simulate_exits(probs, 1.0, "max_probability").tolist() == [1]
    assert simulate_exits(probs, [0.9, 0.0], "entropy").tolist() == [1]
    assert simulate_exits(probs[1:], [0.0], "entropy").tolist() == [0]
    # a single exit: everyone leaves there, whatever the threshold
    assert simulate_exits(probs[:1], 0.0).tolist() == [0]
    assert simulate_exits(probs[:1], []).tolist() == [0]


@pytest.mark.parametrize("K", [6, 7])
def test_entropy_threshold_one_lets_even_a_uniform_output_exit(K):
    probs = torch.full((2, 3, K), 1.0 / K)
    assert torch.all(normalized_entropy(probs) <= 1.0)
    assert simulate_exits(probs, 1.0, "entropy").tolist() == [0, 0, 0]


@pytest.mark.parametrize("criterion", ["entropy", "max_probability"])
def test_simulate_exits_matches_a_python_loop(make_probs, criterion):
    probs, _ = make_probs(E=4, N=60, K=3, seed=3)
    for th in [0.3, 0.55, 0.8, [0.2, 0.9, 0.5], [0.9, 0.1, 0.6], [1.0, 0.0, 0.3]]:
        got = simulate_exits(probs, th, criterion)
        assert got.dtype == torch.long
        assert got.tolist() == exits_by_hand(probs, th, criterion), th
        # a list of E tensors (N, K) is the same thing as the stacked tensor
        assert torch.equal(simulate_exits(list(probs), th, criterion), got)


def test_looser_thresholds_never_give_a_later_exit(make_probs):
    probs, _ = make_probs(E=5, N=200, K=4, seed=4)
    entropy = [simulate_exits(probs, b, "entropy") for b in GRID]  # larger β is looser
    for tighter, looser in zip(entropy, entropy[1:]):
        assert torch.all(looser <= tighter)
    maxprob = [simulate_exits(probs, t, "max_probability") for t in GRID]  # smaller τ looser
    for looser, tighter in zip(maxprob, maxprob[1:]):
        assert torch.all(looser <= tighter)
    # and the sweep is not vacuous: it moves inputs across every exit
    assert entropy[0].min() == 4 and entropy[-1].max() == 0
    assert len(set(torch.cat(entropy).tolist())) == 5


# ---------------------------------------------------------------------------
# evaluate_policy, exit accuracies, oracle, overthinking
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("criterion", ["entropy", "max_probability"])
def test_evaluate_policy_matches_a_python_loop(make_probs, criterion):
    probs, labels = make_probs(E=3, N=80, K=4, seed=5, spread=1.5)
    Gamma = [10.0, 25.0, 60.0]
    for th in [0.0, 0.4, 0.6, 1.0, [0.3, 0.8], [0.8, 0.3]]:
        r = evaluate_policy(probs, labels, th, criterion, Gamma=Gamma)
        exits, preds, acc, mean_flops, counts = policy_by_hand(probs, labels, th, criterion, Gamma)
        assert r.exit_index.tolist() == exits
        assert r.predictions.tolist() == preds
        assert r.accuracy == pytest.approx(acc)
        assert r.mean_flops == pytest.approx(mean_flops)
        assert r.cost_fraction == pytest.approx(mean_flops / 60.0)
        assert r.exit_counts == counts and sum(counts) == 80
    # full_cost changes only the fraction; no Gamma counts exits as 1, 2, 3
    r = evaluate_policy(probs, labels, 0.5, criterion, Gamma=Gamma, full_cost=50.0)
    assert r.cost_fraction == pytest.approx(r.mean_flops / 50.0)
    r = evaluate_policy(probs, labels, 0.5, criterion)
    assert r.mean_flops == pytest.approx(sum(k + 1 for k in r.exit_index.tolist()) / 80)


def test_exit_accuracies_oracle_and_overthinking_by_hand():
    def one_hot_probs(preds_per_exit, K=3):
        """Outputs whose argmax is the given class, with some confidence."""
        t = torch.full((len(preds_per_exit), len(preds_per_exit[0]), K), 0.1)
        for e, preds in enumerate(preds_per_exit):
            for n, c in enumerate(preds):
                t[e, n, c] = 0.8
        return t

    labels = torch.tensor([0, 1, 2, 0, 1])
    # predictions of exit 1, 2, 3 for five inputs
    probs = one_hot_probs([[0, 0, 1, 1, 1], [1, 1, 2, 0, 0], [0, 0, 0, 0, 0]])
    torch.testing.assert_close(exit_accuracies(probs, labels), torch.tensor([2, 3, 2]) / 5)
    # earliest correct exit: 0, 1, 1, 1, 0; an input right nowhere goes to the final exit
    assert oracle_exits(probs, labels).tolist() == [0, 1, 1, 1, 0]
    probs_none = one_hot_probs([[1], [2], [1]])
    assert oracle_exits(probs_none, torch.tensor([0])).tolist() == [2]
    # overthinking: right at an earlier exit, wrong at the final one -> inputs 1, 2, 4
    assert overthinking(probs, labels) == pytest.approx(3 / 5)
    assert overthinking(probs[-1:], labels) == 0.0


def test_oracle_is_the_cheapest_policy_at_its_accuracy(make_probs):
    probs, labels = make_probs(E=4, N=100, K=3, seed=6)
    oracle = oracle_exits(probs, labels)
    correct = probs.argmax(-1) == labels
    assert torch.all(correct[oracle, torch.arange(100)] | ~correct.any(0))
    for k in range(4):  # no exit before the oracle's is right
        early = oracle > k
        assert not correct[k, early].any()
    Gamma = torch.tensor([1.0, 2.0, 3.0, 4.0])
    oracle_cost = Gamma[oracle].mean()
    oracle_acc = correct.any(0).float().mean()
    for th in GRID:
        r = evaluate_policy(probs, labels, th, Gamma=Gamma)
        assert r.accuracy <= oracle_acc + 1e-9
        if r.accuracy == pytest.approx(float(oracle_acc)):
            assert r.mean_flops >= float(oracle_cost) - 1e-9


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(thresholds=-0.1), ValueError, ">= 0"),
        (dict(thresholds=1.5), ValueError, "<= 1"),
        (dict(thresholds=[0.5, 2.0]), ValueError, r"thresholds\[1\]"),
        (dict(thresholds=[0.5]), ValueError, "one value per early exit"),
        (dict(thresholds=[0.5, 0.5, 0.5]), ValueError, "one value per early exit"),
        (dict(thresholds="0.5"), TypeError, "number in"),
        (dict(thresholds=float("nan")), ValueError, "NaN"),
        (dict(criterion="margin"), ValueError, "criterion must be one of"),
        (dict(probs="logits"), ValueError, "rows summing to 1"),
        (dict(probs="negative"), ValueError, r"\[0, 1\]"),
        (dict(probs="2d"), ValueError, "3 dimensions"),
        (dict(probs="empty"), ValueError, "empty"),
        (dict(probs="one class"), ValueError, "at least 2 classes"),
        (dict(probs="ragged"), ValueError, "same shape"),
        (dict(probs="none"), ValueError, "at least one exit"),
        (dict(labels="2d"), ValueError, "1 dimensions"),
        (dict(labels="short"), ValueError, "one label per input"),
        (dict(labels="float"), TypeError, "integer"),
        (dict(Gamma=[1.0, 2.0]), ValueError, "one cost per exit"),
        (dict(full_cost=0.0), ValueError, "full_cost"),
    ],
)
def test_policies_reject_bad_input(make_probs, kwargs, error, match):
    probs, labels = make_probs(E=3, N=10, K=4)
    bad_probs = {
        "logits": torch.full((3, 10, 4), 0.1),  # in [0, 1], rows summing to 0.4
        "negative": probs - 0.5,
        "2d": probs[0],
        "empty": probs[:, :0],
        "one class": torch.ones(3, 10, 1),
        "ragged": [probs[0], probs[1, :5]],
        "none": [],
    }
    bad_labels = {"2d": labels[:, None], "short": labels[:9], "float": labels.float()}
    args = dict(probs=probs, labels=labels, thresholds=0.5, criterion="entropy")
    args.update(kwargs)
    args["probs"] = bad_probs.get(kwargs.get("probs"), args["probs"])
    args["labels"] = bad_labels.get(kwargs.get("labels"), args["labels"])
    with pytest.raises(error, match=match):
        evaluate_policy(**args)
    if "labels" not in kwargs and "Gamma" not in kwargs and "full_cost" not in kwargs:
        args.pop("labels")
        with pytest.raises(error, match=match):
            simulate_exits(**args)


# ---------------------------------------------------------------------------
# exit_probs
# ---------------------------------------------------------------------------


def test_exit_probs_is_the_softmax_of_every_exit(make_cnn, make_inputs):
    model = make_cnn(scale=10.0)
    x = make_inputs(37, (1, 16))
    model.train()
    probs = exit_probs(model, x, batch_size=10)  # chunks of 10, 10, 10, 7
    assert model.training  # restored
    assert probs.shape == (4, 37, 5)
    model.eval()
    with torch.no_grad():
        expected = torch.stack([o.softmax(-1) for o in model(x)])
    torch.testing.assert_close(probs, expected)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4, 37))
    with pytest.raises(TypeError, match="MultiExitNet"):
        exit_probs(torch.nn.Linear(16, 2), x)
    with pytest.raises(ValueError, match="empty"):
        exit_probs(model, x[:0])


# ---------------------------------------------------------------------------
# early_exit_predict: real early exit agrees with the simulation
# ---------------------------------------------------------------------------

PER_EXIT = {
    4: [[0.2, 0.9, 0.5], [0.9, 0.1, 0.6], [0.6, 0.6, 0.0], [1.0, 0.3, 0.3], [0.0, 0.0, 1.0]],
    3: [[0.2, 0.9], [0.9, 0.1], [0.6, 0.0], [0.0, 1.0]],
    2: [[0.5], [0.0], [1.0]],
}


@pytest.fixture(params=["cnn", "mlp", "cnn exits (2,)", "cnn exits (1, 3)"])
def model_and_x(request, make_cnn, make_mlp, make_inputs):
    if request.param.startswith("cnn"):
        model, x = make_cnn(scale=10.0), make_inputs(120, (1, 16), seed=1)
        if "(2,)" in request.param:
            model = model.with_exits((2,))
        elif "(1, 3)" in request.param:
            model = model.with_exits((1, 3))
    else:
        model, x = make_mlp(scale=10.0), make_inputs(120, (1, 6), seed=2)
    return model.eval(), x


@pytest.mark.parametrize("criterion", ["entropy", "max_probability"])
def test_early_exit_predict_is_identical_to_the_simulation(model_and_x, criterion):
    model, x = model_and_x
    E = len(model.exits)
    costs = measure_costs(model, tuple(x.shape[1:]))
    Gamma = costs.Gamma(model.exits)
    probs = exit_probs(model, x)
    labels = probs[-1].argmax(-1)  # any labels will do; these make accuracy non-trivial
    # the outputs are neither one-hot nor uniform, so both extremes below are unambiguous
    assert probs.max() < 1 and normalized_entropy(probs).min() > 0
    seen = set()
    for th in GRID + PER_EXIT[E]:
        real = early_exit_predict(model, x, th, criterion, costs=costs)
        sim = evaluate_policy(probs, labels, th, criterion, Gamma=Gamma)
        assert torch.equal(real.exit_index, simulate_exits(probs, th, criterion)), th
        assert torch.equal(real.exit_index, sim.exit_index), th
        assert torch.equal(real.predictions, sim.predictions), th
        # FLOPs actually spent = Γ of the exit taken, so the means agree too
        assert torch.equal(real.flops, Gamma[real.exit_index]), th
        assert real.flops.mean().item() == pytest.approx(sim.mean_flops)
        seen.update(real.exit_index.tolist())
    # the threshold sweep exercised every exit
    assert seen == set(range(E))
    # the extremes: everyone at the first exit, and nobody exiting early
    first, last = (1.0, 0.0) if criterion == "entropy" else (0.0, 1.0)
    assert torch.all(early_exit_predict(model, x, first, criterion, costs=costs).exit_index == 0)
    r = early_exit_predict(model, x, last, criterion, costs=costs)
    assert torch.all(r.exit_index == E - 1)
    assert torch.equal(r.predictions, probs[-1].argmax(-1))
    assert torch.all(r.flops == Gamma[-1])


@pytest.mark.parametrize("criterion", ["entropy", "max_probability"])
def test_early_exit_predict_one_input_at_a_time(make_cnn, make_inputs, criterion):
    model = make_cnn(scale=10.0)
    x = make_inputs(25, (1, 16), seed=3)
    costs = measure_costs(model, (1, 16))
    probs = exit_probs(model, x)
    for th in [0.0, 0.45, 0.6, 1.0, [0.7, 0.2, 0.9]]:
        sim = simulate_exits(probs, th, criterion)
        for n in range(25):
            r = early_exit_predict(model, x[n : n + 1], th, criterion, costs=costs)
            assert r.exit_index.shape == r.predictions.shape == r.flops.shape == (1,)
            assert r.exit_index.item() == sim[n].item()
            assert r.predictions.item() == probs[sim[n], n].argmax().item()


def test_early_exit_predict_measures_costs_itself_and_restores_the_mode(make_mlp, make_inputs):
    model = make_mlp(scale=10.0)
    x = make_inputs(30, (1, 6))
    expected = early_exit_predict(model, x, 0.6, costs=measure_costs(model, (1, 6)))
    model.train()
    r = early_exit_predict(model, x, 0.6)  # costs measured on the fly, eval mode inside
    assert model.training
    assert torch.equal(r.exit_index, expected.exit_index)
    assert torch.equal(r.predictions, expected.predictions)
    assert torch.equal(r.flops, expected.flops)


def test_a_model_without_early_exits_always_answers_at_the_end(make_mlp, make_inputs):
    model = make_mlp(scale=10.0).with_exits(())
    x = make_inputs(10, (1, 6))
    costs = measure_costs(model, (1, 6))
    r = early_exit_predict(model, x, 1.0, costs=costs)
    assert torch.all(r.exit_index == 0)
    assert torch.all(r.flops == costs.full)


@pytest.mark.parametrize("criterion", ["entropy", "max_probability"])
def test_early_exit_predict_skips_the_work_of_exited_inputs(make_cnn, make_inputs, criterion):
    model = make_cnn(scale=10.0).with_exits((1, 3))  # exits at blocks 1, 3, 4; head 2 unused
    x = make_inputs(150, (1, 16), seed=4)
    costs = measure_costs(model, (1, 16))
    probs = exit_probs(model, x)

    rows: dict[str, list[int]] = {}

    def recorder(name):
        def hook(module, inputs, output):
            rows.setdefault(name, []).append(inputs[0].shape[0])

        return hook

    handles = [
        b.register_forward_hook(recorder(f"block {i}")) for i, b in enumerate(model.blocks, 1)
    ]
    handles += [model.head(i).register_forward_hook(recorder(f"head {i}")) for i in (1, 2, 3, 4)]
    try:
        for th in [0.3, 0.5, 0.65, [0.6, 0.4], [0.2, 0.8], 0.0, 1.0]:
            rows.clear()
            r = early_exit_predict(model, x, th, criterion, costs=costs)
            k = simulate_exits(probs, th, criterion)
            assert torch.equal(r.exit_index, k)
            left_after = [int((k > j).sum()) for j in range(3)]  # still active after exit j
            expected = {
                "block 1": 150,
                "head 1": 150,
                "block 2": left_after[0],
                "block 3": left_after[0],
                "head 3": left_after[0],
                "block 4": left_after[1],
                "head 4": left_after[1],
                "head 2": 0,  # not an exit of this model: never evaluated
            }
            for name, n in expected.items():
                assert sum(rows.get(name, [])) == n, (th, name)
                assert len(rows.get(name, [])) <= 1, (th, name)  # one batched call, no loop
            # FLOPs: every row that reached a block or head pays for it, nothing else
            spent = sum(expected[f"block {i}"] * costs.gamma_f[i - 1] for i in (1, 2, 3, 4))
            spent += sum(expected[f"head {i}"] * costs.gamma_c[i] for i in (1, 3, 4))
            assert r.flops.sum().item() == pytest.approx(spent)
    finally:
        for h in handles:
            h.remove()


def test_early_exit_predict_rejects_bad_input(tiny_mlp):
    x = torch.randn(4, 1, 6)
    costs = measure_costs(tiny_mlp, (1, 6))
    with pytest.raises(ValueError, match=">= 0"):
        early_exit_predict(tiny_mlp, x, -0.5, costs=costs)
    with pytest.raises(ValueError, match="<= 1"):
        early_exit_predict(tiny_mlp, x, [0.5, 1.5], costs=costs)
    with pytest.raises(ValueError, match="one value per early exit"):
        early_exit_predict(tiny_mlp, x, [0.5, 0.5, 0.5], costs=costs)
    with pytest.raises(ValueError, match="criterion must be one of"):
        early_exit_predict(tiny_mlp, x, 0.5, "confidence", costs=costs)
    with pytest.raises(ValueError, match="empty"):
        early_exit_predict(tiny_mlp, x[:0], 0.5, costs=costs)
    with pytest.raises(TypeError, match="floating-point"):
        early_exit_predict(tiny_mlp, x.long(), 0.5, costs=costs)
    with pytest.raises(TypeError, match="MultiExitNet"):
        early_exit_predict(torch.nn.Flatten(), x, 0.5, costs=costs)
    with pytest.raises(TypeError, match="CostProfile"):
        early_exit_predict(tiny_mlp, x, 0.5, costs={"gamma_f": (1, 2, 3)})
