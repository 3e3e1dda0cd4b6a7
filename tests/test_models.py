"""Tests for mexit.models (the multi-exit network, eq. 1 and 3), mexit.heads and mexit._checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import mexit
from mexit import _checks, combined
from mexit.heads import linear_head, make_head, mlp_head, pooled_head
from mexit.models import MultiExitNet, build_model, embedding_shapes

# ---------------------------------------------------------------------------
# A hand-built network: f_i(h) = h + i, so h_i = x + 1 + ... + i is known exactly
# ---------------------------------------------------------------------------


class AddConst(nn.Module):
    def __init__(self, c: float):
        super().__init__()
        self.c = c

    def forward(self, h):
        return h + self.c


class Scale(nn.Module):
    """A 'head' that tags its input: returns k * h, so each exit's output is recognisable."""

    def __init__(self, k: float):
        super().__init__()
        self.k = k

    def forward(self, h):
        return self.k * h


def hand_net(exits=None) -> MultiExitNet:
    blocks = [AddConst(i) for i in (1, 2, 3, 4)]
    heads = {i: Scale(10.0 * i) for i in (1, 2, 3, 4)}
    return MultiExitNet(blocks, heads, exits=exits)


def test_forward_follows_eq_1_and_3_on_a_hand_built_net():
    x = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    net = hand_net()
    assert net.exits == (1, 2, 3, 4)
    assert net.num_blocks == 4
    outs = net(x)
    assert len(outs) == 4
    # h_i = x + (1 + ... + i), exit i returns 10 i h_i
    for i, out in zip((1, 2, 3, 4), outs):
        h_i = x + sum(range(1, i + 1))
        torch.testing.assert_close(out, 10.0 * i * h_i)
    hs = net.embeddings(x)
    assert len(hs) == 4
    for i, h in enumerate(hs, 1):
        torch.testing.assert_close(h, x + sum(range(1, i + 1)))


def test_forward_with_a_subset_of_exits_keeps_order_and_ends_at_L():
    x = torch.randn(3, 2)
    net = hand_net(exits=[3, 1])  # given unsorted: still reported in block order
    assert net.exits == (1, 3, 4)
    assert net.candidate_exits == (1, 2, 3)
    outs = net(x)
    assert len(outs) == 3
    torch.testing.assert_close(outs[0], 10.0 * (x + 1))
    torch.testing.assert_close(outs[1], 30.0 * (x + 6))
    torch.testing.assert_close(outs[2], 40.0 * (x + 10))
    assert hand_net(exits=[]).exits == (4,)


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_forward_returns_one_logits_tensor_per_exit(which, tiny_mlp, tiny_cnn):
    model, shape = (tiny_mlp, (1, 6)) if which == "mlp" else (tiny_cnn, (1, 16))
    x = torch.randn(7, *shape)
    outs = model(x)
    assert model.exits == tuple(range(1, model.num_blocks + 1))
    assert len(outs) == len(model.exits)
    num_classes = outs[-1].shape[1]
    assert all(o.shape == (7, num_classes) for o in outs)
    # exit k is head k applied to h_k; the final logits are head L on h_L
    hs = model.embeddings(x)
    assert len(hs) == model.num_blocks
    for k, i in enumerate(model.exits):
        torch.testing.assert_close(outs[k], model.head(i)(hs[i - 1]))
    torch.testing.assert_close(outs[-1], model.head(model.num_blocks)(hs[-1]))
    # and h_L is the plain backbone f_L o ... o f_1 (eq. 1)
    h = x
    for block in model.blocks:
        h = block(h)
    torch.testing.assert_close(hs[-1], h)


def test_embedding_shapes_match_the_real_embeddings(tiny_cnn):
    shapes = embedding_shapes(tiny_cnn.blocks, (1, 16))
    # strides (1, 2, 2, 1) on length 16 with padding 1, kernel 3: 16, 8, 4, 4
    assert shapes == [(4, 16), (8, 8), (8, 4), (8, 4)]
    hs = tiny_cnn.embeddings(torch.randn(2, 1, 16))
    assert [tuple(h.shape[1:]) for h in hs] == shapes


def test_building_a_model_leaves_batchnorm_buffers_at_their_defaults():
    model = mexit.mnist1d_cnn(channels=(4, 8), strides=(1, 2), input_length=16)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            assert torch.equal(m.running_mean, torch.zeros_like(m.running_mean))
            assert torch.equal(m.running_var, torch.ones_like(m.running_var))
            assert int(m.num_batches_tracked) == 0


def test_mnist1d_cnn_builds_when_the_last_feature_map_has_length_1():
    model = mexit.mnist1d_cnn(channels=(4, 8), strides=(2, 2), input_length=2)
    assert model.embeddings(torch.randn(2, 1, 2).requires_grad_(False))[-1].shape == (2, 8, 1)


def test_mnist1d_cnn_default_strides_follow_the_number_of_blocks():
    assert mexit.mnist1d_cnn(channels=(4, 8, 8)).num_blocks == 3


# ---------------------------------------------------------------------------
# with_exits: same backbone and heads, another exit set
# ---------------------------------------------------------------------------


def test_with_exits_shares_parameters_and_changes_the_outputs(tiny_cnn):
    sub = tiny_cnn.with_exits((2,))
    assert sub.exits == (2, tiny_cnn.num_blocks)
    # the same parameter tensors (objects), not copies
    full_params = dict(tiny_cnn.named_parameters())
    sub_params = dict(sub.named_parameters())
    assert full_params.keys() == sub_params.keys()
    assert all(sub_params[k] is full_params[k] for k in full_params)
    x = torch.randn(5, 1, 16)
    outs, sub_outs = tiny_cnn(x), sub(x)
    assert len(outs) == 4 and len(sub_outs) == 2
    torch.testing.assert_close(sub_outs[0], outs[1])
    torch.testing.assert_close(sub_outs[1], outs[3])
    # a change through one model is seen by the other
    with torch.no_grad():
        sub.head(2)[-1].bias.add_(1.0)
    torch.testing.assert_close(tiny_cnn(x)[1], outs[1] + 1.0)
    # and every candidate head can come back
    assert sub.with_exits((1, 2, 3)).exits == (1, 2, 3, 4)
    assert sub.with_exits(()).exits == (4,)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exits, error, match",
    [
        ((0,), ValueError, "1..3"),
        ((4,), ValueError, "1..3"),  # the final exit is implicit, not an early exit
        ((5,), ValueError, "1..3"),
        ((1, 1), ValueError, "repeat"),
        ((1.0,), TypeError, "int"),
        ("12", TypeError, "sequence"),
        (3, TypeError, "sequence"),
    ],
)
def test_bad_exit_sets_are_rejected(exits, error, match):
    with pytest.raises(error, match=match):
        hand_net(exits=exits)
    with pytest.raises(error, match=match):
        hand_net().with_exits(exits)
    with pytest.raises(error, match=match):
        mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8, 8), exits=exits)


def test_multi_exit_net_rejects_bad_blocks_and_heads():
    blocks = [AddConst(1), AddConst(2)]
    with pytest.raises(ValueError, match="final head"):
        MultiExitNet(blocks, {1: Scale(1)})
    with pytest.raises(TypeError, match="nn.Module"):
        MultiExitNet([AddConst(1), lambda h: h], {2: Scale(1)})
    with pytest.raises(TypeError, match="non-empty list"):
        MultiExitNet([], {1: Scale(1)})
    with pytest.raises(TypeError, match="non-empty list"):
        MultiExitNet(nn.Sequential(*blocks), {2: Scale(1)})
    with pytest.raises(TypeError, match="dict"):
        MultiExitNet(blocks, [Scale(1), Scale(2)])
    with pytest.raises(TypeError, match="nn.Module"):
        MultiExitNet(blocks, {1: "head", 2: Scale(1)})
    with pytest.raises(ValueError, match="heads key"):
        MultiExitNet(blocks, {0: Scale(1), 2: Scale(1)})
    with pytest.raises(ValueError, match="heads key"):
        MultiExitNet(blocks, {3: Scale(1), 2: Scale(1)})
    # an exit without a head
    with pytest.raises(ValueError, match="no head"):
        MultiExitNet(
            [AddConst(1), AddConst(2), AddConst(3)], {1: Scale(1), 3: Scale(1)}, exits=(2,)
        )
    net = hand_net(exits=(1,))
    with pytest.raises(ValueError, match="no head"):
        MultiExitNet(list(net.blocks), {1: Scale(1), 4: Scale(1)}).head(2)
    with pytest.raises(ValueError, match="<= 4"):
        net.head(5)


def test_builders_reject_bad_arguments():
    with pytest.raises(ValueError, match="name must be one of"):
        build_model("resnet")
    with pytest.raises(ValueError, match=r"^head must be one of"):
        mexit.mlp(input_shape=(1, 6), widths=(8, 8), head="attention")
    with pytest.raises(ValueError, match="channels"):
        mexit.mnist1d_cnn(channels=(4,), strides=(1,))
    with pytest.raises(ValueError, match="strides"):
        mexit.mnist1d_cnn(channels=(4, 8), strides=(1, 2, 2))
    with pytest.raises(ValueError, match="widths"):
        mexit.mlp(widths=(8,))
    with pytest.raises(ValueError, match="input_shape"):
        mexit.cnn2d(input_shape=(8, 8))
    with pytest.raises(ValueError, match=r"^channels\[1\] must be >= 1"):
        mexit.mnist1d_cnn(channels=(4, 0), strides=(1, 1))


def test_build_model_dispatches_by_name():
    torch.manual_seed(0)
    model = build_model("cnn2d", input_shape=(1, 8, 8), channels=(4, 8), num_classes=3)
    assert isinstance(model, MultiExitNet)
    assert model.exits == (1, 2)
    outs = model.eval()(torch.randn(2, 1, 8, 8))
    assert [tuple(o.shape) for o in outs] == [(2, 3), (2, 3)]
    mlp = build_model("mlp", input_shape=(1, 6), widths=(8, 8, 8), exits=(2,))
    assert mlp.exits == (2, 3)
    assert mlp.candidate_exits == (2,)


# ---------------------------------------------------------------------------
# Heads (§4)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("in_shape", [(6, 10), (3, 5, 7)])
@pytest.mark.parametrize("kind", ["linear", "mlp", "pooled"])
def test_head_output_shapes_on_1d_and_2d_feature_maps(kind, in_shape):
    head = make_head(kind, in_shape, 4)
    out = head(torch.randn(9, *in_shape))
    assert out.shape == (9, 4)


def test_linear_and_pooled_heads_compute_what_they_say():
    torch.manual_seed(0)
    h = torch.randn(3, 4, 6)
    lin = linear_head((4, 6), 5)
    torch.testing.assert_close(lin(h), h.flatten(1) @ lin[-1].weight.T + lin[-1].bias)
    avg = pooled_head((4, 6), 5)  # global average pooling, then linear on 4 channels
    assert avg[-1].in_features == 4
    torch.testing.assert_close(avg(h), h.mean(-1) @ avg[-1].weight.T + avg[-1].bias)
    mx = pooled_head((4, 6), 5, pool="max")
    torch.testing.assert_close(mx(h), h.amax(-1) @ mx[-1].weight.T + mx[-1].bias)
    two = pooled_head((4, 6), 5, output_size=2)  # two windows of 3
    pooled = torch.stack([h[..., :3].mean(-1), h[..., 3:].mean(-1)], dim=-1).flatten(1)
    torch.testing.assert_close(two(h), pooled @ two[-1].weight.T + two[-1].bias)
    # an output size larger than the map is capped at the map size
    big = pooled_head((4, 2, 3), 5, output_size=8)
    assert big[-1].in_features == 4 * 2 * 2
    assert big(torch.randn(2, 4, 2, 3)).shape == (2, 5)


def test_mlp_head_hidden_layers():
    head = mlp_head((2, 3), 4, hidden=(7, 5))
    linears = [m for m in head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(6, 7), (7, 5), (5, 4)]
    assert head(torch.randn(3, 2, 3)).shape == (3, 4)


def test_heads_reject_bad_arguments():
    with pytest.raises(ValueError, match="flat features"):
        pooled_head((16,), 4)
    with pytest.raises(ValueError, match="flat features"):
        pooled_head((2, 3, 4, 5), 4)
    with pytest.raises(ValueError, match="pool"):
        pooled_head((4, 6), 4, pool="median")
    with pytest.raises(ValueError, match="hidden"):
        mlp_head((4,), 3, hidden=(4, 4, 4))
    with pytest.raises(ValueError, match="hidden"):
        mlp_head((4,), 3, hidden=())
    with pytest.raises(ValueError, match="num_classes"):
        linear_head((4,), 1)
    with pytest.raises(TypeError, match="in_shape"):
        linear_head(4, 3)
    with pytest.raises(ValueError, match=r"^in_shape\[1\] must be >= 1"):
        linear_head((4, 0), 3)
    with pytest.raises(ValueError, match=r"^kind must be one of"):
        make_head("conv", (4,), 3)


# ---------------------------------------------------------------------------
# The shared argument checks
# ---------------------------------------------------------------------------


def test_checks_messages_name_the_argument():
    assert _checks.check_int(3, "n", low=1) == 3
    with pytest.raises(TypeError, match="flag must be an int"):
        _checks.check_int(True, "flag")
    with pytest.raises(ValueError, match="n must be >= 1"):
        _checks.check_int(0, "n", low=1)
    with pytest.raises(ValueError, match="NaN"):
        _checks.check_float(float("nan"), "x")
    with pytest.raises(ValueError, match="x must be <= 1"):
        _checks.check_float(1.5, "x", high=1.0)
    with pytest.raises(ValueError, match="empty"):
        _checks.check_tensor(torch.zeros(0, 3), "t")
    with pytest.raises(TypeError, match="floating-point"):
        _checks.check_tensor(torch.zeros(2, dtype=torch.long), "t", dtype_kind="float")
    with pytest.raises(TypeError, match="integer"):
        _checks.check_tensor(torch.zeros(2), "t", dtype_kind="int")


def test_check_thresholds_shares_a_number_or_takes_one_per_early_exit():
    torch.testing.assert_close(
        _checks.check_thresholds(0.25, 4), torch.tensor([0.25] * 3, dtype=torch.float64)
    )
    torch.testing.assert_close(
        _checks.check_thresholds(torch.tensor([0.1, 0.2]), 3),
        torch.tensor([0.1, 0.2], dtype=torch.float64),
    )
    assert _checks.check_thresholds(0.5, 1).numel() == 0
    with pytest.raises(ValueError, match="one value per early exit"):
        _checks.check_thresholds([0.1, 0.2], 4)
    with pytest.raises(TypeError, match="number in"):
        _checks.check_thresholds("0.5", 3)


def test_eval_mode_gives_each_submodule_its_own_mode_back(tiny_cnn):
    tiny_cnn.eval()
    tiny_cnn.heads.train()  # mixed modes, as a model with a head being trained
    wrapper = combined.CombinedOutput(tiny_cnn)  # shares blocks; starts in train mode
    before = {name: m.training for name, m in tiny_cnn.named_modules()}
    shared = list(tiny_cnn.blocks.modules()) + [
        m for h in tiny_cnn.heads.values() for m in h.modules()
    ]
    with mexit.models.eval_mode(wrapper):
        assert not any(m.training for m in shared)
    assert {name: m.training for name, m in tiny_cnn.named_modules()} == before
    assert not tiny_cnn.blocks[0].training  # the shared blocks stay in eval


def test_combined_probs_leaves_the_shared_backbone_in_eval(tiny_cnn, make_inputs):
    model = tiny_cnn.eval()
    x = make_inputs(8, (1, 16))
    combined.combined_probs(combined.CombinedOutput(model), x)
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("bad", [None, "model", 3])
def test_eval_mode_rejects_what_is_not_a_module(bad):
    with pytest.raises(TypeError, match="modules"):
        with mexit.models.eval_mode(bad):
            pass
