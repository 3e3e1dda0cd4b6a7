"""Tests for mexit.gates: eq. 9 (gated combination), its unrolled eq. 14 mixture, the soft
and hard cost (eq. 12-14) and training with task loss + λ · expected cost (§6.1)."""

from __future__ import annotations

import pytest
import torch

import mexit
from mexit.cost import cascaded_cost, exit_probabilities, expected_cost
from mexit.gates import (
    GatedExits,
    combine_recursive,
    combine_unrolled,
    gate_exits,
    gate_module,
    gated_loss,
    gated_outputs,
    hard_gates,
    marginal_costs,
    soft_cost_as_printed,
    train_gated,
)


def random_gates(N, E, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(N, E - 1, generator=g, dtype=torch.float64)


def test_eq9_recursion_equals_the_eq14_mixture(make_probs):
    probs, _ = make_probs(E=4, N=50, K=5)
    probs = probs.double()
    gates = random_gates(50, 4)
    rec = combine_recursive(probs, gates)
    unr = combine_unrolled(probs, gates)
    assert torch.allclose(rec, unr, atol=1e-12)
    # a mixture of distributions is a distribution
    assert torch.allclose(rec.sum(-1), torch.ones(50, dtype=torch.float64))
    # by hand for E = 2: ĉ_1 = g c_1 + (1 − g) f(x)
    g = gates[:, :1]
    two = combine_recursive(probs[[0, 3]], g)
    assert torch.allclose(two, g * probs[0] + (1 - g) * probs[3])


def test_hard_gates_pick_one_exit_and_the_soft_cost_equals_eq12(make_probs):
    probs, _ = make_probs(E=4, N=80, K=3)
    probs = probs.double()
    gates = random_gates(80, 4, seed=1)
    Gamma = torch.tensor([1.0, 3.0, 4.5, 10.0], dtype=torch.float64)
    for tau in (0.0, 0.3, 0.5, 0.9, 1.0):
        hard = hard_gates(gates, tau)
        idx = gate_exits(gates, tau)
        # eq. 9 with 0/1 gates returns the output of the exit taken
        c_hat = combine_recursive(probs, hard)
        assert torch.allclose(c_hat, probs[idx, torch.arange(80)])
        # eq. 13-14 (consistent form) equals eq. 12 for hard gates
        assert expected_cost(hard, Gamma).item() == pytest.approx(cascaded_cost(idx, Gamma))
    # τ = 0 opens every gate: everyone leaves at the first exit
    assert (gate_exits(gates, 0.0) == 0).all()


def test_printed_soft_cost_undercounts():
    gates = random_gates(40, 4, seed=2)
    Gamma = torch.tensor([1.0, 3.0, 4.5, 10.0], dtype=torch.float64)
    eps = marginal_costs(Gamma)
    assert torch.allclose(eps.cumsum(0), Gamma)
    printed = soft_cost_as_printed(gates, eps).item()
    consistent = expected_cost(gates, Gamma).item()
    assert printed < consistent
    # the consistent cost is Σ_j P(reach j) ε_j (marginal form)
    p = exit_probabilities(gates)
    reach = 1 - torch.cat([torch.zeros(40, 1, dtype=p.dtype), p.cumsum(1)[:, :-1]], 1)
    assert consistent == pytest.approx(float((reach * eps).sum(1).mean()))


def test_gated_exits_is_a_multi_exit_net_with_gates(tiny_cnn, make_inputs):
    gated = GatedExits(tiny_cnn, (1, 16))
    # gates start closed: every input starts at the final exit
    assert torch.allclose(gated(make_inputs(3, (1, 16))).gates, torch.sigmoid(torch.tensor(-2.0)))
    x = make_inputs(6, (1, 16))
    outs = gated(x)
    assert len(outs) == len(tiny_cnn.exits)
    assert outs.gates.shape == (6, len(tiny_cnn.exits) - 1)
    assert ((outs.gates >= 0) & (outs.gates <= 1)).all()
    # blocks and heads are shared, so the exit logits are the base model's
    for a, b in zip(outs, tiny_cnn(x)):
        assert torch.allclose(a, b)
    probs, gates, c_hat = gated.gated_forward(x)
    assert torch.allclose(c_hat, combine_unrolled(probs, gates), atol=1e-6)
    # the gates' FLOPs are added to their heads': Linear(3, 1) on the head's output
    base, with_gates = mexit.measure_costs(tiny_cnn, (1, 16)), gated.costs()
    assert with_gates.gamma_f == base.gamma_f
    for i in tiny_cnn.exits[:-1]:
        assert with_gates.gamma_c[i] == base.gamma_c[i] + 2 * 3
    assert with_gates.gamma_c[4] == base.gamma_c[4]
    # gates on the embedding: global pooling then Linear(channels, 1)
    on_h = GatedExits(tiny_cnn, (1, 16), gate_input="embedding")
    assert on_h(x).gates.shape == (6, 3)
    for i, w in zip(tiny_cnn.exits[:-1], (4, 8, 8)):
        assert on_h.costs().gamma_c[i] == base.gamma_c[i] + 2 * w
    p2, g2 = gated_outputs(gated, x)
    assert torch.allclose(p2, probs, atol=1e-6) and torch.allclose(g2, gates, atol=1e-6)


def test_gate_module_shapes():
    assert gate_module((4, 10))(torch.zeros(3, 4, 10)).shape == (3, 1)
    assert gate_module((4, 5, 5))(torch.zeros(3, 4, 5, 5)).shape == (3, 1)
    assert gate_module((7,))(torch.zeros(3, 7)).shape == (3, 1)


def test_cost_regulariser_pushes_the_gates_open(make_cnn):
    # a larger λ must give a cheaper network: train on a tiny synthetic task
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 1, 16, generator=g)
    y = (x.mean((1, 2)) > 0).long()
    data = mexit.DataBundle(
        name="toy",
        x_train=x,
        y_train=y,
        x_val=x[:64],
        y_val=y[:64],
        x_test=x[:64],
        y_test=y[:64],
        classes=("neg", "pos"),
        input_shape=(1, 16),
    )
    costs = {}
    for lam in (0.0, 5.0):
        torch.manual_seed(0)
        model = GatedExits(make_cnn(num_classes=2), (1, 16))
        train_gated(model, data, lam, epochs=3, progress=False)
        _, gates = gated_outputs(model, x)
        costs[lam] = expected_cost(gates.double(), model.costs().Gamma(model.exits)).item()
    assert costs[5.0] < costs[0.0]


def test_bad_arguments(tiny_cnn, make_probs):
    probs, _ = make_probs(E=4, N=10, K=3)
    with pytest.raises(ValueError, match="gates must have shape"):
        combine_recursive(probs, torch.rand(10, 2))
    with pytest.raises(ValueError, match=r"gates must lie in \[0, 1\]"):
        combine_unrolled(probs, torch.full((10, 3), 1.5))
    with pytest.raises(ValueError, match="threshold must be <= 1"):
        hard_gates(torch.rand(10, 3), 1.5)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        gated_loss(-1.0, [1.0, 2.0])
    with pytest.raises(TypeError, match="model must be a MultiExitNet"):
        GatedExits(torch.nn.Linear(2, 2), (1, 16))
    with pytest.raises(ValueError, match="does not fit the model"):
        GatedExits(tiny_cnn, (3, 16))
    with pytest.raises(ValueError, match="Gamma must hold one cost per exit"):
        soft_cost_as_printed(torch.rand(10, 3), [1.0, 2.0])
    with pytest.raises(ValueError, match="gate_input must be one of"):
        GatedExits(tiny_cnn, (1, 16), gate_input="pixels")
    with pytest.raises(ValueError, match="at least one early exit"):
        GatedExits(tiny_cnn.with_exits(()), (1, 16))
    with pytest.raises(TypeError, match="no .gates"):
        gated_loss(1.0, [1.0, 2.0, 3.0, 4.0])(
            list(tiny_cnn(torch.zeros(2, 1, 16))), torch.zeros(2, dtype=torch.long)
        )


def test_pretrained_gated_builds_on_the_reference_of_its_own_seed(monkeypatch, tmp_path):
    from mexit import checkpoints, gates, runs

    seen = []
    reference = mexit.mnist1d_cnn()

    def fake_pretrained(name, *, seed=0, **kwargs):
        seen.append(("pretrained", name, seed))
        return reference

    class Stop(Exception):
        pass

    def fake_cached_model(name, config, build, train, **kwargs):
        seen.append(("cached", name, config["seed"]))
        raise Stop

    monkeypatch.setattr(checkpoints, "pretrained", fake_pretrained)
    monkeypatch.setattr(runs, "cached_model", fake_cached_model)  # under runs.cached_fit
    for seed in (1, 2):
        with pytest.raises(Stop):
            gates.pretrained_gated(1.0, seed=seed, progress=False, root=tmp_path)
    assert [s for kind, _, s in seen if kind == "pretrained"] == [1, 2]
    names = [n for kind, n, _ in seen if kind == "cached"]
    assert len(set(names)) == 2  # each seed its own cache file


def test_gated_outputs_gives_every_submodule_its_mode_back(tiny_cnn, make_inputs):
    gated = GatedExits(tiny_cnn, (1, 16)).train()
    gated.blocks[1].eval()  # deliberately frozen inside a model in train mode
    before = {name: m.training for name, m in gated.named_modules()}
    assert before[""] and not before["blocks.1"]
    gated_outputs(gated, make_inputs(4, (1, 16)))
    assert {name: m.training for name, m in gated.named_modules()} == before


def test_train_gated_refuses_data_that_does_not_fit(tiny_cnn):
    def bundle(shape, n_classes):
        x, y = torch.zeros(4, *shape), torch.zeros(4, dtype=torch.long)
        return mexit.data.DataBundle("tiny", x, y, x, y, x, y, ("c",) * n_classes, shape)

    gated = GatedExits(tiny_cnn, (1, 16))  # 5 classes, (1, length) signals
    with pytest.raises(ValueError, match=r"^model gives \[5\] logits per exit, but dataset="):
        train_gated(gated, bundle((1, 16), 2), 1.0, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"^model does not fit dataset='tiny'"):
        train_gated(gated, bundle((1, 2, 16), 5), 1.0, epochs=1, progress=False)


def test_wrapping_a_model_leaves_its_submodules_modes(tiny_cnn):
    tiny_cnn.train()
    tiny_cnn.blocks[1].eval()  # deliberately frozen inside a model in train mode
    before = {name: m.training for name, m in tiny_cnn.named_modules()}
    gated = GatedExits(tiny_cnn, (1, 16))
    assert {name: m.training for name, m in tiny_cnn.named_modules()} == before
    assert gated.training and all(g.training for g in gated.gates.values())
