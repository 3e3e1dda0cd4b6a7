"""Tests for mexit.combined: the combined output of eq. 8 (learned and fixed weights)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mexit
from mexit.combined import MODES, CombinedOutput, combined_probs, run_combined


def test_combined_output_shares_the_network_and_keeps_its_exits(tiny_mlp, make_inputs):
    c = CombinedOutput(tiny_mlp, "softmax")
    assert c.exits == tiny_mlp.exits
    assert c.blocks[0] is tiny_mlp.blocks[0]
    x = make_inputs(5, (1, 6))
    for a, b in zip(c(x), tiny_mlp(x)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("mode", MODES)
def test_combine_is_eq_8_on_log_probabilities(mode, tiny_mlp, make_inputs):
    c = CombinedOutput(tiny_mlp, mode)
    x = make_inputs(6, (1, 6))
    with torch.no_grad():
        outs = c(x)
        logp = torch.stack([F.log_softmax(o, -1) for o in outs])
        y_hat = c.combine(outs)
        if mode == "max":
            assert c.alpha is None
            expected = logp.max(0).values
        else:
            expected = sum(a * lp for a, lp in zip(c.alpha, logp))
    torch.testing.assert_close(y_hat, expected)


def test_weights_start_as_an_average_and_respect_their_constraints(tiny_mlp):
    E = len(tiny_mlp.exits)
    for mode in ("free", "positive", "softmax", "average"):
        torch.testing.assert_close(CombinedOutput(tiny_mlp, mode).alpha, torch.full((E,), 1 / E))
    c = CombinedOutput(tiny_mlp, "positive")
    with torch.no_grad():
        c.raw_alpha.copy_(torch.tensor([-5.0, 0.0, 3.0, -1.0])[:E])
    assert (c.alpha > 0).all()
    s = CombinedOutput(tiny_mlp, "softmax")
    with torch.no_grad():
        s.raw_alpha.copy_(torch.tensor([-5.0, 0.0, 3.0, -1.0])[:E])
    assert (s.alpha > 0).all() and s.alpha.sum().item() == pytest.approx(1.0)
    f = CombinedOutput(tiny_mlp, "free")
    with torch.no_grad():
        f.raw_alpha.copy_(torch.tensor([-5.0, 0.0, 3.0, -1.0])[:E])
    assert f.alpha.min() < 0  # free weights may be negative
    assert CombinedOutput(tiny_mlp, "max").raw_alpha is None
    assert "raw_alpha" not in dict(CombinedOutput(tiny_mlp, "average").named_parameters())


def test_max_pooling_follows_the_most_confident_exit_per_class(tiny_mlp, make_inputs):
    c = CombinedOutput(tiny_mlp, "max")
    x = make_inputs(4, (1, 6))
    with torch.no_grad():
        probs = torch.stack([o.softmax(-1) for o in c(x)])
        y_hat = c.combined_logits(x)
    torch.testing.assert_close(y_hat.exp(), probs.max(0).values)


def test_training_on_the_combined_output_moves_the_learned_weights(tiny_mlp, make_inputs):
    x = make_inputs(64, (1, 6))
    y = (x[:, 0, 0] > 0).long() + 2 * (x[:, 0, 1] > 0).long()
    c = CombinedOutput(tiny_mlp, "softmax")
    before = c.alpha.detach().clone()
    mexit.seed_everything(0)
    mexit.fit(c, x, y, epochs=3, batch_size=16, lr=0.05, loss=c.loss, progress=False)
    assert not torch.allclose(before, c.alpha.detach())
    with torch.no_grad():
        total, per_exit = c.loss(c(x), y)
    assert per_exit.shape == (len(c.exits),)
    assert total.item() == pytest.approx(F.cross_entropy(c.combined_logits(x), y).item(), rel=1e-5)


def test_combined_probs_are_distributions(tiny_mlp, make_inputs):
    c = CombinedOutput(tiny_mlp, "average")
    p = combined_probs(c, make_inputs(30, (1, 6)), batch_size=7)
    assert p.shape == (30, 4)
    torch.testing.assert_close(p.sum(-1), torch.ones(30))


def test_bad_input_is_rejected(tiny_mlp, make_inputs):
    with pytest.raises(ValueError, match="mode must be one of"):
        CombinedOutput(tiny_mlp, "median")
    with pytest.raises(TypeError, match=r"\bMultiExitNet\b"):
        CombinedOutput(torch.nn.Linear(3, 3))
    c = CombinedOutput(tiny_mlp, "free")
    with pytest.raises(ValueError, match="one per exit"):
        c.combine(c(make_inputs(2, (1, 6)))[:-1])
    with pytest.raises(TypeError, match=r"\bCombinedOutput\b"):
        combined_probs(tiny_mlp, make_inputs(2, (1, 6)))
    with pytest.raises(ValueError, match=r"\bmode\b"):
        run_combined(tiny_mlp, "median")


def test_run_combined_is_cached_and_starts_from_a_copy(tmp_path):
    base = mexit.mlp(input_shape=(1, 8, 8), widths=(12, 12))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    kw = dict(dataset="digits", epochs=1, batch_size=256, progress=False, root=tmp_path)
    a = run_combined(base, "softmax", **kw)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())  # base untouched
    b = run_combined(base, "softmax", **kw)
    torch.testing.assert_close(a.alpha, b.alpha)
    assert not torch.allclose(a.alpha, torch.full_like(a.alpha, 1 / 3))  # α was trained
    assert len(b.history.val_accuracy) == 1


def test_fit_alpha_moves_only_alpha_and_finds_the_informative_exit(tiny_mlp, make_inputs):
    from mexit.combined import fit_alpha

    x = make_inputs(200, (1, 6))
    c = CombinedOutput(tiny_mlp, "softmax")
    with torch.no_grad():
        y = c(x)[1].argmax(-1)  # exit 2 is right by definition, the others are not
    theta = {k: v.clone() for k, v in c.state_dict().items() if k != "raw_alpha"}
    losses = fit_alpha(c, x, y, steps=200, lr=0.1)
    assert len(losses) == 200 and losses[-1] < losses[0]
    assert all(torch.equal(v, c.state_dict()[k]) for k, v in theta.items())  # θ untouched
    assert c.alpha.argmax().item() == 1  # the weight goes to the exit that knows the labels
    with pytest.raises(ValueError, match=r"\bmodel\b"):
        fit_alpha(CombinedOutput(tiny_mlp, "max"), x, y)


def test_run_gated_is_cached_and_its_gates_start_where_asked(tmp_path):
    from mexit.combined import run_gated

    base = mexit.mlp(input_shape=(1, 40), widths=(12, 12, 12))
    data = mexit.load_mnist1d()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    kw = dict(epochs=1, lr=1e-9, progress=False, root=tmp_path, seed=3)
    a = run_gated(base, gate_bias=0.0, **kw)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())  # base untouched
    _, g = mexit.gates.gated_outputs(a, data.x_test[:50])
    torch.testing.assert_close(g, torch.full_like(g, 0.5), atol=1e-3, rtol=0)  # lr ~ 0
    files = list((tmp_path / "checkpoints").glob("gated_eq9_seed3_*.pt"))
    assert len(files) == 1
    b = run_gated(base, gate_bias=0.0, **kw)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    closed = run_gated(base, gate_bias=-2.0, **kw)
    _, g = mexit.gates.gated_outputs(closed, data.x_test[:50])
    assert (g < 0.2).all()


def test_combination_rows_compare_with_the_reference(tiny_mlp, make_inputs):
    from mexit.combined import combination_rows
    from mexit.gates import GatedExits

    x = make_inputs(60, (1, 6))
    with torch.no_grad():
        y = tiny_mlp(x)[-1].argmax(-1)  # the final exit is always right
    y[:6] = (y[:6] + 1) % 4  # except on 6 inputs: 90 %
    gated = GatedExits(tiny_mlp, (1, 6))
    rows = combination_rows(
        {"avg": CombinedOutput(tiny_mlp, "average"), "gated": gated}, x, y, reference=tiny_mlp
    )
    avg, g = rows
    assert avg["its own final exit (%)"] == pytest.approx(90.0)
    assert avg["own final − reference final (points)"] == pytest.approx(0.0)
    with torch.no_grad():
        manual = CombinedOutput(tiny_mlp, "average").combined_logits(x).argmax(-1) == y
    assert avg["combined accuracy (%)"] == pytest.approx(100 * manual.float().mean().item())
    assert avg["combined − reference final (points)"] == pytest.approx(
        avg["combined accuracy (%)"] - 90.0
    )
    assert avg["weights (exits 1..L) or mean gates"] == [round(1 / 3, 2)] * 3
    assert len(g["weights (exits 1..L) or mean gates"]) == 2  # one mean gate per early exit


def test_fit_alpha_gives_each_submodule_its_mode_back(tiny_mlp, make_inputs):
    model = CombinedOutput(tiny_mlp, "softmax").train()
    model.heads["1"].eval()  # one submodule deliberately in eval mode
    modes = {name: m.training for name, m in model.named_modules()}
    x = make_inputs(12, (1, 6))
    mexit.combined.fit_alpha(model, x, torch.arange(12) % 4, steps=2)
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert model.training and not model.heads["1"].training
