"""Mutual-information estimators and the local IB objective (survey §7.3)."""

from __future__ import annotations

import math

import pytest
import torch

import mexit
from mexit import information


def gaussians(rho, n=2000, dim=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, dim, generator=g)
    b = rho * a + math.sqrt(1 - rho**2) * torch.randn(n, dim, generator=g)
    return a, b, -0.5 * dim * math.log2(1 - rho**2)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_estimators_on_correlated_gaussians(rho):
    a, b, true = gaussians(rho, seed=int(10 * rho))
    assert information.binned_mi(a, b, bins=16) == pytest.approx(true, abs=0.12)
    assert information.kernel_mi(a, b) == pytest.approx(true, abs=0.12)


def test_mi_grows_with_correlation_and_is_symmetric():
    values = [information.kernel_mi(*gaussians(r, n=800)[:2]) for r in (0.2, 0.6, 0.95)]
    assert values[0] < values[1] < values[2]
    a, b, _ = gaussians(0.7, n=800)
    assert information.binned_mi(a, b, 10) == pytest.approx(information.binned_mi(b, a, 10))


def test_entropy_and_discretize():
    assert information.entropy(torch.tensor([0, 1, 2, 3])) == pytest.approx(2.0)
    assert information.entropy(torch.tensor([[0, 1], [0, 1], [1, 0], [1, 0]])) == pytest.approx(1)
    codes = information.discretize(torch.linspace(0, 1, 10)[:, None], bins=2)
    assert codes.flatten().tolist() == [0] * 5 + [1] * 5
    with pytest.raises(TypeError, match=r"\bintegers\b"):
        information.entropy(torch.rand(4))


def test_kernel_plane_on_separated_clusters():
    # 4 tight clusters far apart, labels = cluster: I(X;T) = I(T;Y) = log2 4 = 2 bits
    g = torch.Generator().manual_seed(0)
    centres = 10 * torch.eye(4)
    y = torch.arange(200) % 4
    h = centres[y] + 0.001 * torch.randn(200, 4, generator=g)
    i_xt, i_ty = information.kernel_information_plane(h, y, noise=0.1)
    assert i_xt == pytest.approx(2.0, abs=0.01)
    assert i_ty == pytest.approx(2.0, abs=0.01)
    # labels unrelated to the clusters carry no information
    _, i_ty_random = information.kernel_information_plane(h, torch.arange(200) // 50, noise=0.1)
    assert abs(i_ty_random) < 0.05


def test_binning_saturates_on_distinct_points():
    h = torch.randn(64, 50, generator=torch.Generator().manual_seed(0))
    y = torch.arange(64) % 2
    i_xt, i_ty = information.binned_information_plane(h, y, bins=30)
    assert i_xt == pytest.approx(math.log2(64))
    assert i_ty == pytest.approx(1.0)


def test_information_plane_per_layer(tiny_cnn, make_inputs):
    x = make_inputs(40, (1, 16))
    y = torch.arange(40) % 5
    plane = information.information_plane(tiny_cnn, x, y, noise=0.5, bins=8)
    assert (
        len(plane["upper"]) == len(plane["lower"]) == len(plane["binning"]) == tiny_cnn.num_blocks
    )
    for (i_xt, i_ty), (lo_xt, _) in zip(plane["upper"], plane["lower"]):
        assert 0 <= lo_xt <= i_xt <= math.log2(40) + 1e-6 and i_ty <= i_xt + 1e-6


@pytest.mark.parametrize("dim", [1, 2, 4])
def test_pairwise_bounds_bracket_a_gaussian_channel(dim):
    # X ~ N(0, I/dim), T = X + N(0, σ²): the exact I is known; KL bounds it from above,
    # Bhattacharyya from below (Kolchinsky & Tracey 2017)
    z = torch.randn(1500, dim, generator=torch.Generator().manual_seed(dim))
    true = information.gaussian_channel_mi(dim, noise=0.5)
    assert true == pytest.approx(0.5 * dim * math.log2(1 + 4 / dim))
    lower = information.pairwise_mi(z, noise=0.5, bound="lower")
    upper = information.pairwise_mi(z, noise=0.5, bound="upper")
    assert lower < true < upper


def test_pairwise_bounds_meet_on_separated_clusters():
    # far-apart components: both bounds give the discrete entropy log2 4 = 2 bits
    y = torch.arange(200) % 4
    h = 10 * torch.eye(4)[y]
    for bound in ("upper", "lower"):
        assert information.pairwise_mi(h, noise=0.05, bound=bound) == pytest.approx(2.0, abs=1e-3)


def test_probe_heads_do_not_train_the_blocks(tiny_cnn, make_inputs):
    model = information.ib_model(tiny_cnn, probes=True).train()
    model(make_inputs(8, (1, 16)))[0].sum().backward()
    assert all(p.grad is None for b in model.blocks for p in b.parameters())
    assert all(p.grad is not None for p in model.heads["1"].parameters())


def test_sign_loss_senses_are_opposite(tiny_cnn, make_inputs):
    model = information.ib_model(tiny_cnn, probes=True).train()
    x, y = make_inputs(20, (1, 16)), torch.arange(20) % 5
    outputs = model(x)
    up, ce = information.sign_loss(model, 0.2, "maximise")(outputs, y)
    down, ce2 = information.sign_loss(model, 0.2, "minimise")(outputs, y)
    assert torch.equal(ce, ce2)
    # total = CE ∓ ln2 Σ_i (Î(T_i;Y) − β Î(X;T_i)): the two senses sit symmetric around CE
    assert (up + down).item() == pytest.approx(2 * ce.sum().item(), rel=1e-5)
    assert down.item() != pytest.approx(up.item())
    down.backward()
    assert all(p.grad is not None for p in model.blocks[-1].parameters())


def test_local_ib_loss_is_ce_plus_beta_times_kernel_mi(tiny_cnn, make_inputs):
    model = information.ib_model(tiny_cnn).train()
    x, y = make_inputs(16, (1, 16)), torch.arange(16) % 5
    outputs = model(x)
    total0, per_exit = information.local_ib_loss(model, 0.0)(outputs, y)
    assert total0.item() == pytest.approx(per_exit.sum().item(), rel=1e-6)
    total, _ = information.local_ib_loss(model, 0.3, noise=0.5)(outputs, y)
    penalty = sum(
        information._pairwise_mi_bits(information.normalize_representation(b.output), 0.5)
        for b in model.blocks
    )
    assert total.item() == pytest.approx(total0.item() + 0.3 * math.log(2) * penalty.item(), 1e-5)
    total.backward()  # differentiable, and blocks are detached from each other
    assert all(p.grad is not None for p in model.blocks[0].parameters())


def test_ib_blocks_are_detached(tiny_cnn, make_inputs):
    model = information.ib_model(tiny_cnn).train()
    model(make_inputs(8, (1, 16)))[-1].sum().backward()
    assert all(p.grad is None for b in model.blocks[:-1] for p in b.parameters())


def test_label_information_bound():
    y = torch.arange(100) % 4
    perfect = 20.0 * torch.nn.functional.one_hot(y, 4).float()
    assert information.label_information_bound(perfect, y) == pytest.approx(2.0, abs=1e-3)
    assert information.label_information_bound(torch.zeros(100, 4), y) == pytest.approx(0, abs=1e-6)


def test_bad_input(tiny_cnn):
    a = torch.randn(10, 1)
    with pytest.raises(ValueError, match="bins must be >= 2"):
        information.binned_mi(a, a, bins=1)
    with pytest.raises(ValueError, match="bins must be >= 2"):
        information.discretize(a, bins=0)
    with pytest.raises(ValueError, match="same number of samples"):
        information.kernel_mi(a, torch.randn(9, 1))
    with pytest.raises(ValueError, match="beta must be >= 0"):
        information.local_ib_loss(information.ib_model(tiny_cnn), -0.1)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        information.train_ib(-1.0)
    with pytest.raises(TypeError, match=r"\bib_model\b"):
        information.local_ib_loss(tiny_cnn, 0.1)
    with pytest.raises(ValueError, match="noise must be > 0"):
        information.kernel_information_plane(a, torch.zeros(10, dtype=torch.long), noise=0.0)
    with pytest.raises(ValueError, match=r"\bbandwidth\b"):
        information.kernel_mi(a, a, bandwidth=-1.0)
    with pytest.raises(TypeError, match=r"\bMultiExitNet\b"):
        information.information_plane(torch.nn.Linear(1, 1), a, torch.zeros(10, dtype=torch.long))


def test_train_ib_caches(tmp_path):
    mexit.seed_everything(0)
    model, extras = information.train_ib(0.1, epochs=1, root=tmp_path, progress=False)
    assert len(extras["val_accuracy"]) == 1
    again, extras2 = information.train_ib(0.1, epochs=1, root=tmp_path, progress=False)
    assert extras2 == extras


def test_train_joint_with_plane_records_every_epoch(tmp_path):
    mexit.seed_everything(0)
    model, extras = information.train_joint_with_plane(
        epochs=1, samples=20, root=tmp_path, progress=False
    )
    assert len(extras["plane"]) == 2  # at initialisation and after the epoch
    assert len(extras["plane"][0]["upper"]) == model.num_blocks


def test_train_sign_caches_per_sense_and_seed(tmp_path):
    a, extras = information.train_sign("minimise", epochs=1, root=tmp_path, progress=False)
    assert len(extras["val_accuracy"]) == 1
    assert all(isinstance(h, information.ProbeHead) for h in a.heads.values())
    information.train_sign("maximise", epochs=1, seed=1, root=tmp_path, progress=False)
    names = sorted(p.name.rsplit("_", 1)[0] for p in (tmp_path / "checkpoints").glob("*.pt"))
    assert names == ["ib_sign_maximise_seed1", "ib_sign_minimise_seed0"]


def test_information_plane_gives_each_submodule_its_mode_back(tiny_cnn, make_inputs):
    model = tiny_cnn.train()
    model.blocks[1].eval()  # one submodule deliberately in eval mode
    modes = {name: m.training for name, m in model.named_modules()}
    x, y = make_inputs(12, (1, 16)), torch.arange(12) % 5
    information.information_plane(model, x, y, bins=4)
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert model.training and not model.blocks[1].training
