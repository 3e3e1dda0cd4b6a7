"""Tests for mexit.separate: heads on a frozen backbone, scikit-learn heads (§5.4)."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.exceptions import NotFittedError

import mexit
from mexit import separate
from mexit.separate import (
    KINDS,
    SKLEARN_KINDS,
    SklearnHead,
    exit_costs,
    exit_head,
    fit_head,
    frozen_embeddings,
    head_flops,
    run_heads,
    same_backbone,
    train_heads,
)


def blobs(n=120, shape=(6, 5), classes=3, seed=0):
    """Feature maps (n, C, length) whose channel means depend on the class."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centers = 2.0 * torch.randn(classes, shape[0], 1, generator=g)
    h = centers[y] + 0.5 * torch.randn(n, *shape, generator=g)
    return h, y


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------
# SklearnHead
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SKLEARN_KINDS)
def test_sklearn_head_agrees_with_its_estimator(kind):
    h, y = blobs()
    head = SklearnHead(kind, (6, 5), 3).fit(h, y)
    with torch.no_grad():
        logits = head(h)
    X = head.features(h).numpy()
    assert logits.shape == (120, 3)
    assert (logits.argmax(-1).numpy() == head.estimator.predict(X)).all()
    if kind != "svm":  # logistic regression and trees have probabilities: the same ones
        expected = torch.tensor(head.estimator.predict_proba(X), dtype=torch.float32)
        torch.testing.assert_close(logits.softmax(-1), expected, atol=1e-4, rtol=1e-4)
    assert (logits.argmax(-1) == y).float().mean() > 0.9  # the blobs are easy


def test_sklearn_head_works_as_an_exit_of_a_multi_exit_network(tiny_cnn, make_inputs):
    x = make_inputs(80, (1, 16))
    y = torch.arange(80) % 5
    heads = {1: "logistic", 2: "tree", 3: "svm"}
    model, reports = train_heads(tiny_cnn, heads, x, y, x, y, progress=False)
    probs = mexit.exit_probs(model, x)
    assert probs.shape == (4, 80, 5)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4, 80))
    result = mexit.evaluate_policy(probs, y, 0.5)
    assert sum(result.exit_counts) == 80
    early = mexit.early_exit_predict(model, x, 0.5)
    assert torch.equal(early.exit_index, mexit.simulate_exits(probs, 0.5))
    assert set(reports) == {1, 2, 3}
    assert all(0.0 <= r["val_accuracy"] <= 1.0 and r["seconds"] >= 0 for r in reports.values())


def test_an_unfitted_sklearn_head_raises_a_clear_error():
    head = SklearnHead("tree", (6, 5), 3)
    with pytest.raises(NotFittedError, match="not fitted"):
        head(torch.zeros(2, 6, 5))
    with pytest.raises(ValueError, match="not fitted"):  # NotFittedError is a ValueError
        head(torch.zeros(2, 6, 5))


def test_sklearn_head_saves_and_loads_with_the_state_dict():
    h, y = blobs()
    for kind in SKLEARN_KINDS:
        head = SklearnHead(kind, (6, 5), 3).fit(h, y)
        fresh = SklearnHead(kind, (6, 5), 3)
        fresh.load_state_dict(head.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(fresh(h), head(h))


def test_classes_missing_from_the_training_labels_get_no_probability():
    h, y = blobs(classes=3)
    for kind in SKLEARN_KINDS:
        head = SklearnHead(kind, (6, 5), 5).fit(h, y)  # 5 classes, only 0..2 seen
        with torch.no_grad():
            p = head(h).softmax(-1)
        assert p.shape == (120, 5)
        assert p[:, 3:].max() < 1e-4
    two = (y > 0).long()  # two classes seen: a single decision score
    head = SklearnHead("logistic", (6, 5), 3).fit(h, two)
    X = head.features(h).numpy()
    with torch.no_grad():
        p = head(h).softmax(-1)
    expected = torch.tensor(head.estimator.predict_proba(X), dtype=torch.float32)
    torch.testing.assert_close(p[:, :2], expected, atol=1e-4, rtol=1e-4)


def test_sklearn_head_costs_count_pooling_and_standardisation():
    h, y = blobs()  # h: (N, 6 channels, 5 positions)
    features = 6 * 5 + 6 + 2 * 6  # pool: 30 additions and 6 divisions; standardise: 2 per feature
    assert SklearnHead("logistic", (6, 5), 3).fit(h, y).flops == features + 2 * 6 * 3
    tree = SklearnHead("tree", (6, 5), 3, max_depth=3).fit(h, y)
    assert features + 1 <= tree.flops <= features + 3
    assert head_flops(tree, (6, 5)) == tree.flops
    # flat features need no pooling, only standardisation
    flat = SklearnHead("logistic", (6,), 3).fit(h.mean(-1), y)
    assert flat.flops == 2 * 6 + 2 * 6 * 3
    # a neural pooled head: FlopCounterMode's 2·6·3 for the linear layer, plus its average
    # pool (one operation per element of h), so both kinds are counted alike
    assert head_flops(exit_head("pooled", (6, 5), 3), (6, 5)) == 2 * 6 * 3 + 6 * 5
    assert head_flops(exit_head("linear", (6, 5), 3), (6, 5)) == 2 * 30 * 3  # no pooling
    with pytest.raises(ValueError, match=r"\bin_shape\b"):
        head_flops(tree, (6, 4))


def test_sklearn_head_rejects_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        SklearnHead("forest", (6, 5), 3)
    with pytest.raises(ValueError, match=r"\bnum_classes\b"):
        SklearnHead("tree", (6, 5), 1)
    head = SklearnHead("logistic", (6, 5), 3)
    with pytest.raises(ValueError, match=r"\bshape\b"):
        head.fit(torch.zeros(10, 4, 5), torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="class indices"):
        head.fit(torch.zeros(10, 6, 5), torch.full((10,), 7))
    with pytest.raises(ValueError, match="kind must be one of"):
        exit_head("forest", (6, 5), 3)
    assert set(KINDS) >= {"linear", "mlp", "pooled", "logistic", "tree", "svm"}


# ---------------------------------------------------------------------------
# train_heads: the backbone never changes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pooled", "mlp", "logistic", "tree"])
def test_training_heads_leaves_the_backbone_bit_identical(kind, make_cnn, make_inputs):
    model = make_cnn()
    model.train()  # even in training mode (batch norm would update its statistics)
    before = snapshot(model.blocks)
    old_heads = {k: snapshot(h) for k, h in model.heads.items()}
    x = make_inputs(64, (1, 16))
    y = torch.arange(64) % 5
    new, _ = train_heads(model, {1: kind, 3: kind}, x, y, epochs=2, progress=False)
    after = model.blocks.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert same_backbone(new, model) and new.blocks[0] is model.blocks[0]
    assert model.training  # the mode is restored
    assert new.exits == (1, 3, 4)
    # the final head and the heads not asked for are the model's own, untouched
    assert new.head(4) is model.head(4) and new.head(2) is model.head(2)
    for k in ("2", "4"):
        assert all(torch.equal(v, model.heads[k].state_dict()[n]) for n, v in old_heads[k].items())
    assert new.head(1) is not model.head(1)


@pytest.mark.parametrize("kind", ["pooled", "mlp", "linear"])
def test_fit_head_trains_a_neural_head_on_fixed_embeddings(kind):
    h, y = blobs()
    head = exit_head(kind, (6, 5), 3)
    with torch.no_grad():
        chance = float((head(h).argmax(-1) == y).float().mean())
    report = fit_head(head, h, y, h, y, epochs=10, lr=0.05, batch_size=32, progress=False)
    assert report["val_accuracy"] > 0.9 > chance + 0.2
    assert (
        fit_head(exit_head(kind, (6, 5), 3), h, y, epochs=1, progress=False)["val_accuracy"] is None
    )
    with pytest.raises(ValueError, match=r"\bboth\b"):
        fit_head(head, h, y, h_val=h)


def test_frozen_embeddings_match_the_model_in_eval_mode(tiny_cnn, make_inputs):
    x = make_inputs(10, (1, 16))
    tiny_cnn.train()
    hs = frozen_embeddings(tiny_cnn, x, batch_size=3)
    tiny_cnn.eval()
    with torch.no_grad():
        for a, b in zip(hs, tiny_cnn.embeddings(x)):
            torch.testing.assert_close(a, b)


def test_exit_costs_use_the_tree_depth(tiny_cnn, make_inputs):
    x = make_inputs(60, (1, 16))
    y = torch.arange(60) % 5
    model, _ = train_heads(tiny_cnn, {1: "tree", 2: "logistic"}, x, y, progress=False)
    costs = exit_costs(model, (1, 16))
    assert costs.gamma_c[1] == model.head(1).flops
    h2 = model.embeddings(torch.zeros(1, 1, 16))[1]  # 8 channels, 5 classes
    pooled_and_standardised = h2[0].numel() + 8 + 2 * 8
    assert costs.gamma_c[2] == pooled_and_standardised + 2 * 8 * 5
    # the backbone's own pooled heads pay for their pooling too
    h3 = model.embeddings(torch.zeros(1, 1, 16))[2]
    assert costs.gamma_c[3] == mexit.measure_costs(tiny_cnn, (1, 16)).gamma_c[3] + h3[0].numel()
    assert costs.gamma_f == mexit.measure_costs(tiny_cnn, (1, 16)).gamma_f


def test_train_heads_rejects_bad_input(tiny_cnn, make_inputs):
    x = make_inputs(8, (1, 16))
    y = torch.arange(8) % 5
    with pytest.raises(TypeError, match=r"\bheads\b"):
        train_heads(tiny_cnn, {}, x, y)
    with pytest.raises(ValueError, match="heads key"):
        train_heads(tiny_cnn, {9: "tree"}, x, y)
    with pytest.raises(ValueError, match=r"\bkind\b"):
        train_heads(tiny_cnn, {1: "forest"}, x, y)
    with pytest.raises(TypeError, match=r"\bMultiExitNet\b"):
        train_heads(torch.nn.Linear(2, 2), {1: "tree"}, x, y)
    with pytest.raises(ValueError, match=r"\bboth\b"):
        train_heads(tiny_cnn, {1: "tree"}, x, y, x_val=x)


def test_run_heads_is_cached_and_never_changes_the_backbone(tmp_path):
    torch.manual_seed(0)
    backbone = mexit.mlp(input_shape=(1, 8, 8), widths=(12, 12, 12))
    before = snapshot(backbone)
    kw = dict(dataset="digits", epochs=1, batch_size=256, progress=False, root=tmp_path)
    a = run_heads(backbone, "logistic", **kw)
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
    assert same_backbone(a, backbone) and a.blocks[0] is not backbone.blocks[0]
    b = run_heads(backbone, "logistic", **kw)  # loaded from the cache
    assert bool(b.head(1).fitted) and same_backbone(b, backbone)
    assert set(b.head_reports) == {1, 2}
    x = mexit.load_digits().x_test
    torch.testing.assert_close(mexit.exit_probs(a, x), mexit.exit_probs(b, x))


def test_head_table_has_one_row_per_model_with_counted_costs(tiny_cnn, make_inputs):
    x = make_inputs(60, (1, 16))
    y = torch.arange(60) % 5
    tree, reports = train_heads(tiny_cnn, {1: "tree", 2: "logistic"}, x, y, progress=False)
    tree.head_reports = reports
    table = separate.head_table({"mixed": tree}, x, y, (1, 16), references={"joint": tiny_cnn})
    assert list(table.index) == ["mixed", "joint"]
    probs = mexit.exit_probs(tree, x)
    expected = 100 * mexit.exit_accuracies(probs, y)
    for i, e in enumerate(tree.exits):
        assert table.loc["mixed", f"exit {e} (%)"] == pytest.approx(expected[i].item(), abs=1e-4)
    assert table.loc["mixed", "FLOPs of c_1"] == tree.head(1).flops
    assert table.loc["mixed", "fit s, all heads (when trained)"] == pytest.approx(
        sum(r["seconds"] for r in reports.values())
    )
    assert math.isnan(table.loc["joint", "fit s, all heads (when trained)"])


def test_embeddings_and_rows_give_each_submodule_its_mode_back(tiny_cnn, make_inputs):
    model = tiny_cnn.train()
    model.blocks[0].eval()  # one submodule deliberately in eval mode
    modes = {name: m.training for name, m in model.named_modules()}
    x, y = make_inputs(10, (1, 16)), torch.arange(10) % 5
    assert len(frozen_embeddings(model, x, batch_size=4)) == model.num_blocks
    assert "exit 1 (%)" in separate.head_row(model, x, y, (1, 16))
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert model.training and not model.blocks[0].training
