"""Distributed training over tiers (survey §7.2, second half): per-tier layer-wise training
across gloo processes reproduces the single-process run, counts the bytes it sends, and
reports memory as proportional set size."""

from __future__ import annotations

import copy
import multiprocessing
import os

import pytest
import torch

from mexit import tier_training, tiers


def _toy(make_cnn, make_inputs, n=48):
    model = make_cnn(channels=(4, 8, 8, 8), num_classes=3).train()
    x = make_inputs(n, (1, 16), seed=5)
    y = (x.mean(dim=(1, 2)) > 0).long() + (x[:, 0, 0] > 0.5).long()  # learnable labels
    return model, x, y


def test_distributed_training_equals_single_process_and_counts_bytes(make_cnn, make_inputs):
    model, x, y = _toy(make_cnn, make_inputs)
    single_model, dist_model = copy.deepcopy(model), copy.deepcopy(model)
    kw = dict(epochs=2, lr=1e-2, batch_size=16, seed=3, progress=False)
    single = tier_training.train_by_tiers(single_model, x, y, (0, 0, 1, 2), **kw)
    run = tier_training.distributed_train_by_tiers(dist_model, x, y, (0, 0, 1, 2), timeout=60, **kw)
    for (k, a), b in zip(single_model.state_dict().items(), dist_model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), k
    # training moved the weights (the comparison is not between two untouched copies)
    moved = [
        (a.float() - b.float()).abs().max().item()
        for a, b in zip(model.state_dict().values(), dist_model.state_dict().values())
        if a.is_floating_point()
    ]
    assert max(moved) > 1e-3
    h_bytes = tiers.embedding_bytes(model, (1, 16))
    assert (
        run.embedding_bytes == single.embedding_bytes == (len(x) * h_bytes[2], len(x) * h_bytes[3])
    )
    assert run.label_bytes == (len(x) * 8 + 16,) * 2
    assert run.bytes_sent == tuple(e + b for e, b in zip(run.embedding_bytes, run.label_bytes))
    assert len(run.pss_bytes) == 4 and all(p > 1e6 for p in run.pss_bytes)
    assert len(run.tier_seconds) == 3
    assert multiprocessing.active_children() == []


def test_half_precision_on_the_wire_halves_the_bytes(make_cnn, make_inputs):
    model, x, y = _toy(make_cnn, make_inputs, n=32)
    kw = dict(epochs=1, lr=1e-2, batch_size=16, progress=False)
    full = tier_training.train_by_tiers(copy.deepcopy(model), x, y, (0, 0, 1, 1), **kw)
    half = tier_training.train_by_tiers(
        copy.deepcopy(model), x, y, (0, 0, 1, 1), wire_dtype=torch.float16, **kw
    )
    assert 2 * half.embedding_bytes[0] == full.embedding_bytes[0]


def test_a_failing_rank_stops_every_process(make_cnn, make_inputs):
    model, x, y = _toy(make_cnn, make_inputs, n=16)
    with pytest.raises(tiers.TierRunError, match="rank 1 of 2 failed"):
        tier_training.distributed_train_by_tiers(
            model, x, y, (0, 0, 1, 1), epochs=1, fail_rank=1, timeout=30, progress=False
        )
    assert multiprocessing.active_children() == []


def test_training_placement_needs_an_exit_at_the_end_of_every_tier(make_cnn):
    model = make_cnn(exits=[1, 3])
    assert tier_training.check_training_placement(model, (0, 0, 0, 1)) == (0, 0, 0, 1)
    with pytest.raises(ValueError, match="no exit"):
        tier_training.check_training_placement(model, (0, 0, 1, 1))  # tier 0 ends at block 2
    with pytest.raises(ValueError, match="tier 1 no block"):
        tier_training.check_training_placement(model, (0, 0, 0, 2))


def test_pss_is_below_rss_for_a_forked_child():
    # a forked child shares its parent's pages: its PSS counts half of them, its RSS all
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    big = torch.ones(40_000_000 // 4)  # 40 MB the child shares with us
    child = ctx.Process(target=lambda: (ready.set(), done.wait(10)), daemon=True)
    child.start()
    try:
        assert ready.wait(10)
        pss = tiers.pss_bytes(child.pid)
        with open(f"/proc/{child.pid}/status") as f:
            rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))
        assert pss < 0.8 * rss, (pss, rss)
    finally:
        done.set()
        child.join(5)
    assert big.sum() > 0
    assert abs(tiers.pss_bytes() - tiers.pss_bytes(os.getpid())) < 0.05 * tiers.pss_bytes()


def test_inference_run_reports_the_pss_of_every_process(tiny_cnn, make_inputs):
    run = tiers.distributed_early_exit(tiny_cnn, make_inputs(8, (1, 16)), 0.5, (0, 0, 1, 1))
    assert len(run.pss_bytes) == 3 and all(p > 1e6 for p in run.pss_bytes)
    # read at one moment: the ranks' share of the pages they hold with us is below our own
    assert max(run.pss_bytes[:-1]) < run.pss_bytes[-1]
