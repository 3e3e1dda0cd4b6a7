"""Tests for mexit.patience: PABEE (Zhou et al. 2020), simulated and real."""

from __future__ import annotations

import pytest
import torch

from mexit.cost import measure_costs
from mexit.inference import exit_probs
from mexit.patience import patience_early_exit, patience_exits


def pabee_by_hand(probs: torch.Tensor, t: int) -> tuple[list[int], list[int]]:
    """One input at a time, as the paper's pseudo-code: a counter of consecutive agreements,
    leave when it reaches t; the final exit answers whoever is left."""
    E, N, _ = probs.shape
    exits, preds = [], []
    for n in range(N):
        labels = [int(probs[k, n].argmax()) for k in range(E)]
        cnt, taken = 0, E - 1
        for k in range(1, E - 1):
            cnt = cnt + 1 if labels[k] == labels[k - 1] else 0
            if cnt == t:
                taken = k
                break
        exits.append(taken)
        preds.append(labels[taken])
    return exits, preds


@pytest.mark.parametrize("E,K", [(3, 2), (5, 2), (6, 3)])
@pytest.mark.parametrize("t", [1, 2, 3, 7])
def test_patience_exits_match_the_papers_counter(make_probs, E, K, t):
    # few classes: consecutive exits agree often, so every patience leaves somebody early
    probs, _ = make_probs(E=E, N=200, K=K, seed=E + t)
    exit_index, predictions = patience_exits(probs, t)
    exits, preds = pabee_by_hand(probs, t)
    assert exit_index.tolist() == exits
    assert predictions.tolist() == preds


def test_patience_extremes_and_agreement(make_probs):
    probs, _ = make_probs(E=5, N=300, K=2, seed=4)
    E = probs.shape[0]
    # t ≥ E - 1: nobody can collect E - 1 agreements before the final exit
    idx, pred = patience_exits(probs, E - 1)
    assert torch.all(idx == E - 1) and torch.equal(pred, probs[-1].argmax(-1))
    # t = 1: an input leaves exactly where two consecutive exits first agree
    idx, pred = patience_exits(probs, 1)
    labels = probs.argmax(-1)
    early = idx < E - 1
    assert early.any()
    n = torch.nonzero(early).flatten()
    assert torch.equal(labels[idx[n], n], labels[idx[n] - 1, n])
    assert torch.all(idx[early] >= 1)  # the first exit has nobody to agree with
    # a larger patience never leaves earlier
    for t in range(1, E):
        assert torch.all(patience_exits(probs, t + 1)[0] >= patience_exits(probs, t)[0])


@pytest.fixture(params=["cnn", "mlp", "cnn exits (1, 3)"])
def model_and_x(request, make_cnn, make_mlp, make_inputs):
    if request.param.startswith("cnn"):
        model, x = make_cnn(scale=3.0, num_classes=2), make_inputs(150, (1, 16), seed=1)
        if "(1, 3)" in request.param:
            model = model.with_exits((1, 3))
    else:
        model, x = make_mlp(scale=3.0, num_classes=2), make_inputs(150, (1, 6), seed=2)
    return model.eval(), x


@pytest.mark.parametrize("t", [1, 2, 3])
def test_real_patience_equals_the_simulation(model_and_x, t):
    model, x = model_and_x
    costs = measure_costs(model, tuple(x.shape[1:]))
    Gamma = costs.Gamma(model.exits)
    probs = exit_probs(model, x)
    real = patience_early_exit(model, x, t, costs)
    idx, pred = patience_exits(probs, t)
    assert torch.equal(real.exit_index, idx)
    assert torch.equal(real.predictions, pred)
    assert torch.equal(real.flops, Gamma[idx])
    if t == 1 and len(model.exits) > 3:
        assert (idx < len(model.exits) - 1).any()  # the comparison saw early exits


def test_real_patience_one_input_at_a_time_and_mode_restored(make_mlp, make_inputs):
    model = make_mlp(scale=3.0, num_classes=2).train()
    x = make_inputs(20, (1, 6), seed=5)
    probs = exit_probs(model, x)
    assert model.training  # exit_probs hands the mode back
    idx, pred = patience_exits(probs, 1)
    for n in range(len(x)):
        r = patience_early_exit(model, x[n : n + 1], 1)
        assert r.exit_index.item() == idx[n].item() and r.predictions.item() == pred[n].item()
    assert model.training
