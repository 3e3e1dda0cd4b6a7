"""Tests for mexit.cost: measured γ_f, γ_c, the cumulative Γ_j and eq. 12-14 (§6.1)."""

from __future__ import annotations

import itertools

import pytest
import torch

import mexit
from mexit.cost import (
    CostProfile,
    cascaded_cost,
    count_flops,
    cumulative_costs,
    exit_probabilities,
    expected_cost,
    measure_costs,
)

# FlopCounterMode counts 2 * in * out FLOPs for a Linear on one input (bias and ReLU are free)
# and 2 * C_in * C_out * kernel * L_out for a Conv1d; BatchNorm and pooling are not counted.


def linear_flops(a: int, b: int) -> int:
    return 2 * a * b


def conv1d_flops(c_in: int, c_out: int, k: int, l_out: int) -> int:
    return 2 * c_in * c_out * k * l_out


def test_count_flops_of_one_linear_layer():
    assert count_flops(torch.nn.Linear(6, 8), torch.zeros(1, 6)) == linear_flops(6, 8)
    with pytest.raises(TypeError, match="nn.Module"):
        count_flops(lambda x: x, torch.zeros(1, 6))


def test_measure_costs_on_an_mlp_by_hand(make_mlp):
    model = make_mlp(widths=(8, 8, 8), num_classes=4)  # input (1, 6)
    costs = measure_costs(model, (1, 6))
    gf = (linear_flops(6, 8), linear_flops(8, 8), linear_flops(8, 8))
    gc = linear_flops(8, 4)
    assert costs.gamma_f == gf == (96, 128, 128)
    assert costs.gamma_c == {1: gc, 2: gc, 3: gc}
    assert costs.num_blocks == 3
    # the plain network: every block and the final head only
    assert costs.full == sum(gf) + gc
    # Γ_j: every block up to j and every head on the way (exits 1, 2, 3)
    expected = [gf[0] + gc, gf[0] + gc + gf[1] + gc, gf[0] + gc + gf[1] + gc + gf[2] + gc]
    assert costs.Gamma(model.exits).tolist() == expected
    assert costs.Gamma(model.exits).dtype == torch.float64
    # exit set {2}: head 1 is not evaluated any more
    assert costs.Gamma((2, 3)).tolist() == [gf[0] + gf[1] + gc, sum(gf) + 2 * gc]
    assert costs.Gamma((2,)).tolist() == [gf[0] + gf[1] + gc, sum(gf) + 2 * gc]  # L implied
    # no early exit at all: Γ of the single exit is the plain network
    assert costs.Gamma(()).tolist() == [costs.full]


def test_measure_costs_on_a_cnn_by_hand(tiny_cnn):
    # channels (4, 8, 8, 8), strides (1, 2, 2, 1), kernel 3, length 16 -> 16, 8, 4, 4
    costs = measure_costs(tiny_cnn, (1, 16))
    assert costs.gamma_f == (
        conv1d_flops(1, 4, 3, 16),
        conv1d_flops(4, 8, 3, 8),
        conv1d_flops(8, 8, 3, 4),
        conv1d_flops(8, 8, 3, 4),
    )
    # pooled heads: global average pooling, then Linear(channels, 5)
    assert costs.gamma_c == {
        1: linear_flops(4, 5),
        2: linear_flops(8, 5),
        3: linear_flops(8, 5),
        4: linear_flops(8, 5),
    }


def test_gamma_equals_a_direct_sum_for_every_exit_set(tiny_cnn):
    costs = measure_costs(tiny_cnn, (1, 16))
    L = costs.num_blocks
    for r in range(L):
        for C in itertools.combinations(range(1, L), r):
            exits = C + (L,)
            direct = [
                sum(costs.gamma_f[:j]) + sum(costs.gamma_c[k] for k in exits if k <= j)
                for j in exits
            ]
            assert costs.Gamma(exits).tolist() == direct
            # and for a model built with that exit set, Γ is increasing and ends above `full`
            G = costs.Gamma(tiny_cnn.with_exits(C).exits)
            assert torch.all(G[1:] > G[:-1])
            assert G[-1] >= costs.full


def test_measure_costs_restores_the_training_mode_and_checks_input(tiny_mlp):
    tiny_mlp.train()
    measure_costs(tiny_mlp, (1, 6))
    assert tiny_mlp.training
    tiny_mlp.eval()
    measure_costs(tiny_mlp, [1, 6])
    assert not tiny_mlp.training
    with pytest.raises(ValueError, match="does not fit"):
        measure_costs(tiny_mlp, (1, 7))
    with pytest.raises(TypeError, match="MultiExitNet"):
        measure_costs(torch.nn.Linear(6, 2), (6,))
    with pytest.raises(TypeError, match="input_shape"):
        measure_costs(tiny_mlp, 6)
    with pytest.raises(ValueError, match=r"^input_shape\[0\] must be >= 1"):
        measure_costs(tiny_mlp, (0, 6))


def test_gamma_rejects_exits_without_a_head():
    costs = CostProfile(gamma_f=(1, 2, 3), gamma_c={1: 10, 3: 30})
    assert costs.Gamma((1, 3)).tolist() == [11.0, 11.0 + 2 + 3 + 30]
    with pytest.raises(ValueError, match=r"^exits \[2\] have no head cost; heads at \[1, 3\]"):
        costs.Gamma((2, 3))
    with pytest.raises(ValueError, match=r"^exits must be block indices in 1\.\.2"):
        costs.Gamma((4,))


def test_cumulative_costs_checks_the_exit_list():
    torch.testing.assert_close(
        cumulative_costs([1, 2, 3], {1: 10, 3: 30}, (1, 3)),
        torch.tensor([11.0, 46.0], dtype=torch.float64),
    )
    for bad in [(), (1,), (3, 1), (1, 1, 3), (1, 4)]:
        with pytest.raises(ValueError, match="increasing block indices"):
            cumulative_costs([1, 2, 3], {1: 10, 2: 20, 3: 30}, bad)


# ---------------------------------------------------------------------------
# Eq. 12: cascaded cost
# ---------------------------------------------------------------------------


def test_cascaded_cost_by_hand():
    Gamma = [1.0, 2.0, 5.0]
    assert cascaded_cost(torch.tensor([0, 2, 2, 1]), Gamma) == pytest.approx((1 + 5 + 5 + 2) / 4)
    assert cascaded_cost(torch.tensor([0]), torch.tensor(Gamma)) == 1.0
    with pytest.raises(ValueError, match="exit_index"):
        cascaded_cost(torch.tensor([0, 3]), Gamma)
    with pytest.raises(ValueError, match="exit_index"):
        cascaded_cost(torch.tensor([-1]), Gamma)
    with pytest.raises(TypeError, match="integer"):
        cascaded_cost(torch.tensor([0.0]), Gamma)
    with pytest.raises(ValueError, match="non-negative"):
        cascaded_cost(torch.tensor([0]), [-1.0, 2.0])
    with pytest.raises(ValueError, match="1D"):
        cascaded_cost(torch.tensor([0]), [[1.0, 2.0]])


# ---------------------------------------------------------------------------
# Eq. 14: probability of exiting at j, and the expected cost
# ---------------------------------------------------------------------------


def test_exit_probabilities_match_eq_14_by_hand_for_three_exits():
    gates = torch.tensor([[0.2, 0.5], [1.0, 0.3], [0.0, 0.0], [0.0, 1.0], [0.9, 0.9]])
    p = exit_probabilities(gates)
    assert p.shape == (5, 3)
    expected = torch.tensor([[g1, (1 - g1) * g2, (1 - g1) * (1 - g2)] for g1, g2 in gates.tolist()])
    torch.testing.assert_close(p, expected)
    torch.testing.assert_close(p.sum(1), torch.ones(5))


def test_exit_probabilities_rows_sum_to_one_and_are_differentiable():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 4, generator=g, requires_grad=True)
    p = exit_probabilities(torch.sigmoid(logits))
    assert p.shape == (50, 5)
    assert torch.all(p >= 0)
    torch.testing.assert_close(p.sum(1), torch.ones(50))
    p[:, 2].sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0
    # p_3 does not depend on gates after exit 3
    assert torch.all(logits.grad[:, 3] == 0)


def test_expected_cost_gradient_by_hand():
    # one input, 3 exits: E[cost] = g1 Γ1 + (1-g1) g2 Γ2 + (1-g1)(1-g2) Γ3
    Gamma = [1.0, 3.0, 7.0]
    gates = torch.tensor([[0.25, 0.6]], dtype=torch.float64, requires_grad=True)
    cost = expected_cost(gates, Gamma)
    g1, g2 = 0.25, 0.6
    assert cost.item() == pytest.approx(g1 * 1 + (1 - g1) * g2 * 3 + (1 - g1) * (1 - g2) * 7)
    cost.backward()
    d1 = 1 - g2 * 3 - (1 - g2) * 7
    d2 = (1 - g1) * 3 - (1 - g1) * 7
    torch.testing.assert_close(gates.grad, torch.tensor([[d1, d2]], dtype=torch.float64))


def test_expected_cost_equals_the_marginal_form():
    """Σ_j p_j Γ_j (cumulative) = Σ_j P(reach j) ε_j (marginal): the consistent eq. 13."""
    g = torch.Generator().manual_seed(1)
    gates = torch.rand(40, 3, generator=g, dtype=torch.float64)
    Gamma = torch.tensor([2.0, 5.0, 6.0, 11.0], dtype=torch.float64)
    eps = torch.diff(Gamma, prepend=torch.zeros(1, dtype=torch.float64))
    reach = torch.cumprod(torch.cat([torch.ones(40, 1, dtype=torch.float64), 1 - gates], 1), 1)
    marginal = (reach[:, :4] * eps).sum(1).mean()
    torch.testing.assert_close(expected_cost(gates, Gamma), marginal)


def test_expected_cost_with_hard_gates_equals_eq_12():
    Gamma = [3.0, 4.0, 9.0, 20.0]
    rows = list(itertools.product([0.0, 1.0], repeat=3))  # every hard gate pattern
    gates = torch.tensor(rows)
    # the implied exit: the first early exit whose gate is 1, else the final one
    exit_index = torch.tensor([r.index(1.0) if 1.0 in r else 3 for r in rows])
    assert expected_cost(gates, Gamma).item() == pytest.approx(cascaded_cost(exit_index, Gamma))
    # and p is then the one-hot of the implied exit
    torch.testing.assert_close(
        exit_probabilities(gates), torch.nn.functional.one_hot(exit_index, 4).float()
    )


def test_expected_cost_lies_between_first_and_last_gamma(tiny_cnn):
    Gamma = measure_costs(tiny_cnn, (1, 16)).Gamma(tiny_cnn.exits)
    g = torch.Generator().manual_seed(2)
    for _ in range(20):
        gates = torch.rand(8, len(Gamma) - 1, generator=g)
        c = expected_cost(gates, Gamma).item()
        assert Gamma[0].item() <= c <= Gamma[-1].item()
    assert expected_cost(torch.ones(3, 3), Gamma).item() == pytest.approx(Gamma[0].item())
    assert expected_cost(torch.zeros(3, 3), Gamma).item() == pytest.approx(Gamma[-1].item())


@pytest.mark.parametrize(
    "gates, error, match",
    [
        (torch.tensor([[0.5, 1.5]]), ValueError, r"\[0, 1\]"),
        (torch.tensor([[-0.1, 0.5]]), ValueError, r"\[0, 1\]"),
        (torch.tensor([0.5, 0.5]), ValueError, "2 dimensions"),
        (torch.tensor([[1, 0]]), TypeError, "floating-point"),
        (torch.zeros(0, 2), ValueError, "empty"),
        ([[0.5, 0.5]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_gates_are_rejected(gates, error, match):
    with pytest.raises(error, match=match):
        exit_probabilities(gates)
    with pytest.raises(error, match=match):
        expected_cost(gates, [1.0, 2.0, 3.0])


def test_bad_gamma_is_rejected_by_expected_cost():
    gates = torch.full((2, 2), 0.5)
    with pytest.raises(ValueError, match="one cost per exit"):
        expected_cost(gates, [1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        expected_cost(gates, [1.0, -2.0, 3.0])
    with pytest.raises(ValueError, match="1D"):
        expected_cost(gates, 3.0)


def test_public_api_exports_the_cost_functions():
    assert mexit.cascaded_cost is cascaded_cost and mexit.expected_cost is expected_cost
