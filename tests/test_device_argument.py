"""`device=` of fit, evaluate, exit_probs, early_exit_predict, measure_costs and pretrained
(issue 16): the named device runs the call, the model goes back where it was. CPU always;
CUDA and MPS when present (skipped otherwise: this machine has neither)."""

from __future__ import annotations

import pytest
import torch

import mexit
from mexit.devices import available_devices, check_device, on_device

ACCELERATORS = [
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
    pytest.param(
        "mps", marks=pytest.mark.skipif(not torch.backends.mps.is_available(), reason="no MPS")
    ),
]


def _net(seed=0):
    torch.manual_seed(seed)
    model = mexit.mnist1d_cnn(channels=(4, 8, 8), num_classes=3, input_length=12)
    with torch.no_grad():
        for head in model.heads.values():
            head[-1].weight.mul_(20.0)
    return model.eval()


def _data(n=48, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 12, generator=g), torch.randint(0, 3, (n,), generator=g)


def _fit(model, x, y, **kwargs):
    mexit.seed_everything(0)
    return mexit.fit(model, x, y, x, y, epochs=2, batch_size=16, progress=False, **kwargs)


def test_explicit_cpu_is_the_default_run():
    x, y = _data()
    a, b = _net(), _net()
    ha, hb = _fit(a, x, y), _fit(b, x, y, device="cpu")
    assert ha.train_loss == hb.train_loss and ha.val_accuracy == hb.val_accuracy
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert mexit.evaluate(a, x, y, device=torch.device("cpu")) == mexit.evaluate(a, x, y)
    assert torch.equal(mexit.exit_probs(a, x, device="cpu"), mexit.exit_probs(a, x))
    r1, r2 = mexit.early_exit_predict(a, x, 0.5), mexit.early_exit_predict(a, x, 0.5, device="cpu")
    assert torch.equal(r1.exit_index, r2.exit_index) and torch.equal(r1.flops, r2.flops)
    assert mexit.measure_costs(a, (1, 12), device="cpu") == mexit.measure_costs(a, (1, 12))


def test_devices_listed_and_checked():
    assert available_devices()[0] == "cpu"
    assert check_device(None) is None
    assert check_device("cpu") == torch.device("cpu")
    if "cuda" not in available_devices():
        with pytest.raises(ValueError, match="^device must be a device of this machine"):
            check_device("cuda")


def test_on_device_gives_the_model_back_after_an_error():
    model = _net()
    with pytest.raises(RuntimeError, match="inside"), on_device(model, "cpu") as dev:
        assert dev == torch.device("cpu")
        raise RuntimeError("inside")
    assert next(model.parameters()).device.type == "cpu"


@pytest.mark.parametrize("device", ACCELERATORS)
def test_a_cpu_model_runs_on_the_accelerator_and_comes_back(device):
    x, y = _data()
    model, reference = _net(), _net()
    probs = mexit.exit_probs(model, x, device=device)
    assert probs.device.type == device
    assert next(model.parameters()).device.type == "cpu"
    torch.testing.assert_close(probs.cpu(), mexit.exit_probs(reference, x), atol=1e-4, rtol=0)
    result = mexit.early_exit_predict(model, x, 0.5, device=device)
    assert result.exit_index.device.type == device
    _fit(model, x, y, device=device)
    _fit(reference, x, y)
    assert next(model.parameters()).device.type == "cpu"
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, reference.state_dict()[k], atol=1e-3, rtol=1e-3)
    net = mexit.pretrained("mnist1d_cnn", progress=False, device=device)
    assert next(net.parameters()).device.type == device
