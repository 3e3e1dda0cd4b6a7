"""Shared fixtures for the mexit unit tests: tiny models and random exit outputs.

Everything here is small enough to run in milliseconds on one CPU thread. Random tensors come
from local `torch.Generator`s, so a test's data does not depend on which tests ran before it.
"""

from __future__ import annotations

import matplotlib

# Offline: the root conftest.py guards this process and every process it starts.

matplotlib.use("Agg")  # the widget tests draw figures; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import mexit  # noqa: E402


def _sharpen_heads(model: mexit.MultiExitNet, scale: float) -> mexit.MultiExitNet:
    """Scale every head's last linear layer so the exits' confidences spread over [0, 1]
    (a freshly initialised head is almost uniform, which makes threshold tests vacuous)."""
    with torch.no_grad():
        for head in model.heads.values():
            last = [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
            last.weight.mul_(scale)
            last.bias.mul_(scale)
    return model


@pytest.fixture
def make_mlp():
    """Factory: a seeded tiny multi-exit MLP on inputs of shape (1, 6), in eval mode."""

    def make(widths=(8, 8, 8), num_classes=4, seed=0, scale=1.0, **kwargs):
        torch.manual_seed(seed)
        model = mexit.mlp(input_shape=(1, 6), widths=widths, num_classes=num_classes, **kwargs)
        return _sharpen_heads(model, scale).eval()

    return make


@pytest.fixture
def make_cnn():
    """Factory: a seeded tiny MNIST-1D-style CNN on inputs of shape (1, 16), in eval mode."""

    def make(
        channels=(4, 8, 8, 8), strides=(1, 2, 2, 1), num_classes=5, seed=0, scale=1.0, **kwargs
    ):
        torch.manual_seed(seed)
        model = mexit.mnist1d_cnn(
            channels=channels, strides=strides, num_classes=num_classes, input_length=16, **kwargs
        )
        # give the BatchNorm layers non-trivial running statistics, as after training
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                with torch.no_grad():
                    m.running_mean.uniform_(-0.3, 0.3)
                    m.running_var.uniform_(0.5, 1.5)
        return _sharpen_heads(model, scale).eval()

    return make


@pytest.fixture
def tiny_mlp(make_mlp):
    return make_mlp()


@pytest.fixture
def tiny_cnn(make_cnn):
    return make_cnn()


@pytest.fixture
def make_inputs():
    """Factory: random inputs (n, *shape) whose rows vary in scale and offset, so a model's
    exits range from confident to unsure (but never exactly one-hot for the tiny models)."""

    def make(n, shape, seed=0):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, *shape, generator=g)
        extra = (1,) * len(shape)
        scale = torch.exp(0.7 * torch.randn(n, *extra, generator=g))
        return x * scale + torch.randn(n, *extra, generator=g)

    return make


@pytest.fixture
def make_probs():
    """Factory: random softmax outputs (E, N, K) of E exits and labels (N,).

    `spread` scales the logits: larger values give more confident exits."""

    def make(E=3, N=64, K=4, seed=0, spread=2.0):
        g = torch.Generator().manual_seed(seed)
        logits = spread * torch.randn(E, N, K, generator=g)
        labels = torch.randint(0, K, (N,), generator=g)
        return logits.softmax(-1), labels

    return make


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow", action="store_true", help="also run the slow tests (notebooks at seeds 1, 2)"
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: slow test, run only with --run-slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _close_figures():
    """The widgets draw with matplotlib; never let figures pile up across tests."""
    yield
    plt.close("all")


# Notebook runs in this process (papermill, nbclient) must not hang on a lost wake-up:
# see mexit/_nbclient_guard.py and tests/HANGS.md.
from mexit import _nbclient_guard  # noqa: E402

_nbclient_guard.install()
