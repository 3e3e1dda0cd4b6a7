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
    phase_step,
    phase_step_flops,
    phase_steps,
    run_freezeout,
    train_freezeout,
    training_flops,
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
    with pytest.raises(ValueError, match=r"\beta0\b"):
        freezeout_lr(-0.1, 3, 10)
    with pytest.raises(ValueError, match="t must be >= 0"):
        freezeout_lr(0.1, -1, 10)
    with pytest.raises(TypeError, match=r"\beta0\b"):
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


def fit_frozen(model, x, y, hook, on_step, epochs, batch):
    """Train with FreezeOut's parameter groups and schedule, calling on_step after each step."""
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

    fit_frozen(model, x, y, hook, on_step, epochs, batch)
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
    in_graph, mode = [], []  # per training step (no validation set: every forward trains)

    def record(module, inputs, out):
        in_graph.append(out.requires_grad)
        mode.append(module.training)

    model.blocks[0].register_forward_hook(record)
    mexit.seed_everything(0)
    _, hook = train_freezeout(model, x, y, epochs=3, batch_size=16, progress=False)
    assert len(in_graph) == 12
    # block 1 was in the backward graph only until it froze, never afterwards
    t = hook.frozen_at[1]
    assert in_graph == [True] * t + [False] * (12 - t)
    assert mode == [True] * t + [False] * (12 - t)  # and ran in eval mode once frozen


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
    with pytest.raises(TypeError, match=r"\bMultiExitNet\b"):
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


# ---------------------------------------------------------------------------
# batch norm freezes with its layer; what freezing saves, counted
# ---------------------------------------------------------------------------


def bn_stats(model, i):
    return [
        t.detach().clone()
        for m in model.blocks[i - 1].modules()
        if isinstance(m, torch.nn.BatchNorm1d)
        for t in (m.running_mean, m.running_var)
    ]


def test_a_frozen_blocks_batch_norm_statistics_stop_changing(make_cnn):
    model = make_cnn()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 16, generator=g), torch.randint(0, 5, (64,), generator=g)
    epochs, batch = 3, 16
    T = epochs * 4
    hook = FreezeOut(model, T)
    at_freeze, after = {}, {}

    def on_step(step, m):
        hook(step, m)
        for i in (1, 2, 3):
            if hook.frozen_at.get(i) == step:
                at_freeze[i] = bn_stats(m, i)
            after.setdefault(i, []).append(bn_stats(m, i))

    fit_frozen(model, x, y, hook, on_step, epochs, batch)
    hook.release()
    for i in (1, 2, 3):
        t = hook.frozen_at[i]
        # the statistics moved before t_i (the test can see movement) ...
        assert not all(torch.equal(a, b) for a, b in zip(after[i][0], at_freeze[i]))
        # ... and never after it, across the epoch boundaries where fit calls model.train()
        for later in after[i][t:]:
            assert all(torch.equal(a, b) for a, b in zip(later, at_freeze[i]))
    # the last block trains to T: its statistics keep moving to the end
    assert not all(torch.equal(a, b) for a, b in zip(bn_stats(model, 4), at_freeze[3]))
    assert hook._handles == []  # released: the model behaves normally afterwards
    model.train()
    assert all(m.training for m in model.modules())


def test_train_freezeout_releases_the_eval_hooks(make_cnn):
    model = make_cnn()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(48, 1, 16, generator=g), torch.randint(0, 5, (48,), generator=g)
    mexit.seed_everything(0)
    _, hook = train_freezeout(model, x, y, epochs=2, batch_size=16, progress=False)
    assert len(hook.frozen_at) == 3
    model.train()
    before = bn_stats(model, 1)
    model(x)  # block 1 is in train mode again: a forward pass moves its statistics
    assert not all(torch.equal(a, b) for a, b in zip(before, bn_stats(model, 1)))


def test_phase_steps_split_T_at_the_freezing_points():
    assert phase_steps(12, 4) == [3, 3, 3, 3]
    assert phase_steps(10, 4) == [3, 2, 3, 2]  # t_i = 2.5, 5, 7.5, 10
    assert sum(phase_steps(37, 3)) == 37
    assert phase_steps(10, 4, freeze=False) == [10, 0, 0, 0]


def test_phase_flops_match_a_hand_count():
    # MLP 6 → 8 → 8 → 8, a linear head 8 → 4 after every block, no batch norm. Per input, a
    # linear layer costs 2·in·out forward; its backward costs 2·in·out for the weight gradient
    # and again for the input gradient, the latter only when something below needs one.
    torch.manual_seed(0)
    model = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=4)
    x, y = torch.randn(5, 1, 6), torch.tensor([0, 1, 2, 3, 0])
    fwd = 96 + 128 + 128 + 3 * 64
    by_hand = [
        fwd + fwd + (128 + 128 + 3 * 64),  # nothing frozen: no input gradient for x only
        fwd + (128 + 128 + 2 * 64) + (128 + 2 * 64),  # f_1, c_1 frozen
        fwd + (128 + 64) + 64,  # f_1, c_1, f_2, c_2 frozen
    ]
    assert phase_step_flops(model, x, y) == [5 * n for n in by_hand]
    assert training_flops(model, x, y, 12, freeze=False) == 12 * 5 * by_hand[0]
    assert training_flops(model, x, y, 12) == 4 * 5 * sum(by_hand)


def test_phase_step_trains_a_copy_with_the_first_layers_frozen():
    torch.manual_seed(0)
    model = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=4)
    x, y = torch.randn(5, 1, 6), torch.tensor([0, 1, 2, 3, 0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    step = phase_step(model, x, y, frozen=1)
    step()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match=r"\bfrozen\b"):
        phase_step(model, x, y, frozen=3)
    with pytest.raises(TypeError, match=r"\bmodel\b"):
        phase_step("net", x, y, frozen=1)
