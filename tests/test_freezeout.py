"""Tests for mexit.freezeout: eq. 10, the freezing points and FreezeOut training."""

from __future__ import annotations

import math

import pytest
import torch

import mexit
from mexit.freezeout import (
    FreezeOut,
    freezeout_lr,
    freezeout_rates,
    freezeout_times,
    run_freezeout,
    train_freezeout,
)

# ---------------------------------------------------------------------------
# eq. 10
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("t_i", [7.0, 50.0, 123.5])
def test_rates_follow_eq_10_before_the_freezing_point(t_i):
    eta0 = 0.1
    for t in [0.0, 1.0, t_i / 3, t_i / 2, 0.9 * t_i, t_i - 1e-3]:
        expected = 0.5 * eta0 * (1 + math.cos(math.pi * t / t_i))
        assert freezeout_lr(eta0, t, t_i) == pytest.approx(expected, abs=1e-12)
    assert freezeout_lr(eta0, 0, t_i) == pytest.approx(eta0)
    assert freezeout_lr(eta0, t_i / 2, t_i) == pytest.approx(eta0 / 2)


def test_rates_are_zero_from_the_freezing_point_on():
    for t in [50, 50.5, 80, 1e6]:
        assert freezeout_lr(0.1, t, 50) == 0.0
    rates = [freezeout_lr(0.1, t, 50) for t in range(60)]
    assert all(b <= a for a, b in zip(rates, rates[1:]))  # non-increasing


def test_freezing_points_are_equispaced_and_the_last_is_T():
    assert freezeout_times(150, 3) == (50.0, 100.0, 150.0)
    times = freezeout_times(125, 4)
    assert times[-1] == 125
    assert all(b - a == pytest.approx(125 / 4) for a, b in zip(times, times[1:]))


def test_the_surveys_example():
    rates = freezeout_rates(0.1, 150, 3)
    assert rates.shape == (3, 151)
    assert rates[:, 0].tolist() == pytest.approx([0.1, 0.1, 0.1])
    assert rates[0, 25].item() == pytest.approx(0.05)
    assert (rates[0, 50:] == 0).all() and (rates[1, 100:] == 0).all() and rates[2, 150] == 0
    assert (rates[2, :150] > 0).all()


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="t_i must be > 0"):
        freezeout_lr(0.1, 3, 0)
    with pytest.raises(ValueError, match="t_i must be > 0"):
        freezeout_lr(0.1, 3, -2)
    with pytest.raises(ValueError, match="eta0"):
        freezeout_lr(-0.1, 3, 10)
    with pytest.raises(ValueError, match="t must be >= 0"):
        freezeout_lr(0.1, -1, 10)
    with pytest.raises(TypeError, match="eta0"):
        freezeout_lr("0.1", 3, 10)
    with pytest.raises(ValueError, match="T must be >= L"):
        freezeout_times(2, 3)
    with pytest.raises(ValueError, match="L must be >= 1"):
        freezeout_times(10, 0)


# ---------------------------------------------------------------------------
# FreezeOut training
# ---------------------------------------------------------------------------


def data(make_inputs, n=64):
    x = make_inputs(n, (1, 6))
    return x, torch.arange(n) % 4


def layer_params(model, i):
    return list(model.blocks[i - 1].parameters()) + list(model.heads[str(i)].parameters())


def test_each_layer_stops_changing_at_its_freezing_point(make_mlp, make_inputs):
    model = make_mlp()
    x, y = data(make_inputs)
    epochs, batch = 3, 16
    T = epochs * 4
    hook = FreezeOut(model, T)
    assert hook.times == (T / 3, 2 * T / 3, T)
    at_freeze = {}

    def on_step(step, m):
        hook(step, m)
        for i, t_i in enumerate(hook.times, 1):
            if step == math.ceil(t_i):
                at_freeze[i] = [p.detach().clone() for p in layer_params(m, i)]

    mexit.seed_everything(0)
    mexit.fit(
        model,
        x,
        y,
        epochs=epochs,
        batch_size=batch,
        lr=0.05,
        parameters=hook.param_groups(),
        scheduler=hook.scheduler,
        on_step=on_step,
        progress=False,
    )
    for i in (1, 2):
        assert hook.frozen_at[i] == math.ceil(hook.times[i - 1])
        assert all(torch.equal(a, p) for a, p in zip(at_freeze[i], layer_params(model, i)))
        assert not any(p.requires_grad for p in layer_params(model, i))
    assert 3 not in hook.frozen_at  # the last layer trains to the end
    # exact count: layer i computed gradients at steps 1..ceil(t_i)
    sizes = [sum(p.numel() for p in layer_params(model, i)) for i in (1, 2, 3)]
    expected = sum(n * math.ceil(t) for n, t in zip(sizes, hook.times))
    assert hook.gradient_count == expected


def test_freezeout_computes_fewer_parameter_gradients_than_standard_training(make_mlp, make_inputs):
    x, y = data(make_inputs)
    n_params = sum(p.numel() for p in make_mlp().parameters())
    mexit.seed_everything(0)
    model = make_mlp()
    _, fo = train_freezeout(model, x, y, epochs=2, batch_size=16, progress=False)
    mexit.seed_everything(0)
    _, std = train_freezeout(
        make_mlp(), x, y, freeze=False, epochs=2, batch_size=16, progress=False
    )
    assert std.gradient_count == 8 * n_params  # every parameter at every step
    assert fo.gradient_count < std.gradient_count
    assert std.frozen_at == {} and std.times == (8.0, 8.0, 8.0)
    assert all(p.requires_grad for p in model.parameters())  # trainable again afterwards


def test_frozen_layers_are_skipped_by_the_backward_pass(make_mlp, make_inputs):
    model = make_mlp()
    x, y = data(make_inputs)
    in_graph = []  # per training step: is block 1's output part of the autograd graph?
    model.blocks[0].register_forward_hook(
        lambda module, inputs, out: in_graph.append(out.requires_grad) if module.training else None
    )
    mexit.seed_everything(0)
    _, hook = train_freezeout(model, x, y, epochs=3, batch_size=16, progress=False)
    assert len(in_graph) == 12
    # block 1 was in the backward graph only until it froze, never afterwards
    assert in_graph == [True] * hook.frozen_at[1] + [False] * (12 - hook.frozen_at[1])


def test_freezeout_rejects_mismatched_optimisers(tiny_mlp, make_inputs):
    x, y = data(make_inputs)
    hook = FreezeOut(tiny_mlp, 8)
    with pytest.raises(ValueError, match="one group per layer"):
        mexit.fit(tiny_mlp, x, y, epochs=2, batch_size=16, scheduler=hook.scheduler, progress=False)
    with pytest.raises(ValueError, match="built for T=8"):
        mexit.fit(
            tiny_mlp,
            x,
            y,
            epochs=1,
            batch_size=16,
            parameters=hook.param_groups(),
            scheduler=hook.scheduler,
            progress=False,
        )
    with pytest.raises(TypeError, match="MultiExitNet"):
        FreezeOut(torch.nn.Linear(2, 2), 8)
    with pytest.raises(ValueError, match="one weight per early exit"):
        train_freezeout(tiny_mlp, x, y, alphas=[1.0], progress=False)


def test_run_freezeout_is_cached(tmp_path):
    kw = dict(
        model="mlp",
        model_kwargs={"input_shape": [1, 8, 8], "widths": [12, 12, 12]},
        dataset="digits",
        epochs=2,
        batch_size=256,
        progress=False,
        root=tmp_path,
    )
    a = run_freezeout(**kw)
    b = run_freezeout(**kw)
    std = run_freezeout(freeze=False, **kw)
    assert a.gradient_count == b.gradient_count < std.gradient_count
    assert a.steps == std.steps == 2 * 5  # ceil(1079 / 256) batches per epoch
    assert a.times[-1] == a.steps
    assert all(p.requires_grad for p in b.parameters())
