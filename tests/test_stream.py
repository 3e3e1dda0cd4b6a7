"""Data at scale (issue 16): `load_torchvision(..., stream=True)` reads CIFAR-10-format files
batch by batch through DataLoaders, with the in-memory path's splits bit for bit, and `fit`
on it trains exactly as `fit` on the tensors. The files are written by the test
(`write_synthetic_cifar10`): nothing is downloaded."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import mexit
from mexit.data import StreamBundle, load_torchvision, write_synthetic_cifar10


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_synthetic_cifar10(root, train=200, test=40, seed=3)
    return root


def test_written_files_are_cifar10_batches(cifar_root):
    folder = cifar_root / "cifar-10-batches-py"
    with open(folder / "data_batch_2", "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    assert batch["data"].dtype == np.uint8 and batch["data"].shape == (40, 3072)
    assert len(batch["labels"]) == 40 and set(batch["labels"]) <= set(range(10))
    with open(folder / "batches.meta", "rb") as f:
        assert len(pickle.load(f)["label_names"]) == 10


@pytest.mark.parametrize("limit", [None, 150])
def test_stream_has_the_in_memory_splits(cifar_root, limit):
    memory = load_torchvision("cifar10", root=cifar_root, seed=5, limit=limit)
    stream = load_torchvision("cifar10", root=cifar_root, seed=5, limit=limit, stream=True)
    assert isinstance(stream, StreamBundle)
    assert stream.classes == memory.classes and stream.input_shape == memory.input_shape
    for split in ("train", "val", "test"):
        x, y = stream.tensors(split)
        assert torch.equal(x, getattr(memory, f"x_{split}")), split
        assert torch.equal(y, getattr(memory, f"y_{split}")), split


def test_other_seed_other_split(cifar_root):
    a = load_torchvision("cifar10", root=cifar_root, seed=0, stream=True).tensors("val")[1]
    b = load_torchvision("cifar10", root=cifar_root, seed=1, stream=True).tensors("val")[1]
    assert not torch.equal(a, b)


def _model():
    torch.manual_seed(0)
    return mexit.cnn2d(input_shape=(3, 32, 32), channels=(4, 8, 8), num_classes=10)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_fit_on_the_stream_equals_fit_on_the_tensors(cifar_root, num_workers):
    memory = load_torchvision("cifar10", root=cifar_root)
    stream = load_torchvision(
        "cifar10", root=cifar_root, stream=True, num_workers=num_workers, batch_size=64
    )
    a, b = _model(), _model()
    mexit.seed_everything(0)
    ha = mexit.fit_bundle(a, memory, epochs=2, batch_size=32, progress=False)
    after_a = torch.randn(3)
    mexit.seed_everything(0)
    hb = mexit.fit_bundle(b, stream, epochs=2, batch_size=32, progress=False)
    after_b = torch.randn(3)  # the stream's workers left torch's global generator as fit does
    assert torch.equal(after_a, after_b)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    for field in ("train_loss", "val_accuracy"):
        a_, b_ = (torch.tensor(getattr(h, field)) for h in (ha, hb))
        torch.testing.assert_close(a_, b_, atol=1e-6, rtol=0)


def test_evaluate_on_the_stream_is_evaluate_on_val(cifar_root):
    memory = load_torchvision("cifar10", root=cifar_root)
    stream = load_torchvision("cifar10", root=cifar_root, stream=True, batch_size=7)
    model = _model().eval()
    by_stream = mexit.evaluate(model, stream)
    assert by_stream == pytest.approx(mexit.evaluate(model, memory.x_val, memory.y_val), abs=1e-6)
