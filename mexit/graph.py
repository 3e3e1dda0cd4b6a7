"""Early exits on a graph network (survey §8, challenge 1): plain-PyTorch message passing on
a synthetic graph-classification task, one exit per layer, as a `MultiExitNet`.

The task: a random tree with two marked nodes A and B; the class is their distance
d(A, B) in hops, 1..D-1, or "≥ D". The exit after layer k reads node B's state, which has
heard from nodes at most k hops away — so exit k can tell distances up to k and no more:
the graph version of "deeper exits see more".

Each input is one graph packed in a single tensor (n, n + 2): the adjacency matrix, then
the two marker features (is A, is B). Blocks keep the adjacency and the markers and append
their node states, so every block and head takes and returns one tensor."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._checks import check_int
from .data import DataBundle
from .models import MultiExitNet
from .runs import cached_fit, fit_run, run_budget

N_MARKERS = 2


def _random_tree(rng: np.random.Generator, n: int, window: int) -> np.ndarray:
    """Adjacency of a random tree: node i attaches to one of the `window` nodes before it
    (a small window gives long, path-like trees)."""
    adj = np.zeros((n, n), dtype=np.float32)
    for i in range(1, n):
        j = int(rng.integers(max(0, i - window), i))
        adj[i, j] = adj[j, i] = 1.0
    return adj


def _distances(adj: np.ndarray, source: int) -> np.ndarray:
    n = adj.shape[0]
    dist = np.full(n, -1)
    dist[source], frontier, d = 0, [source], 0
    while frontier:
        d += 1
        nxt = [int(v) for u in frontier for v in np.flatnonzero(adj[u]) if dist[v] < 0]
        for v in nxt:
            dist[v] = d
        frontier = nxt
    return dist


def make_distance_graphs(
    n_graphs: int, n_nodes: int = 16, max_distance: int = 5, window: int = 3, seed: int = 0
):
    """`n_graphs` random trees with marked nodes A, B and labels min(d(A,B), D) − 1, the
    classes balanced. Returns x (n_graphs, n_nodes, n_nodes + 2) float32 and y int64."""
    n_graphs = check_int(n_graphs, "n_graphs", low=1)
    n_nodes = check_int(n_nodes, "n_nodes", low=3)
    max_distance = check_int(max_distance, "max_distance", low=2, high=n_nodes - 1)
    window = check_int(window, "window", low=1)
    seed = check_int(seed, "seed", low=0)
    rng = np.random.default_rng(seed)
    x = np.zeros((n_graphs, n_nodes, n_nodes + N_MARKERS), dtype=np.float32)
    y = np.zeros(n_graphs, dtype=np.int64)
    g, tries = 0, 0
    while g < n_graphs:
        tries += 1
        if tries > 50 * n_graphs:
            raise ValueError(
                f"cannot find pairs at distance {max_distance} in trees of {n_nodes} nodes; "
                "lower max_distance or raise n_nodes"
            )
        label = g % max_distance  # balanced classes
        adj = _random_tree(rng, n_nodes, window)
        a = int(rng.integers(n_nodes))
        dist = _distances(adj, a)
        want = dist == label + 1 if label < max_distance - 1 else dist >= max_distance
        candidates = np.flatnonzero(want)
        if candidates.size == 0:
            continue
        b = int(rng.choice(candidates))
        x[g, :, :n_nodes] = adj
        x[g, a, n_nodes] = 1.0
        x[g, b, n_nodes + 1] = 1.0
        y[g] = label
        g += 1
    order = rng.permutation(n_graphs)
    return torch.from_numpy(x[order]), torch.from_numpy(y[order])


def load_graph_distance(
    n_train: int = 3000,
    n_val: int = 500,
    n_test: int = 1000,
    n_nodes: int = 16,
    max_distance: int = 5,
    seed: int = 0,
) -> DataBundle:
    """The graph task as a DataBundle (generated in memory, deterministic given `seed`)."""
    sizes = [
        check_int(v, name, low=1)
        for v, name in ((n_train, "n_train"), (n_val, "n_val"), (n_test, "n_test"))
    ]
    x, y = make_distance_graphs(sum(sizes), n_nodes, max_distance, seed=seed)
    a, b = sizes[0], sizes[0] + sizes[1]
    classes = tuple(f"d = {d}" for d in range(1, max_distance)) + (f"d ≥ {max_distance}",)
    return DataBundle(
        "graph-distance", x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], classes, tuple(x.shape[1:])
    )


class MessagePassing(nn.Module):
    """One round of message passing on a packed graph (N, n, n + 2 + d_in):
    h_v' = ReLU(W_self h_v + W_nbr Σ_{u ~ v} h_u + b). The first layer reads the markers."""

    def __init__(self, n_nodes: int, d_in: int, d_out: int):
        super().__init__()
        self.n = check_int(n_nodes, "n_nodes", low=1)
        self.d_in = check_int(d_in, "d_in", low=0)
        width = self.d_in if self.d_in else N_MARKERS
        self.self_lin = nn.Linear(width, check_int(d_out, "d_out", low=1))
        self.nbr_lin = nn.Linear(width, d_out, bias=False)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        n = self.n
        adj, markers = g[..., :n], g[..., n : n + N_MARKERS]
        h = g[..., n + N_MARKERS :] if self.d_in else markers
        h = torch.relu(self.self_lin(h) + self.nbr_lin(adj @ h))
        return torch.cat([adj, markers, h], dim=-1)


class NodeReadout(nn.Module):
    """An exit reading node B's state (the second marker picks it), then a small MLP."""

    def __init__(self, n_nodes: int, d_model: int, num_classes: int, hidden: int = 32):
        super().__init__()
        self.n = check_int(n_nodes, "n_nodes", low=1)
        d_model = check_int(d_model, "d_model", low=1)
        num_classes = check_int(num_classes, "num_classes", low=2)
        hidden = check_int(hidden, "hidden", low=1)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        is_b = g[..., self.n + 1]  # (N, n)
        h = g[..., self.n + N_MARKERS :]  # (N, n, d)
        return self.mlp((is_b.unsqueeze(-1) * h).sum(1))


def graph_network(
    n_nodes: int = 16, hidden: int = 32, layers: int = 4, num_classes: int = 5
) -> MultiExitNet:
    """A message-passing network with an exit (node-B readout) after every layer."""
    layers = check_int(layers, "layers", low=2)
    hidden = check_int(hidden, "hidden", low=1)
    num_classes = check_int(num_classes, "num_classes", low=2)
    blocks = [MessagePassing(n_nodes, 0 if i == 0 else hidden, hidden) for i in range(layers)]
    heads = {i: NodeReadout(n_nodes, hidden, num_classes) for i in range(1, layers + 1)}
    return MultiExitNet(blocks, heads)


def train_graph_network(
    *, epochs: int = 15, lr: float = 1e-2, seed: int = 0, progress: bool = True, root=None
):
    """Train `graph_network` jointly (eq. 6) on `load_graph_distance()`, cached. Returns
    (model, extras)."""
    config = dict(**run_budget(epochs=epochs, lr=lr, batch_size=128, seed=seed), version=1)
    data = load_graph_distance()

    def build():  # sized from the data: its number of nodes and of classes
        return graph_network(n_nodes=data.input_shape[0], num_classes=data.num_classes)

    def train(model):
        return fit_run(model, data, config, progress=progress, desc="training the graph network")

    return cached_fit("graph_network", config, build, train, root=root)
