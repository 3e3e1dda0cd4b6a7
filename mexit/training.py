"""Training a multi-exit network (survey §5): the joint loss (eq. 6-7) and one `fit` loop."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ._checks import check_float, check_int, check_labels, check_tensor
from .data import StreamBundle
from .devices import check_device, on_device
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


def evaluate(model: MultiExitNet, x, y=None, *, device=None) -> list[float]:
    """Accuracy of every exit of `model` on (x, y), in [0, 1]: in eval mode, every
    submodule's mode given back as it was; x and y are moved to the model's device (or to
    `device`, the model with them for the call). x may be a `StreamBundle` (y None): its
    validation split, batch by batch."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    if isinstance(x, StreamBundle):
        if y is not None:
            raise ValueError("y must be None when x is a StreamBundle (it holds the labels)")
        batches = x.loader("val")
    else:
        _check_data(model, x, y, "x", "y")
        with on_device(model, device) as dev, eval_mode(model), torch.inference_mode():
            x, y = x.to(dev), y.to(dev)
            return [float((o.argmax(-1) == y).float().mean()) for o in model(x)]
    with on_device(model, device) as dev, eval_mode(model), torch.inference_mode():
        correct, n = None, 0
        for xb, yb in batches:
            xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
            hits = torch.stack([(o.argmax(-1) == yb).sum() for o in model(xb)])
            correct = hits if correct is None else correct + hits
            n += len(yb)
        return (correct.double() / n).tolist()


class _Order(torch.utils.data.Sampler):
    """The training order of one epoch: `torch.randperm(n)` from torch's global generator (as
    the in-memory path draws it), then, on several processes, this rank's share of it as a
    `DistributedSampler` deals it out (rank r gets positions r, r + world, ...): the union of
    the ranks' k-th batches of B/world is the k-th batch of B of the one-process run."""

    def __init__(self, n: int, world: int = 1, rank: int = 0):
        self.n, self.world, self.rank = n, world, rank

    def draw(self) -> torch.Tensor:
        order = torch.randperm(self.n)
        if self.world == 1:
            return order
        import torch.distributed as dist
        from torch.utils.data.distributed import DistributedSampler

        dist.broadcast(order, src=0)  # every rank deals from rank 0's permutation
        positions = DistributedSampler(
            range(self.n), num_replicas=self.world, rank=self.rank, shuffle=False
        )
        return order[list(positions)]

    def __len__(self) -> int:
        return -(-self.n // self.world)

    def __iter__(self):
        return iter(self.draw().tolist())


def _world(distributed: bool, device) -> tuple[int, int]:
    """(world size, rank) of a `fit` run: (1, 0) unless distributed, when the process group
    (started by torchrun's environment if not yet) says."""
    if not isinstance(distributed, bool):
        raise TypeError(f"distributed must be a bool, got {type(distributed).__name__}")
    if not distributed:
        return 1, 0
    import torch.distributed as dist

    if not dist.is_available():
        raise ValueError("distributed=True needs torch.distributed, absent from this torch")
    if not dist.is_initialized():
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise ValueError(
                "distributed=True needs a process group: run under `torchrun --nproc_per_node "
                "N ...` (or call torch.distributed.init_process_group first)"
            )
        from .train import init_distributed

        init_distributed(device)
    return dist.get_world_size(), dist.get_rank()


def fit(
    model: MultiExitNet,
    x_train,
    y_train: torch.Tensor | None = None,
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
    device=None,
    distributed: bool = False,
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

    x_train may be a `StreamBundle` (`load_torchvision(..., stream=True)`; y_train, x_val,
    y_val then None): batches come from its DataLoader (workers, pinned memory) in the order
    the in-memory path would draw, and validation runs on its validation split.

    device: where to train (default: where the model is); the model is moved there for the
    run and back afterwards. distributed=True: one process of a `torchrun` run (see
    `mexit.train`): the model is wrapped in DistributedDataParallel, each rank takes its
    share of every batch of `batch_size` (the global batch, a multiple of the number of
    processes), gradients are averaged: the same joint loss and steps as one process with
    that batch. Every rank ends with the same weights; saving is the caller's (rank 0).

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
    stream = isinstance(x_train, StreamBundle)
    if stream:
        for name, value in (("y_train", y_train), ("x_val", x_val), ("y_val", y_val)):
            if value is not None:
                raise ValueError(
                    f"{name} must be None when x_train is a StreamBundle (it holds every split)"
                )
        n = len(x_train.train)
    else:
        _check_data(model, x_train, y_train, "x_train", "y_train")
        if (x_val is None) != (y_val is None):
            raise ValueError("x_val and y_val must be given together (both or neither)")
        if x_val is not None:
            _check_data(model, x_val, y_val, "x_val", "y_val")
        n = x_train.shape[0]
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
    device = check_device(device)
    world, rank = _world(distributed, device)
    if batch_size % world:
        raise ValueError(
            f"batch_size must be a multiple of the {world} processes (it is the global batch, "
            f"split evenly among them), got {batch_size}"
        )
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
    with on_device(model, device) as dev:
        return _train(
            model, x_train, y_train, x_val, y_val, stream, n, epochs, batch_size, lr,
            weight_decay, loss, params, progress, desc, optimizer, scheduler, on_step, dev,
            world, rank,
        )  # fmt: skip


def _ddp(model: MultiExitNet, dev: torch.device):
    """`model` wrapped in DistributedDataParallel (rank 0's weights broadcast to all)."""
    from torch.nn.parallel import DistributedDataParallel

    used = {id(p) for i in model.exits for p in model.heads[str(i)].parameters()}
    used |= {id(p) for p in model.blocks.parameters()}
    unused = any(p.requires_grad and id(p) not in used for p in model.parameters())
    ids = None
    if dev.type == "cuda":
        ids = [dev.index if dev.index is not None else torch.cuda.current_device()]
    return DistributedDataParallel(
        model,
        device_ids=ids,
        find_unused_parameters=unused,
    )


def _train(
    model, x_train, y_train, x_val, y_val, stream, n, epochs, batch_size, lr, weight_decay,
    loss, params, progress, desc, optimizer, scheduler, on_step, device, world, rank,
) -> History:  # fmt: skip
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    local_batch = batch_size // world
    sampler = _Order(n, world, rank)
    total_steps = epochs * -(-len(sampler) // local_batch)
    if scheduler is None:
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=total_steps
        )
    else:
        sched = scheduler(opt, total_steps)
    step = 0
    net = _ddp(model, device) if world > 1 else model
    history = History(exits=model.exits)
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, disable=not progress or rank != 0, leave=False)
    for epoch in bar:
        model.train()
        if stream:
            batches = x_train.loader("train", local_batch, sampler=sampler)
        else:
            order = sampler.draw()  # on the CPU: the same order on any device
            batches = (
                (x_train[idx], y_train[idx])
                for idx in (
                    order[s : s + local_batch].to(x_train.device)
                    for s in range(0, len(order), local_batch)
                )
            )
        sums, batches_done = 0.0, 0
        for xb, yb in batches:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            total, per_exit = loss(net(xb), yb)
            if not torch.isfinite(total):
                s = batches_done * local_batch
                raise ValueError(
                    f"fit stopped: the loss is {float(total.detach())} at epoch {epoch} "
                    f"(of {epochs}), "
                    f"batch {batches_done} (rows {s}..{s + len(yb) - 1} of the shuffled "
                    "x_train); lower lr or check x_train / the loss"
                )
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sched.step()
            step += 1
            if on_step is not None:
                on_step(step, model)
            sums += per_exit.detach()
            batches_done += 1
        mean = sums / batches_done
        if world > 1:  # the mean over every rank's batches
            import torch.distributed as dist

            dist.all_reduce(mean)
            mean = mean / world
        history.train_loss.append(mean.cpu().tolist())
        if stream:
            history.val_accuracy.append(evaluate(model, x_train))
        elif x_val is not None:
            history.val_accuracy.append(evaluate(model, x_val, y_val))
        if history.val_accuracy:
            bar.set_postfix(final_acc=f"{history.val_accuracy[-1][-1]:.1%}")
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def fit_bundle(model: MultiExitNet, data, **kwargs) -> History:
    """`fit` on a `DataBundle`: train on its train split, validate on its validation split
    (a `StreamBundle`: batch by batch through its DataLoaders)."""
    if isinstance(data, StreamBundle):
        return fit(model, data, **kwargs)
    for name in ("x_train", "y_train", "x_val", "y_val"):
        if not hasattr(data, name):
            raise TypeError(f"data must be a DataBundle (with {name}), got {type(data).__name__}")
    return fit(model, data.x_train, data.y_train, data.x_val, data.y_val, **kwargs)
