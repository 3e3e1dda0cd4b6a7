"""Exits on a message-passing graph network (survey §8, challenge 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mexit
from mexit import graph


def bfs_distance(adj, a, b):
    return int(graph._distances(adj.numpy(), a)[b])


def test_task_labels_are_distances_and_balanced():
    x, y = graph.make_distance_graphs(100, n_nodes=12, max_distance=4, seed=1)
    assert x.shape == (100, 12, 14) and y.dtype == torch.long
    assert torch.bincount(y).tolist() == [25, 25, 25, 25]
    for g, label in zip(x, y):
        adj = g[:, :12]
        assert torch.equal(adj, adj.T) and adj.diagonal().sum() == 0
        assert int(adj.sum()) == 2 * 11  # a tree: n - 1 edges
        a, b = int(g[:, 12].argmax()), int(g[:, 13].argmax())
        d = bfs_distance(adj, a, b)
        assert min(d, 4) - 1 == int(label)


def test_exit_k_cannot_see_beyond_k_hops():
    """Changing the graph more than k hops away from B leaves exit k's output unchanged."""
    torch.manual_seed(0)
    model = graph.graph_network(n_nodes=6, hidden=8, layers=3, num_classes=3).eval()
    # a path 0-1-2-3-4-5, B = node 0, A = node 5 (5 hops away) or node 1 (1 hop)
    adj = torch.zeros(6, 6)
    for i in range(5):
        adj[i, i + 1] = adj[i + 1, i] = 1
    far, near = torch.zeros(6, 8), torch.zeros(6, 8)
    far[:, :6] = near[:, :6] = adj
    far[5, 6] = near[1, 6] = 1  # A
    far[0, 7] = near[0, 7] = 1  # B
    no_a = far.clone()
    no_a[5, 6] = 0
    out_far, out_none, out_near = (model(g[None]) for g in (far, no_a, near))
    for k in range(3):  # 3 layers see at most 3 hops: A at 5 hops is invisible
        assert torch.allclose(out_far[k], out_none[k])
    assert not torch.allclose(out_near[0], out_none[0])  # A at 1 hop is seen by exit 1


def test_is_a_multi_exit_net_that_early_exits():
    torch.manual_seed(0)
    model = graph.graph_network(n_nodes=10, hidden=8, layers=3, num_classes=4).eval()
    x, _ = graph.make_distance_graphs(20, n_nodes=10, max_distance=4)
    probs = mexit.exit_probs(model, x)
    assert probs.shape == (3, 20, 4)
    real = mexit.early_exit_predict(model, x, 0.999)
    assert torch.equal(real.exit_index, mexit.simulate_exits(probs, 0.999))
    costs = mexit.measure_costs(model, (10, 12))
    assert costs.gamma_f[1] == costs.gamma_f[2] > costs.gamma_f[0]


def test_load_graph_distance_is_deterministic():
    a = graph.load_graph_distance(n_train=20, n_val=10, n_test=10, n_nodes=10, max_distance=3)
    b = graph.load_graph_distance(n_train=20, n_val=10, n_test=10, n_nodes=10, max_distance=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.num_classes == 3 and a.input_shape == (10, 12)
    assert np.isclose(float(a.y_train.float().mean()), 1.0, atol=0.3)


def test_bad_input():
    with pytest.raises(ValueError, match="max_distance"):
        graph.make_distance_graphs(10, n_nodes=5, max_distance=5)
    with pytest.raises(ValueError, match="n_nodes"):
        graph.make_distance_graphs(10, n_nodes=2)
    with pytest.raises(ValueError, match="n_graphs"):
        graph.make_distance_graphs(0)
    with pytest.raises(TypeError, match="window"):
        graph.make_distance_graphs(5, window=1.5)
    with pytest.raises(ValueError, match="layers"):
        graph.graph_network(layers=1)
