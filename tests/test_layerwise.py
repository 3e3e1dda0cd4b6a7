"""Tests for mexit.layerwise: layer-wise training (§5.3), linear probes, activation memory."""

from __future__ import annotations

import pytest
import torch

import mexit
from mexit import layerwise
from mexit.layerwise import (
    linear_probes,
    run_layerwise,
    run_linear_probes,
    saved_activation_bytes,
    stage_activation_bytes,
    train_layerwise,
)
from mexit.separate import frozen_embeddings


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def problem(make_inputs, n=64, shape=(1, 16), classes=5):
    x = make_inputs(n, shape)
    y = torch.arange(n) % classes
    return x, y


def test_stage_i_trains_block_i_only_on_the_cached_embeddings(make_cnn, make_inputs, monkeypatch):
    model = make_cnn()
    x, y = problem(make_inputs)
    calls = []
    real_fit = layerwise.fit

    def spy_fit(net, x_train, y_train, *args, **kwargs):
        i = len(calls) + 1
        before = [snapshot(b) for b in model.blocks]
        heads_before = {k: snapshot(h) for k, h in model.heads.items()}
        # the stage's inputs are h_{i-1} of the blocks trained so far
        expected = x if i == 1 else frozen_embeddings(model, x)[i - 2]
        assert torch.equal(x_train, expected)
        assert list(net.blocks) == [model.blocks[i - 1]]
        history = real_fit(net, x_train, y_train, *args, **kwargs)
        after = [b.state_dict() for b in model.blocks]
        for j, (b, a) in enumerate(zip(before, after), 1):
            same = all(torch.equal(b[k], a[k]) for k in b)
            assert same == (j != i), f"stage {i} {'changed' if not same else 'kept'} block {j}"
        for k, h in model.heads.items():
            same = all(torch.equal(v, h.state_dict()[n]) for n, v in heads_before[k].items())
            assert same == (int(k) != i)
        calls.append(i)
        return history

    monkeypatch.setattr(layerwise, "fit", spy_fit)
    mexit.seed_everything(0)
    stages = train_layerwise(model, x, y, x, y, epochs=1, batch_size=16, progress=False)
    assert calls == [1, 2, 3, 4]
    assert [s.block for s in stages] == [1, 2, 3, 4]
    assert stages[0].input_bytes == x.numel() * 4
    assert all(0.0 <= s.val_accuracy <= 1.0 for s in stages)


def test_frozen_blocks_never_run_again_during_later_stages(make_cnn, make_inputs):
    model = make_cnn()
    x, y = problem(make_inputs, n=96)
    runs = []
    model.blocks[0].register_forward_hook(lambda *a: runs.append(1))
    mexit.seed_everything(0)
    stages = train_layerwise(model, x, y, epochs=2, batch_size=16, progress=False)
    # stage 1: 2 epochs × 6 steps; then f_1 runs once to cache h_1 (96 inputs: one chunk)
    assert len(runs) == 2 * 6 + 1
    assert len(stages) == 4


def test_stages_limits_the_number_of_trained_blocks(make_cnn, make_inputs):
    model = make_cnn()
    before = snapshot(model.blocks[2])
    x, y = problem(make_inputs)
    stages = train_layerwise(model, x, y, stages=2, epochs=1, progress=False)
    assert len(stages) == 2
    after = model.blocks[2].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_train_layerwise_rejects_bad_input(make_cnn, make_inputs):
    x, y = problem(make_inputs)
    with pytest.raises(ValueError, match=r"\bstages\b"):
        train_layerwise(make_cnn(), x, y, stages=5)
    with pytest.raises(ValueError, match="needs a head"):
        train_layerwise(make_cnn(exits=(2,)), x, y)
    with pytest.raises(TypeError, match=r"\bMultiExitNet\b"):
        train_layerwise(torch.nn.Linear(2, 2), x, y)
    with pytest.raises(ValueError, match=r"\bboth\b"):
        train_layerwise(make_cnn(), x, y, x_val=x)
    with pytest.raises(ValueError, match=r"\bepochs\b"):
        train_layerwise(make_cnn(), x, y, epochs=0)


# ---------------------------------------------------------------------------
# memory and probes
# ---------------------------------------------------------------------------


def test_saved_activation_bytes_grow_with_the_batch_and_exclude_parameters(tiny_cnn, make_inputs):
    x, y = problem(make_inputs, n=64)
    before = snapshot(tiny_cnn)
    small = saved_activation_bytes(tiny_cnn, x[:16], y[:16])
    large = saved_activation_bytes(tiny_cnn, x, y)
    assert small > 0
    assert 3.5 * small <= large <= 4.5 * small  # activations scale with the batch
    # a wide linear model keeps only its input for backward, not its 1M weights
    wide = mexit.mlp(input_shape=(1, 6), widths=(1000, 1000))
    assert saved_activation_bytes(wide, x[:2, :, :6], y[:2] % 4) < 50_000
    assert tiny_cnn.training is False  # the mode is restored, and the BN statistics
    assert all(torch.equal(v, tiny_cnn.state_dict()[k]) for k, v in before.items())


def test_each_stage_keeps_less_than_joint_training(tiny_cnn, make_inputs):
    x, y = problem(make_inputs)
    before = snapshot(tiny_cnn)
    stages = stage_activation_bytes(tiny_cnn, x, y)
    joint = saved_activation_bytes(tiny_cnn, x, y)
    assert len(stages) == 4
    assert max(stages) < joint
    after = tiny_cnn.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics restored


def test_linear_probes_read_every_layer(tiny_cnn, make_inputs):
    x, y = problem(make_inputs, n=80)
    mexit.seed_everything(0)
    accuracies, probes = linear_probes(tiny_cnn, x, y, x, y, epochs=2, progress=False)
    assert len(accuracies) == len(probes) == tiny_cnn.num_blocks + 1
    assert all(0.0 <= a <= 1.0 for a in accuracies)
    with torch.no_grad():
        hs = [x] + frozen_embeddings(tiny_cnn, x)
        recomputed = [float((p(h).argmax(-1) == y).float().mean()) for p, h in zip(probes, hs)]
    assert recomputed == pytest.approx(accuracies)


# ---------------------------------------------------------------------------
# cached runs
# ---------------------------------------------------------------------------

TINY = dict(
    model="mlp",
    model_kwargs={"input_shape": [1, 8, 8], "widths": [12, 12, 12]},
    dataset="digits",
    epochs=1,
    batch_size=256,
    progress=False,
)


def test_run_layerwise_and_probes_are_cached(tmp_path):
    a = run_layerwise(root=tmp_path, **TINY)
    b = run_layerwise(root=tmp_path, **TINY)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [s.block for s in b.stages] == [1, 2, 3]
    assert all(s.train_seconds > 0 and s.input_bytes > 0 for s in b.stages)
    p1 = run_linear_probes(a, dataset="digits", epochs=1, progress=False, root=tmp_path)
    p2 = run_linear_probes(b, dataset="digits", epochs=1, progress=False, root=tmp_path)
    assert len(p1) == 4 and p1 == p2
    assert len(list((tmp_path / "checkpoints").glob("probes_*.pt"))) == 1


def test_seeds_do_not_share_a_cache_file(tmp_path):
    a = run_layerwise(root=tmp_path, **TINY)
    b = run_layerwise(root=tmp_path, **(TINY | {"seed": 1}))
    files = sorted(p.name for p in (tmp_path / "checkpoints").glob("lt_*.pt"))
    assert len(files) == 2 and any("seed1" in f for f in files)
    assert not torch.equal(a.blocks[0][1].weight, b.blocks[0][1].weight)


def test_training_flops_match_a_hand_count():
    # MLP 6 → 8 → 8 → 8 with a linear head 8 → 4 after every block, no batch norm. Per input
    # a linear layer costs 2·in·out forward, as much again for its weight gradient, and again
    # for its input gradient when something below needs one.
    torch.manual_seed(0)
    model = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=4)
    x, y = torch.randn(5, 1, 6), torch.tensor([0, 1, 2, 3, 0])
    blocks, head = [96, 128, 128], 64
    # a stage: forward + weight gradients of f_i and c_i, input gradient of c_i only
    stages = sum(2 * (f + head) + head for f in blocks)
    caching = blocks[0] + blocks[1]  # h_1 and h_2, once over the training set
    assert layerwise.training_flops(model, x, y, epochs=2, n_train=10) == 2 * 10 * stages + (
        10 * caching
    )
    fwd = sum(blocks) + 3 * head
    joint = 2 * fwd + (blocks[1] + blocks[2] + 3 * head)  # no input gradient for x
    assert layerwise.training_flops(model, x, y, epochs=2, n_train=10, scheme="joint") == (
        2 * 10 * joint
    )


def test_activation_bytes_give_each_submodule_its_mode_back(tiny_cnn, make_inputs):
    model = tiny_cnn.train()
    model.blocks[2].eval()  # one submodule deliberately in eval mode
    modes = {name: m.training for name, m in model.named_modules()}
    x, y = make_inputs(8, (1, 16)), torch.arange(8) % 5
    assert saved_activation_bytes(model, x, y) > 0
    assert len(stage_activation_bytes(model, x, y)) == len(model.exits)
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert model.training and not model.blocks[2].training
