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

import hashlib
import math
import os
import pickle
from collections.abc import Callable

import torch

from ._checks import check_float, check_int
from .checkpoints import RECIPES, cache_name, cached_model
from .data import DATASETS, DataBundle, load_dataset
from .models import MODELS, build_model, eval_mode
from .training import History, fit_bundle

__all__ = [
    "backbone_for",
    "build_for",
    "cached_fit",
    "check_fits",
    "fit_budget",
    "fit_run",
    "load_for",
    "model_for",
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


# ---------------------------------------------------------------------------
# Bring your own backbone and data (issue 16): one call gives a chapter its model and data
# ---------------------------------------------------------------------------

#: torchvision backbones `backbone_for` builds (random weights unless `weights` is given)
TORCHVISION_BACKBONES = ("resnet18", "resnet50", "mobilenet_v3_small", "vit")
#: the reference model of each dataset that has one (`mexit.checkpoints.RECIPES`)
REFERENCE = {"mnist1d": "mnist1d_cnn", "digits": "digits_cnn"}
# a chapter's training budget for a backbone that is not a cached reference model
_BUDGET = {"epochs": 8, "lr": 2e-3, "batch_size": 64}


def load_for(dataset: str, *, data_dir=None, limit=None, stream: bool = False, num_workers=0):
    """The dataset of a run by name: `load_dataset(dataset)` with its files read from
    `data_dir` (torchvision sets), the first `limit` examples, or a `StreamBundle`
    (`stream=True`, `num_workers` DataLoader workers). Splits are seeded as the loaders'
    defaults, whatever the run's seed."""
    if not isinstance(dataset, str):
        raise TypeError(f"dataset must be a dataset name (str), got {type(dataset).__name__}")
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    extra = {"root": data_dir, "limit": limit, "stream": stream, "num_workers": num_workers}
    if dataset in ("mnist1d", "digits"):
        asked = [k for k, v in extra.items() if v not in (None, False, 0)]
        if asked:
            raise ValueError(
                f"dataset={dataset!r} is built in: {', '.join(asked)} must be left out "
                "(they are for the torchvision sets)"
            )
        return load_dataset(dataset)
    if not stream:
        del extra["stream"], extra["num_workers"]
    return load_dataset(dataset, **extra)


def _torchvision_model(backbone: str, shape: tuple[int, ...], num_classes: int):
    import torchvision

    if len(shape) != 3 or shape[0] != 3:
        raise ValueError(
            f"backbone={backbone!r} reads colour images (3, height, width), but the data has "
            f"inputs of shape {shape}: pick a reference backbone ('mlp', 'cnn2d')"
        )
    if backbone == "vit":
        if shape[1] != shape[2] or shape[1] % 4:
            raise ValueError(
                f"backbone='vit' needs square images with a side divisible by its patch of 4, "
                f"got inputs of shape {shape}"
            )
        return torchvision.models.VisionTransformer(
            image_size=shape[1], patch_size=4, num_layers=4, num_heads=4, hidden_dim=64,
            mlp_dim=128, num_classes=num_classes,
        )  # fmt: skip
    return getattr(torchvision.models, backbone)(weights=None, num_classes=num_classes)


def backbone_for(
    backbone: str,
    data,
    *,
    exits=None,
    head: str | None = None,
    weights=None,
    freeze_backbone: bool = False,
):
    """A multi-exit network for `data` (a DataBundle or StreamBundle): `backbone` is
    'reference' (the dataset's reference architecture, `REFERENCE`, else 'cnn2d' for images
    and 'mlp' otherwise), a name of `mexit.models.MODELS`, or a torchvision backbone of
    `TORCHVISION_BACKBONES` (through `attach_exits`; 'vit' is a small ViT: patch 4, 4
    layers, width 64). head: the early heads' kind (default: the architecture's own,
    "pooled" for torchvision backbones). Nothing downloads: weights are random unless
    `weights` names your file, read with `torch.load(weights, weights_only=True)`: a
    torchvision state dict of the plain classifier (loaded before the exits are attached) or
    a checkpoint of `python -m mexit.train` (its "state_dict", loaded after)."""
    from .backbones import attach_exits
    from .data import StreamBundle

    if not isinstance(data, (DataBundle, StreamBundle)):
        raise TypeError(f"data must be a DataBundle or StreamBundle, got {type(data).__name__}")
    names = ("reference", *MODELS, *TORCHVISION_BACKBONES)
    if not isinstance(backbone, str) or backbone not in names:
        raise ValueError(f"backbone must be one of {names}, got {backbone!r}")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be a file path or None, got {type(weights).__name__}")
    if not isinstance(freeze_backbone, bool):
        raise TypeError(f"freeze_backbone must be a bool, got {type(freeze_backbone).__name__}")
    shape = tuple(data.input_shape)
    state = None
    if weights is not None:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, pickle.UnpicklingError) as err:
            raise ValueError(f"weights {str(weights)!r} cannot be read: {err}") from None
        if not isinstance(state, dict):
            raise ValueError(f"weights {str(weights)!r} must hold a state dict")
    multi_exit_state = state.get("state_dict") if state and "state_dict" in state else None
    if backbone in TORCHVISION_BACKBONES:
        plain = _torchvision_model(backbone, shape, data.num_classes)
        if state is not None and multi_exit_state is None:
            try:
                plain.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(f"weights do not fit backbone={backbone!r}: {err}") from None
        net = attach_exits(
            plain,
            exits=exits,
            head=head or "pooled",
            freeze_backbone=freeze_backbone,
            input_shape=shape,
        )
    else:
        if freeze_backbone:
            raise ValueError(
                "freeze_backbone must be False for a reference backbone (use "
                "mexit.separate.run_heads for §5.4 on those)"
            )
        if backbone == "reference":
            name = data.name if data.name in REFERENCE else None
            recipe = RECIPES[REFERENCE[name]] if name else None
            backbone = recipe["model"] if recipe else ("cnn2d" if len(shape) == 3 else "mlp")
        kwargs = ({} if head is None else {"head": head}) | (
            {} if exits is None else {"exits": exits}
        )
        net = build_for(backbone, kwargs, _as_bundle(data))
        if state is not None and multi_exit_state is None:
            multi_exit_state = state
    if multi_exit_state is not None:
        try:
            net.load_state_dict(multi_exit_state)
        except RuntimeError as err:
            raise ValueError(f"weights do not fit the multi-exit {backbone!r}: {err}") from None
    return net


def _as_bundle(data) -> DataBundle:
    """A DataBundle with two examples of `data` (what `build_for` reads to size a model)."""
    if isinstance(data, DataBundle):
        return data
    x, y = next(iter(data.loader("test", batch_size=2)))
    return DataBundle(data.name, x, y, x, y, x, y, data.classes, tuple(data.input_shape))


def _fingerprint(data) -> str:
    """A short hash of a dataset's sizes and first examples: a cached run on other files
    (say synthetic CIFAR-format ones) is never taken for one on these."""
    if isinstance(data, DataBundle):
        x, y, sizes = data.x_train[:256], data.y_train, (len(data.y_train), len(data.y_test))
    else:
        x, y = next(iter(data.loader("train", batch_size=256)))
        sizes = (len(data.train), len(data.test))
    h = hashlib.sha1(repr(sizes).encode())
    h.update(x.contiguous().numpy().tobytes())
    h.update(y.numpy().tobytes())
    return h.hexdigest()[:12]


def model_for(
    dataset: str = "mnist1d",
    backbone: str = "reference",
    seed: int = 0,
    device="cpu",
    *,
    data_dir=None,
    limit=None,
    progress: bool = True,
    retrain: bool = False,
    root=None,
):
    """(model, data) of a chapter: the reference run (dataset 'mnist1d', backbone
    'reference': `pretrained("mnist1d_cnn", seed=seed)` and `load_mnist1d()`), or `backbone`
    (see `backbone_for`) on `dataset` (files from `data_dir`, the first `limit` examples),
    trained jointly (eq. 6, every α_i = 1) for `_BUDGET`'s epochs on `device` through
    `cached_fit` (one cache per data files, backbone and seed); `retrain=True` trains
    again instead of loading the cache.

    The model comes back on the CPU, in eval mode, with the data in memory: a chapter's
    analysis (NumPy, scikit-learn, widgets) runs there; `exit_probs(..., device=device)` and
    `early_exit_predict(..., device=device)` run it on the device again."""
    from .checkpoints import pretrained
    from .devices import check_device

    seed = check_int(seed, "seed", low=0)
    device = check_device(device)
    if dataset == "mnist1d" and backbone == "reference":
        if data_dir is not None or limit is not None:
            raise ValueError("data_dir and limit must be left out for the reference run")
        data = load_for(dataset)
        return pretrained("mnist1d_cnn", seed=seed, progress=progress, retrain=retrain), data
    data = load_for(dataset, data_dir=data_dir, limit=limit)
    config = {"dataset": dataset, "backbone": backbone, "data": _fingerprint(data), **_BUDGET}
    config["seed"] = seed

    def train(model):
        return fit_run(model, data, config, progress=progress, device=device,
                       desc=f"training {backbone} on {dataset}")  # fmt: skip

    model, _ = cached_fit(
        f"{dataset}_{backbone}",
        config,
        lambda: backbone_for(backbone, data),
        train,
        root=root,
        retrain=retrain,
    )
    return model.eval(), data
