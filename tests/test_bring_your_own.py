"""Your own weights and data through one call (issue 16): `backbone_for` reads a torchvision
state dict or a `mexit.train` checkpoint from your file (weights_only), `model_for` trains
and caches a backbone on CIFAR-format files, the reference run is `pretrained` itself."""

from __future__ import annotations

import torch
import torchvision

import mexit
from mexit.data import load_torchvision, write_synthetic_cifar10
from mexit.runs import backbone_for, model_for


def test_your_torchvision_weights_become_the_final_exit(tmp_path):
    write_synthetic_cifar10(tmp_path, train=20, test=10)
    data = load_torchvision("cifar10", root=tmp_path)
    torch.manual_seed(7)
    yours = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    torch.save(yours.state_dict(), tmp_path / "resnet18.pt")
    net = backbone_for("resnet18", data, weights=tmp_path / "resnet18.pt").eval()
    with torch.no_grad():
        torch.testing.assert_close(net(data.x_test)[-1], yours(data.x_test))
    # a multi-exit checkpoint ({"state_dict": ...}, as mexit.train writes) comes back whole
    torch.save({"state_dict": net.state_dict()}, tmp_path / "exits.pt")
    again = backbone_for("resnet18", data, weights=tmp_path / "exits.pt").eval()
    with torch.no_grad():
        for a, b in zip(again(data.x_test), net(data.x_test)):
            torch.testing.assert_close(a, b)


def test_model_for_trains_once_then_loads(tmp_path):
    write_synthetic_cifar10(tmp_path, train=100, test=20)
    kwargs = dict(data_dir=tmp_path, progress=False, root=tmp_path)
    model, data = model_for("cifar10", "mlp", seed=0, **kwargs)
    assert data.name == "cifar10" and model.exits[-1] == model.num_blocks
    assert not model.training
    files = list((tmp_path / "checkpoints").glob("cifar10_mlp_seed0_*.pt"))
    assert len(files) == 1
    again, _ = model_for("cifar10", "mlp", seed=0, **kwargs)
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k])
    # other files, other cache: a run on these files is never taken for one on others
    other = tmp_path / "other"
    write_synthetic_cifar10(other, train=100, test=20, seed=1)
    model_for("cifar10", "mlp", seed=0, data_dir=other, progress=False, root=tmp_path)
    assert len(list((tmp_path / "checkpoints").glob("cifar10_mlp_seed0_*.pt"))) == 2


def test_the_reference_run_is_pretrained():
    model, data = model_for()
    reference = mexit.pretrained("mnist1d_cnn", progress=False)
    assert data.name == "mnist1d"
    for k, v in reference.state_dict().items():
        assert torch.equal(v, model.state_dict()[k])
