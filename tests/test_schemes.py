"""Tests for mexit.schemes (α schemes of joint training, eq. 6-7) and mexit.gradients.

Cached runs go under tmp_path and use scikit-learn's digits (no file is written to data/)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mexit
from mexit.gradients import GradientNormRecorder, block_gradient_norms
from mexit.schemes import SCHEMES, alpha_scheme, check_alphas, run_scheme, scheme_loss

# ---------------------------------------------------------------------------
# alpha_scheme
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("E", [2, 4, 7])
def test_every_scheme_gives_one_non_negative_alpha_per_early_exit(E):
    for name in SCHEMES:
        alphas = alpha_scheme(name, E)
        assert len(alphas) == E - 1
        assert all(a >= 0 for a in alphas)


def test_scheme_values_follow_the_literature():
    assert alpha_scheme("uniform", 4) == (1.0, 1.0, 1.0)
    assert alpha_scheme("inception", 4) == (0.3, 0.3, 0.3)
    assert alpha_scheme("final_only", 4) == (0.0, 0.0, 0.0)
    sdn = alpha_scheme("sdn", 5)
    assert all(b > a for a, b in zip(sdn, sdn[1:]))  # rises with depth
    assert sdn[-1] < 1.0  # below the final exit's weight
    assert sdn[1] - sdn[0] == pytest.approx(sdn[2] - sdn[1])  # linear
    branchy = alpha_scheme("branchynet", 5)
    assert branchy[0] == 1.0  # the first exit is weighted most
    assert all(b < a for a, b in zip(branchy, branchy[1:]))


def test_a_single_exit_network_has_no_alpha():
    assert alpha_scheme("uniform", 1) == ()


def test_alpha_scheme_rejects_bad_input():
    with pytest.raises(ValueError, match="name must be one of"):
        alpha_scheme("resnet", 4)
    with pytest.raises(TypeError, match=r"\bname\b"):
        alpha_scheme(3, 4)
    with pytest.raises(ValueError, match=r"\bn_exits\b"):
        alpha_scheme("uniform", 0)
    with pytest.raises(TypeError, match=r"\bn_exits\b"):
        alpha_scheme("uniform", 2.5)


def test_check_alphas_rejects_wrong_length_and_negative_weights():
    assert check_alphas([0.1, 0.2], 3) == (0.1, 0.2)
    assert check_alphas("inception", 3) == (0.3, 0.3)
    with pytest.raises(ValueError, match=r"^alphas must hold one weight per early exit"):
        check_alphas([0.1, 0.2, 0.3], 3)
    with pytest.raises(ValueError, match=r"alphas\[1\] must be >= 0"):
        check_alphas([0.1, -0.2], 3)
    with pytest.raises(TypeError, match=r"^alphas must be"):
        check_alphas(0.3, 3)
    with pytest.raises(ValueError, match=r"^alphas must be one of"):
        check_alphas("nope", 3)
    with pytest.raises(ValueError, match=r"^scheme must be one of"):
        check_alphas("nope", 3, "scheme")


def test_scheme_loss_weights_the_exits_as_the_scheme_says():
    g = torch.Generator().manual_seed(0)
    outputs = [torch.randn(5, 3, generator=g) for _ in range(3)]
    y = torch.randint(0, 3, (5,), generator=g)
    ce = [F.cross_entropy(o, y).item() for o in outputs]
    total, per_exit = scheme_loss("sdn", 3)(outputs, y)
    a = alpha_scheme("sdn", 3)
    assert total.item() == pytest.approx(a[0] * ce[0] + a[1] * ce[1] + ce[2], rel=1e-5)
    total0, _ = scheme_loss("final_only", 3)(outputs, y)
    assert total0.item() == pytest.approx(ce[2], rel=1e-5)
    with pytest.raises(ValueError):
        scheme_loss([1.0], 3)


# ---------------------------------------------------------------------------
# gradient norms (Theorem 1 illustration)
# ---------------------------------------------------------------------------


def test_block_gradient_norms_match_the_stored_gradients(tiny_mlp, make_inputs):
    x = make_inputs(16, (1, 6))
    y = torch.arange(16) % 4
    tiny_mlp.zero_grad()
    F.cross_entropy(tiny_mlp(x)[-1], y).backward()
    norms = block_gradient_norms(tiny_mlp)
    assert len(norms) == tiny_mlp.num_blocks
    for block, n in zip(tiny_mlp.blocks, norms):
        by_hand = torch.cat([p.grad.flatten() for p in block.parameters()]).norm().item()
        assert n == pytest.approx(by_hand, rel=1e-5)


def test_only_blocks_reached_by_the_loss_get_a_gradient(tiny_mlp, make_inputs):
    x = make_inputs(8, (1, 6))
    tiny_mlp.zero_grad(set_to_none=True)
    F.cross_entropy(tiny_mlp(x)[0], torch.zeros(8, dtype=torch.long)).backward()  # exit 1 only
    norms = block_gradient_norms(tiny_mlp)
    assert norms[0] > 0
    assert norms[1:] == [0.0] * (tiny_mlp.num_blocks - 1)


def test_recorder_records_one_row_per_step(tiny_mlp, make_inputs):
    x = make_inputs(40, (1, 6))
    y = torch.arange(40) % 4
    rec = GradientNormRecorder()
    with pytest.raises(ValueError, match="no gradient"):
        rec.norms  # noqa: B018
    mexit.seed_everything(0)
    mexit.fit(tiny_mlp, x, y, epochs=2, batch_size=16, on_step=rec, progress=False)
    assert rec.norms.shape == (2 * 3, tiny_mlp.num_blocks)
    assert (rec.norms > 0).all()
    with pytest.raises(TypeError, match=r"\bMultiExitNet\b"):
        block_gradient_norms(torch.nn.Linear(2, 2))


# ---------------------------------------------------------------------------
# fit extensions used by the schemes (optimizer, scheduler, on_step, parameter groups)
# ---------------------------------------------------------------------------


def test_fit_accepts_sgd_parameter_groups_and_a_custom_scheduler(tiny_mlp, make_inputs):
    x = make_inputs(32, (1, 6))
    y = torch.arange(32) % 4
    first = list(tiny_mlp.blocks[0].parameters())
    rest = [p for p in tiny_mlp.parameters() if all(p is not q for q in first)]
    before = [p.detach().clone() for p in first]
    seen = []

    def constant(opt, total_steps):
        seen.append(total_steps)
        return torch.optim.lr_scheduler.LambdaLR(opt, [lambda t: 0.0, lambda t: 1.0])

    mexit.fit(
        tiny_mlp,
        x,
        y,
        epochs=1,
        batch_size=8,
        optimizer="sgd",
        parameters=[{"params": first}, {"params": rest}],
        scheduler=constant,
        progress=False,
    )
    assert seen == [4]
    # the first group's rate is 0: its weights never move
    assert all(torch.equal(b, p) for b, p in zip(before, first))
    with pytest.raises(ValueError, match=r"\boptimizer\b"):
        mexit.fit(tiny_mlp, x, y, optimizer="rmsprop", progress=False)
    with pytest.raises(TypeError, match=r"\bon_step\b"):
        mexit.fit(tiny_mlp, x, y, on_step=3, progress=False)
    with pytest.raises(TypeError, match=r"\bscheduler\b"):
        mexit.fit(tiny_mlp, x, y, scheduler="cosine", progress=False)


# ---------------------------------------------------------------------------
# run_scheme: cached JT runs
# ---------------------------------------------------------------------------

TINY = dict(
    model="mlp",
    model_kwargs={"input_shape": [1, 8, 8], "widths": [12, 12, 12]},
    dataset="digits",
    epochs=1,
    batch_size=256,
    progress=False,
)


def test_run_scheme_trains_once_then_loads_the_same_weights(tmp_path):
    a = run_scheme("uniform", root=tmp_path, record_gradients=True, **TINY)
    files = list((tmp_path / "checkpoints").glob("jt_mlp_uniform_*.pt"))
    assert len(files) == 1
    b = run_scheme("uniform", root=tmp_path, record_gradients=True, **TINY)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.alphas == (1.0, 1.0)
    assert len(b.history.val_accuracy) == 1 and len(b.history.val_accuracy[0]) == 3
    assert b.gradient_norms.shape[1] == 3 and b.gradient_norms.shape[0] >= 1


def test_run_scheme_final_only_leaves_the_early_heads_untrained(tmp_path):
    torch.manual_seed(123)  # the caller's RNG must not matter: the build is seeded
    a = run_scheme("final_only", root=tmp_path, **TINY)
    mexit.seed_everything(0)  # the run's config seed
    fresh = mexit.mlp(input_shape=(1, 8, 8), widths=(12, 12, 12))
    for k in ("1", "2"):
        for p, q in zip(a.heads[k].parameters(), fresh.heads[k].parameters()):
            assert torch.equal(p, q)
    assert not torch.equal(a.heads["3"][1].weight, fresh.heads["3"][1].weight)
    # another scheme gets its own file
    run_scheme("inception", root=tmp_path, **TINY)
    assert len(list((tmp_path / "checkpoints").glob("*.pt"))) == 2


def test_run_scheme_records_the_loss_of_every_step_and_keeps_seeds_apart(tmp_path):
    a = run_scheme("uniform", root=tmp_path, record_gradients=True, seed=0, **TINY)
    steps = a.gradient_norms.shape[0]
    assert a.step_losses.shape == (steps, 3)
    # one epoch: the per-epoch training loss of the history is the mean of the step losses
    torch.testing.assert_close(
        a.step_losses.mean(0), torch.tensor(a.history.train_loss[0]), rtol=1e-5, atol=1e-6
    )
    b = run_scheme("uniform", root=tmp_path, record_gradients=True, seed=1, **TINY)
    names = sorted(f.name for f in (tmp_path / "checkpoints").glob("*.pt"))
    assert len(names) == 2 and any("seed0" in n for n in names) and any("seed1" in n for n in names)
    assert not torch.equal(a.blocks[0][1].weight, b.blocks[0][1].weight)


def test_loss_recorder_passes_the_loss_through_and_records_each_step(tiny_mlp, make_inputs):
    from mexit.gradients import LossRecorder

    x = make_inputs(40, (1, 6))
    y = torch.arange(40) % 4
    base = mexit.joint_loss([1.0] * (len(tiny_mlp.exits) - 1))
    rec = LossRecorder(base)
    with pytest.raises(ValueError, match="no loss"):
        rec.losses  # noqa: B018
    total, per_exit = rec(tiny_mlp(x), y)
    total_b, per_exit_b = base(tiny_mlp(x), y)
    torch.testing.assert_close(total, total_b)
    assert rec.losses.shape == (1, len(tiny_mlp.exits))
    torch.testing.assert_close(rec.losses[0], per_exit_b.detach())
    mexit.seed_everything(0)
    h = mexit.fit(
        tiny_mlp, x, y, epochs=2, batch_size=16, loss=rec, x_val=x, y_val=y, progress=False
    )
    assert rec.losses.shape == (1 + 2 * 3, len(tiny_mlp.exits))  # evaluation adds no row
    torch.testing.assert_close(rec.losses[-3:].mean(0), torch.tensor(h.train_loss[-1]))
