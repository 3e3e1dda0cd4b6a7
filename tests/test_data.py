"""Tests for mexit.data. Every cache and root lives in pytest's tmp_path, never in data/."""

import dataclasses
import os
import pickle
import random
import struct
from collections import Counter

import numpy as np
import pytest
import torch
import torchvision

from mexit import data
from mexit.data import (
    DataBundle,
    load_dataset,
    load_digits,
    load_mnist1d,
    load_torchvision,
    split_validation,
)

SMALL = 1000  # MNIST-1D signals for most tests: 640 train / 160 val / 200 test


def rows(x: torch.Tensor) -> Counter:
    """The examples of x as a multiset, to compare splits regardless of order."""
    return Counter(tuple(row) for row in x.flatten(1).tolist())


# ---------------------------------------------------------------------------
# data_dir
# ---------------------------------------------------------------------------


def test_data_dir_follows_env_var_and_creates_it(tmp_path, monkeypatch):
    target = tmp_path / "somewhere" / "data"
    monkeypatch.setenv("MEXIT_DATA_DIR", str(target))
    assert data.data_dir() == target
    assert target.is_dir()


def test_default_data_dir_is_repo_data_in_a_checkout_else_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("MEXIT_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    checkout, installed = tmp_path / "repo", tmp_path / "site-packages"
    for parent in (checkout, installed):
        (parent / "mexit").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[project]\nname = 'mexit'\n")

    assert data._resolve_data_dir(checkout / "mexit") == checkout / "data"
    assert data._resolve_data_dir(installed / "mexit") == tmp_path / "home" / ".cache" / "mexit"
    assert not (checkout / "data").exists()  # resolving alone creates nothing


# ---------------------------------------------------------------------------
# DataBundle and split_validation
# ---------------------------------------------------------------------------


def test_databundle_repr_num_classes_and_frozen():
    x, y = torch.zeros(6, 1, 4), torch.arange(6) % 3
    bundle = DataBundle("toy", x[:3], y[:3], x[3:5], y[3:5], x[5:], y[5:], ("a", "b", "c"), (1, 4))
    assert bundle.num_classes == 3
    text = repr(bundle)
    assert "\n" not in text
    for part in ("'toy'", "train=3", "val=2", "test=1", "(1, 4)"):
        assert part in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        bundle.name = "other"


def test_databundle_rejects_inconsistent_tensors():
    x, y = torch.zeros(4, 1, 4), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="y_train"):
        DataBundle("toy", x, y[:3], x, y, x, y, ("a",), (1, 4))
    with pytest.raises(ValueError, match="input_shape"):
        DataBundle("toy", x, y, x, y, x, y, ("a",), (1, 5))


def test_split_validation_is_seeded_disjoint_and_complete():
    x = torch.arange(100, dtype=torch.float32).unsqueeze(1)
    y = torch.arange(100)
    x_tr, y_tr, x_val, y_val = split_validation(x, y, val_fraction=0.25, seed=3)
    assert (len(x_tr), len(x_val)) == (75, 25)
    assert torch.equal(x_tr.squeeze(1).long(), y_tr)  # rows stay paired with their labels
    assert sorted(torch.cat([y_tr, y_val]).tolist()) == list(range(100))

    again = split_validation(x, y, val_fraction=0.25, seed=3)
    assert torch.equal(again[3], y_val)
    other = split_validation(x, y, val_fraction=0.25, seed=4)
    assert not torch.equal(other[3], y_val)


def test_split_validation_rejects_bad_input():
    x, y = torch.zeros(10, 2), torch.zeros(10)
    with pytest.raises(ValueError, match="same length"):
        split_validation(x, y[:9], 0.2, 0)
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        split_validation(np.zeros((10, 2)), y, 0.2, 0)
    with pytest.raises(ValueError, match="val_fraction"):
        split_validation(x, y, 1.0, 0)
    with pytest.raises(ValueError, match="val_fraction"):
        split_validation(x, y, 0.01, 0)  # rounds to an empty validation split
    with pytest.raises(TypeError, match="seed"):
        split_validation(x, y, 0.2, "0")
    with pytest.raises(ValueError, match="seed"):
        split_validation(x, y, 0.2, -1)


# ---------------------------------------------------------------------------
# MNIST-1D
# ---------------------------------------------------------------------------


def test_mnist1d_defaults(tmp_path):
    bundle = load_mnist1d(root=tmp_path)
    assert bundle.name == "mnist1d"
    assert (len(bundle.y_train), len(bundle.y_val), len(bundle.y_test)) == (3200, 800, 1000)
    assert bundle.input_shape == (1, 40)
    assert bundle.x_train.shape == (3200, 1, 40)
    assert bundle.x_val.shape == (800, 1, 40)
    assert bundle.x_test.shape == (1000, 1, 40)
    for x in (bundle.x_train, bundle.x_val, bundle.x_test):
        assert x.dtype == torch.float32
        assert torch.isfinite(x).all()
    for y in (bundle.y_train, bundle.y_val, bundle.y_test):
        assert y.dtype == torch.int64
        assert set(y.tolist()) == set(range(10))
    assert bundle.classes == tuple(str(i) for i in range(10))
    assert bundle.num_classes == 10
    assert (tmp_path / "mnist1d_5000.npz").is_file()


def test_mnist1d_generation_is_deterministic(tmp_path):
    first = load_mnist1d(SMALL, root=tmp_path / "a")
    second = load_mnist1d(SMALL, root=tmp_path / "b")  # generated afresh in another folder
    for field in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(getattr(first, field), getattr(second, field)), field


def test_mnist1d_second_load_reads_the_cache(tmp_path, monkeypatch):
    first = load_mnist1d(SMALL, root=tmp_path)
    assert (tmp_path / f"mnist1d_{SMALL}.npz").is_file()

    def no_generation(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr("mnist1d.data.make_dataset", no_generation)
    cached = load_mnist1d(SMALL, root=tmp_path)
    assert torch.equal(cached.x_train, first.x_train)
    assert torch.equal(cached.x_test, first.x_test)

    # The seed moves examples between train and validation; the test set never changes.
    reseeded = load_mnist1d(SMALL, seed=1, root=tmp_path)
    assert not torch.equal(reseeded.x_val, first.x_val)
    assert torch.equal(reseeded.x_test, first.x_test)
    assert torch.equal(reseeded.y_test, first.y_test)
    pooled = rows(torch.cat([reseeded.x_train, reseeded.x_val]))
    assert pooled == rows(torch.cat([first.x_train, first.x_val]))


def test_mnist1d_cache_is_written_atomically(tmp_path):
    load_mnist1d(SMALL, root=tmp_path)
    assert sorted(os.listdir(tmp_path)) == [f"mnist1d_{SMALL}.npz"]  # no leftover temp file


def test_mnist1d_failed_cache_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def failing_savez(file, **arrays):
        file.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.warns(UserWarning, match="could not cache"):
        bundle = load_mnist1d(SMALL, root=tmp_path)
    assert len(bundle.y_train) == 640  # the data is still returned
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("corruption", ["garbage", "wrong_shapes", "missing_key"])
def test_mnist1d_corrupted_cache_is_regenerated(tmp_path, corruption):
    reference = load_mnist1d(SMALL, root=tmp_path / "reference")
    cache = tmp_path / f"mnist1d_{SMALL}.npz"
    if corruption == "garbage":
        cache.write_bytes(b"this is not a zip file")
    elif corruption == "wrong_shapes":
        np.savez(cache, x=np.zeros((3, 40)), y=np.zeros(3), x_test=np.zeros((1, 40)), y_test=[0])
    else:
        np.savez(cache, x=np.zeros((800, 40)), y=np.zeros(800))

    with pytest.warns(UserWarning, match="regenerating"):
        bundle = load_mnist1d(SMALL, root=tmp_path)
    assert torch.equal(bundle.x_train, reference.x_train)
    assert torch.equal(bundle.y_test, reference.y_test)
    with np.load(cache) as repaired:  # the cache was rewritten with good data
        assert repaired["x"].shape == (800, 40)
        assert repaired["x_test"].shape == (200, 40)


def test_mnist1d_leaves_global_random_state_alone(tmp_path):
    np.random.seed(123)
    random.seed(123)
    load_mnist1d(SMALL, root=tmp_path)  # generates: mnist1d reseeds the global generators
    after_np, after_py = np.random.rand(3), random.random()

    np.random.seed(123)
    random.seed(123)
    assert np.array_equal(after_np, np.random.rand(3))
    assert after_py == random.random()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_samples": 5}, ValueError, "num_samples"),
        ({"num_samples": 1005}, ValueError, "num_samples"),
        ({"num_samples": 1000.0}, TypeError, "num_samples"),
        ({"num_samples": True}, TypeError, "num_samples"),
        ({"val_fraction": 0}, ValueError, "val_fraction"),
        ({"val_fraction": 1}, ValueError, "val_fraction"),
        ({"val_fraction": -0.2}, ValueError, "val_fraction"),
        ({"val_fraction": "0.2"}, TypeError, "val_fraction"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"root": 123}, TypeError, "root"),
    ],
)
def test_mnist1d_rejects_bad_arguments(tmp_path, kwargs, error, match):
    kwargs.setdefault("root", tmp_path)
    with pytest.raises(error, match=match):
        load_mnist1d(**kwargs)
    assert not any(tmp_path.iterdir())  # checked before any work is done


# ---------------------------------------------------------------------------
# scikit-learn digits
# ---------------------------------------------------------------------------


def test_digits_shapes_range_and_complete_disjoint_splits():
    from sklearn.datasets import load_digits as sklearn_digits

    bundle = load_digits()
    assert bundle.input_shape == (1, 8, 8)
    assert bundle.num_classes == 10
    splits = [(bundle.x_train, bundle.y_train), (bundle.x_val, bundle.y_val)]
    splits.append((bundle.x_test, bundle.y_test))
    for x, y in splits:
        assert x.dtype == torch.float32
        assert y.dtype == torch.int64
        assert x.shape[1:] == (1, 8, 8)
        assert x.min() >= 0
        assert x.max() <= 1
    assert sum(len(y) for _, y in splits) == 1797
    assert len(bundle.y_test) == len(bundle.y_val) == round(1797 * 0.2)

    # Together the splits hold each original (image, label) pair exactly once.
    reference = sklearn_digits()
    original = Counter(
        (tuple((image / 16).astype(np.float32).ravel().tolist()), int(label))
        for image, label in zip(reference.images, reference.target, strict=True)
    )
    pooled = Counter()
    for x, y in splits:
        pooled.update(
            (tuple(image), label)
            for image, label in zip(x.flatten(1).tolist(), y.tolist(), strict=True)
        )
    assert pooled == original


def test_digits_seed_changes_split():
    a, b = load_digits(seed=0), load_digits(seed=1)
    assert not torch.equal(a.y_test, b.y_test)
    assert torch.equal(load_digits(seed=0).x_test, a.x_test)


def test_digits_rejects_bad_fractions():
    with pytest.raises(ValueError, match="val_fraction \\+ test_fraction"):
        load_digits(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.2)
    with pytest.raises(TypeError, match="val_fraction"):
        load_digits(val_fraction=None)


# ---------------------------------------------------------------------------
# torchvision datasets, on tiny files written in torchvision's layout
# ---------------------------------------------------------------------------

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")


def fake_images(n: int, size: int, channels: int | None, seed: int) -> np.ndarray:
    """Random uint8 images whose first pixel is their index, so any shuffle can be undone."""
    shape = (n, size, size) if channels is None else (n, channels * size * size)
    images = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    images.reshape(n, -1)[:, 0] = np.arange(n)
    return images


def unshuffle(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Undo a shuffle of images made by fake_images, using the first pixel."""
    order = torch.argsort(x.flatten(1)[:, 0])
    return x[order], y[order]


def write_idx(folder, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """The uncompressed IDX files MNIST ships: big-endian magic number, then the sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    n, rows_, cols = images.shape
    header = struct.pack(">IIII", 2051, n, rows_, cols)  # 0x0803: unsigned bytes, 3 dims
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
    header = struct.pack(">II", 2049, n)  # 0x0801: unsigned bytes, 1 dim
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_like(tmp_path):
    """Writes 20 train and 10 test images for MNIST or FashionMNIST under tmp_path."""

    def write(class_name: str) -> dict[str, np.ndarray]:
        raw = tmp_path / class_name / "raw"
        arrays = {
            "train_x": fake_images(20, 28, None, seed=1),
            "train_y": (np.arange(20) * 7) % 10,
            "test_x": fake_images(10, 28, None, seed=2),
            "test_y": (np.arange(10) * 3) % 10,
        }
        write_idx(raw, "train", arrays["train_x"], arrays["train_y"])
        write_idx(raw, "t10k", arrays["test_x"], arrays["test_y"])
        return arrays

    return write


@pytest.mark.parametrize(
    ("name", "class_name"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
def test_torchvision_mnist_like_reads_idx_files(tmp_path, mnist_like, name, class_name):
    written = mnist_like(class_name)
    bundle = load_torchvision(name, root=tmp_path, val_fraction=0.25, seed=0)

    assert bundle.name == name
    assert bundle.input_shape == (1, 28, 28)
    assert (len(bundle.y_train), len(bundle.y_val), len(bundle.y_test)) == (15, 5, 10)
    assert bundle.x_train.dtype == torch.float32
    assert bundle.y_train.dtype == torch.int64
    assert bundle.classes == tuple(getattr(torchvision.datasets, class_name).classes)

    expected_test = torch.from_numpy(written["test_x"]).float().unsqueeze(1) / 255
    assert torch.equal(bundle.x_test, expected_test)
    assert bundle.y_test.tolist() == written["test_y"].tolist()

    x, y = unshuffle(
        torch.cat([bundle.x_train, bundle.x_val]), torch.cat([bundle.y_train, bundle.y_val])
    )
    assert torch.equal(x, torch.from_numpy(written["train_x"]).float().unsqueeze(1) / 255)
    assert y.tolist() == written["train_y"].tolist()


def test_torchvision_limit_keeps_the_first_examples(tmp_path, mnist_like):
    written = mnist_like("MNIST")
    bundle = load_dataset("mnist", root=tmp_path, limit=8, val_fraction=0.25)
    assert (len(bundle.y_train), len(bundle.y_val), len(bundle.y_test)) == (6, 2, 8)
    assert bundle.y_test.tolist() == written["test_y"][:8].tolist()
    pooled = torch.cat([bundle.x_train, bundle.x_val]).flatten(1)[:, 0] * 255
    assert sorted(pooled.round().long().tolist()) == list(range(8))


def test_torchvision_cifar10_reads_pickled_batches(tmp_path, monkeypatch):
    # torchvision checks the md5 of every CIFAR-10 file, which tiny test files cannot match,
    # so this test replaces only that check with "the file exists"; reading is real.
    monkeypatch.setattr(
        "torchvision.datasets.cifar.check_integrity",
        lambda fpath, md5=None: os.path.isfile(fpath),
    )
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    train_x = fake_images(10, 32, channels=3, seed=3)  # rows of 3072: R plane, G plane, B plane
    train_y = [(3 * i) % 10 for i in range(10)]
    test_x, test_y = fake_images(4, 32, channels=3, seed=4), [9, 0, 1, 2]
    for i in range(5):
        batch = {"data": train_x[2 * i : 2 * i + 2], "labels": train_y[2 * i : 2 * i + 2]}
        (folder / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch))
    (folder / "test_batch").write_bytes(pickle.dumps({"data": test_x, "labels": test_y}))
    names = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))

    bundle = load_torchvision("cifar10", root=tmp_path, val_fraction=0.2)
    assert bundle.input_shape == (3, 32, 32)
    assert bundle.classes == tuple(names)
    assert (len(bundle.y_train), len(bundle.y_val), len(bundle.y_test)) == (8, 2, 4)
    expected_test = torch.from_numpy(test_x.reshape(4, 3, 32, 32)).float() / 255
    assert torch.equal(bundle.x_test, expected_test)
    assert bundle.y_test.tolist() == test_y
    x, y = unshuffle(
        torch.cat([bundle.x_train, bundle.x_val]), torch.cat([bundle.y_train, bundle.y_val])
    )
    assert torch.equal(x, torch.from_numpy(train_x.reshape(10, 3, 32, 32)).float() / 255)
    assert y.tolist() == train_y


@pytest.mark.parametrize(
    ("name", "subfolder", "files"),
    [
        ("mnist", "MNIST/raw", MNIST_FILES),
        ("fashion-mnist", "FashionMNIST/raw", MNIST_FILES),
        ("cifar10", "cifar-10-batches-py", CIFAR_FILES),
    ],
)
def test_torchvision_missing_files_say_what_to_put_where(tmp_path, name, subfolder, files):
    with pytest.raises(FileNotFoundError) as info:
        load_torchvision(name, root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / subfolder) in message
    for file in files:
        assert file in message
    assert "download=True" in message
    assert not (tmp_path / subfolder).exists()  # nothing was downloaded or created


def test_torchvision_partly_missing_files_are_named(tmp_path, mnist_like):
    mnist_like("MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="missing: t10k-labels-idx1-ubyte"):
        load_torchvision("mnist", root=tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "imagenet"}, ValueError, "name"),
        ({"name": 3}, TypeError, "name"),
        ({"limit": 0}, ValueError, "limit"),
        ({"limit": 2.5}, TypeError, "limit"),
        ({"download": "yes"}, TypeError, "download"),
        ({"val_fraction": 1.5}, ValueError, "val_fraction"),
        ({"root": 1.0}, TypeError, "root"),
    ],
)
def test_torchvision_rejects_bad_arguments(tmp_path, kwargs, error, match):
    kwargs = {"name": "mnist", "root": tmp_path, **kwargs}
    with pytest.raises(error, match=match):
        load_torchvision(**kwargs)


# ---------------------------------------------------------------------------
# load_dataset
# ---------------------------------------------------------------------------


def test_load_dataset_dispatches(tmp_path):
    bundle = load_dataset("mnist1d", num_samples=SMALL, root=tmp_path)
    assert bundle.name == "mnist1d"
    assert len(bundle.y_test) == SMALL // 5
    assert load_dataset("digits", seed=2).name == "digits"
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_dataset("cifar10", root=tmp_path)


def test_load_dataset_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="name") as info:
        load_dataset("imagenet")
    for known in data.DATASETS:
        assert known in str(info.value)
    with pytest.raises(TypeError, match="name"):
        load_dataset(None)


def test_print_of_a_bundle_reads_as_a_sentence():
    import torch

    from mexit.data import DataBundle

    x, y = torch.zeros(6, 1, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    b = DataBundle("toy", x, y, x[:3], y[:3], x[:3], y[:3], ("a", "b", "c"), (1, 3))
    text = str(b)
    assert text == (
        "toy: 6 training, 3 validation and 3 test inputs of shape (1, 3); 3 classes (a, b, c)"
    )
    assert "DataBundle(" not in text and repr(b).startswith("DataBundle(")
