"""The core API on every available device and in float32 and float64 (issue 12, §3-4).

CPU always runs; CUDA and MPS are tested when present and skipped otherwise (CI has no GPU:
there, the CPU runs in float32 and float64 are what this file proves). Also: every call that
runs a model hands it back with each submodule in the mode it had, and `fit` leaves behind
what its docstring says."""

from __future__ import annotations

import pytest
import torch

import mexit
from mexit.models import embedding_shapes

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
    pytest.param(
        "mps", marks=pytest.mark.skipif(not torch.backends.mps.is_available(), reason="no MPS")
    ),
]
DTYPES = [torch.float32, torch.float64]


def _net(seed=0, **kwargs):
    torch.manual_seed(seed)
    model = mexit.mnist1d_cnn(channels=(4, 8, 8), num_classes=3, input_length=12, **kwargs)
    with torch.no_grad():  # spread the exits' confidences so thresholds split the inputs
        for head in model.heads.values():
            head[-1].weight.mul_(20.0)
    return model.eval()


def _data(n=24, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 12, generator=g), torch.randint(0, 3, (n,), generator=g)


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request, device):
    if device.type == "mps" and request.param == torch.float64:
        pytest.skip("MPS has no float64")
    return request.param


def test_costs_do_not_depend_on_device_or_dtype(device, dtype):
    reference = mexit.measure_costs(_net(), (1, 12))
    costs = mexit.measure_costs(_net().to(device, dtype), (1, 12))
    assert costs == reference
    assert all(g > 0 for g in costs.gamma_f)


def test_policies_run_where_the_outputs_live(device, dtype):
    model, (x, y) = _net().to(device, dtype), _data()
    x, y = x.to(device, dtype), y.to(device)
    probs = mexit.exit_probs(model, x)
    assert (probs.device.type, probs.dtype) == (device.type, dtype)
    assert torch.allclose(probs.sum(-1), torch.ones((), device=device, dtype=dtype))
    assert mexit.normalized_entropy(probs).device.type == device.type
    assert mexit.max_probability(probs).dtype == dtype

    costs = mexit.measure_costs(model, (1, 12))
    Gamma = costs.Gamma(model.exits)
    for criterion in mexit.inference.CRITERIA:
        exits = mexit.simulate_exits(probs, 0.4, criterion)
        assert exits.device.type == device.type
        # the same decisions as on the CPU copy of the same outputs
        assert torch.equal(exits.cpu(), mexit.simulate_exits(probs.cpu(), 0.4, criterion))
        policy = mexit.evaluate_policy(probs, y, 0.4, criterion, Gamma=Gamma)
        real = mexit.early_exit_predict(model, x, 0.4, criterion, costs=costs)
        assert real.exit_index.device.type == device.type
        assert torch.equal(real.exit_index, policy.exit_index)
        assert torch.equal(real.predictions, policy.predictions)
        assert torch.equal(real.flops, Gamma[policy.exit_index.cpu()])
        assert policy.mean_flops == pytest.approx(mexit.cascaded_cost(policy.exit_index, Gamma))
    assert len(set(mexit.simulate_exits(probs, 0.4).tolist())) > 1, "thresholds split nothing"

    per_exit = mexit.exit_accuracies(probs, y)
    assert mexit.evaluate(model, x, y) == pytest.approx(per_exit.tolist())
    oracle = mexit.oracle_exits(probs, y)
    assert oracle.device.type == device.type
    assert 0.0 <= mexit.overthinking(probs, y) <= 1.0

    gates = torch.rand(5, len(model.exits) - 1, device=device, dtype=dtype)
    cost = mexit.expected_cost(gates, Gamma)
    assert (cost.device.type, cost.dtype) == (device.type, dtype)
    assert Gamma[0] <= cost.item() <= Gamma[-1]


def test_fit_and_joint_loss_on_the_model_device_and_dtype(device, dtype):
    model, (x, y) = _net().to(device, dtype), _data()
    x = x.to(dtype)  # the data stays on the CPU: fit moves each batch to the model
    outputs = model(x[:4].to(device))
    total, per_exit = mexit.joint_loss([0.5, 0.5])(outputs, y[:4].to(device))
    assert (total.device.type, total.dtype) == (device.type, dtype)
    expected = sum(
        w * torch.nn.functional.cross_entropy(o, y[:4].to(device))
        for w, o in zip((0.5, 0.5, 1.0), outputs)
    )
    assert torch.allclose(total, expected)

    before = [p.detach().clone() for p in model.parameters()]
    history = mexit.fit(model, x, y, x, y, epochs=2, batch_size=8, progress=False)
    assert all(torch.isfinite(torch.tensor(e)).all() for e in history.train_loss)
    for p in model.parameters():
        assert (p.device.type, p.dtype) == (device.type, dtype)
    assert any(not torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert len(history.val_accuracy) == 2


def test_a_float64_model_has_its_costs_measured():
    model = _net().double()
    assert mexit.measure_costs(model, (1, 12)) == mexit.measure_costs(_net(), (1, 12))


def test_a_model_of_mixed_dtypes_gets_a_truthful_message():
    model = _net()
    model.blocks[1].double()
    with pytest.raises(TypeError, match=r"^model must hold parameters of one dtype"):
        mexit.measure_costs(model, (1, 12))
    with pytest.raises(ValueError, match=r"^input_shape \(1, 0\)|^input_shape\[1\]"):
        mexit.measure_costs(_net(), (1, 0))


def test_data_of_another_dtype_than_the_model_is_refused():
    model, (x, y) = _net(), _data()
    with pytest.raises(TypeError, match=r"^x_train has dtype torch\.float64"):
        mexit.fit(model, x.double(), y, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"^x must be on the model's device"):
        mexit.exit_probs(model, x.double())


# ----------------------------------------------------------------- modes survive every call


def _modes(model):
    return [(name, m.training) for name, m in model.named_modules()]


def _mixed(outer_training: bool):
    """A model in one mode with a submodule deliberately in the other."""
    model = _net()
    model.train(outer_training)
    model.blocks[1].train(not outer_training)
    model.heads["1"][-1].train(not outer_training)
    return model


CALLS = {
    "exit_probs": lambda m, x, y: mexit.exit_probs(m, x),
    "early_exit_predict": lambda m, x, y: mexit.early_exit_predict(m, x, 0.5),
    "measure_costs": lambda m, x, y: mexit.measure_costs(m, (1, 12)),
    "evaluate": lambda m, x, y: mexit.evaluate(m, x, y),
    "embedding_shapes": lambda m, x, y: embedding_shapes(m.blocks, (1, 12)),
}


@pytest.mark.parametrize("outer_training", [True, False], ids=["train-outside", "eval-outside"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_each_submodule_keeps_its_mode_and_batch_norm_its_statistics(call, outer_training):
    model, (x, y) = _mixed(outer_training), _data()
    modes = _modes(model)
    assert len({t for _, t in modes}) == 2  # really mixed
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    CALLS[call](model, x, y)
    assert _modes(model) == modes
    for k, v in model.named_buffers():  # the call ran in eval mode: no statistic moved
        assert torch.equal(v, buffers[k]), k


def test_what_fit_leaves_behind():
    """fit: parameters trained in place, on their device and dtype; requires_grad unchanged
    (a frozen block stays frozen and untouched); every submodule in eval mode."""
    model, (x, y) = _mixed(outer_training=False), _data()
    for p in model.blocks[0].parameters():
        p.requires_grad_(False)
    frozen = [p.clone() for p in model.blocks[0].parameters()]
    flags = [p.requires_grad for p in model.parameters()]
    where = {(p.device, p.dtype) for p in model.parameters()}
    mexit.fit(model, x, y, epochs=1, batch_size=8, progress=False)
    assert not any(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert {(p.device, p.dtype) for p in model.parameters()} == where
    assert all(torch.equal(p, f) for p, f in zip(model.blocks[0].parameters(), frozen))
    assert all(p.grad is None for p in model.blocks[0].parameters())
    assert any(p.grad is not None for p in model.blocks[2].parameters())


def test_fit_stops_on_a_nan_loss_naming_epoch_and_batch():
    model, (x, y) = _net(), _data()

    def loss(outputs, target):
        per_exit = torch.stack([o.sum() * 0 for o in outputs])
        bad = per_exit.sum() + (float("nan") if loss.calls == 2 else 0.0)
        loss.calls += 1
        return bad, per_exit

    loss.calls = 0
    with pytest.raises(ValueError, match=r"^fit stopped: the loss is nan at epoch 0 .*batch 2"):
        mexit.fit(model, x, y, epochs=1, batch_size=8, loss=loss, progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_preserved_rng_restores_the_cuda_generators():
    torch.cuda.manual_seed_all(3)
    expected = torch.rand(4, device="cuda")
    torch.cuda.manual_seed_all(3)
    with mexit.checkpoints.preserved_rng():
        torch.rand(100, device="cuda")
    assert torch.equal(torch.rand(4, device="cuda"), expected)


def test_preserved_rng_restores_the_cpu_generators():
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    with mexit.checkpoints.preserved_rng():
        torch.rand(100)
    assert torch.equal(torch.rand(4), expected)


def test_combined_and_gated_outputs_live_where_the_model_lives(device, dtype):
    from mexit import combined, gates

    model = _net().to(device, dtype)
    x = _data()[0].to(device, dtype)
    for mode in combined.MODES:
        net = combined.CombinedOutput(model, mode)
        if net.alpha is not None:
            assert (net.alpha.device.type, net.alpha.dtype) == (device.type, dtype)
        probs = combined.combined_probs(net, x)
        assert (probs.device.type, probs.dtype) == (device.type, dtype)
    gated = gates.GatedExits(model, (1, 12)).to(device, dtype)
    reference = gates.GatedExits(_net(), (1, 12)).costs()
    assert gated.costs() == reference  # measured on the model's device and dtype, same FLOPs
