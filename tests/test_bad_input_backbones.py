"""Bad input gets a clear error in `mexit.backbones` (issue 16): CASES are counted by the
meta-test of tests/test_bad_input_modules.py."""

import pytest
import torch
import torchvision

from mexit import backbones

with torch.random.fork_rng():
    torch.manual_seed(0)
    RESNET = torchvision.models.resnet18(weights=None, num_classes=10)
    VIT = torchvision.models.VisionTransformer(
        image_size=32, patch_size=4, num_layers=4, num_heads=2, hidden_dim=32, mlp_dim=64
    )

CASES = [
    (backbones.attach_exits, dict(model=torch.nn.Linear(3, 3)), TypeError, r"^model must"),
    (backbones.attach_exits, dict(model="resnet18"), TypeError, r"^model must"),
    (backbones.attach_exits, dict(model=RESNET, exits=[0]), ValueError, r"^exits must"),
    (backbones.attach_exits, dict(model=RESNET, exits=[4]), ValueError, r"^exits must"),
    (backbones.attach_exits, dict(model=RESNET, exits=[True]), TypeError, r"^exits entry must"),
    (backbones.attach_exits, dict(model=RESNET, exits=[1, 1]), ValueError, r"^exits must"),
    (backbones.attach_exits, dict(model=RESNET, exits="12"), TypeError, r"^exits must"),
    (backbones.attach_exits, dict(model=RESNET, head="conv"), ValueError, r"^head must"),
    (
        backbones.attach_exits,
        dict(model=RESNET, freeze_backbone="yes"),
        TypeError,
        r"^freeze_backbone must",
    ),
    (backbones.attach_exits, dict(model=RESNET, input_shape=(32, 32)), ValueError, r"^input_shape"),
    (
        backbones.attach_exits,
        dict(model=RESNET, input_shape=(3, 0, 32)),
        ValueError,
        r"^input_shape\[1\] must",
    ),
    (backbones.attach_exits, dict(model=VIT, input_shape=(3, 64, 64)), ValueError, r"^input_shape"),
    (
        backbones.attach_exits,
        dict(model=RESNET, input_shape=(1, 32, 32)),
        ValueError,
        r"^input_shape \(1, 32, 32\) does not fit",
    ),
    (backbones.backbone_blocks, dict(model=None), TypeError, r"^model must"),
    (backbones.backbone_blocks, dict(model=torch.nn.Sequential()), TypeError, r"^model must"),
    (backbones.backbone_blocks, dict(model=[RESNET]), TypeError, r"^model must"),
    (backbones.Frozen, dict(module="block"), TypeError, r"^module must"),
    (backbones.Frozen, dict(module=None), TypeError, r"^module must"),
    (backbones.Frozen, dict(module=[torch.nn.Linear(2, 2)]), TypeError, r"^module must"),
]


@pytest.mark.parametrize(("fn", "kwargs", "exc", "words"), CASES)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
