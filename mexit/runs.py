"""One cached training run: build a model, train it once, keep it on disk, load it afterwards.

Every chapter module's `run_*` / `train_*` helper goes through `cached_fit`, so a run is
cached, seeded and named the same way everywhere: the file is
`<name>_seed<seed>_<hash of the config>.pt` (`checkpoints.cache_name`), so runs with other
settings or seeds never overwrite one another. Around it: `run_budget` checks a run's
epochs, lr, batch size and seed; `run_data` loads its dataset; `build_for` sizes a named
backbone from the data (or says what does not fit); `check_fits` checks a model handed in
against the data; `fit_run` trains at the config's budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ._checks import check_float, check_int
from .checkpoints import cache_name, cached_model
from .data import DATASETS, DataBundle, load_dataset
from .models import MODELS, build_model, eval_mode
from .training import History, fit_bundle

__all__ = [
    "build_for",
    "cached_fit",
    "check_fits",
    "fit_budget",
    "fit_run",
    "run_budget",
    "run_data",
]

# What each backbone of `build_model` reads: its keyword for the input size, and the rank of
# one example ((1, length) signals for the 1-D CNN, (channels, height, width) images for the
# 2-D one; the MLP flattens any shape).
_READS = {
    "mnist1d_cnn": ("input_length", 2),
    "cnn2d": ("input_shape", 3),
    "mlp": ("input_shape", None),
}


def cached_fit(
    name: str,
    config: dict,
    build: Callable[[], torch.nn.Module],
    train: Callable[[torch.nn.Module], History | dict],
    *,
    root=None,
    retrain: bool = False,
) -> tuple[torch.nn.Module, dict]:
    """Return (model, extras) of the run `name` with settings `config` (which must hold its
    `seed`): loaded from `<root>/checkpoints/<name>_seed<seed>_<hash>.pt` when it exists, else
    `build()` (seeded by `config["seed"]`), trained by `train(model)` and saved.

    `train` returns the `History` of its `fit`/`fit_bundle` run, or a dict of JSON-like
    extras (which may hold a history's "train_loss", "val_accuracy", "seconds"). A returned
    model with exits carries that history as `model.history`."""
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"name must be a plain file name, got {name!r}")
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    if "seed" not in config:
        raise ValueError("config must hold the run's 'seed'")
    seed = check_int(config["seed"], "config['seed']", low=0)
    if not callable(train):
        raise TypeError(f"train must be callable, got {type(train).__name__}")

    def train_and_record(model):
        out = train(model)
        if isinstance(out, History):
            return out.as_dict()
        if not isinstance(out, dict):
            raise TypeError(f"train must return a History or a dict, got {type(out).__name__}")
        return out

    model, extras = cached_model(
        cache_name(f"{name}_seed{seed}", config),
        config,
        build,
        train_and_record,
        root=root,
        retrain=retrain,
    )
    if hasattr(model, "exits") and "val_accuracy" in extras:
        model.history = History.from_dict(model.exits, extras)
    return model, extras


def run_budget(*, epochs, lr, seed, batch_size=None) -> dict:
    """The checked training budget of a run, to spread into its `cached_fit` config:
    {"epochs", "lr", "seed"} and "batch_size" when one is given. `lr` must be positive and
    finite (lr = 0 would train nothing and say nothing)."""
    lr = check_float(lr, "lr", low=0.0)
    if lr == 0 or not math.isfinite(lr):
        raise ValueError(f"lr must be positive and finite, got {lr}")
    budget = {"epochs": check_int(epochs, "epochs", low=1), "lr": lr}
    if batch_size is not None:
        budget["batch_size"] = check_int(batch_size, "batch_size", low=1)
    budget["seed"] = check_int(seed, "seed", low=0)
    return budget


def fit_budget(config: dict) -> dict:
    """The keyword arguments of `fit` (and of the chapters' own trainers) that a run's config
    fixes: its "epochs", "lr" and, when it holds one, "batch_size"."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    if "epochs" not in config or "lr" not in config:
        raise ValueError(f"config must hold the run's 'epochs' and 'lr', got keys {sorted(config)}")
    return {k: config[k] for k in ("epochs", "lr", "batch_size") if k in config}


def fit_run(model: torch.nn.Module, data: DataBundle, config: dict, **kwargs) -> History:
    """`fit_bundle(model, data, ...)` at the run's `fit_budget(config)`; `kwargs` (loss,
    progress, desc, ...) go to `fit` as they are. The `train` of most `cached_fit` runs."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(data, DataBundle):
        raise TypeError(f"data must be a DataBundle, got {type(data).__name__}")
    return fit_bundle(model, data, **{**fit_budget(config), **kwargs})


def check_fits(module: torch.nn.Module, data: DataBundle, argument: str) -> None:
    """Raise a ValueError that starts with `argument` unless `module` reads `data`'s inputs
    and gives one logit per class of `data` at every exit (a dummy pass on two training
    examples, in eval mode, without gradient; the module's modes are left as they were)."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"{argument} must be an nn.Module, got {type(module).__name__}")
    if not isinstance(data, DataBundle):
        raise TypeError(f"data must be a DataBundle, got {type(data).__name__}")
    param = next(module.parameters(), None)
    x = data.x_train[:2]
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    where = f"dataset={data.name!r} (inputs of shape {tuple(data.input_shape)})"
    try:
        with eval_mode(module), torch.no_grad():
            outputs = module(x)
    except RuntimeError as err:
        raise ValueError(f"{argument} does not fit {where}: {err}") from None
    if isinstance(outputs, torch.Tensor):  # a single-output module: one "exit"
        outputs = [outputs]
    widths = sorted({int(o.shape[-1]) for o in outputs})
    if widths != [data.num_classes]:
        raise ValueError(
            f"{argument} gives {widths} logits per exit, but dataset={data.name!r} has "
            f"{data.num_classes} classes"
        )


def build_for(model: str, model_kwargs: dict, data: DataBundle):
    """`build_model(model, **model_kwargs)` sized for `data`: its input shape and number of
    classes fill what `model_kwargs` leaves out; a backbone that cannot read `data`'s inputs
    is a ValueError naming `model` (or `model_kwargs`), never an error inside a convolution."""
    if not isinstance(model, str) or model not in MODELS:
        raise ValueError(f"model must be one of {tuple(MODELS)}, got {model!r}")
    if not isinstance(model_kwargs, dict):
        raise TypeError(f"model_kwargs must be a dict, got {type(model_kwargs).__name__}")
    if not isinstance(data, DataBundle):
        raise TypeError(f"data must be a DataBundle, got {type(data).__name__}")
    keyword, rank = _READS[model]
    shape = tuple(data.input_shape)
    if rank is not None and (len(shape) != rank or (model == "mnist1d_cnn" and shape[0] != 1)):
        reads = "(1, length) signals" if model == "mnist1d_cnn" else "(channels, height, width)"
        raise ValueError(
            f"model={model!r} reads {reads}, but dataset={data.name!r} has inputs of shape "
            f"{shape}: pick a model that fits (e.g. 'mlp')"
        )
    sized = {keyword: shape[-1] if keyword == "input_length" else shape}
    net = build_model(model, **{**sized, "num_classes": data.num_classes, **model_kwargs})
    check_fits(net, data, f"model={model!r} with model_kwargs={model_kwargs!r}")
    return net


def run_data(dataset: str) -> DataBundle:
    """`load_dataset(dataset)` for a `run_*` helper, its errors naming `dataset`."""
    if not isinstance(dataset, str):
        raise TypeError(f"dataset must be a dataset name (str), got {type(dataset).__name__}")
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    return load_dataset(dataset)
