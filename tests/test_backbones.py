"""attach_exits on torchvision models (random weights, CPU, 32x32 inputs): the final exit is
the model itself, costs add up to the model's FLOPs (attention included), real early exit
agrees with the simulated one, and a one-epoch fit trains what it should."""

from __future__ import annotations

import pytest
import torch
import torchvision

import mexit
from mexit.backbones import attach_exits, backbone_blocks
from mexit.cost import count_flops

SHAPE = (3, 32, 32)
VIT = dict(image_size=32, patch_size=4, num_layers=4, num_heads=2, hidden_dim=32, mlp_dim=64)


def build(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    if name == "vit":
        return torchvision.models.VisionTransformer(**VIT, num_classes=10)
    return getattr(torchvision.models, name)(weights=None, num_classes=10)


NAMES = ["resnet18", "resnet50", "mobilenet_v3_small", "vit"]
BLOCKS = {"resnet18": 4, "resnet50": 4, "mobilenet_v3_small": 5, "vit": 4}


def images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *SHAPE, generator=g)


@pytest.mark.parametrize("name", NAMES)
def test_final_exit_is_the_model_and_early_exits_have_heads(name):
    model = build(name).eval()
    net = attach_exits(model, head="pooled")
    assert net.num_blocks == BLOCKS[name]
    assert net.exits == tuple(range(1, BLOCKS[name] + 1))
    x = images(6)
    with torch.no_grad():
        outs = net(x)
        expected = model(x)
    assert len(outs) == len(net.exits)
    assert all(o.shape == (6, 10) for o in outs)
    torch.testing.assert_close(outs[-1], expected, rtol=0, atol=1e-5)
    assert not net.training  # the mode of the model handed in


def test_mobilenet_groups_have_one_width_each():
    model = build("mobilenet_v3_small")
    blocks, _ = backbone_blocks(model)
    widths = [
        {m.out_channels for m in b.modules() if type(m).__name__ == "InvertedResidual"}
        for b in blocks
    ]
    assert all(len(w) == 1 for w in widths)
    assert [w.pop() for w in widths] == [16, 24, 40, 48, 96]
    assert sum(len(b) for b in blocks) == len(model.features)  # every layer, once


def test_exit_subset_and_head_kinds():
    model = build("resnet18")
    net = attach_exits(model, exits=[2], head="mlp", hidden=(16,))
    assert net.exits == (2, 4)
    assert net.candidate_exits == (2,)
    linears = [m for m in net.head(2).modules() if isinstance(m, torch.nn.Linear)]
    assert linears[0].out_features == 16
    assert len(net(images(2))) == 2
    vit = attach_exits(build("vit"), exits=[1, 3], head="linear")
    assert [tuple(o.shape) for o in vit(images(3))] == [(3, 10)] * 3


@pytest.mark.parametrize("name", NAMES)
def test_costs_add_up_to_the_model(name):
    model = build(name).eval()
    net = attach_exits(model)
    costs = mexit.measure_costs(net, SHAPE)
    assert costs.num_blocks == net.num_blocks
    plain = count_flops(model, torch.zeros(1, *SHAPE))
    assert costs.full == plain
    assert all(costs.gamma_c[i] > 0 for i in net.exits)


def test_vit_layer_cost_counts_attention():
    """Encoder layer 2 of the ViT by hand: q, k, v and output projections, the two attention
    matmuls (QK^T, AV) and the MLP, 2 FLOPs per multiply-add."""
    net = attach_exits(build("vit").eval())
    S, D, M = (32 // 4) ** 2 + 1, VIT["hidden_dim"], VIT["mlp_dim"]
    by_hand = 2 * S * D * 3 * D + 2 * S * D * D + 2 * 2 * S * S * D + 2 * 2 * S * D * M
    assert mexit.measure_costs(net, SHAPE).gamma_f[1] == by_hand


def _spread_thresholds(probs: torch.Tensor) -> list[float]:
    """Per early exit, a threshold halfway between two neighbouring entropies near the
    median: some inputs leave at every exit, and none sits on the boundary."""
    out = []
    for p in probs[:-1]:
        h = mexit.normalized_entropy(p).sort().values
        k = len(h) // 3
        out.append(float((h[k] + h[k + 1]) / 2))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_early_exit_predict_matches_simulate_exits(name):
    net = attach_exits(build(name)).eval()
    x = images(40, seed=1)
    probs = mexit.exit_probs(net, x)
    th = _spread_thresholds(probs)
    simulated = mexit.simulate_exits(probs, th)
    result = mexit.early_exit_predict(net, x, th)
    assert torch.equal(result.exit_index, simulated)
    assert len(set(simulated.tolist())) > 1  # the test is not vacuous
    chosen = probs[simulated, torch.arange(40)].argmax(-1)
    assert torch.equal(result.predictions, chosen)
    Gamma = mexit.measure_costs(net, SHAPE).Gamma(net.exits)
    torch.testing.assert_close(result.flops, Gamma[simulated])


def _synthetic(n: int, seed: int = 0):
    """32x32 images whose class is the brightest colour channel's index (3 classes)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.rand(n, *SHAPE, generator=g) * 0.5
    x[torch.arange(n), y] += 0.5
    return x, y


@pytest.mark.parametrize("name", NAMES)
def test_one_epoch_fit_trains_every_exit(name):
    model = build(name)
    net = attach_exits(model)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = _synthetic(48)
    mexit.seed_everything(0)
    history = mexit.fit(net, x, y, x[:16], y[:16], epochs=1, batch_size=16, progress=False)
    assert len(history.train_loss) == 1 and len(history.train_loss[0]) == len(net.exits)
    assert all(torch.isfinite(torch.tensor(history.train_loss[0])))
    after = net.state_dict()
    for i in net.exits:  # every head (the model's own classifier too) has moved
        keys = [k for k in after if k.startswith(f"heads.{i}.") and after[k].is_floating_point()]
        assert any(not torch.equal(before[k], after[k]) for k in keys), i
    # the shared modules are the model's: the model itself was trained
    torch.testing.assert_close(net.eval()(x[:4])[-1], model.eval()(x[:4]))
    assert not net.training


@pytest.mark.parametrize("name", ["resnet18", "vit"])
def test_freeze_backbone_trains_the_early_heads_only(name):
    model = build(name)
    net = attach_exits(model, freeze_backbone=True)
    frozen = {k: v.clone() for k, v in model.state_dict().items()}
    heads = {k: v.clone() for k, v in net.state_dict().items() if k.startswith("heads.1.")}
    x, y = _synthetic(32)
    mexit.seed_everything(0)
    mexit.fit(net, x, y, epochs=1, batch_size=16, progress=False)
    for k, v in model.state_dict().items():  # weights and batch-norm statistics unchanged
        assert torch.equal(v, frozen[k]), k
    assert any(not torch.equal(v, net.state_dict()[k]) for k, v in heads.items())
    net.train()
    frozen_parts = [*net.blocks, net.head(net.num_blocks)]
    assert all(not m.training for b in frozen_parts for m in b.module.modules())  # eval mode
    assert net.head(1).training


def test_heads_follow_the_model_dtype():
    model = build("resnet18").double()
    net = attach_exits(model, exits=[1])
    assert all(p.dtype == torch.float64 for p in net.parameters())
    assert net(images(2).double())[0].dtype == torch.float64
