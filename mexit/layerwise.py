"""Layer-wise training (survey §5.3; forward thinking, Hettinger et al.; deep cascade
learning, Marquez et al.).

Stage i trains block f_i and its head c_i on L_i alone, with f_1..f_{i-1} frozen: the training
inputs are replaced by the cached embeddings h_{i-1} = f_{i-1}(…f_1(x)), computed once per
stage, so the frozen blocks never run again during training and receive no gradient.
Also here: linear probes per layer (the linear separability that grows with depth, §5.3.1),
the memory a backward pass keeps (`saved_activation_bytes`) and the arithmetic of a training
run (`training_flops`), so that layer-wise and joint training can be compared at a stated
budget.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ._checks import check_int, check_labels, check_tensor
from .checkpoints import state_fingerprint
from .cost import count_flops
from .heads import linear_head
from .models import MultiExitNet, eval_mode
from .runs import build_for, cached_fit, check_fits, fit_budget, run_budget, run_data
from .separate import fit_head, frozen_embeddings
from .training import History, fit, joint_loss


@dataclass
class Stage:
    """What stage i of layer-wise training did."""

    block: int  # i, 1-based
    history: History  # the stage's own fit history (one exit: c_i)
    train_seconds: float  # training f_i and c_i
    embed_seconds: float  # computing h_i = f_i(h_{i-1}) once for the next stage
    input_bytes: int  # memory of the cached training inputs h_{i-1}
    val_accuracy: float = field(default=float("nan"))  # of c_i after the stage


def _embed(block: nn.Module, h: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    with eval_mode(block), torch.no_grad():
        return torch.cat([block(h[s : s + batch_size]) for s in range(0, len(h), batch_size)])


def train_layerwise(
    model: MultiExitNet,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    *,
    stages: int | None = None,
    epochs: int = 5,
    lr: float = 1e-2,
    batch_size: int = 128,
    progress: bool = True,
) -> list[Stage]:
    """Train `model` stage by stage (§5.3): stage i fits (f_i, c_i) on L_i alone, on the
    cached embeddings of the frozen blocks before it. `stages` (default L) trains the first
    `stages` blocks; every trained block needs a head. Returns one `Stage` per stage."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x_train, "x_train", dtype_kind="float")
    check_labels(y_train, x_train.shape[0], "y_train")
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    L = model.num_blocks
    stages = L if stages is None else check_int(stages, "stages", low=1, high=L)
    missing = [i for i in range(1, stages + 1) if str(i) not in model.heads]
    if missing:
        raise ValueError(
            f"layer-wise training needs a head at every trained block; blocks {missing} have none"
        )
    epochs = check_int(epochs, "epochs", low=1)
    h_train, h_val = x_train, x_val
    report = []
    for i in range(1, stages + 1):
        block, head = model.blocks[i - 1], model.head(i)
        stage_net = MultiExitNet([block], {1: head})  # f_i and c_i only: nothing before
        history = fit(
            stage_net,
            h_train,
            y_train,
            h_val,
            y_val,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            loss=joint_loss([]),
            progress=progress,
            desc=f"stage {i}/{stages}",
        )
        input_bytes = h_train.numel() * h_train.element_size()
        start = time.perf_counter()
        if i < stages:  # replace the inputs by f_i(h_{i-1}), once
            h_train = _embed(block, h_train)
            h_val = None if h_val is None else _embed(block, h_val)
        report.append(
            Stage(
                block=i,
                history=history,
                train_seconds=history.seconds,
                embed_seconds=time.perf_counter() - start,
                input_bytes=input_bytes,
                val_accuracy=history.final_accuracy[-1] if history.val_accuracy else float("nan"),
            )
        )
    model.eval()
    return report


def saved_activation_bytes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss=None) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of one training step of
    `model` on the batch (x, y) (parameters excluded): the activation memory of training.
    The model's weights, batch-norm statistics and mode are left as they were.

    `model` returns a list of exit logits; `loss(outputs, y)` defaults to eq. 6 with α = 1."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    check_labels(y, x.shape[0], "y")
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    state = {k: v.clone() for k, v in model.state_dict().items()}  # BN statistics move in train
    with eval_mode(model):  # saves every submodule's mode and gives it back on the way out
        model.train()  # a training step's activations
        try:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                outputs = model(x)
                if loss is None:
                    loss = joint_loss([1.0] * (len(outputs) - 1))
                loss(outputs, y)
        finally:
            model.load_state_dict(state)
    return int(sum(seen.values()))


def stage_activation_bytes(model: MultiExitNet, x: torch.Tensor, y: torch.Tensor) -> list[int]:
    """`saved_activation_bytes` of each layer-wise stage i on the batch (x, y): block f_i and
    head c_i on the cached h_{i-1} (frozen blocks keep nothing for backward)."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    check_labels(y, x.shape[0], "y")
    hs = [x] + frozen_embeddings(model, x)
    out = []
    for i in range(1, model.num_blocks + 1):
        if str(i) in model.heads:
            stage_net = MultiExitNet([model.blocks[i - 1]], {1: model.head(i)})
            out.append(saved_activation_bytes(stage_net, hs[i - 1], y, joint_loss([])))
    return out


def _step_flops(net: MultiExitNet, x: torch.Tensor, y: torch.Tensor, loss) -> int:
    net = copy.deepcopy(net)
    net.train()
    with FlopCounterMode(display=False) as counter:
        total, _ = loss(net(x), y)
        total.backward()
    return int(counter.get_total_flops())


def training_flops(
    model: MultiExitNet,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    n_train: int,
    scheme: str = "layerwise",
) -> int:
    """FLOPs (FlopCounterMode: matmuls and convolutions) of training `model` for `epochs`
    epochs on `n_train` inputs, scaled from one forward + backward step measured on the batch
    (x, y) (a copy of the model is used; optimiser updates and evaluation are not counted).

    scheme "layerwise" (§5.3): every stage i runs `epochs` epochs of f_i and c_i on the cached
    h_{i-1} (no backward below block i), plus the forward pass that caches h_1..h_{L-1} once;
    "joint" (eq. 6, every α_i = 1): forward and backward through every block."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    check_labels(y, x.shape[0], "y")
    epochs = check_int(epochs, "epochs", low=1)
    n_train = check_int(n_train, "n_train", low=1)
    if scheme not in ("layerwise", "joint"):
        raise ValueError(f"scheme must be 'layerwise' or 'joint', got {scheme!r}")
    per_batch = epochs * n_train / x.shape[0]
    if scheme == "joint":
        loss = joint_loss([1.0] * (len(model.exits) - 1))
        return int(round(per_batch * _step_flops(model, x, y, loss)))
    missing = [i for i in range(1, model.num_blocks + 1) if str(i) not in model.heads]
    if missing:
        raise ValueError(f"layer-wise training needs a head at every block; {missing} have none")
    hs = [x] + frozen_embeddings(model, x)
    steps = sum(
        _step_flops(
            MultiExitNet([model.blocks[i]], {1: model.head(i + 1)}), hs[i], y, joint_loss([])
        )
        for i in range(model.num_blocks)
    )
    caching = sum(
        count_flops(model.blocks[i], hs[i]) for i in range(model.num_blocks - 1)
    )  # h_1..h_{L-1}, once over the training set
    return int(round(per_batch * steps + n_train / x.shape[0] * caching))


def linear_probes(
    model: MultiExitNet,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    epochs: int = 5,
    lr: float = 1e-2,
    batch_size: int = 128,
    progress: bool = True,
) -> tuple[list[float], nn.ModuleList]:
    """Linear separability per layer (§5.3.1): a linear classifier on the flattened h_0 = x,
    h_1, ..., h_L of the frozen `model`, each trained on the training split. Returns (test
    accuracy per layer 0..L, the probes)."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x_train, "x_train", dtype_kind="float")
    check_labels(y_train, x_train.shape[0], "y_train")
    check_tensor(x_test, "x_test", dtype_kind="float")
    check_labels(y_test, x_test.shape[0], "y_test")
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    h_train = [x_train] + frozen_embeddings(model, x_train)
    h_test = [x_test] + frozen_embeddings(model, x_test)
    probes = nn.ModuleList(linear_head(tuple(h.shape[1:]), num_classes) for h in h_train)
    accuracies = []
    for i, (probe, htr, hte) in enumerate(zip(probes, h_train, h_test)):
        report = fit_head(
            probe,
            htr,
            y_train,
            hte,
            y_test,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            progress=progress,
            desc=f"probe h_{i}",
        )
        accuracies.append(report["val_accuracy"])
    return accuracies, probes


def run_layerwise(
    *,
    model: str = "mnist1d_cnn",
    model_kwargs: dict | None = None,
    dataset: str = "mnist1d",
    stages: int | None = None,
    epochs: int = 5,
    lr: float = 1e-2,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
    root=None,
    retrain: bool = False,
) -> MultiExitNet:
    """`train_layerwise` on a fresh `model`, cached. The returned model carries `.stages`
    (a list of `Stage`, timings as measured when it was trained)."""
    model_kwargs = dict(model_kwargs or {})
    config = dict(
        model=model,
        model_kwargs=model_kwargs,
        dataset=dataset,
        stages=stages,
        **run_budget(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed),
        version=1,
    )
    data = run_data(dataset)

    def train(net):
        report = train_layerwise(
            net,
            data.x_train,
            data.y_train,
            data.x_val,
            data.y_val,
            stages=stages,
            progress=progress,
            **fit_budget(config),
        )
        return {
            "stages": [
                {
                    "block": s.block,
                    "train_loss": s.history.train_loss,
                    "val_accuracy": s.history.val_accuracy,
                    "train_seconds": s.train_seconds,
                    "embed_seconds": s.embed_seconds,
                    "input_bytes": s.input_bytes,
                }
                for s in report
            ]
        }

    def build():
        return build_for(model, model_kwargs, data)

    net, extras = cached_fit(f"lt_{model}", config, build, train, root=root, retrain=retrain)
    net.stages = [
        Stage(
            block=s["block"],
            history=History(
                exits=(s["block"],),
                train_loss=s["train_loss"],
                val_accuracy=s["val_accuracy"],
                seconds=s["train_seconds"],
            ),
            train_seconds=s["train_seconds"],
            embed_seconds=s["embed_seconds"],
            input_bytes=s["input_bytes"],
            val_accuracy=s["val_accuracy"][-1][-1] if s["val_accuracy"] else float("nan"),
        )
        for s in extras.get("stages", [])
    ]
    return net


def run_linear_probes(
    model: MultiExitNet,
    *,
    dataset: str = "mnist1d",
    epochs: int = 5,
    lr: float = 1e-2,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
    root=None,
    retrain: bool = False,
) -> list[float]:
    """`linear_probes` of `model` on `dataset` (train → test), cached by the model's weights.
    Returns the test accuracy of the probe on h_0 = x, h_1, ..., h_L."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    config = dict(
        model=state_fingerprint(model),
        dataset=dataset,
        **run_budget(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed),
        version=1,
    )
    data = run_data(dataset)
    check_fits(model, data, "model")
    shapes = [tuple(data.input_shape)] + [
        tuple(h.shape[1:]) for h in frozen_embeddings(model, data.x_test[:1])
    ]
    num_classes = len(data.classes)

    def build():  # cached_fit seeds the generators first
        return nn.ModuleList(linear_head(s, num_classes) for s in shapes)

    def train(probes):
        _, trained = linear_probes(
            model,
            data.x_train,
            data.y_train,
            data.x_test,
            data.y_test,
            progress=progress,
            **fit_budget(config),
        )
        probes.load_state_dict(trained.state_dict())
        return {}

    probes, _ = cached_fit("probes", config, build, train, root=root, retrain=retrain)
    hs = [data.x_test] + frozen_embeddings(model, data.x_test)
    with torch.no_grad():
        return [float((p(h).argmax(-1) == data.y_test).float().mean()) for p, h in zip(probes, hs)]
