"""FreezeOut (Brock et al.; survey §5.4, eq. 10): anneal each layer's learning rate to zero at
its own freezing point, then stop computing its gradients.

With a budget of T iterations and L layers, layer i freezes at t_i = i·T/L (the first layer
first, the last at T), and until then its rate follows a cosine:

    η_i(t) = 0.5 η_i(0) (1 + cos(π t / t_i))   for t < t_i,   η_i(t) = 0 for t ≥ t_i   (10)

Once frozen (requires_grad False) a layer is skipped by the backward pass: no gradient for its
parameters and, when every layer below is frozen too, no back-propagation through it. A frozen
layer also runs in eval mode for the rest of training, so its batch-norm running statistics
stop changing at t_i too: the whole function f_i is fixed, not only its weights. Here a
"layer" is block f_i together with its head c_i (heads without a block are put with the last
layer).

What freezing saves is counted, not timed: `gradient_count` (scalar parameter gradients) and
`training_flops` (FlopCounterMode over a forward and backward step in each phase). Wall-clock
time comes from `mexit.timing` on `phase_step` callables.
"""

from __future__ import annotations

import copy
import math

import torch
from torch.utils.flop_counter import FlopCounterMode

from ._checks import check_float, check_int, check_labels, check_tensor
from .models import MultiExitNet
from .runs import build_for, cached_fit, fit_budget, run_budget, run_data
from .schemes import check_alphas
from .training import History, fit, joint_loss


def freezeout_lr(eta0: float, t: float, t_i: float) -> float:
    """Eq. 10: η_i(t) = 0.5 η_i(0) (1 + cos(π t / t_i)) for t < t_i, and 0 from t_i on."""
    eta0 = check_float(eta0, "eta0", low=0.0)
    t = check_float(t, "t", low=0.0)
    t_i = check_float(t_i, "t_i")
    if t_i <= 0:
        raise ValueError(f"t_i must be > 0 (a layer cannot freeze before training), got {t_i}")
    if t >= t_i:
        return 0.0
    return 0.5 * eta0 * (1.0 + math.cos(math.pi * t / t_i))


def freezeout_times(T: int, L: int) -> tuple[float, ...]:
    """Freezing points t_i = i·T/L, i = 1..L, equispaced in [0, T] (the last layer at T)."""
    L = check_int(L, "L", low=1)
    T = check_int(T, "T", low=1)
    if T < L:
        raise ValueError(
            f"T must be >= L ({L}) so that every layer trains at least one step, got {T}"
        )
    return tuple(i * T / L for i in range(1, L + 1))


def freezeout_rates(eta0: float, T: int, L: int) -> torch.Tensor:
    """η_i(t) of eq. 10 for every layer i = 1..L and step t = 0..T, shape (L, T + 1)."""
    times = freezeout_times(T, L)
    return torch.tensor([[freezeout_lr(eta0, t, t_i) for t in range(T + 1)] for t_i in times])


class FreezeOut:
    """FreezeOut for `mexit.training.fit`: per-layer parameter groups, the eq. 10 schedule,
    freezing at t_i, and a count of parameter-gradient computations.

    Use: `fo = FreezeOut(model, T)`, then `fit(model, ..., parameters=fo.param_groups(),
    scheduler=fo.scheduler, on_step=fo)`. With `freeze=False` every layer follows the cosine to
    T and nothing freezes: standard training with the same schedule, for comparison.

    `gradient_count` is Σ over steps of the number of scalar parameters that received a
    gradient; `frozen_at[i]` the step after which layer i stopped training."""

    def __init__(self, model: MultiExitNet, T: int, freeze: bool = True):
        if not isinstance(model, MultiExitNet):
            raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
        self.model = model
        self.L = model.num_blocks
        self.T = check_int(T, "T", low=1)
        self.freeze = bool(freeze)
        self.times = freezeout_times(self.T, self.L) if freeze else (float(self.T),) * self.L
        self.layers = self._layers()
        self.modules = self._modules()
        self.gradient_count = 0
        self.steps = 0
        self.frozen_at: dict[int, int] = {}
        self._handles: list = []

    def _layers(self) -> list[list[torch.nn.Parameter]]:
        layers = [list(b.parameters()) for b in self.model.blocks]
        for k, head in self.model.heads.items():
            layers[int(k) - 1] += list(head.parameters())
        seen = {id(p) for layer in layers for p in layer}
        layers[-1] += [p for p in self.model.parameters() if id(p) not in seen]
        return layers

    def _modules(self) -> list[list[torch.nn.Module]]:
        mods = [[b] for b in self.model.blocks]
        for k, head in self.model.heads.items():
            mods[int(k) - 1].append(head)
        return mods

    def param_groups(self) -> list[dict]:
        """One torch parameter group per layer (f_i with c_i), in order."""
        return [{"params": layer} for layer in self.layers]

    def scheduler(self, opt: torch.optim.Optimizer, total_steps: int):
        """A LambdaLR giving group i the factor η_i(t)/η_i(0) of eq. 10."""
        if len(opt.param_groups) != self.L:
            raise ValueError(
                f"the optimiser must hold one group per layer ({self.L}), got "
                f"{len(opt.param_groups)}: pass parameters=freezeout.param_groups()"
            )
        if total_steps != self.T:
            raise ValueError(f"FreezeOut was built for T={self.T} steps, fit runs {total_steps}")
        return torch.optim.lr_scheduler.LambdaLR(
            opt, [lambda t, t_i=t_i: freezeout_lr(1.0, t, t_i) for t_i in self.times]
        )

    def __call__(self, step: int, model: MultiExitNet) -> None:
        self.steps = step
        self.gradient_count += sum(p.numel() for p in model.parameters() if p.grad is not None)
        for i, (t_i, layer) in enumerate(zip(self.times, self.layers), 1):
            if i not in self.frozen_at and step >= t_i and step < self.T:
                for p in layer:
                    p.requires_grad_(False)
                    p.grad = None
                for m in self.modules[i - 1]:  # batch-norm statistics freeze too
                    m.eval()
                    self._handles.append(m.register_forward_pre_hook(_stay_in_eval))
                self.frozen_at[i] = step

    def release(self) -> None:
        """After training: drop the hooks that keep frozen layers in eval mode."""
        for h in self._handles:
            h.remove()
        self._handles.clear()


def _stay_in_eval(module: torch.nn.Module, inputs) -> None:
    """`fit` calls model.train() every epoch: a frozen layer goes back to eval before it runs."""
    if module.training:
        module.eval()


def train_freezeout(
    model: MultiExitNet,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    *,
    freeze: bool = True,
    alphas="uniform",
    epochs: int = 5,
    lr: float = 1e-2,
    batch_size: int = 128,
    progress: bool = True,
) -> tuple[History, FreezeOut]:
    """Joint training (eq. 6 with `alphas`) under FreezeOut (eq. 10), η_i(0) = lr for every
    layer; `freeze=False` gives the same cosine schedule without freezing. Parameters frozen
    during training are trainable again afterwards. Returns (History, the FreezeOut hook)."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    T = epochs * -(-x_train.shape[0] // batch_size)
    hook = FreezeOut(model, T, freeze=freeze)
    trainable = [p for p in model.parameters() if p.requires_grad]
    try:
        history = fit(
            model,
            x_train,
            y_train,
            x_val,
            y_val,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            loss=joint_loss(check_alphas(alphas, len(model.exits))),
            parameters=hook.param_groups(),
            scheduler=hook.scheduler,
            on_step=hook,
            progress=progress,
            desc="FreezeOut" if freeze else "cosine",
        )
    finally:
        hook.release()
        for p in trainable:
            p.requires_grad_(True)
    return history, hook


def _frozen_copy(model: MultiExitNet, frozen: int) -> MultiExitNet:
    """A deep copy of `model` in train mode with its first `frozen` layers (f_i with c_i)
    frozen as FreezeOut leaves them: no gradient, eval mode."""
    net = copy.deepcopy(model)
    net.train()
    hook = FreezeOut(net, max(net.num_blocks, 1))
    for i in range(1, frozen + 1):
        for p in hook.layers[i - 1]:
            p.requires_grad_(False)
        for m in hook.modules[i - 1]:
            m.eval()
    return net


def _check_step_args(model, x, y, frozen=None):
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    check_labels(y, x.shape[0], "y")
    if frozen is not None:
        return check_int(frozen, "frozen", low=0, high=model.num_blocks - 1)
    return None


def phase_step(
    model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, frozen: int, alphas="uniform"
):
    """A callable running one training step (forward, backward of eq. 6, Adam update) on the
    batch (x, y) of a copy of `model` whose first `frozen` layers are frozen, as in the phase
    of FreezeOut after t_frozen. For `mexit.timing`; `model` itself is never touched."""
    frozen = _check_step_args(model, x, y, frozen)
    net = _frozen_copy(model, frozen)
    loss = joint_loss(check_alphas(alphas, len(net.exits)))
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-6)

    def step():
        opt.zero_grad(set_to_none=True)
        total, _ = loss(net(x), y)
        total.backward()
        opt.step()

    return step


def phase_step_flops(
    model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, alphas="uniform"
) -> list[int]:
    """FLOPs (FlopCounterMode: matmuls and convolutions, forward and backward) of one
    training step on the batch (x, y) with the first k layers frozen, for k = 0..L-1."""
    _check_step_args(model, x, y)
    out = []
    for k in range(model.num_blocks):
        net = _frozen_copy(model, k)
        loss = joint_loss(check_alphas(alphas, len(net.exits)))
        with FlopCounterMode(display=False) as counter:
            total, _ = loss(net(x), y)
            total.backward()
        out.append(int(counter.get_total_flops()))
    return out


def phase_steps(T: int, L: int, freeze: bool = True) -> list[int]:
    """Steps spent in each phase k = 0..L-1 (k layers frozen) by a FreezeOut run of T steps:
    layer i computes its last gradient at step ceil(t_i). Without freezing: all T in phase 0."""
    T = check_int(T, "T", low=1)
    L = check_int(L, "L", low=1)
    if not isinstance(freeze, bool):
        raise TypeError(f"freeze must be a bool, got {type(freeze).__name__}")
    if not freeze:
        return [T] + [0] * (L - 1)
    ends = [min(T, math.ceil(t - 1e-9)) for t in freezeout_times(T, L)]
    starts = [0] + ends[:-1]
    return [e - s for s, e in zip(starts, ends)]


def training_flops(
    model: MultiExitNet,
    x: torch.Tensor,
    y: torch.Tensor,
    T: int,
    freeze: bool = True,
    alphas="uniform",
) -> int:
    """FLOPs of a whole run of T steps on batches like (x, y): Σ_k phase_steps[k] ·
    phase_step_flops[k]. With `freeze=False`, T standard steps."""
    _check_step_args(model, x, y)
    steps = phase_steps(T, model.num_blocks, freeze)
    flops = phase_step_flops(model, x, y, alphas)
    return int(sum(n * f for n, f in zip(steps, flops)))


def run_freezeout(
    *,
    freeze: bool = True,
    model: str = "mnist1d_cnn",
    model_kwargs: dict | None = None,
    dataset: str = "mnist1d",
    alphas="uniform",
    epochs: int = 5,
    lr: float = 1e-2,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
    root=None,
    retrain: bool = False,
) -> MultiExitNet:
    """`train_freezeout` on a fresh `model`, cached. The returned model carries `.history`,
    `.gradient_count`, `.steps` and `.times` (the t_i) as measured when it was trained."""
    model_kwargs = dict(model_kwargs or {})
    config = dict(
        freeze=bool(freeze),
        model=model,
        model_kwargs=model_kwargs,
        dataset=dataset,
        alphas=alphas if isinstance(alphas, str) else [float(a) for a in alphas],
        **run_budget(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed),
        version=2,  # 2: frozen layers' batch-norm statistics freeze too
    )
    data = run_data(dataset)

    def train(net):
        h, hook = train_freezeout(
            net,
            data.x_train,
            data.y_train,
            data.x_val,
            data.y_val,
            freeze=freeze,
            alphas=alphas,
            progress=progress,
            **fit_budget(config),
        )
        times = list(hook.times)
        return dict(h.as_dict(), gradient_count=hook.gradient_count, steps=hook.steps, times=times)

    def build():
        return build_for(model, model_kwargs, data)

    name = f"{'freezeout' if freeze else 'cosine'}_{model}"
    net, extras = cached_fit(name, config, build, train, root=root, retrain=retrain)
    net.gradient_count = int(extras.get("gradient_count", 0))
    net.steps = int(extras.get("steps", 0))
    net.times = tuple(extras.get("times", ()))
    return net
