"""Local learning and feedback alignment (survey §7.1): mexit.local."""

from __future__ import annotations

import pytest
import torch

import mexit
from mexit import local


def test_feedback_alignment_uses_K_in_backward_by_hand():
    h = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 2.0]], requires_grad=True)
    M = torch.tensor([[1.0, 0.0, -1.0], [0.5, 1.0, 0.0]])
    K = torch.tensor([[0.0, 2.0, 1.0], [-1.0, 0.0, 1.0]])
    delta = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    c = local.feedback_alignment(h, M, K)
    c.backward(delta)
    # forward: c[n, k] = sum_j M[k, j] h[n, j]
    hv = h.detach()
    expected_c = [[sum(M[k, j] * hv[n, j] for j in range(3)) for k in range(2)] for n in range(2)]
    assert torch.allclose(c, torch.tensor(expected_c))
    # backward: dL/dh[n, j] = sum_k delta[n, k] K[k, j]  (not M)
    by_hand = [[sum(delta[n, k] * K[k, j] for k in range(2)) for j in range(3)] for n in range(2)]
    assert torch.allclose(h.grad, torch.tensor(by_hand))
    assert not torch.allclose(h.grad, delta @ M)


def test_feedback_alignment_gives_M_its_local_gradient_when_it_learns():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(5, 4, generator=g)
    M = torch.randn(3, 4, generator=g, requires_grad=True)
    K = torch.randn(3, 4, generator=g)
    delta = torch.randn(5, 3, generator=g)
    local.feedback_alignment(h, M, K).backward(delta)
    assert torch.allclose(M.grad, delta.T @ h, atol=1e-6)  # the outer product δ^T h
    assert K.grad is None


def test_local_head_backward_goes_through_K_and_M_is_fixed():
    head = local.LocalHead((2, 3), num_classes=4, feedback="random", seed=1)
    assert list(head.parameters()) == []
    h = torch.randn(6, 2, 3, requires_grad=True)
    delta = torch.randn(6, 4)
    head(h).backward(delta)
    assert torch.allclose(h.grad.flatten(1), delta @ head.K, atol=1e-6)
    exact = local.LocalHead((2, 3), num_classes=4, feedback="transpose", seed=1)
    h2 = h.detach().clone().requires_grad_(True)
    exact(h2).backward(delta)
    assert torch.allclose(exact.M, head.M)  # same seed, same M
    assert torch.allclose(h2.grad.flatten(1), delta @ exact.M, atol=1e-6)
    assert not torch.allclose(h.grad, h2.grad)


def test_local_head_learn_M_and_pooling():
    head = local.LocalHead((8, 10), 5, feedback="random", learn_M=True, output_size=2)
    assert [n for n, _ in head.named_parameters()] == ["M"]
    assert head.M.shape == (5, 16)
    assert head(torch.randn(3, 8, 10)).shape == (3, 5)
    assert 0.0 <= head.alignment_angle() <= 180.0


def test_no_gradient_crosses_blocks(tiny_cnn, make_inputs):
    x = make_inputs(8, (1, 16))
    model = local.local_learning_model(tiny_cnn, (1, 16), feedback="random", learn_M=True)
    for i in model.exits:
        reached = local.cross_block_gradients(model, x, exit_block=i)
        assert [j for j, r in reached.items() if r] == [i]
    # the joint model it was built from lets the final head's error reach every block
    joint = mexit.mnist1d_cnn(channels=(4, 8, 8, 8), strides=(1, 2, 2, 1), input_length=16)
    assert all(local.cross_block_gradients(joint, x, exit_block=4).values())


def test_later_heads_leave_earlier_blocks_without_gradient(tiny_cnn, make_inputs):
    model = local.local_learning_model(tiny_cnn, (1, 16), feedback="transpose").train()
    outputs = model(make_inputs(8, (1, 16)))
    sum(o.square().sum() for o in outputs[1:]).backward()  # heads 2..L only
    assert all(p.grad is None for p in model.blocks[0].parameters())
    assert all(p.grad is not None for p in model.blocks[1].parameters())


def test_cross_block_gradients_leaves_the_model_as_it_was(tiny_cnn, make_inputs):
    model = local.local_learning_model(tiny_cnn, (1, 16))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    local.cross_block_gradients(model, make_inputs(8, (1, 16)), exit_block=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_train_local_caches(tmp_path):
    mexit.seed_everything(0)
    model, extras = local.train_local("transpose", True, epochs=1, root=tmp_path, progress=False)
    assert len(list((tmp_path / "checkpoints").glob("local_transpose_learnedM_seed0_*.pt"))) == 1
    assert len(extras["val_accuracy"]) == 1
    again, extras2 = local.train_local("transpose", True, epochs=1, root=tmp_path, progress=False)
    assert extras2 == extras
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values())
    )


def test_bad_input(tiny_cnn, make_inputs):
    with pytest.raises(ValueError, match="feedback must be one of"):
        local.LocalHead((4,), 3, feedback="hebbian")
    with pytest.raises(ValueError, match=r"\bfeedback\b"):
        local.local_learning_model(tiny_cnn, (1, 16), feedback="hebbian")
    with pytest.raises(ValueError, match=r"\bfeedback\b"):
        local.train_local("bogus")
    with pytest.raises(TypeError, match=r"\bbackbone\b"):
        local.local_learning_model(torch.nn.Linear(2, 2), (1, 16))
    with pytest.raises(TypeError, match=r"\blearn_M\b"):
        local.LocalHead((4,), 3, learn_M="yes")
    with pytest.raises(ValueError, match=r"\boutput_size\b"):
        local.LocalHead((4,), 3, output_size=2)
    with pytest.raises(ValueError, match="shape of M"):
        local.feedback_alignment(torch.ones(2, 3), torch.ones(2, 3), torch.ones(3, 3))
    with pytest.raises(ValueError, match=r"\bfeatures\b"):
        local.feedback_alignment(torch.ones(2, 4), torch.ones(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"\bexit_block\b"):
        local.cross_block_gradients(tiny_cnn, make_inputs(4, (1, 16)), exit_block=7)


# ---- sign-concordant feedback, the teaching-signal angle, predsim (issue 11)


def test_sign_concordant_K_has_the_signs_of_M_and_its_own_magnitudes():
    sign = local.LocalHead((6, 5), num_classes=4, feedback="sign", seed=3)
    exact = local.LocalHead((6, 5), num_classes=4, feedback="transpose", seed=3)
    assert torch.equal(sign.M, exact.M)
    assert torch.equal(torch.sign(sign.K), torch.sign(sign.M))
    ratio = sign.K.abs() / sign.M.abs()
    assert ratio.std() > 0.3  # magnitudes are not a rescaled copy of M's
    h = torch.randn(7, 6, 5, requires_grad=True)
    delta = torch.randn(7, 4)
    sign(h).backward(delta)
    assert torch.allclose(h.grad.flatten(1), delta @ sign.K, atol=1e-6)


def _angles_by_autograd(model, x, y):
    """The gradient that reaches each block's output from its own head's cross-entropy,
    through the head's custom backward, against the same with the exact M (autograd)."""
    angles, h = [], x
    for i, block in enumerate(model.blocks, 1):
        h = block(h).detach()
        head = model.head(i)
        grads = []
        for feedback in (head.feedback, "transpose"):
            z = h.clone().requires_grad_(True)
            twin = local.LocalHead(tuple(h.shape[1:]), head.M.shape[0], feedback)
            twin.M, twin.K = head.M, head.K  # the same matrices, the chosen backward
            torch.nn.functional.cross_entropy(twin(z), y, reduction="sum").backward()
            grads.append(z.grad.flatten(1))
        cos = torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=1)
        angles.append(float(torch.rad2deg(torch.arccos(cos.clamp(-1, 1))).mean()))
    return angles


def test_teaching_signal_angle_agrees_with_autograd(tiny_cnn, make_inputs):
    x, y = make_inputs(16, (1, 16)), torch.arange(16) % 5
    for feedback, low, high in (("sign", 20, 80), ("random", 60, 120), ("transpose", 0, 1)):
        model = local.local_learning_model(
            tiny_cnn, (1, 16), feedback=feedback, output_size=None, seed=1
        ).eval()
        measured = local.teaching_signal_angle(model, x, y)
        by_autograd = _angles_by_autograd(model, x, y)
        assert measured == pytest.approx(by_autograd, abs=0.05)  # arccos near 1: ~0.01°
        assert all(low <= a <= high for a in measured), (feedback, measured)


def test_similarity_matrix_of_one_hot_labels_by_hand():
    y = torch.tensor([0, 1, 0, 2])
    S = local.similarity_matrix(torch.nn.functional.one_hot(y, 4).float())
    # centred one-hot vectors of C classes: cos = 1 for the same class, -1/(C-1) otherwise
    expected = torch.where(y[:, None] == y[None, :], 1.0, -1 / 3)
    assert torch.allclose(S, expected, atol=1e-6)
    z = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    assert torch.allclose(local.similarity_matrix(z)[0, 1], torch.tensor(-1.0))


def test_predsim_loss_is_the_weighted_sum_of_pred_and_sim(tiny_cnn, make_inputs):
    model = local.predsim_model(tiny_cnn, (1, 16), output_size=2).train()
    x, y = make_inputs(8, (1, 16)), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    outputs = model(x)
    ce = [torch.nn.functional.cross_entropy(o, y) for o in outputs]
    target = local.similarity_matrix(torch.nn.functional.one_hot(y, 5).float())
    sims = [((model.head(i).last_similarity - target) ** 2).mean() for i in model.exits]
    for beta in (0.0, 0.5, 0.99):
        total, per_exit = local.predsim_loss(model, beta)(outputs, y)
        by_hand = sum((1 - beta) * c + beta * s for c, s in zip(ce, sims))
        assert torch.allclose(total, by_hand, atol=1e-6)
        assert torch.allclose(per_exit, torch.stack(ce))
    for i in model.exits:  # still local: head i trains block i only
        reached = local.cross_block_gradients(model, x, exit_block=i)
        assert [j for j, r in reached.items() if r] == [i]
    model.eval()
    model.head(1).last_similarity = None
    model(x)
    assert model.head(1).last_similarity is None  # the sim branch runs in training only


def test_train_rule_caches_and_learns(tmp_path):
    mexit.seed_everything(0)
    model, extras = local.train_rule("predsim", epochs=1, root=tmp_path, progress=False)
    assert len(list((tmp_path / "checkpoints").glob("rule_predsim_seed0_*.pt"))) == 1
    assert extras["val_accuracy"][-1][-1] > 0.2  # chance is 0.1
    again, extras2 = local.train_rule("predsim", epochs=1, root=tmp_path, progress=False)
    assert extras2 == extras
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values())
    )


def test_plot_rule_comparison_draws_every_rule():
    import matplotlib.pyplot as plt

    acc = {"a": [0.1, 0.2, 0.3, 0.4], "b": [0.2, 0.3, 0.4, 0.5]}
    fig = local.plot_rule_comparison(acc, {"b": [80, 70, 60, 50]}, (1, 2, 3, 4), 0.1)
    left, right = fig.axes[:2]
    assert len(left.patches) == 8 and len(right.lines) == 2  # 2 rules × 4 exits; 1 curve + 90°
    plt.close(fig)


def test_angle_and_gradient_checks_give_each_submodule_its_mode_back(tiny_cnn, make_inputs):
    model = local.local_learning_model(tiny_cnn, (1, 16), feedback="sign").train()
    model.blocks[1].eval()  # one submodule deliberately in eval mode
    modes = {name: m.training for name, m in model.named_modules()}
    x, y = make_inputs(8, (1, 16)), torch.arange(8) % 5
    assert len(local.teaching_signal_angle(model, x, y)) == len(model.exits)
    assert local.cross_block_gradients(model, x, model.exits[0])[1]
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert model.training and not model.blocks[1].training
