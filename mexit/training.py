"""Training a multi-exit network (survey §5): the joint loss (eq. 6-7) and one `fit` loop."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ._checks import check_float, check_int, check_labels, check_tensor
from .models import MultiExitNet, device_and_dtype, eval_mode


def joint_loss(alphas: Sequence[float]) -> Callable:
    """Eq. 6-7: L + Σ_{i<L} α_i L_i, L_i the cross-entropy of exit i.

    Returns loss(outputs, y) -> (total, per_exit) where per_exit holds every L_i (E,).
    `alphas` gives one non-negative weight per early exit; all zeros trains the final exit
    alone."""
    if isinstance(alphas, (str, bytes)) or not isinstance(alphas, (Sequence, torch.Tensor)):
        raise TypeError(f"alphas must be a sequence of floats, got {type(alphas).__name__}")
    alpha = [
        check_float(a.item() if isinstance(a, torch.Tensor) else a, f"alphas[{i}]", low=0.0)
        for i, a in enumerate(alphas)
    ]
    weights = torch.tensor(alpha + [1.0])

    def loss(outputs: Sequence[torch.Tensor], y: torch.Tensor):
        if len(outputs) != len(weights):
            raise ValueError(
                f"joint_loss was built for {len(weights)} exits ({len(alpha)} alphas), "
                f"got {len(outputs)} outputs"
            )
        per_exit = torch.stack([F.cross_entropy(o, y) for o in outputs])
        return (weights.to(per_exit) * per_exit).sum(), per_exit

    loss.alphas = tuple(alpha)
    return loss


@dataclass
class History:
    """Per-epoch record of a `fit` run: training loss and validation accuracy of every exit."""

    exits: tuple[int, ...]
    train_loss: list[list[float]] = field(default_factory=list)  # [epoch][exit]
    val_accuracy: list[list[float]] = field(default_factory=list)  # [epoch][exit], in [0, 1]
    seconds: float = 0.0

    @property
    def final_accuracy(self) -> list[float]:
        return self.val_accuracy[-1] if self.val_accuracy else []

    @classmethod
    def from_dict(cls, exits, record: dict) -> History:
        """The inverse of `as_dict` (missing entries read as empty)."""
        return cls(
            exits=tuple(exits),
            train_loss=record.get("train_loss", []),
            val_accuracy=record.get("val_accuracy", []),
            seconds=record.get("seconds", 0.0),
        )

    def as_dict(self) -> dict:
        """The record as plain lists, to keep beside cached weights (`cached_model` extras)."""
        return {
            "train_loss": self.train_loss,
            "val_accuracy": self.val_accuracy,
            "seconds": self.seconds,
        }


def _num_classes(model: MultiExitNet) -> int | None:
    """Classes of the final exit, read from its last Linear layer (None if it has none)."""
    last = [m for m in model.heads[str(model.num_blocks)].modules() if isinstance(m, nn.Linear)]
    return last[-1].out_features if last else None


def _check_data(model: MultiExitNet, x, y, x_name: str, y_name: str) -> None:
    """x float and finite, in the model's dtype; y one label per row, each a class of the
    model; x and y on one device (batches are moved to the model's device)."""
    check_tensor(x, x_name, dtype_kind="float", finite=True)
    check_labels(y, x.shape[0], y_name, num_classes=_num_classes(model))
    _, dtype = device_and_dtype(model)
    if x.dtype != dtype:
        raise TypeError(
            f"{x_name} has dtype {x.dtype} but the model's parameters are {dtype}: "
            f"use {x_name}.to({dtype}) or model.to({x.dtype})"
        )


def evaluate(model: MultiExitNet, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Accuracy of every exit of `model` on (x, y), in [0, 1]: in eval mode, every
    submodule's mode given back as it was; x and y are moved to the model's device."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    _check_data(model, x, y, "x", "y")
    device, _ = device_and_dtype(model)
    x, y = x.to(device), y.to(device)
    with eval_mode(model), torch.inference_mode():
        return [float((o.argmax(-1) == y).float().mean()) for o in model(x)]


def fit(
    model: MultiExitNet,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    loss: Callable | None = None,
    parameters=None,
    progress: bool = True,
    desc: str = "training",
    optimizer: str = "adam",
    scheduler: Callable | None = None,
    on_step: Callable | None = None,
) -> History:
    """Train `model` with Adam on `loss` (default: eq. 6 with every α_i = 1).

    parameters: what the optimiser updates (default: every parameter that requires grad);
    a list of torch parameter-group dicts ({"params": [...], ...}) is accepted too.
    optimizer: "adam" (default) or "sgd" (momentum 0.9).
    scheduler: scheduler(opt, total_steps) -> a torch LR scheduler stepped after every batch
    (default: one-cycle to `lr`), e.g. FreezeOut's per-layer cosine (`mexit.freezeout`).
    on_step: on_step(step, model) called after every optimiser step (step = 1, 2, ...) with the
    gradients still in place: record gradient norms, count them, freeze layers.
    Shuffling uses torch's global generator: call `mexit.seed_everything` first.

    The data may stay on the CPU: each batch is moved to the device of the model's parameters
    (it must already have their dtype). A NaN or infinite input is refused before training;
    a loss that turns NaN or infinite stops training with an error naming epoch and batch.

    What `fit` leaves behind: the parameters trained in place, on the device and in the dtype
    they had; `requires_grad` of every parameter unchanged (frozen ones stay frozen, and are
    not updated); the model and *every* submodule in eval mode (each epoch trains in train
    mode, so a submodule handed over in eval mode is trained in train mode too); the `.grad`
    of the last step kept on the parameters."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    lr = check_float(lr, "lr", low=0.0)
    weight_decay = check_float(weight_decay, "weight_decay", low=0.0)
    _check_data(model, x_train, y_train, "x_train", "y_train")
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val must be given together (both or neither)")
    if x_val is not None:
        _check_data(model, x_val, y_val, "x_val", "y_val")
    if loss is None:
        loss = joint_loss([1.0] * (len(model.exits) - 1))
    if not callable(loss):
        raise TypeError("loss must be callable: loss(outputs, y) -> (total, per_exit)")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if scheduler is not None and not callable(scheduler):
        raise TypeError("scheduler must be callable: scheduler(opt, total_steps) -> LR scheduler")
    if on_step is not None and not callable(on_step):
        raise TypeError("on_step must be callable: on_step(step, model)")
    params = [p for p in (model.parameters() if parameters is None else parameters)]
    if params and all(isinstance(g, dict) for g in params):
        groups = [dict(g, params=[p for p in g["params"] if p.requires_grad]) for g in params]
        params = [g for g in groups if g["params"]]
    else:
        params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError(
            "parameters must hold one that requires grad: there is no parameter to train "
            "(all frozen?)"
        )
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    total_steps = epochs * -(-x_train.shape[0] // batch_size)
    if scheduler is None:
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=total_steps
        )
    else:
        sched = scheduler(opt, total_steps)
    step = 0
    device, _ = device_and_dtype(model)
    history = History(exits=model.exits)
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(x_train.shape[0])  # on the CPU: the same order on any device
        sums, batches = 0.0, 0
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size].to(x_train.device)
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            total, per_exit = loss(model(xb), yb)
            if not torch.isfinite(total):
                raise ValueError(
                    f"fit stopped: the loss is {float(total.detach())} at epoch {epoch} "
                    f"(of {epochs}), "
                    f"batch {batches} (rows {s}..{s + len(idx) - 1} of the shuffled x_train); "
                    "lower lr or check x_train / the loss"
                )
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sched.step()
            step += 1
            if on_step is not None:
                on_step(step, model)
            sums += per_exit.detach()
            batches += 1
        history.train_loss.append((sums / batches).cpu().tolist())
        if x_val is not None:
            history.val_accuracy.append(evaluate(model, x_val, y_val))
            bar.set_postfix(final_acc=f"{history.val_accuracy[-1][-1]:.1%}")
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def fit_bundle(model: MultiExitNet, data, **kwargs) -> History:
    """`fit` on a `DataBundle`: train on its train split, validate on its validation split."""
    for name in ("x_train", "y_train", "x_val", "y_val"):
        if not hasattr(data, name):
            raise TypeError(f"data must be a DataBundle (with {name}), got {type(data).__name__}")
    return fit(model, data.x_train, data.y_train, data.x_val, data.y_val, **kwargs)
