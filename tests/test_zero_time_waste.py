"""Tests for mexit.zero_time_waste: ZTW's geometric ensembling (Wołczyk et al. 2021)."""

from __future__ import annotations

import math

import pytest
import torch

from mexit.cost import measure_costs
from mexit.inference import exit_probs
from mexit.zero_time_waste import (
    ZeroTimeWaste,
    fit_zero_time_waste,
    ztw_early_exit,
    ztw_exits,
)


def ensemble_by_hand(probs, weights, bias, i, n):
    """q_i for input n with plain floats: Π_j c_j^w_ij · e^b, normalised."""
    K = probs.shape[-1]
    z = [
        float(bias[i, t])
        + sum(float(weights[i, j]) * math.log(float(probs[j, n, t])) for j in range(i + 1))
        for t in range(K)
    ]
    m = max(z)
    e = [math.exp(v - m) for v in z]
    return [v / sum(e) for v in e]


def _random_ztw(E, K, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(E, E, generator=g, dtype=torch.float64).tril()
    return ZeroTimeWaste(w, torch.randn(E, K, generator=g, dtype=torch.float64))


def test_identity_ensemble_is_each_exit_alone(make_probs):
    probs, _ = make_probs(E=4, N=50, K=5)
    z = ZeroTimeWaste(torch.eye(4, dtype=torch.float64), torch.zeros(4, 5, dtype=torch.float64))
    assert torch.allclose(z.ensemble(probs), probs.double(), atol=1e-6)


def test_ensemble_matches_a_python_loop(make_probs):
    probs, _ = make_probs(E=3, N=20, K=4, seed=1)
    z = _random_ztw(3, 4)
    q = z.ensemble(probs)
    for i in range(3):
        for n in range(20):
            assert q[i, n].tolist() == pytest.approx(
                ensemble_by_hand(probs, z.weights, z.bias, i, n)
            )


def test_ztw_exits_match_a_python_loop(make_probs):
    probs, _ = make_probs(E=4, N=80, K=3, seed=2)
    z = _random_ztw(4, 3, seed=3)
    for th in (0.0, 0.5, 0.8, 1.0, [0.9, 0.4, 0.7]):
        idx, pred = ztw_exits(probs, z, th)
        taus = [th] * 3 if isinstance(th, float) else th
        for n in range(80):
            taken = 3
            for i in range(3):
                if max(ensemble_by_hand(probs, z.weights, z.bias, i, n)) >= taus[i]:
                    taken = i
                    break
            q = ensemble_by_hand(probs, z.weights, z.bias, taken, n)
            assert idx[n].item() == taken, (th, n)
            assert pred[n].item() == max(range(3), key=q.__getitem__)


def test_fit_recycles_earlier_exits(make_probs):
    # exit 1 alone knows half the label, exit 2 alone the other half: the ensemble at exit 2
    # must beat exit 2 alone, and the fitted weights stay lower triangular
    g = torch.Generator().manual_seed(0)
    N, K = 600, 4
    y = torch.randint(0, K, (N,), generator=g)
    onehot = torch.nn.functional.one_hot(y, K).double()
    noise = lambda: torch.randn(N, K, generator=g, dtype=torch.float64)  # noqa: E731
    pair = (y // 2)[:, None] == torch.arange(K)[None] // 2  # exit 1: which pair of classes
    within = (y % 2)[:, None] == torch.arange(K)[None] % 2  # exit 2: which of the two
    logits = torch.stack([2.0 * pair + 0.3 * noise(), 2.0 * within + 0.3 * noise(), 3 * onehot])
    probs = logits.softmax(-1)
    z = fit_zero_time_waste(probs, y)
    assert torch.all(z.weights.triu(1) == 0)
    q = z.ensemble(probs)
    acc = (q.argmax(-1) == y).double().mean(1)
    alone = (probs.argmax(-1) == y).double().mean(1)
    assert alone[1] < 0.7 and acc[1] > 0.95

    # the ensemble's likelihood is at least as good as each exit's own, at every exit
    def nll(p):
        return -p.gather(-1, y.expand(3, N)[..., None]).squeeze(-1).clamp_min(1e-30).log().mean(1)

    assert torch.all(nll(q) <= nll(probs.double()) + 1e-9)


@pytest.fixture(params=["cnn", "mlp", "cnn exits (2,)"])
def model_and_x(request, make_cnn, make_mlp, make_inputs):
    if request.param.startswith("cnn"):
        model, x = make_cnn(scale=5.0), make_inputs(150, (1, 16), seed=1)
        if "(2,)" in request.param:
            model = model.with_exits((2,))
    else:
        model, x = make_mlp(scale=5.0), make_inputs(150, (1, 6), seed=2)
    return model.eval(), x


def test_real_ztw_equals_the_simulation(model_and_x):
    model, x = model_and_x
    E = len(model.exits)
    costs = measure_costs(model, tuple(x.shape[1:]))
    Gamma = costs.Gamma(model.exits)
    probs = exit_probs(model, x)
    z = fit_zero_time_waste(probs, probs[-1].argmax(-1))
    seen = set()
    for th in [i / 10 for i in range(11)] + [[0.9] * (E - 2) + [0.3]]:
        real = ztw_early_exit(model, x, z, th, costs)
        idx, pred = ztw_exits(probs, z, th)
        assert torch.equal(real.exit_index, idx), th
        assert torch.equal(real.predictions, pred), th
        assert torch.equal(real.flops, Gamma[idx]), th
        seen.update(idx.tolist())
    assert seen == set(range(E))


def test_real_ztw_restores_the_mode(make_mlp, make_inputs):
    model = make_mlp(scale=5.0).train()
    x = make_inputs(30, (1, 6), seed=3)
    probs = exit_probs(model, x)
    z = fit_zero_time_waste(probs, probs[-1].argmax(-1))
    idx, _ = ztw_exits(probs, z, 0.6)
    assert torch.equal(ztw_early_exit(model, x, z, 0.6).exit_index, idx)
    assert model.training


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_patience_and_ztw_run_in_the_models_dtype(make_cnn, make_inputs, dtype):
    from mexit.patience import patience_early_exit, patience_exits

    model = make_cnn(scale=5.0).to(dtype)
    x = make_inputs(60, (1, 16), seed=4).to(dtype)
    probs = exit_probs(model, x)
    assert probs.dtype == dtype
    z = fit_zero_time_waste(probs, probs[-1].argmax(-1))
    assert torch.equal(ztw_early_exit(model, x, z, 0.6).exit_index, ztw_exits(probs, z, 0.6)[0])
    assert torch.equal(patience_early_exit(model, x, 1).exit_index, patience_exits(probs, 1)[0])
    assert next(model.parameters()).dtype == dtype
