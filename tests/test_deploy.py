"""The deployment form (`mexit.deploy`) computes what the model computes, takes the exits
`simulate_exits` takes, and leaves the model it was built from alone; the speed helpers
(`mexit.speed`) count what they claim (speed itself is never asserted)."""

import math

import pytest
import torch
from torch import nn

import mexit
from mexit import deployment as deploy_module
from mexit import speed
from mexit.deployment import deploy

TOL = {torch.float32: 2e-5, torch.float64: 1e-9}  # rounding of a score, with room


def _bn_mlp(seed=0):
    """A multi-exit MLP whose blocks carry batch norm (trained statistics) and dropout, and
    whose heads have a batch norm too: every layer kind `deploy` folds or drops."""
    torch.manual_seed(seed)

    def bn(n):
        b = nn.BatchNorm1d(n)
        with torch.no_grad():
            b.running_mean.uniform_(-0.5, 0.5)
            b.running_var.uniform_(0.5, 2.0)
            b.weight.uniform_(0.5, 1.5)
            b.bias.uniform_(-0.2, 0.2)
        return b

    blocks = [
        nn.Sequential(nn.Flatten(), nn.Linear(6, 16), bn(16), nn.ReLU(), nn.Dropout(0.3)),
        nn.Sequential(nn.Linear(16, 16), bn(16), nn.ReLU()),
        nn.Sequential(nn.Sequential(nn.Linear(16, 12), bn(12)), nn.ReLU(), nn.Dropout(0.1)),
    ]
    heads = {
        i: nn.Sequential(nn.Linear(w, 8), bn(8), nn.ReLU(), nn.Linear(8, 4))
        for i, w in ((1, 16), (2, 16), (3, 12))
    }
    model = mexit.MultiExitNet(blocks, heads)
    with torch.no_grad():
        for h in model.heads.values():
            h[-1].weight.mul_(4.0)
    return model.eval()


MODELS = {
    "cnn": lambda make_cnn: (make_cnn(scale=6.0), (1, 16)),
    "cnn_exits_2": lambda make_cnn: (make_cnn(scale=6.0, exits=(2,)), (1, 16)),
    "cnn2d": lambda make_cnn: (
        _sharpen(mexit.cnn2d(input_shape=(1, 8, 8), channels=(4, 8, 8), num_classes=5)),
        (1, 8, 8),
    ),
    "bn_mlp": lambda make_cnn: (_bn_mlp(), (1, 6)),
}


def _sharpen(model, scale=6.0):
    torch.manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 1.5)
        for head in model.heads.values():
            last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
            last.weight.mul_(scale)
    return model.eval()


def _inputs(shape, n, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=g, dtype=torch.float64)
    scale = torch.exp(0.7 * torch.randn(n, *(1,) * len(shape), generator=g, dtype=torch.float64))
    return (x * scale).to(dtype)


def _scores(probs, criterion):
    """The criterion's score per (exit, input): entropy H (exit when ≤ β), max prob (≥ τ)."""
    if criterion == "entropy":
        return mexit.normalized_entropy(probs)
    return mexit.max_probability(probs)


def _random_thresholds(probs, criterion, g, tol):
    """One threshold per early exit, exit by exit: between two neighbouring scores of the
    inputs still there, at random in their middle 80 %, and more than tol away from every
    score of that exit — every early exit lets some inputs out and keeps others, and no
    score is within rounding of a threshold."""
    s = _scores(probs[:-1].double(), criterion)
    sign = 1.0 if criterion == "max_probability" else -1.0  # exit when sign * score >= ...
    remaining = torch.ones(s.shape[1], dtype=torch.bool)
    out = []
    for k in range(s.shape[0]):
        v = s[k, remaining].sort().values
        n = len(v)
        mids = [(v[j] + v[j + 1]) / 2 for j in range(int(0.1 * n), max(int(0.9 * n), 1))]
        ok = [float(m) for m in mids if (s[k] - m).abs().min() > tol]
        if not ok:  # scores packed tighter than tol: the farthest, rows near it are skipped
            ok = [float(max(mids, key=lambda m: (s[k] - m).abs().min()))]
        t = ok[int(torch.randint(len(ok), (1,), generator=g))]
        out.append(t)
        remaining &= ~(sign * s[k] >= sign * t)
    return out


def _borderline(probs, thresholds, criterion, tol):
    """Inputs whose score at some early exit lies within tol of that exit's threshold: there,
    rounding (folded weights, another summation order) may decide the exit either way."""
    s = _scores(probs[:-1].double(), criterion)
    th = torch.tensor(thresholds, dtype=torch.float64)[:, None]
    return ((s - th).abs() < tol).any(0)


def _top_two_close(probs, exit_index, tol):
    p = probs.double().gather(0, exit_index[None, :, None].expand(1, -1, probs.shape[-1]))[0]
    top2 = p.topk(2, -1).values
    return (top2[:, 0] - top2[:, 1]) < tol


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("criterion", mexit.inference.CRITERIA)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_deployed_exits_and_predictions_equal_simulate_exits(make_cnn, name, criterion, dtype):
    model, shape = MODELS[name](make_cnn)
    model = model.to(dtype)
    x = _inputs(shape, 120, dtype)
    probs = mexit.exit_probs(model, x)
    g = torch.Generator().manual_seed(7)
    for _ in range(3):
        th = _random_thresholds(probs, criterion, g, TOL[dtype])
        want = mexit.simulate_exits(probs, th, criterion)
        want_pred = probs.argmax(-1).gather(0, want[None])[0]
        real = mexit.early_exit_predict(model, x, th, criterion)
        net = deploy(model, th, criterion)
        batched = net.predict(x)
        one = [net.predict_one(x[i : i + 1]) for i in range(len(x))]
        one_exit = torch.tensor([k for _, k in one])
        one_pred = torch.tensor([c for c, _ in one])
        loose = _borderline(probs, th, criterion, TOL[dtype])
        assert loose.float().mean() < 0.05  # the comparison below covers almost every input
        for exits, preds in (
            (batched.exit_index, batched.predictions),
            (one_exit, one_pred),
            (real.exit_index, real.predictions),
        ):
            assert torch.equal(exits[~loose], want[~loose])
            same = ~loose & ~_top_two_close(probs, want, TOL[dtype])
            assert torch.equal(preds[same], want_pred[same])
        # every exit is taken by someone: the test exercises each branch of the paths
        assert len(set(want.tolist())) >= min(3, len(model.exits))


def test_a_batch_of_one_goes_the_batch_one_way(make_cnn):
    model = make_cnn(scale=6.0)
    x = _inputs((1, 16), 1, torch.float32)
    net = deploy(model, 0.5)
    r = net.predict(x)
    c, k = net.predict_one(x)
    assert r.predictions.tolist() == [c] and r.exit_index.tolist() == [k]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_folded_outputs_equal_the_model_in_eval_mode(make_cnn, name, dtype):
    model, shape = MODELS[name](make_cnn)
    model = model.to(dtype)
    x = _inputs(shape, 50, dtype)
    with torch.no_grad():
        want = model(x)
    got = deploy(model).outputs(x)
    assert len(got) == len(want) == len(model.exits)
    atol = {torch.float32: 1e-4, torch.float64: 1e-10}[dtype]
    for w, o in zip(want, got):
        assert o.dtype == dtype
        assert torch.allclose(o, w, rtol=atol, atol=atol)
    plain = deploy(model).plain(x)
    ok = ~_top_two_close(want[-1].softmax(-1)[None], torch.zeros(50, dtype=torch.long), atol)
    assert torch.equal(plain[ok], want[-1].argmax(-1)[ok])
    ones = torch.tensor([deploy(model).plain_one(x[i : i + 1]) for i in range(50)])
    assert torch.equal(ones[ok], want[-1].argmax(-1)[ok])


def test_batch_norm_is_folded_and_dropout_gone(make_cnn):
    net = deploy(_bn_mlp())
    kinds = {type(f).__name__ for fns in net._blocks for f in fns}
    kinds |= {type(f).__name__ for fns in net._heads.values() for f in fns}
    assert not any("BatchNorm" in k or "Dropout" in k for k in kinds)
    cnn = deploy(make_cnn())
    assert all(len(fns) == 2 for fns in cnn._blocks)  # conv (with its BN folded), ReLU


@pytest.mark.parametrize("macs, contiguous_from", [(0, 10**9), (10**12, 10**9), (10**12, 0)])
def test_both_convolution_paths_compute_the_convolution(
    make_cnn, monkeypatch, macs, contiguous_from
):
    """Small batches run a Conv1d as im2col + addmm (its output transposed, or copied to the
    usual layout when large), large ones through PyTorch's conv."""
    monkeypatch.setattr(deploy_module, "GEMM_MACS", macs)
    monkeypatch.setattr(deploy_module, "CONTIGUOUS_FROM", contiguous_from)
    model = make_cnn(strides=(1, 2, 3, 1))
    x = _inputs((1, 16), 33, torch.float32)
    with torch.no_grad():
        want = model(x)
    for w, o in zip(want, deploy(model).outputs(x)):
        assert torch.allclose(o, w, rtol=1e-4, atol=1e-5)


def test_the_model_is_left_as_it_was(make_cnn):
    model = make_cnn(scale=6.0)
    model.train()
    model.blocks[1].eval()  # mixed modes must come back as they were
    modes = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.requires_grad for p in model.parameters()]
    net = deploy(model, 0.4)
    x = _inputs((1, 16), 20, torch.float32)
    net.predict(x)
    net.predict_one(x[:1])
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == grads
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k])
    assert net.device == torch.device("cpu") and net.dtype == torch.float32
    # the deployed weights are copies: changing the model does not change the deployed form
    before = net.outputs(x)[-1]
    with torch.no_grad():
        model.blocks[0][0].weight.add_(1.0)
    assert torch.equal(net.outputs(x)[-1], before)
    assert not any(t.requires_grad for t in net.outputs(x.requires_grad_()))


def test_extreme_thresholds_let_everyone_out_or_no_one(make_cnn):
    model = make_cnn(scale=6.0)
    x = _inputs((1, 16), 40, torch.float32)
    E = len(model.exits)
    for criterion, everyone in (("entropy", 1.0), ("max_probability", 0.0)):
        net = deploy(model, everyone, criterion)
        assert net.predict(x).exit_index.eq(0).all()
        assert all(net.predict_one(x[i : i + 1])[1] == 0 for i in range(5))
    net = deploy(model, 1.0, "max_probability")  # no untrained softmax reaches exactly 1
    assert net.predict(x).exit_index.eq(E - 1).all()


def test_predictions_live_on_the_input_device(make_cnn):
    model = make_cnn(scale=6.0)
    x = _inputs((1, 16), 30, torch.float32)
    r = deploy(model, 0.5).predict(x)
    assert r.predictions.device == x.device and r.predictions.dtype == torch.long
    assert r.exit_index.shape == (30,)


def test_deploy_rejects_bad_calls(make_cnn):
    model = make_cnn()
    net = deploy(model, 0.5)
    x = _inputs((1, 16), 4, torch.float32)
    with pytest.raises(ValueError, match=r"^x must be on the model's device with its dtype"):
        net.predict(x.double())
    with pytest.raises(ValueError, match=r"^x must hold exactly one input"):
        net.predict_one(x)
    with pytest.raises(TypeError, match=r"^x must be a floating-point tensor"):
        net.plain(x.long())
    with pytest.raises(TypeError, match=r"^x must be a torch.Tensor"):
        net.plain_one([[0.0] * 16])
    with pytest.raises(ValueError, match=r"^x must be a batch"):
        net.plain(torch.zeros(16))
    with pytest.raises(ValueError, match=r"^thresholds must be given"):
        deploy(model).predict(x)
    with pytest.raises(ValueError, match=r"^thresholds must be given"):
        deploy(model).predict_one(x[:1])


# ---------------------------------------------------------------- mexit.speed


def test_thresholds_for_shares_send_those_shares(make_probs):
    probs, _ = make_probs(E=4, N=200, K=10, spread=3.0)
    shares = [0.1, 0.3, 0.4, 0.2]
    for criterion in mexit.inference.CRITERIA:
        th = speed.thresholds_for_shares(probs, shares, criterion)
        counts = torch.bincount(mexit.simulate_exits(probs, th, criterion), minlength=4)
        assert counts.tolist() == [20, 60, 80, 40]
    th = speed.thresholds_for_shares(probs, [0.0, 0.0, 0.0, 1.0])
    assert mexit.simulate_exits(probs, th, "max_probability").eq(3).all()
    th = speed.thresholds_for_shares(probs, [1.0, 0.0, 0.0, 0.0])
    assert mexit.simulate_exits(probs, th, "max_probability").eq(0).all()


def test_deploy_speedup_predicts_from_the_exits_taken(make_cnn):
    model = make_cnn(scale=6.0)
    x = _inputs((1, 16), 24, torch.float32)
    costs = mexit.measure_costs(model, (1, 16))
    probs = mexit.exit_probs(model, x)
    th = speed.thresholds_for_shares(probs, [0.25, 0.25, 0.25, 0.25])
    for bs in (1, 8):
        s = speed.deploy_speedup(model, x, th, "max_probability", bs, repeats=3, costs=costs)
        exits = mexit.simulate_exits(probs, th, "max_probability")
        Gamma = costs.Gamma(model.exits)
        assert s.exit_counts == tuple(torch.bincount(exits, minlength=4).tolist())
        assert math.isclose(s.predicted, costs.full / Gamma[exits].mean().item(), rel_tol=1e-9)
        assert s.measured_low <= s.measured <= s.measured_high and s.inputs == 24
        assert s.threads == 1 and s.repeats == 3


def test_width_sweep_rows_and_crossover(make_inputs):
    x = make_inputs(8, (1, 20))
    rows = speed.width_sweep(x, [0.25, 0.25, 0.25, 0.25], (1, 2), (1, 4), repeats=1)
    assert [(r["multiplier"], r["batch_size"]) for r in rows] == [(1, 1), (1, 4), (2, 1), (2, 4)]
    small = mexit.mnist1d_cnn(input_length=20)
    wide = mexit.mnist1d_cnn(channels=(32, 64, 128, 256), input_length=20)
    assert rows[0]["kflops_per_input"] == mexit.measure_costs(small, (1, 20)).full / 1e3
    assert rows[2]["kflops_per_input"] == mexit.measure_costs(wide, (1, 20)).full / 1e3
    for r in rows:
        assert r["exit_counts"] == [2, 2, 2, 2]
    fake = [
        dict(batch_size=1, kflops_per_input=f, measured_low=lo)
        for f, lo in ((1.0, 0.5), (2.0, 1.2), (4.0, 0.9), (8.0, 1.5), (16.0, 2.0))
    ]
    assert speed.crossover(fake, 1) == 8.0
    assert speed.crossover(fake, 1, target=2.5) is None
    assert speed.crossover(fake, 1, target=0.4) == 1.0


def test_where_time_goes_lists_the_ops_that_ran():
    a = torch.randn(64, 64)
    rows = speed.where_time_goes(lambda: [a @ a for _ in range(3)] + [a.sum()], rows=3)
    assert len(rows) <= 3 and all(r["op"].startswith("aten::") for r in rows)
    assert [r["self_ms"] for r in rows] == sorted((r["self_ms"] for r in rows), reverse=True)
    assert 0 < sum(r["share"] for r in rows) <= 1 + 1e-9
    every = {r["op"]: r["calls"] for r in speed.where_time_goes(lambda: a @ a, rows=50)}
    assert every.get("aten::mm") == 1 and "aten::sum" not in every
