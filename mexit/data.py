"""Datasets for the early-exit experiments, all returned as one :class:`DataBundle`.

Every loader gives the same thing: float32 inputs of shape ``(N, *input_shape)``, int64
labels, and three splits -- train, validation and test. The validation split is where
early-exit thresholds are tuned, so that the test split is only ever used for the final
numbers.

===================  =====================================  ===========  =================
name                 source                                 input shape  needs files?
===================  =====================================  ===========  =================
``"mnist1d"``        MNIST-1D (Greydanus, 2020), generated  (1, 40)      no (cached .npz)
``"digits"``         scikit-learn's 8x8 handwritten digits  (1, 8, 8)    no (ships w/ sklearn)
``"mnist"``          torchvision MNIST                      (1, 28, 28)  yes
``"fashion-mnist"``  torchvision FashionMNIST               (1, 28, 28)  yes
``"cifar10"``        torchvision CIFAR-10                   (3, 32, 32)  yes
===================  =====================================  ===========  =================

Nothing here downloads anything unless you pass ``download=True`` to :func:`load_torchvision`.

Example
-------
>>> from mexit.data import load_dataset
>>> bundle = load_dataset("mnist1d")  # doctest: +SKIP
>>> bundle  # doctest: +SKIP
DataBundle(name='mnist1d', train=3200, val=800, test=1000, input_shape=(1, 40), classes=10)
"""

from __future__ import annotations

import os
import random
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._checks import check_fraction, check_int, check_labels, check_seed

__all__ = [
    "DATASETS",
    "DATA_DIR",
    "DataBundle",
    "StreamBundle",
    "data_dir",
    "load_dataset",
    "load_digits",
    "load_mnist1d",
    "load_torchvision",
    "split_validation",
    "write_synthetic_cifar10",
]


# ---------------------------------------------------------------------------
# The bundle every loader returns
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # eq=False: tensors don't compare to a single bool
class DataBundle:
    """Train / validation / test tensors of one dataset, the same shape for every loader.

    Inputs are float32 tensors of shape ``(N, *input_shape)``; labels are int64 tensors of
    shape ``(N,)`` with values in ``range(num_classes)``. Thresholds are tuned on the
    validation split; the test split is kept for the final evaluation.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y):
                raise ValueError(
                    f"x_{split} and y_{split} must have the same length, got {len(x)} and {len(y)}."
                )
            if tuple(x.shape[1:]) != tuple(self.input_shape):
                raise ValueError(
                    f"x_{split} must have examples of shape input_shape={self.input_shape}, "
                    f"got {tuple(x.shape[1:])}."
                )
            if len(y):
                check_labels(y, len(x), f"y_{split}", num_classes=len(self.classes))

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(classes)``."""
        return len(self.classes)

    def __repr__(self) -> str:
        return (
            f"DataBundle(name={self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, "
            f"test={len(self.y_test)}, input_shape={self.input_shape}, "
            f"classes={self.num_classes})"
        )

    def __str__(self) -> str:
        """What `print(data)` shows a reader: the splits, the input shape, the classes."""
        shown = ", ".join(self.classes[:4]) + (", …" if self.num_classes > 4 else "")
        return (
            f"{self.name}: {len(self.y_train)} training, {len(self.y_val)} validation and "
            f"{len(self.y_test)} test inputs of shape {self.input_shape}; "
            f"{self.num_classes} classes ({shown})"
        )


# ---------------------------------------------------------------------------
# Where data lives
# ---------------------------------------------------------------------------

_PACKAGE_DIR = Path(__file__).resolve().parent


def _resolve_data_dir(package_dir: Path = _PACKAGE_DIR) -> Path:
    """The default data folder, without creating it.

    1. ``$MEXIT_DATA_DIR`` if set;
    2. else the repository's ``data/`` folder, when the package sits in a checkout (the
       parent of the ``mexit`` folder contains ``pyproject.toml``);
    3. else ``~/.cache/mexit``.
    """
    from_env = os.environ.get("MEXIT_DATA_DIR")
    if from_env:
        return Path(from_env).expanduser()
    repo = package_dir.parent
    if (repo / "pyproject.toml").is_file():
        return repo / "data"
    return Path.home() / ".cache" / "mexit"


#: The default data folder as resolved when the module was imported (see :func:`data_dir`).
DATA_DIR: Path = _resolve_data_dir()


def data_dir() -> Path:
    """Return the default data folder, creating it if needed.

    ``$MEXIT_DATA_DIR`` is read on every call, so it can be set after import.
    """
    path = _resolve_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------
# Argument checks (scikit-learn style: TypeError for types, ValueError for values)
# ---------------------------------------------------------------------------


def _check_root(root: object) -> Path:
    if root is None:
        return data_dir()
    if not isinstance(root, str | os.PathLike):
        raise TypeError(f"root must be a str, a path or None, got {type(root).__name__} {root!r}.")
    return Path(root).expanduser()


def _split_size(n: int, fraction: float, what: str) -> int:
    """``round(n * fraction)``, checked to leave at least one example on each side."""
    size = round(n * fraction)
    if not 1 <= size <= n - 1:
        raise ValueError(
            f"{what}={fraction} of {n} examples gives a split of {size}; "
            "choose a fraction that leaves at least one example on each side."
        )
    return size


def _permutation(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)


# ---------------------------------------------------------------------------
# Validation split
# ---------------------------------------------------------------------------


def split_validation(
    x: torch.Tensor, y: torch.Tensor, val_fraction: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split ``(x, y)`` into a training and a validation part with a fixed, seeded shuffle.

    Parameters
    ----------
    x, y : torch.Tensor
        Inputs and labels, the same length along the first dimension.
    val_fraction : float in (0, 1)
        Share of the examples that go to the validation part (rounded to a whole number).
    seed : int >= 0
        Seed of the permutation; the same seed always gives the same split.

    Returns
    -------
    x_train, y_train, x_val, y_val : torch.Tensor
    """
    for name, tensor in (("x", x), ("y", y)):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}.")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}.")
    val_fraction = check_fraction(val_fraction, "val_fraction")
    seed = check_seed(seed)

    n_val = _split_size(len(x), val_fraction, "val_fraction")
    perm = _permutation(len(x), seed)
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


# ---------------------------------------------------------------------------
# MNIST-1D (generated offline, cached as .npz)
# ---------------------------------------------------------------------------

_MNIST1D_LENGTH = 40  # signal length of MNIST-1D's default arguments
_MNIST1D_SEED = 42  # MNIST-1D's canonical generation seed: keeps the data the standard one


def _generate_mnist1d(num_samples: int) -> dict[str, np.ndarray]:
    """Run ``mnist1d.data.make_dataset`` without disturbing the global random state."""
    from mnist1d.data import get_dataset_args, make_dataset  # lazy: imports matplotlib

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = _MNIST1D_SEED
    np_state, py_state = np.random.get_state(), random.getstate()
    try:  # make_dataset reseeds and draws from the global numpy / random generators
        raw = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {
        "x": raw["x"].astype(np.float32),
        "y": raw["y"].astype(np.int64),
        "x_test": raw["x_test"].astype(np.float32),
        "y_test": raw["y_test"].astype(np.int64),
    }


def _mnist1d_shapes(num_samples: int) -> dict[str, tuple[int, ...]]:
    n_train = int(num_samples * 0.8)  # make_dataset's train_split
    n_test = num_samples - n_train
    return {
        "x": (n_train, _MNIST1D_LENGTH),
        "y": (n_train,),
        "x_test": (n_test, _MNIST1D_LENGTH),
        "y_test": (n_test,),
    }


def _read_npz(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Read the arrays named in ``shapes``; raise ``ValueError`` if anything is off."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in shapes}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    for key, shape in shapes.items():
        if arrays[key].shape != shape:
            raise ValueError(f"{path}: {key} has shape {arrays[key].shape}, expected {shape}")
    return arrays


def _write_npz_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file next to ``path``, then rename: readers never see half a file."""
    tmp_path = None
    try:
        with tempfile.NamedTemporaryFile(
            delete=False, dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp"
        ) as tmp:
            tmp_path = Path(tmp.name)
            np.savez(tmp, **arrays)
        os.chmod(tmp_path, 0o644)  # temporary files are private (0600); a cache needn't be
        os.replace(tmp_path, path)
    finally:  # after a successful os.replace there is nothing left to remove
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


def load_mnist1d(
    num_samples: int = 5000,
    val_fraction: float = 0.2,
    seed: int = 0,
    root: str | os.PathLike | None = None,
) -> DataBundle:
    """MNIST-1D (Greydanus, 2020): 10 classes of 1-D signals of length 40.

    The data is generated offline with ``mnist1d.data.make_dataset`` (canonical seed 42) and
    split 80/20 into train and test; ``val_fraction`` of the train part then becomes the
    validation split. With the defaults: 3200 train, 800 validation, 1000 test examples.

    Parameters
    ----------
    num_samples : int
        Total number of signals, a multiple of 10 (the same number per class), at least 10.
    val_fraction : float in (0, 1)
        Share of the 80% training signals held out for validation.
    seed : int >= 0
        Seed of the validation split only; the signals themselves are always the same.
    root : path, optional
        Folder of the cache file ``mnist1d_{num_samples}.npz``; defaults to :func:`data_dir`.
        A corrupted cache is regenerated with a warning.
    """
    num_samples = check_int(num_samples, "num_samples", low=10)
    if num_samples % 10:
        raise ValueError(
            f"num_samples must be a multiple of 10 (the same number of signals for each of "
            f"the 10 classes), got {num_samples}."
        )
    val_fraction = check_fraction(val_fraction, "val_fraction")
    seed = check_seed(seed)
    folder = _check_root(root)
    folder.mkdir(parents=True, exist_ok=True)

    cache = folder / f"mnist1d_{num_samples}.npz"
    shapes = _mnist1d_shapes(num_samples)
    arrays = None
    if cache.exists():
        try:
            arrays = _read_npz(cache, shapes)
        except ValueError as error:
            warnings.warn(f"MNIST-1D cache is corrupted ({error}); regenerating it.", stacklevel=2)
    if arrays is None:
        arrays = _generate_mnist1d(num_samples)
        try:
            _write_npz_atomically(cache, arrays)
        except OSError as error:  # e.g. a read-only folder: the data is still usable
            warnings.warn(f"could not cache MNIST-1D at {cache}: {error}", stacklevel=2)

    x = torch.from_numpy(arrays["x"]).unsqueeze(1)  # (N, 1, 40): one channel
    y = torch.from_numpy(arrays["y"])
    x_train, y_train, x_val, y_val = split_validation(x, y, val_fraction, seed)
    return DataBundle(
        name="mnist1d",
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=torch.from_numpy(arrays["x_test"]).unsqueeze(1),
        y_test=torch.from_numpy(arrays["y_test"]),
        classes=tuple(str(i) for i in range(10)),
        input_shape=(1, _MNIST1D_LENGTH),
    )


# ---------------------------------------------------------------------------
# scikit-learn digits (ships with scikit-learn)
# ---------------------------------------------------------------------------


def load_digits(val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0) -> DataBundle:
    """scikit-learn's 1797 handwritten digits as 8x8 images in [0, 1], shape ``(N, 1, 8, 8)``.

    The data has no official test split, so one seeded permutation splits all 1797 images:
    ``test_fraction`` of them for test, ``val_fraction`` for validation, the rest for train.
    Both fractions are of the whole dataset and must add up to less than 1.
    """
    val_fraction = check_fraction(val_fraction, "val_fraction")
    test_fraction = check_fraction(test_fraction, "test_fraction")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1 to leave training data, got "
            f"{val_fraction} + {test_fraction} = {val_fraction + test_fraction}."
        )
    seed = check_seed(seed)

    from sklearn.datasets import load_digits as sklearn_digits  # lazy: sklearn is slow to import

    digits = sklearn_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixels are 0..16
    y = torch.tensor(digits.target, dtype=torch.int64)

    n = len(y)
    n_test = _split_size(n, test_fraction, "test_fraction")
    n_val = _split_size(n, val_fraction, "val_fraction")
    perm = _permutation(n, seed)
    test_idx, val_idx, train_idx = perm.split([n_test, n_val, n - n_test - n_val])
    return DataBundle(
        name="digits",
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_val=x[val_idx],
        y_val=y[val_idx],
        x_test=x[test_idx],
        y_test=y[test_idx],
        classes=tuple(str(c) for c in digits.target_names),
        input_shape=(1, 8, 8),
    )


# ---------------------------------------------------------------------------
# Streaming: a DataLoader-backed bundle for sets that do not fit in memory
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StreamBundle:
    """Train / validation / test splits as `torch.utils.data.Dataset`s of (image, label),
    read batch by batch through `DataLoader`s (worker processes, pinned memory) instead of
    held as tensors. `fit` trains on it (`fit_bundle(model, bundle)`); `tensors(split)`
    gathers a split that does fit in memory (e.g. the test set for `exit_probs`)."""

    name: str
    train: torch.utils.data.Dataset
    val: torch.utils.data.Dataset
    test: torch.utils.data.Dataset
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]
    batch_size: int = 256
    num_workers: int = 0
    pin_memory: bool = False

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            d = getattr(self, split)
            if not (hasattr(d, "__getitem__") and hasattr(d, "__len__")) or isinstance(d, str):
                raise TypeError(
                    f"{split} must be a torch Dataset of (input, label) pairs, got "
                    f"{type(d).__name__}."
                )
        if not isinstance(self.classes, tuple) or len(self.classes) < 2:
            raise ValueError(f"classes must be a tuple of at least 2 names, got {self.classes!r}.")
        if not isinstance(self.input_shape, tuple) or not self.input_shape:
            raise TypeError(f"input_shape must be a tuple of sizes, got {self.input_shape!r}.")
        check_int(self.batch_size, "batch_size", low=1)
        check_int(self.num_workers, "num_workers", low=0)
        if not isinstance(self.pin_memory, bool):
            raise TypeError(f"pin_memory must be a bool, got {type(self.pin_memory).__name__}.")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def dataset(self, split: str) -> torch.utils.data.Dataset:
        """The Dataset of `split` ("train", "val" or "test")."""
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}.")
        return getattr(self, split)

    def loader(self, split: str, batch_size: int | None = None, sampler=None):
        """A DataLoader over `split`, in order unless a `sampler` says otherwise, with the
        bundle's workers and pinned memory (its worker seeds drawn from a private generator,
        so iterating never moves torch's global random state)."""
        dataset = self.dataset(split)
        batch_size = (
            self.batch_size if batch_size is None else check_int(batch_size, "batch_size", low=1)
        )
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            generator=torch.Generator().manual_seed(0),
            persistent_workers=False,
        )

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of a whole split, gathered in memory (in order)."""
        xs, ys = [], []
        for x, y in self.loader(split):
            xs.append(x)
            ys.append(y)
        return torch.cat(xs), torch.cat(ys).to(torch.int64)

    def __len__(self) -> int:
        return len(self.train)

    def __repr__(self) -> str:
        return (
            f"StreamBundle(name={self.name!r}, train={len(self.train)}, val={len(self.val)}, "
            f"test={len(self.test)}, input_shape={self.input_shape}, "
            f"classes={self.num_classes}, batch_size={self.batch_size}, "
            f"num_workers={self.num_workers}, pin_memory={self.pin_memory})"
        )


# ---------------------------------------------------------------------------
# torchvision datasets (read from files on disk; downloaded only on request)
# ---------------------------------------------------------------------------

_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# name -> (torchvision class name, folder under root, files torchvision reads there)
_TORCHVISION = {
    "mnist": ("MNIST", Path("MNIST", "raw"), _IDX_FILES),
    "fashion-mnist": ("FashionMNIST", Path("FashionMNIST", "raw"), _IDX_FILES),
    "cifar10": (
        "CIFAR10",
        Path("cifar-10-batches-py"),
        (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
    ),
}


def _check_files(name: str, root: Path) -> None:
    """Raise ``FileNotFoundError`` with instructions if torchvision would not find the data."""
    class_name, subfolder, files = _TORCHVISION[name]
    folder = root / subfolder
    missing = [f for f in files if not (folder / f).is_file()]
    if class_name != "CIFAR10":  # older torchvision cached MNIST as processed/*.pt, still read
        processed = root / class_name / "processed"
        if all((processed / f).is_file() for f in ("training.pt", "test.pt")):
            missing = []
    if missing:
        partly = "" if len(missing) == len(files) else f" (missing: {', '.join(missing)})"
        raise FileNotFoundError(
            f"{class_name} files not found in {folder}: expected {', '.join(files)}"
            f"{partly}. No download was attempted because "
            f"download=False. Either run load_torchvision({name!r}, root={str(root)!r}, "
            "download=True) once on a machine with internet access, or copy those files "
            "(uncompressed, in torchvision's layout) into that folder; see data/README.md."
        )


def _as_images(data: object) -> torch.Tensor:
    """uint8 images, (N, H, W) or (N, H, W, C), to float32 ``(N, C, H, W)`` in [0, 1]."""
    images = torch.as_tensor(data)
    # grayscale (N, H, W): add the channel; colour (N, H, W, C): channels last -> first
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    return images.contiguous().to(torch.float32) / 255.0


def load_torchvision(
    name: str,
    root: str | os.PathLike | None = None,
    download: bool = False,
    val_fraction: float = 0.1,
    seed: int = 0,
    limit: int | None = None,
    stream: bool = False,
    batch_size: int = 256,
    num_workers: int = 0,
    pin_memory: bool | None = None,
) -> DataBundle | StreamBundle:
    """MNIST, Fashion-MNIST or CIFAR-10 through ``torchvision.datasets``.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "cifar10"}
    root : path, optional
        Folder holding torchvision's layout (``MNIST/raw/``, ``FashionMNIST/raw/``,
        ``cifar-10-batches-py/``); defaults to :func:`data_dir`.
    download : bool
        Let torchvision download missing files. With ``False`` (the default) missing files
        raise ``FileNotFoundError`` saying which files to put where.
    val_fraction : float in (0, 1)
        Share of the official training set held out for validation.
    seed : int >= 0
        Seed of the validation split.
    limit : int >= 1, optional
        Keep only the first ``limit`` training and the first ``limit`` test examples.

    stream : bool
        ``False`` (default): every split decoded into memory at once, a :class:`DataBundle`.
        ``True``: a :class:`StreamBundle` whose ``DataLoader``s decode images batch by batch
        (``batch_size``, ``num_workers`` worker processes, ``pin_memory``: default on when
        CUDA is present), for sets too big to hold as float tensors. Same examples in the
        same splits (the same seeded permutation), bit for bit.

    Images become float32 in [0, 1], shape ``(N, 1, 28, 28)`` or ``(N, 3, 32, 32)``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__} {name!r}.")
    if name not in _TORCHVISION:
        raise ValueError(f"name must be one of {sorted(_TORCHVISION)}, got {name!r}.")
    folder = _check_root(root)
    if not isinstance(download, bool):
        raise TypeError(f"download must be a bool, got {type(download).__name__} {download!r}.")
    val_fraction = check_fraction(val_fraction, "val_fraction")
    seed = check_seed(seed)
    if limit is not None:
        limit = check_int(limit, "limit", low=1)
    if not isinstance(stream, bool):
        raise TypeError(f"stream must be a bool, got {type(stream).__name__} {stream!r}.")
    batch_size = check_int(batch_size, "batch_size", low=1)
    num_workers = check_int(num_workers, "num_workers", low=0)
    if pin_memory is not None and not isinstance(pin_memory, bool):
        raise TypeError(f"pin_memory must be a bool or None, got {type(pin_memory).__name__}.")
    if not stream and (num_workers or pin_memory):
        raise ValueError(
            "num_workers and pin_memory must be left out unless stream=True (the in-memory "
            "path has no DataLoader)."
        )
    if not download:
        _check_files(name, folder)

    splits = {}
    for split, train in (("train", True), ("test", False)):
        images, labels, classes = _read_split(name, folder, train, download)
        splits[split] = (images[:limit], labels[:limit])  # [:None] keeps all
    if stream:
        train = _Images(*splits["train"])
        n_val = _split_size(len(train), val_fraction, "val_fraction")
        perm = _permutation(len(train), seed).tolist()  # the permutation of split_validation
        test = _Images(*splits["test"])
        return StreamBundle(
            name=name,
            train=torch.utils.data.Subset(train, perm[n_val:]),
            val=torch.utils.data.Subset(train, perm[:n_val]),
            test=test,
            classes=classes,
            input_shape=tuple(test[0][0].shape),
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        )
    splits = {k: (_as_images(x), y) for k, (x, y) in splits.items()}
    x_train, y_train, x_val, y_val = split_validation(*splits["train"], val_fraction, seed)
    x_test, y_test = splits["test"]
    return DataBundle(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        classes=classes,
        input_shape=tuple(x_test.shape[1:]),
    )


def _read_split(name: str, folder: Path, train: bool, download: bool):
    """uint8 images (N, H, W) or (N, H, W, C), int64 labels and class names of one split.

    CIFAR-10 is read straight from its pickled batches (torchvision's layout, without its
    checksums: files written in that format by other tools load too); the others, or a
    download, go through torchvision."""
    if name == "cifar10" and not download:
        base = folder / _TORCHVISION[name][1]
        files = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
        data, labels = [], []
        for file in files:
            entry = _unpickle(base / file)
            data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
        classes = tuple(_unpickle(base / "batches.meta")["label_names"])
        images = torch.from_numpy(np.concatenate(data).transpose(0, 2, 3, 1).copy())
        return images, torch.as_tensor(labels, dtype=torch.int64), classes

    import torchvision  # lazy: only these three datasets need it

    dataset_class = getattr(torchvision.datasets, _TORCHVISION[name][0])
    dataset = dataset_class(root=str(folder), train=train, download=download)
    images = torch.as_tensor(dataset.data)
    return images, torch.as_tensor(dataset.targets, dtype=torch.int64), tuple(dataset.classes)


def write_synthetic_cifar10(
    root: str | os.PathLike, train: int = 1000, test: int = 200, seed: int = 0
) -> Path:
    """Write CIFAR-10-format files (``cifar-10-batches-py/``: five pickled training batches,
    ``test_batch``, ``batches.meta``) holding synthetic 32x32 colour images, so the
    ``cifar10`` code paths run without the real data (tests, CI, trying the commands). Class
    c is a noisy image around its own smooth colour pattern: learnable, not trivial.
    `train` must be a multiple of 5 (one fifth per batch file). Returns the folder."""
    folder = _check_root(root) / _TORCHVISION["cifar10"][1]
    train = check_int(train, "train", low=5)
    if train % 5:
        raise ValueError(f"train must be a multiple of 5 (five batch files), got {train}.")
    test = check_int(test, "test", low=1)
    rng = np.random.default_rng(check_seed(seed))
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    patterns = np.stack(
        [
            np.stack(
                [np.sin(np.pi * (a * xx + b * yy + c)) for a, b, c in rng.uniform(0, 2, (3, 3))]
            )
            for _ in range(10)
        ]
    )  # (10 classes, 3 channels, 32, 32) in [-1, 1]

    def draw(n):
        labels = rng.integers(0, 10, n)
        images = 128 + 40 * patterns[labels] + rng.normal(0, 90, (n, 3, 32, 32))
        return np.clip(images, 0, 255).astype(np.uint8).reshape(n, 3072), labels.tolist()

    import pickle

    folder.mkdir(parents=True, exist_ok=True)
    data, labels = draw(train)
    k = train // 5
    for i in range(5):
        batch = {"data": data[i * k : (i + 1) * k], "labels": labels[i * k : (i + 1) * k]}
        (folder / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch))
    data, labels = draw(test)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": data, "labels": labels}))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship"]
    meta = {"label_names": [*names, "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return folder


def _unpickle(path: Path) -> dict:
    import pickle

    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as error:
        raise ValueError(f"cannot read {path} as a CIFAR-10 batch: {error}") from error


class _Images(torch.utils.data.Dataset):
    """uint8 images and their labels, each image decoded to float32 (C, H, W) in [0, 1] only
    when it is read (the in-memory path's `_as_images`, bit for bit)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return _as_images(self.images[index : index + 1])[0], self.labels[index]


# ---------------------------------------------------------------------------
# One entry point
# ---------------------------------------------------------------------------

#: Names accepted by :func:`load_dataset`.
DATASETS = ("mnist1d", "digits", "mnist", "fashion-mnist", "cifar10")


def load_dataset(name: str, **kwargs: object) -> DataBundle:
    """Load a dataset by name; ``kwargs`` go to its loader.

    ``"mnist1d"`` -> :func:`load_mnist1d`, ``"digits"`` -> :func:`load_digits`,
    ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"`` -> :func:`load_torchvision`.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__} {name!r}.")
    if name == "mnist1d":
        return load_mnist1d(**kwargs)
    if name == "digits":
        return load_digits(**kwargs)
    if name in _TORCHVISION:
        return load_torchvision(name, **kwargs)
    raise ValueError(f"name must be one of {', '.join(DATASETS)}; got {name!r}.")
