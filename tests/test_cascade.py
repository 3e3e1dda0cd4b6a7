"""A two-network cascade routed by confidence (survey §8, challenge 3)."""

from __future__ import annotations

import pytest
import torch

from mexit import cascade


@pytest.fixture
def pair(make_probs):
    probs, labels = make_probs(E=2, N=80, K=4, seed=2, spread=3.0)
    return probs[0], probs[1], labels


def test_cascade_cost_and_routing(pair):
    small, large, labels = pair
    r = cascade.evaluate_cascade(small, large, labels, 0.5, cost_small=10.0, cost_large=100.0)
    h = -(small * small.clamp_min(1e-12).log()).sum(-1) / torch.log(torch.tensor(4.0))
    keep = h <= 0.5
    assert r.deferred == pytest.approx(float((~keep).float().mean()))
    assert r.mean_flops == pytest.approx(10.0 + r.deferred * 100.0)
    expected = torch.where(keep, small.argmax(-1), large.argmax(-1))
    assert torch.equal(r.predictions, expected)
    assert r.accuracy == pytest.approx(float((expected == labels).float().mean()))


def test_curve_ends(pair):
    small, large, labels = pair
    curve = cascade.cascade_curve(small, large, labels, 10.0, 100.0)
    assert curve[0].deferred == 1.0 and curve[0].mean_flops == 110.0
    assert curve[0].accuracy == pytest.approx(float((large.argmax(-1) == labels).float().mean()))
    assert curve[-1].deferred == 0.0 and curve[-1].mean_flops == 10.0
    assert all(b.mean_flops <= a.mean_flops for a, b in zip(curve, curve[1:]))


def test_cascade_predict_runs_the_large_net_only_on_deferred_rows(make_mlp, make_inputs):
    small, large = make_mlp(scale=6.0, seed=1), make_mlp(scale=6.0, seed=2)
    x = make_inputs(30, (1, 6))
    seen = []
    large.blocks[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    preds, deferred = cascade.cascade_predict(small, large, x, 0.5)
    assert 0 < int(deferred.sum()) < 30  # not vacuous
    assert seen == [int(deferred.sum())]
    with torch.no_grad():
        ps, pl = small(x)[-1].softmax(-1), large(x)[-1].softmax(-1)
    sim = cascade.evaluate_cascade(ps, pl, torch.zeros(30, dtype=torch.long), 0.5, 1.0, 1.0)
    assert torch.equal(preds, sim.predictions)


def test_bad_input(pair):
    small, large, labels = pair
    with pytest.raises(ValueError, match="same shape"):
        cascade.evaluate_cascade(small, large[:10], labels, 0.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="cost_small"):
        cascade.evaluate_cascade(small, large, labels, 0.5, -1.0, 1.0)
    with pytest.raises(ValueError, match="probabilities"):
        cascade.evaluate_cascade(small * 3, large, labels, 0.5, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"^threshold must"):
        cascade.evaluate_cascade(small, large, labels, 1.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="criterion"):
        cascade.evaluate_cascade(small, large, labels, 0.5, 1.0, 1.0, criterion="margin")
    with pytest.raises(ValueError, match="channels"):
        cascade.train_small_network(channels=(8,))


def test_each_seed_has_its_own_cache_file(tmp_path):
    a, _ = cascade.train_small_network(
        channels=(2, 2), epochs=1, seed=0, progress=False, root=tmp_path
    )
    b, _ = cascade.train_small_network(
        channels=(2, 2), epochs=1, seed=1, progress=False, root=tmp_path
    )
    files = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt"))
    assert [f.rsplit("_", 1)[0] for f in files] == [
        "cascade_small_2-2_seed0",
        "cascade_small_2-2_seed1",
    ]
    assert not torch.equal(a.blocks[0][0].weight, b.blocks[0][0].weight)


def test_cascade_predict_gives_every_submodule_its_mode_back(make_mlp, make_inputs):
    small, large = make_mlp(seed=1).train(), make_mlp(seed=2)  # large stays in eval mode
    small.blocks[0].eval()  # deliberately frozen inside a model in train mode
    large.heads["3"].train()  # and a head in train mode inside a model in eval mode
    modes = [{n: m.training for n, m in net.named_modules()} for net in (small, large)]
    assert modes[0][""] and not modes[0]["blocks.0"] and modes[1]["heads.3"]
    cascade.cascade_predict(small, large, make_inputs(10, (1, 6)), 0.5)
    assert [{n: m.training for n, m in net.named_modules()} for net in (small, large)] == modes
