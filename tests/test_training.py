"""Tests for mexit.training (joint loss, eq. 6-7, and the `fit` loop) and mexit.seed."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

import mexit
from mexit.training import History, evaluate, fit, joint_loss


def cross_entropy_by_hand(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over rows of −log softmax(logits)[y], in Python floats."""
    total = 0.0
    for row, c in zip(logits.tolist(), y.tolist()):
        log_z = math.log(sum(math.exp(v) for v in row))
        total += log_z - row[c]
    return total / logits.shape[0]


def separable_problem(n=240, seed=0):
    """Three well-separated Gaussian clusters in 6 dimensions, shaped (n, 1, 6)."""
    g = torch.Generator().manual_seed(seed)
    centers = 3.0 * torch.eye(3, 6)
    y = torch.randint(0, 3, (n,), generator=g)
    x = centers[y] + 0.3 * torch.randn(n, 6, generator=g)
    return x[:, None, :], y


# ---------------------------------------------------------------------------
# joint_loss (eq. 6-7)
# ---------------------------------------------------------------------------


def test_joint_loss_is_the_weighted_sum_of_per_exit_cross_entropies():
    g = torch.Generator().manual_seed(0)
    outputs = [torch.randn(6, 4, generator=g) for _ in range(3)]
    y = torch.randint(0, 4, (6,), generator=g)
    loss = joint_loss([0.3, 0.7])
    assert loss.alphas == (0.3, 0.7)
    total, per_exit = loss(outputs, y)
    by_hand = [cross_entropy_by_hand(o, y) for o in outputs]
    assert per_exit.shape == (3,)
    torch.testing.assert_close(per_exit, torch.tensor(by_hand))
    # L + Σ α_i L_i: the final exit has weight 1
    assert total.item() == pytest.approx(0.3 * by_hand[0] + 0.7 * by_hand[1] + by_hand[2], rel=1e-5)
    # all-zero alphas: the final exit alone
    total0, _ = joint_loss([0, 0])(outputs, y)
    assert total0.item() == pytest.approx(by_hand[2], rel=1e-5)
    # a tensor of alphas works too
    total_t, _ = joint_loss(torch.tensor([0.3, 0.7]))(outputs, y)
    assert total_t.item() == pytest.approx(total.item(), rel=1e-6)


def test_joint_loss_backpropagates_to_every_exit_it_weights():
    outputs = [torch.randn(5, 3, requires_grad=True) for _ in range(3)]
    y = torch.tensor([0, 1, 2, 0, 1])
    total, _ = joint_loss([0.0, 2.0])(outputs, y)
    total.backward()
    assert torch.all(outputs[0].grad == 0)
    assert outputs[1].grad.abs().sum() > 0 and outputs[2].grad.abs().sum() > 0


def test_joint_loss_rejects_bad_alphas_and_outputs():
    with pytest.raises(ValueError, match=">= 0"):
        joint_loss([0.5, -0.1])
    with pytest.raises(TypeError, match="sequence"):
        joint_loss(0.5)
    with pytest.raises(TypeError, match="sequence"):
        joint_loss("0.5")
    loss = joint_loss([1.0, 1.0])
    with pytest.raises(ValueError, match="3 exits"):
        loss([torch.randn(2, 3)] * 2, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="3 exits"):
        loss([torch.randn(2, 3)] * 4, torch.tensor([0, 1]))


# ---------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------


def total_loss(model, x, y, loss):
    model.eval()
    with torch.no_grad():
        return loss(model(x), y)[0].item()


def test_fit_decreases_the_training_loss_and_records_every_epoch(make_mlp):
    x, y = separable_problem()
    x_val, y_val = separable_problem(n=90, seed=1)
    model = make_mlp(num_classes=3)
    loss = joint_loss([1.0, 1.0])
    before = total_loss(model, x, y, loss)
    torch.manual_seed(0)
    h = fit(model, x, y, x_val, y_val, epochs=8, batch_size=32, lr=2e-2, progress=False)
    after = total_loss(model, x, y, loss)
    assert after < 0.5 * before
    assert isinstance(h, History) and h.exits == model.exits
    assert len(h.train_loss) == 8 and all(len(row) == 3 for row in h.train_loss)
    assert len(h.val_accuracy) == 8 and all(len(row) == 3 for row in h.val_accuracy)
    assert sum(h.train_loss[-1]) < sum(h.train_loss[0])
    assert all(0.0 <= a <= 1.0 for row in h.val_accuracy for a in row)
    assert h.final_accuracy == h.val_accuracy[-1]
    assert h.final_accuracy[-1] > 0.9  # the clusters are far apart
    assert h.final_accuracy == evaluate(model, x_val, y_val)
    assert h.seconds > 0
    assert not model.training  # left in eval mode


def test_fit_without_validation_records_only_the_loss(make_mlp):
    x, y = separable_problem(n=50)
    torch.manual_seed(0)
    h = fit(make_mlp(num_classes=3), x, y, epochs=2, batch_size=50, progress=False)
    assert len(h.train_loss) == 2 and h.val_accuracy == [] and h.final_accuracy == []


def test_fit_reports_the_per_exit_loss_it_optimises(make_mlp):
    """One full batch, lr 0: nothing moves, so the recorded loss is the loss of the model."""
    x, y = separable_problem(n=40)
    model = make_mlp(num_classes=3)
    loss = joint_loss([0.5, 0.5])
    model.train()
    with torch.no_grad():
        expected = loss(model(x), y)[1].tolist()
    h = fit(model, x, y, epochs=1, batch_size=40, lr=0.0, loss=loss, progress=False)
    assert h.train_loss[0] == pytest.approx(expected, rel=1e-5)


def test_fit_on_heads_only_leaves_the_backbone_bit_identical(make_mlp, make_cnn):
    x, y = separable_problem(n=64)
    for model, inputs in [
        (make_mlp(num_classes=3), x),
        (make_cnn(num_classes=3), torch.randn(64, 1, 16)),
    ]:
        backbone = {k: v.clone() for k, v in model.blocks.named_parameters()}
        heads = {k: v.clone() for k, v in model.heads.named_parameters()}
        torch.manual_seed(0)
        fit(
            model,
            inputs,
            y,
            epochs=2,
            batch_size=16,
            lr=1e-2,
            parameters=model.heads.parameters(),
            progress=False,
        )
        for k, v in model.blocks.named_parameters():
            assert torch.equal(v, backbone[k]), k
        changed = [k for k, v in model.heads.named_parameters() if not torch.equal(v, heads[k])]
        assert len(changed) == len(heads)  # every head weight and bias was trained


def test_fit_is_reproducible_after_seed_everything(make_mlp):
    x, y = separable_problem(n=100)

    def run():
        mexit.seed_everything(3)
        model = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3)
        h = fit(model, x, y, x, y, epochs=2, batch_size=16, progress=False)
        return model, h

    (m1, h1), (m2, h2) = run(), run()
    assert h1.train_loss == h2.train_loss and h1.val_accuracy == h2.val_accuracy
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    # a different seed gives a different run (the test above is not vacuous)
    mexit.seed_everything(4)
    m3 = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3)
    fit(m3, x, y, epochs=2, batch_size=16, progress=False)
    assert not torch.equal(m3.state_dict()["heads.3.1.weight"], s1["heads.3.1.weight"])


def test_fit_rejects_bad_arguments(tiny_mlp):
    x, y = torch.randn(8, 1, 6), torch.randint(0, 4, (8,))
    with pytest.raises(TypeError, match=r"^model must be a MultiExitNet"):
        fit(torch.nn.Linear(6, 4), x, y, progress=False)
    with pytest.raises(ValueError, match=r"^x_val and y_val must be given together"):
        fit(tiny_mlp, x, y, x_val=x, progress=False)
    with pytest.raises(ValueError, match=r"^y_train must have one label per input"):
        fit(tiny_mlp, x, y[:5], progress=False)
    with pytest.raises(ValueError, match=r"^y_val must have one label per input"):
        fit(tiny_mlp, x, y, x, y[:3], progress=False)
    with pytest.raises(ValueError, match=r"^y_train must be class indices in 0\.\.3"):
        fit(tiny_mlp, x, y + 4, progress=False)  # not torch's "Target 7 is out of bounds"
    with pytest.raises(ValueError, match=r"^epochs must be >= 1"):
        fit(tiny_mlp, x, y, epochs=0, progress=False)
    with pytest.raises(ValueError, match=r"^lr must be >= 0"):
        fit(tiny_mlp, x, y, lr=-1.0, progress=False)
    with pytest.raises(ValueError, match=r"^lr must be finite"):
        fit(tiny_mlp, x, y, lr=float("inf"), progress=False)
    with pytest.raises(TypeError, match=r"^loss must be callable"):
        fit(tiny_mlp, x, y, loss="cross-entropy", progress=False)
    with pytest.raises(ValueError, match=r"^parameters must hold one that requires grad"):
        fit(tiny_mlp, x, y, parameters=[], progress=False)
    for p in tiny_mlp.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match=r"^parameters must hold one that requires grad"):
        fit(tiny_mlp, x, y, progress=False)


def test_fit_sgd_step_with_a_constant_scheduler_by_hand(make_mlp):
    """One full-batch SGD step at constant lr: θ ← θ − lr ∇loss (momentum has no history)."""
    x, y = separable_problem(n=24)
    model = make_mlp(num_classes=3)
    reference = make_mlp(num_classes=3)  # same seed: same weights
    loss = joint_loss([0.5, 1.0])
    reference.train()
    loss(reference(x), y)[0].backward()
    expected = {k: (p - 0.1 * p.grad).detach() for k, p in reference.named_parameters()}
    steps = []

    def on_step(step, m):
        assert m is model
        # called after the optimiser step, with the gradients still in place
        steps.append((step, all(p.grad is not None for p in m.parameters())))

    fit(
        model,
        x,
        y,
        epochs=1,
        batch_size=24,
        lr=0.1,
        loss=loss,
        optimizer="sgd",
        scheduler=lambda opt, n: torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0),
        on_step=on_step,
        progress=False,
    )
    assert steps == [(1, True)]
    for k, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), expected[k])


def test_fit_calls_on_step_once_per_batch_and_scheduler_with_the_step_count(make_mlp):
    x, y = separable_problem(n=50)
    seen, totals = [], []

    def scheduler(opt, total_steps):
        totals.append(total_steps)
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)

    torch.manual_seed(0)
    fit(
        make_mlp(num_classes=3),
        x,
        y,
        epochs=3,
        batch_size=16,
        scheduler=scheduler,
        on_step=lambda step, m: seen.append(step),
        progress=False,
    )
    assert totals == [3 * 4]  # ceil(50 / 16) = 4 batches per epoch
    assert seen == list(range(1, 13))


def test_fit_accepts_parameter_groups(make_mlp):
    x, y = separable_problem(n=32)
    model = make_mlp(num_classes=3)
    backbone = {k: v.clone() for k, v in model.blocks.named_parameters()}
    torch.manual_seed(0)
    fit(
        model,
        x,
        y,
        epochs=1,
        batch_size=8,
        progress=False,
        parameters=[{"params": list(model.heads.parameters()), "weight_decay": 0.0}],
    )
    assert all(torch.equal(v, backbone[k]) for k, v in model.blocks.named_parameters())


def test_a_parameter_group_lr_is_respected(make_mlp):
    x, y = separable_problem(n=32)
    model = make_mlp(num_classes=3)
    heads = {k: v.clone() for k, v in model.heads.named_parameters()}
    torch.manual_seed(0)
    fit(
        model,
        x,
        y,
        epochs=2,
        batch_size=8,
        lr=1e-2,
        progress=False,
        parameters=[
            {"params": list(model.heads.parameters()), "lr": 0.0},
            {"params": list(model.blocks.parameters())},
        ],
    )
    assert all(torch.equal(v, heads[k]) for k, v in model.heads.named_parameters())


def test_fit_rejects_bad_options(tiny_mlp):
    x, y = torch.randn(8, 1, 6), torch.randint(0, 4, (8,))
    with pytest.raises(ValueError, match="optimizer"):
        fit(tiny_mlp, x, y, optimizer="lbfgs", progress=False)
    with pytest.raises(TypeError, match="scheduler"):
        fit(tiny_mlp, x, y, scheduler="cosine", progress=False)
    with pytest.raises(TypeError, match="on_step"):
        fit(tiny_mlp, x, y, on_step=3, progress=False)


def test_evaluate_is_the_accuracy_of_every_exit(tiny_mlp):
    x, y = torch.randn(20, 1, 6), torch.randint(0, 4, (20,))
    tiny_mlp.train()
    accs = evaluate(tiny_mlp, x, y)
    assert tiny_mlp.training
    with torch.no_grad():
        outs = tiny_mlp(x)
    expected = [sum(int(o[n].argmax() == y[n]) for n in range(20)) / 20 for o in outs]
    assert accs == pytest.approx(expected)


# ---------------------------------------------------------------------------
# seed_everything
# ---------------------------------------------------------------------------


def test_seed_everything_seeds_python_numpy_and_torch():
    mexit.seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    mexit.seed_everything(7)
    b = (random.random(), np.random.rand(), torch.rand(1).item())
    assert a == b
    mexit.seed_everything(8)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) != a
    with pytest.raises(ValueError, match="seed"):
        mexit.seed_everything(-1)
    with pytest.raises(TypeError, match="seed"):
        mexit.seed_everything(1.5)


def test_history_round_trips_through_a_plain_dict():
    h = History(exits=(1, 2), train_loss=[[1.0, 2.0]], val_accuracy=[[0.5, 0.75]], seconds=3.5)
    back = History.from_dict([1, 2], h.as_dict())
    assert back == h
    assert History.from_dict((2,), {}).val_accuracy == []
