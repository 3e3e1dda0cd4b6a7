"""Training a multi-exit network (survey §5): the joint loss (eq. 6-7) and one `fit` loop."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ._checks import check_float, check_int, check_labels, check_tensor
from .models import MultiExitNet


def joint_loss(alphas: Sequence[float]) -> Callable:
    """Eq. 6-7: L + Σ_{i<L} α_i L_i, L_i the cross-entropy of exit i.

    Returns loss(outputs, y) -> (total, per_exit) where per_exit holds every L_i (E,).
    `alphas` gives one non-negative weight per early exit; all zeros trains the final exit
    alone."""
    if isinstance(alphas, (str, bytes)) or not isinstance(alphas, (Sequence, torch.Tensor)):
        raise TypeError(f"alphas must be a sequence of floats, got {type(alphas).__name__}")
    alpha = [check_float(float(a), f"alphas[{i}]", low=0.0) for i, a in enumerate(alphas)]
    weights = torch.tensor(alpha + [1.0])

    def loss(outputs: Sequence[torch.Tensor], y: torch.Tensor):
        if len(outputs) != len(weights):
            raise ValueError(
                f"joint_loss was built for {len(weights)} exits ({len(alpha)} alphas), "
                f"got {len(outputs)} outputs"
            )
        per_exit = torch.stack([F.cross_entropy(o, y) for o in outputs])
        return (weights * per_exit).sum(), per_exit

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


def evaluate(model: MultiExitNet, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Accuracy of every exit of `model` on (x, y), in [0, 1]."""
    check_tensor(x, "x", dtype_kind="float")
    check_labels(y, x.shape[0], "y")
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        accs = [float((o.argmax(-1) == y).float().mean()) for o in model(x)]
    model.train(was_training)
    return accs


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
) -> History:
    """Train `model` with Adam on `loss` (default: eq. 6 with every α_i = 1).

    parameters: what the optimiser updates (default: every parameter that requires grad).
    Shuffling uses torch's global generator: call `mexit.seed_everything` first."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x_train, "x_train", dtype_kind="float")
    check_labels(y_train, x_train.shape[0], "y_train")
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    if x_val is not None:
        check_tensor(x_val, "x_val", dtype_kind="float")
        check_labels(y_val, x_val.shape[0], "y_val")
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    lr = check_float(lr, "lr", low=0.0)
    weight_decay = check_float(weight_decay, "weight_decay", low=0.0)
    if loss is None:
        loss = joint_loss([1.0] * (len(model.exits) - 1))
    if not callable(loss):
        raise TypeError("loss must be callable: loss(outputs, y) -> (total, per_exit)")
    params = [p for p in (model.parameters() if parameters is None else parameters)]
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("there is no parameter to train (all frozen?)")
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * -(-x_train.shape[0] // batch_size)
    )
    history = History(exits=model.exits)
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        model.train()
        order = torch.randperm(x_train.shape[0])
        sums, batches = torch.zeros(len(model.exits)), 0
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            total, per_exit = loss(model(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sched.step()
            sums += per_exit.detach()
            batches += 1
        history.train_loss.append((sums / batches).tolist())
        if x_val is not None:
            history.val_accuracy.append(evaluate(model, x_val, y_val))
            bar.set_postfix(final_acc=f"{history.val_accuracy[-1][-1]:.1%}")
    model.eval()
    history.seconds = time.perf_counter() - start
    return history
