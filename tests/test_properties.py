"""Property tests (hypothesis) for the core formulas and the exit policies."""

import math
import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mexit

# Two profiles. "mexit" (the default, what CI runs): derandomized, so every run draws the same
# examples and a failure reproduces. "random": fresh random examples on every run, and more of
# them, for a slow hunt beyond the fixed set:
#     HYPOTHESIS_PROFILE=random pytest tests/test_properties.py
# (a failure prints the @reproduce_failure / seed to replay it).
settings.register_profile("mexit", max_examples=60, deadline=None, derandomize=True)
settings.register_profile(
    "random", max_examples=600, deadline=None, derandomize=False, database=None, print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "mexit"))


@st.composite
def distributions(draw, max_exits=5, max_n=12, max_k=12):
    """Softmax outputs (E, N, K) of random logits, sometimes very peaked."""
    E = draw(st.integers(1, max_exits))
    N = draw(st.integers(1, max_n))
    K = draw(st.integers(2, max_k))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from([0.1, 1.0, 5.0, 50.0]))
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(E, N, K, generator=g)).softmax(-1)


unit = st.floats(0.0, 1.0, allow_nan=False)


@given(distributions())
def test_normalized_entropy_lies_in_unit_interval(probs):
    H = mexit.normalized_entropy(probs)
    assert H.shape == probs.shape[:-1]
    assert (H >= 0).all() and (H <= 1).all()


@given(st.integers(2, 50))
def test_normalized_entropy_is_one_for_uniform_and_zero_for_one_hot(K):
    uniform = torch.full((K,), 1.0 / K, dtype=torch.float64)
    assert math.isclose(mexit.normalized_entropy(uniform).item(), 1.0, rel_tol=1e-9)
    one_hot = torch.zeros(K, dtype=torch.float64)
    one_hot[K // 2] = 1.0
    assert mexit.normalized_entropy(one_hot).item() == 0.0


@given(st.integers(1, 20), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_exit_probabilities_sum_to_one(N, E_early, seed):
    gates = torch.rand(N, E_early, generator=torch.Generator().manual_seed(seed))
    p = mexit.exit_probabilities(gates)
    assert p.shape == (N, E_early + 1)
    assert (p >= 0).all()
    assert torch.allclose(p.sum(1), torch.ones(N), atol=1e-6)


@given(st.integers(1, 20), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_expected_cost_lies_between_first_and_last_exit(N, E_early, seed):
    g = torch.Generator().manual_seed(seed)
    gates = torch.rand(N, E_early, generator=g, dtype=torch.float64)
    Gamma = torch.cumsum(torch.rand(E_early + 1, generator=g, dtype=torch.float64) + 0.1, 0)
    cost = mexit.expected_cost(gates, Gamma).item()
    assert Gamma[0].item() - 1e-9 <= cost <= Gamma[-1].item() + 1e-9


@given(distributions(), unit, unit, st.sampled_from(mexit.inference.CRITERIA))
def test_simulate_exits_is_monotone_in_the_threshold(probs, a, b, criterion):
    lo, hi = min(a, b), max(a, b)
    at_lo = mexit.simulate_exits(probs, lo, criterion)
    at_hi = mexit.simulate_exits(probs, hi, criterion)
    if criterion == "entropy":  # a larger β lets more inputs out: exits never get later
        assert (at_hi <= at_lo).all()
    else:  # a larger τ is stricter: exits never get earlier
        assert (at_hi >= at_lo).all()


@given(
    st.integers(0, 2**31 - 1),
    st.integers(1, 9),
    st.lists(unit, min_size=2, max_size=2),
    st.sampled_from(mexit.inference.CRITERIA),
)
@settings(max_examples=25)
def test_early_exit_predict_equals_simulate_exits(seed, n, thresholds, criterion):
    torch.manual_seed(seed)
    model = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3).eval()
    x = 3 * torch.randn(n, 1, 6)
    costs = mexit.measure_costs(model, (1, 6))
    real = mexit.early_exit_predict(model, x, thresholds, criterion, costs=costs)
    probs = mexit.exit_probs(model, x)
    policy = mexit.evaluate_policy(
        probs,
        torch.zeros(n, dtype=torch.long),
        thresholds,
        criterion,
        Gamma=costs.Gamma(model.exits),
    )
    assert torch.equal(real.exit_index, policy.exit_index)
    assert torch.equal(real.predictions, policy.predictions)
    assert torch.allclose(real.flops, costs.Gamma(model.exits)[policy.exit_index])


@given(distributions(), st.floats(0.05, 0.95) | st.floats(1.05, 20.0))
def test_rows_that_are_not_distributions_are_refused(probs, factor):
    """Scaling one row away from sum 1 (as logits or unnormalised scores would be) is caught
    by every function that reads probabilities."""
    bad = probs.clone()
    bad[0, 0] = bad[0, 0] * factor
    if (bad > 1).any():
        bad[0, 0] = bad[0, 0] / bad[0, 0].max() * (1 - 1e-6)
    if torch.isclose(bad[0, 0].sum(), torch.tensor(1.0), atol=2e-3):
        return  # a one-hot row scaled down and renormalised may still sum to 1
    labels = torch.zeros(probs.shape[1], dtype=torch.long)
    for call in (
        lambda: mexit.normalized_entropy(bad),
        lambda: mexit.max_probability(bad),
        lambda: mexit.simulate_exits(bad, 0.5),
        lambda: mexit.evaluate_policy(bad, labels, 0.5),
        lambda: mexit.exit_accuracies(bad, labels),
    ):
        with pytest.raises(ValueError, match=r"^probs must be"):
            call()


@given(distributions(), st.integers(0, 50))
def test_labels_outside_the_classes_are_refused(probs, offset):
    K = probs.shape[-1]
    labels = torch.zeros(probs.shape[1], dtype=torch.long)
    labels[-1] = K + offset
    for call in (mexit.exit_accuracies, mexit.oracle_exits, mexit.overthinking):
        with pytest.raises(ValueError, match=rf"^labels must be class indices in 0\.\.{K - 1}"):
            call(probs, labels)
