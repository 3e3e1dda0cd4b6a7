"""Multi-tier deployment (survey §7.2): the cost model and the real multi-process run."""

from __future__ import annotations

import multiprocessing
import socket

import pytest
import torch

import mexit
from mexit import tiers
from mexit.cost import CostProfile


@pytest.fixture
def system():
    return tiers.tier_system([1e6, 1e8, 1e9], [0.01, 0.05], [1e4, 1e6])


@pytest.fixture
def toy_costs():
    return CostProfile(gamma_f=(100, 200, 400), gamma_c={1: 10, 2: 20, 3: 40})


def test_tier_latencies_by_hand(system, toy_costs):
    h_bytes = (8, 40, 20, 12)
    lat, sent = tiers.tier_latencies(toy_costs, (1, 2, 3), h_bytes, system, (0, 1, 2))
    # exit 1 on the device: block 1 + head 1 at 1e6 FLOP/s, nothing sent
    assert lat[0].item() == pytest.approx(110 / 1e6)
    # exit 2 on the edge: h_1 (40 bytes) crosses link 0, then block 2 + head 2 at 1e8,
    # then the answer goes back over link 0
    t2 = 110 / 1e6 + 0.01 + 40 / 1e4 + 220 / 1e8
    assert lat[1].item() == pytest.approx(t2 + 0.01)
    t3 = t2 + 0.05 + 20 / 1e6 + 440 / 1e9
    assert lat[2].item() == pytest.approx(t3 + 0.01 + 0.05)
    assert sent.tolist() == [0, 40, 60]
    no_reply, _ = tiers.tier_latencies(toy_costs, (1, 2, 3), h_bytes, system, (0, 1, 2), False)
    assert no_reply[2].item() == pytest.approx(t3)


def test_tier_latencies_relay_x_when_the_device_runs_nothing(system, toy_costs):
    lat, sent = tiers.tier_latencies(toy_costs, (1, 2, 3), (8, 40, 20, 12), system, (2, 2, 2))
    assert sent.tolist() == [16, 16, 16]  # x crosses both links once
    link = 0.01 + 8 / 1e4 + 0.05 + 8 / 1e6
    assert lat[0].item() == pytest.approx(link + 110 / 1e9 + 0.06)


def test_embedding_bytes_match_tensors(tiny_cnn, make_inputs):
    x = make_inputs(1, (1, 16))
    b = tiers.embedding_bytes(tiny_cnn, (1, 16))
    real = [x] + tiny_cnn.embeddings(x)
    assert list(b) == [t.numel() * 4 for t in real]
    half = tiers.embedding_bytes(tiny_cnn, (1, 16), dtype=torch.float16)
    assert [2 * v for v in half] == list(b)


def test_evaluate_tiers_and_best_boundary(tiny_cnn, make_inputs, system):
    x = make_inputs(40, (1, 16))
    probs = mexit.exit_probs(tiny_cnn, x)
    labels = probs[-1].argmax(-1)
    costs = mexit.measure_costs(tiny_cnn, (1, 16))
    h_bytes = tiers.embedding_bytes(tiny_cnn, (1, 16))
    r = tiers.evaluate_tiers(
        probs, labels, 0.5, costs, tiny_cnn.exits, h_bytes, system, (0, 0, 0, 0)
    )
    assert r.mean_bytes == 0 and r.tier_fractions == (1.0, 0.0, 0.0)
    assert r.accuracy == mexit.evaluate_policy(probs, labels, 0.5).accuracy
    budget = 2 * r.mean_latency
    best, th, tried = tiers.best_boundary(
        probs, labels, costs, tiny_cnn.exits, h_bytes, system, budget, thresholds=[0.2, 0.5, 0.8]
    )
    assert len(tried) == len(tiers.all_placements(4, 3)) * 3 == 45
    assert best.mean_latency <= budget
    assert all(t.accuracy <= best.accuracy for _, t in tried if t.mean_latency <= budget)
    none, th, _ = tiers.best_boundary(probs, labels, costs, tiny_cnn.exits, h_bytes, system, 0.0)
    assert none is None and th is None


def test_all_placements_are_in_tier_order():
    ps = tiers.all_placements(4, 3)
    assert len(ps) == 15 and len(set(ps)) == 15
    assert all(list(p) == sorted(p) for p in ps)
    assert tiers.placement_label((0, 0, 1, 2)) == "device×2 → edge → cloud"


def test_distributed_equals_single_process_and_sends_unresolved_bytes(make_cnn, make_inputs):
    x = make_inputs(24, (1, 16), seed=3)
    model = make_cnn(scale=10.0)  # confident enough heads for some inputs to exit early
    single = mexit.early_exit_predict(model, x, 0.6)
    placement = (0, 0, 1, 1)
    run = tiers.distributed_early_exit(model, x, 0.6, placement, world_size=2, timeout=30)
    assert torch.equal(run.predictions, single.predictions)
    assert torch.equal(run.exit_index, single.exit_index)
    h_bytes = tiers.embedding_bytes(model, (1, 16))
    unresolved = int((single.exit_index > 1).sum())  # not answered at exits 1-2 (device)
    assert 0 < unresolved < len(x)  # the test is not vacuous
    assert run.embedding_bytes == (unresolved * h_bytes[2],)
    assert run.embedding_bytes == tiers.unresolved_embedding_bytes(
        single.exit_index, model.exits, placement, h_bytes
    )
    assert run.rows_sent == (unresolved,)
    assert multiprocessing.active_children() == []


def test_port_in_use_is_a_clear_error(tiny_cnn, make_inputs):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(tiers.TierRunError, match="in use"):
            tiers.distributed_early_exit(
                tiny_cnn, make_inputs(4, (1, 16)), 0.5, (0, 0, 1, 1), port=s.getsockname()[1]
            )
    assert multiprocessing.active_children() == []


def test_failing_rank_is_a_clear_error_and_leaves_no_process(tiny_cnn, make_inputs):
    with pytest.raises(tiers.TierRunError, match="rank 1 of 2 failed"):
        tiers.distributed_early_exit(
            tiny_cnn, make_inputs(4, (1, 16)), 0.5, (0, 0, 1, 1), fail_rank=1, timeout=30
        )
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(speeds=[-1.0, 1e9]), ValueError, "speeds"),
        (dict(speeds=[0.0, 1e9]), ValueError, "speeds"),
        (dict(latencies=[-0.01]), ValueError, "latencies"),
        (dict(bandwidths=[-5.0]), ValueError, "bandwidths"),
        (dict(bandwidths=[1e3, 1e3]), ValueError, "one value per link"),
        (dict(speeds="fast"), TypeError, "speeds"),
    ],
)
def test_tier_system_bad_input(kwargs, error, match):
    args = dict(speeds=[1e6, 1e9], latencies=[0.01], bandwidths=[1e6]) | kwargs
    with pytest.raises(error, match=match):
        tiers.tier_system(**args)


def test_placement_bad_input(tiny_cnn, make_inputs):
    with pytest.raises(ValueError, match="tier order"):
        tiers.check_placement((0, 1, 0, 2), 4, 3)
    with pytest.raises(ValueError, match="only 3"):
        tiers.check_placement((0, 1, 2, 3), 4, 3)
    with pytest.raises(ValueError, match="each of the 4 blocks"):
        tiers.check_placement((0, 1, 2), 4, 3)
    x = make_inputs(4, (1, 16))
    with pytest.raises(ValueError, match="world_size"):
        tiers.distributed_early_exit(tiny_cnn, x, 0.5, (0, 0, 1, 1), world_size=3)
    with pytest.raises(ValueError, match="tier order"):
        tiers.distributed_early_exit(tiny_cnn, x, 0.5, (0, 1, 0, 1))
    with pytest.raises(ValueError, match="start_method"):
        tiers.distributed_early_exit(tiny_cnn, x, 0.5, (0, 0, 1, 1), start_method="thread")
    with pytest.raises(ValueError, match="latency_budget"):
        tiers.best_boundary(
            torch.full((4, 4, 5), 0.2),
            torch.zeros(4, dtype=torch.long),
            mexit.measure_costs(tiny_cnn, (1, 16)),
            tiny_cnn.exits,
            tiers.embedding_bytes(tiny_cnn, (1, 16)),
            tiers.tier_system([1e6, 1e9], [0.01], [1e6]),
            -1.0,
        )
    assert multiprocessing.active_children() == []
