"""Exits on a transformer encoder (survey §8, challenge 1)."""

from __future__ import annotations

import pytest
import torch

import mexit
from mexit import transformer


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return transformer.mnist1d_transformer(d_model=16, heads=2, layers=3, input_length=40).eval()


def test_is_a_multi_exit_net_with_an_exit_per_layer(encoder):
    assert isinstance(encoder, mexit.MultiExitNet)
    assert encoder.exits == (1, 2, 3)
    x = torch.randn(5, 1, 40)
    outs = encoder(x)
    assert [tuple(o.shape) for o in outs] == [(5, 10)] * 3
    h = encoder.embeddings(x)
    n_tokens = 1 + (40 + 2 * 4 - 8) // 4 + 1  # CLS + patches
    assert all(t.shape == (5, n_tokens, 16) for t in h)


def test_attention_flops_are_counted_and_layers_cost_the_same(encoder):
    costs = mexit.measure_costs(encoder, (1, 40))
    assert costs.gamma_f[1] == costs.gamma_f[2] > 0
    layer = encoder.blocks[1]
    T = 12
    qkv_out_mlp = 2 * T * (16 * 48 + 16 * 16 + 16 * 32 + 32 * 16)  # the four linears
    attention = 2 * 2 * T * T * 16  # q k^T and attn v, all heads
    assert costs.gamma_f[1] == qkv_out_mlp + attention
    assert isinstance(layer, transformer.EncoderLayer)


def test_early_exit_and_policies_work_unchanged(encoder):
    x = torch.randn(30, 1, 40)
    probs = mexit.exit_probs(encoder, x)
    real = mexit.early_exit_predict(encoder, x, 0.99)
    sim = mexit.simulate_exits(probs, 0.99)
    assert torch.equal(real.exit_index, sim)


def test_cls_and_mean_heads_differ(encoder):
    h = torch.randn(4, 12, 16)
    cls = transformer.SequenceHead(16, 3, "cls")
    mean = transformer.SequenceHead(16, 3, "mean")
    mean.load_state_dict(cls.state_dict())
    assert not torch.allclose(cls(h), mean(h))
    h2 = h.clone()
    h2[:, 1:] += 1.0  # patch tokens change, the CLS token does not
    assert torch.allclose(cls(h2), cls(h))


def test_bad_input():
    with pytest.raises(ValueError, match="multiple of heads"):
        transformer.EncoderLayer(10, 3)
    with pytest.raises(ValueError, match="pool"):
        transformer.SequenceHead(8, 3, "max")
    with pytest.raises(ValueError, match="pool"):
        transformer.mnist1d_transformer(pool="attention")
    with pytest.raises(ValueError, match="layers"):
        transformer.mnist1d_transformer(layers=1)
