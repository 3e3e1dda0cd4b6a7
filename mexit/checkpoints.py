"""Trained models cached on disk: written atomically, loaded with `weights_only=True`.

`cached_model` trains once and reuses the result; `pretrained(name)` is the running
examples' reference models built on it, so later notebooks never retrain them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ._checks import check_seed
from .data import data_dir, load_dataset
from .models import MultiExitNet, build_model
from .seed import seed_everything
from .training import History, fit_bundle


@contextlib.contextmanager
def preserved_rng():
    """Run a block without disturbing Python's, NumPy's or PyTorch's random state (CPU, and
    every CUDA device's when CUDA is available), so a notebook prints the same numbers whether
    a model was trained or loaded from cache."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def save_atomically(payload: dict, path) -> Path:
    """torch.save to a temporary file beside `path`, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _config_key(config: dict) -> str:
    try:
        return json.dumps(config, sort_keys=True)
    except TypeError as err:
        raise TypeError(f"config must hold only JSON-able literals: {err}") from err


def state_fingerprint(module: torch.nn.Module) -> str:
    """A short hash of every parameter and buffer of `module` (names, shapes, bytes): put it
    in a `cached_model` config so a model trained on top of another is retrained when that
    other model changes."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    digest = hashlib.sha1()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def cache_name(prefix: str, config: dict) -> str:
    """`prefix` plus a short hash of `config`: runs with different settings get their own
    checkpoint file instead of overwriting one another's."""
    if not isinstance(prefix, str) or not prefix or "/" in prefix:
        raise ValueError(f"prefix must be a plain file name, got {prefix!r}")
    return f"{prefix}_{hashlib.sha1(_config_key(config).encode()).hexdigest()[:10]}"


def _built(build) -> torch.nn.Module:
    model = build()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"build must return an nn.Module, got {type(model).__name__}")
    return model


def cached_model(
    name: str,
    config: dict,
    build: Callable[[], torch.nn.Module],
    train: Callable[[torch.nn.Module], dict],
    *,
    root=None,
    retrain: bool = False,
):
    """Return (model, extras): loaded from `<root>/checkpoints/<name>.pt` when its config
    matches, else built, trained (seeded by config["seed"]) and saved atomically.

    `train(model)` returns a dict of JSON-like extras (e.g. a training history) kept beside
    the weights. A corrupted or mismatched file is retrained with a warning, never a crash."""
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"name must be a plain file name, got {name!r}")
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    if not callable(build):
        raise TypeError(f"build must be callable: build() -> nn.Module, got {type(build).__name__}")
    if not callable(train):
        raise TypeError(f"train must be callable: train(model) -> dict, got {type(train).__name__}")
    key = _config_key(config)
    seed = check_seed(config.get("seed", 0), "config['seed']")
    path = Path(root if root is not None else data_dir()) / "checkpoints" / f"{name}.pt"
    with preserved_rng():
        seed_everything(seed)
        model = _built(build)
        if path.exists() and not retrain:
            try:
                payload = torch.load(path, map_location="cpu", weights_only=True)
                if payload.get("config") != key:
                    raise ValueError("it was trained with another configuration")
                model.load_state_dict(payload["state_dict"])
                model.eval()
                return model, payload.get("extras", {})
            except Exception as err:  # any unreadable or stale file is retrained
                warnings.warn(f"retraining {name}: cannot use {path} ({err})", stacklevel=2)
                seed_everything(seed)
                model = _built(build)
        extras = train(model)
        if extras is None:
            extras = {}
        if not isinstance(extras, dict):
            raise TypeError(f"train must return a dict of extras, got {type(extras).__name__}")
        model.eval()
        save_atomically({"config": key, "state_dict": model.state_dict(), "extras": extras}, path)
    return model, extras


# The reference models every notebook shares (the running example first).
RECIPES = {
    "mnist1d_cnn": dict(dataset="mnist1d", model="mnist1d_cnn", kwargs={}, epochs=20, lr=3e-3),
    "mnist1d_mlp": dict(
        dataset="mnist1d", model="mlp", kwargs={"input_shape": [1, 40]}, epochs=30, lr=2e-3
    ),
    "digits_cnn": dict(
        dataset="digits", model="cnn2d", kwargs={"input_shape": [1, 8, 8]}, epochs=30, lr=3e-3
    ),
}


def pretrained(
    name: str = "mnist1d_cnn",
    *,
    seed: int = 0,
    retrain: bool = False,
    progress: bool = True,
    root=None,
    device=None,
) -> MultiExitNet:
    """A reference model trained jointly (eq. 6, every α_i = 1) on first use, then cached.
    It comes on the CPU, or on `device` ("cuda", "mps", ...) when given.

    `seed` seeds its initialisation and data order (each seed has its own cache file; seed 0
    is the reference every chapter's numbers are quoted for). The model's training history is
    attached as `model.history`."""
    if not isinstance(name, str) or name not in RECIPES:
        raise ValueError(f"name must be one of {tuple(RECIPES)}, got {name!r}")
    seed = check_seed(seed)
    from .devices import check_device  # issue 16

    device = check_device(device)
    recipe = dict(RECIPES[name], seed=seed, batch_size=128, version=2)
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in recipe["kwargs"].items()}

    def build():
        return build_model(recipe["model"], **kwargs)

    def train(model):
        data = load_dataset(recipe["dataset"])
        h = fit_bundle(
            model,
            data,
            epochs=recipe["epochs"],
            lr=recipe["lr"],
            batch_size=recipe["batch_size"],
            progress=progress,
            desc=f"training {name}",
        )
        return h.as_dict()

    file = name if seed == 0 else f"{name}_seed{seed}"
    model, extras = cached_model(file, recipe, build, train, root=root, retrain=retrain)
    model.history = History.from_dict(model.exits, extras)
    return model if device is None else model.to(device)
