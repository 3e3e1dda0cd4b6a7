"""Gated exits (survey §5 eq. 9 and §6.1 eq. 12-14): a differentiable choice of exit.

Every early exit i gets a gate g_i(x) ∈ [0, 1]; the network's answer is the recursion of eq. 9

    ĉ_i(x) = g_i(x) c_i(x) + (1 − g_i(x)) ĉ_{i+1}(x),    ĉ_L(x) = f(x),

which, unrolled, is the mixture ĉ_1 = Σ_j p_j c_j with p_j = g_j ∏_{l<j} (1 − g_l) (eq. 14,
`mexit.cost.exit_probabilities`). p_j is the probability of *exiting* at j, so the expected
cost is Σ_j p_j Γ_j (`mexit.cost.expected_cost`); adding λ times it to the task loss trains
the gates to exit early when it is cheap to be right (§6.1). At inference the gates become a
hard policy: exit at the first exit whose gate reaches a threshold τ (0.5 by default).

Exits are referred to by their position k = 0..E-1 in `model.exits`, as in `mexit.inference`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_float, check_int, check_probs, check_tensor
from .cost import (
    CostProfile,
    _check_Gamma,
    count_flops,
    exit_probabilities,
    expected_cost,
    measure_costs,
)
from .models import MultiExitNet, device_and_dtype, embedding_shapes, eval_mode
from .runs import cached_fit, check_fits, run_budget


def gate_module(in_shape) -> nn.Sequential:
    """A gate g_i: global average pooling (for feature maps), one linear unit, a sigmoid.

    It reads the embedding h_i (the same input as head c_i) and costs 2·channels FLOPs."""
    if not isinstance(in_shape, (tuple, list)) or not in_shape:
        raise TypeError(f"in_shape must be a non-empty tuple of ints, got {in_shape!r}")
    in_shape = tuple(int(s) for s in in_shape)
    if any(s < 1 for s in in_shape):
        raise ValueError(f"in_shape entries must be >= 1, got {in_shape}")
    if len(in_shape) == 2:
        layers = [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(in_shape[0], 1)]
    elif len(in_shape) == 3:
        layers = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_shape[0], 1)]
    else:
        layers = [nn.Flatten(), nn.Linear(math.prod(in_shape), 1)]
    return nn.Sequential(*layers, nn.Sigmoid())


class OutputGate(nn.Module):
    """A gate g_i(c_i(x)) that reads the head's prediction: logistic regression on its
    confidence features (max probability, top-2 margin, 1 − normalized entropy), so the
    gate can learn *which* inputs are safe to let out. 4 parameters per exit.

    The features are multiplied by `scale` (default 10), so 4 parameters learn at the pace
    of the network's thousands; weights start at zero and the bias at `bias` (all gates
    closed, g = sigmoid(bias): every input starts at the final exit)."""

    def __init__(self, scale: float = 10.0, bias: float = -2.0):
        super().__init__()
        self.scale = check_float(scale, "scale", low=0.0)
        self.linear = nn.Linear(3, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.constant_(self.linear.bias, check_float(bias, "bias"))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        from .policies import confidence_features

        feats = confidence_features(logits.softmax(-1))
        return torch.sigmoid(self.linear(self.scale * feats))


GATE_INPUTS = ("output", "embedding")


class GatedOutputs(list):
    """The logits of every exit (a list, like `MultiExitNet.forward`) plus `.gates` (N, E-1)."""

    gates: torch.Tensor


def combine_recursive(probs, gates: torch.Tensor) -> torch.Tensor:
    """Eq. 9 as written: ĉ_L = f(x), then ĉ_i = g_i c_i + (1 − g_i) ĉ_{i+1} down to i = 1.

    probs: (E, N, K) softmax outputs of every exit (or a list of E tensors (N, K));
    gates: (N, E-1) in [0, 1]. Returns ĉ_1, (N, K). Differentiable."""
    probs = _check_probs_gates(probs, gates)
    c_hat = probs[-1]
    for k in range(probs.shape[0] - 2, -1, -1):
        g = gates[:, k : k + 1]
        c_hat = g * probs[k] + (1 - g) * c_hat
    return c_hat


def combine_unrolled(probs, gates: torch.Tensor) -> torch.Tensor:
    """Eq. 9 unrolled: ĉ_1 = Σ_j p_j c_j with p_j from eq. 14. Equals `combine_recursive`."""
    probs = _check_probs_gates(probs, gates)
    p = exit_probabilities(gates).to(probs.dtype)  # (N, E)
    return (p.T[:, :, None] * probs).sum(0)


def _check_probs_gates(probs, gates) -> torch.Tensor:
    # the exit outputs may be any distributions, including soft ones that carry gradients
    if isinstance(probs, (list, tuple)):
        for i, p in enumerate(probs):
            check_tensor(p, f"probs[{i}]", ndim=2, dtype_kind="float")
        probs = torch.stack(list(probs))
    check_tensor(probs, "probs", ndim=3, dtype_kind="float")
    check_tensor(gates, "gates", ndim=2, dtype_kind="float")
    E, N = probs.shape[:2]
    if gates.shape != (N, E - 1):
        raise ValueError(
            f"gates must have shape (N, E-1) = ({N}, {E - 1}) for probs of shape "
            f"{tuple(probs.shape)}, got {tuple(gates.shape)}"
        )
    if (gates < 0).any() or (gates > 1).any():
        raise ValueError("gates must lie in [0, 1] (apply a sigmoid to gate logits)")
    return probs


def hard_gates(gates: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """0/1 gates: 1 where g_i(x) ≥ threshold. Eq. 12-14 then describe a hard exit policy."""
    check_tensor(gates, "gates", ndim=2, dtype_kind="float")
    threshold = check_float(threshold, "threshold", low=0.0, high=1.0)
    return (gates >= threshold).to(gates.dtype)


def gate_exits(gates: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """The exit each input takes under the hard gate policy: the first k with g_k ≥ threshold,
    the final exit (E-1) when no gate fires. Returns exit positions (N,)."""
    hard = hard_gates(gates, threshold)
    E = gates.shape[1] + 1
    return exit_probabilities(hard).argmax(1).clamp(max=E - 1)


def soft_cost_as_printed(gates: torch.Tensor, epsilon) -> torch.Tensor:
    """Eq. 13 exactly as printed: mean over inputs of Σ_j p_j ε_j, ε_j the *marginal* cost of
    going from exit j−1 to exit j. It under-counts: an input leaving at j paid ε_1..ε_j, not
    ε_j alone. Kept to show the difference; train with `mexit.cost.expected_cost`."""
    p = exit_probabilities(gates)
    try:
        epsilon = _check_Gamma(epsilon, p.shape[1]).to(p.dtype)
    except (TypeError, ValueError) as err:  # name the argument: ε plays the role of Γ here
        raise type(err)(f"epsilon: {err}") from err
    return (p * epsilon).sum(dim=1).mean()


def marginal_costs(Gamma) -> torch.Tensor:
    """ε_j = Γ_j − Γ_{j−1} (Γ_0 = 0): the cost of running from exit j−1 on to exit j."""
    Gamma = _check_Gamma(Gamma)
    if (torch.diff(Gamma) < 0).any():
        raise ValueError(f"Gamma must be cumulative costs (non-decreasing), got {Gamma.tolist()}")
    return torch.diff(Gamma, prepend=Gamma.new_zeros(1))


class GatedExits(MultiExitNet):
    """A multi-exit network with a gate g_i(x) ∈ [0, 1] at every early exit (eq. 9).

    Built on an existing `MultiExitNet` (its blocks and heads are shared, not copied), it is
    itself a MultiExitNet: `forward` returns the logits of every exit, so `fit`, `evaluate`,
    `exit_probs`, `early_exit_predict` all work on it. `input_shape` is one input's shape,
    e.g. (1, 40), used to size the gates. The returned list also carries
    `.gates`, the (N, E-1) gate values, which `gated_loss` reads.

    gate_input: "output" (default, `OutputGate`: g_i reads the head's prediction c_i(x),
    starts closed) or "embedding" (`gate_module`: g_i reads h_i, pooled, then one linear
    unit); or pass `gates` = {block index: module returning (N, 1) in [0, 1]} yourself.
    The mode (train/eval) of `model` is kept; its blocks and heads are shared.

    Example::

        gated = GatedExits(mexit.pretrained(), (1, 40))
        probs, g, c_hat = gated.gated_forward(x)          # eq. 9 output ĉ_1, (N, K)
        combine_unrolled(probs, g)                          # the same, as Σ_j p_j c_j

    - `gated_forward(x)` → (probs (E, N, K), gates (N, E-1), ĉ_1 (N, K)) with eq. 9 applied;
    - `combine_recursive` / `combine_unrolled`: eq. 9 and its unrolled eq. 14 mixture;
    - `gate_exits(gates, threshold)`: the hard policy at inference;
    - `costs()`: γ_f, γ_c with each gate's FLOPs added to its head's.
    """

    def __init__(self, model: MultiExitNet, input_shape, gates=None, gate_input: str = "output"):
        if not isinstance(model, MultiExitNet):
            raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
        if not isinstance(input_shape, (tuple, list, torch.Size)) or not input_shape:
            raise TypeError(f"input_shape must be a tuple like (1, 40), got {input_shape!r}")
        input_shape = tuple(check_int(s, "input_shape entry", low=1) for s in input_shape)
        try:
            shapes = embedding_shapes(list(model.blocks), input_shape)
        except RuntimeError as err:
            raise ValueError(f"input_shape {input_shape} does not fit the model: {err}") from err
        heads = {int(k): h for k, h in model.heads.items()}
        super().__init__(list(model.blocks), heads, exits=model.exits[:-1])
        early = self.exits[:-1]
        if not early:
            raise ValueError("model must have at least one early exit to gate, got none")
        self.input_shape = input_shape
        self._shapes = shapes
        if gate_input not in GATE_INPUTS:
            raise ValueError(f"gate_input must be one of {GATE_INPUTS}, got {gate_input!r}")
        self.gate_input = gate_input
        if gates is None and gate_input == "output":
            gates = {i: OutputGate() for i in early}
        elif gates is None:
            gates = {i: gate_module(shapes[i - 1]) for i in early}
        if not isinstance(gates, dict) or sorted(gates) != list(early):
            raise ValueError(f"gates must be a dict with one gate per early exit {early}")
        self.gates = nn.ModuleDict({str(i): gates[i] for i in early})
        # the shared blocks and heads keep each the mode they had; the wrapper and its new
        # gates take the model's (self.train would flip every shared submodule)
        self.training = model.training
        self.gates.train(model.training)

    def forward(self, x: torch.Tensor) -> GatedOutputs:
        outs, gs, h = GatedOutputs(), [], x
        for i, block in enumerate(self.blocks, 1):
            h = block(h)
            if i in self._exits:
                outs.append(self.heads[str(i)](h))
                if i != self.num_blocks:
                    gate_in = outs[-1] if self.gate_input == "output" else h
                    gs.append(self.gates[str(i)](gate_in))
        outs.gates = torch.cat(gs, dim=1)
        return outs

    def gated_forward(self, x: torch.Tensor):
        """(probs (E, N, K), gates (N, E-1), ĉ_1 (N, K)): every exit, every gate, eq. 9."""
        check_tensor(x, "x", dtype_kind="float")
        outs = self(x)
        probs = torch.stack([o.softmax(-1) for o in outs])
        return probs, outs.gates, combine_recursive(probs, outs.gates)

    def costs(self) -> CostProfile:
        """Measured γ_f and γ_c on one input, each early head's γ_c including its gate's FLOPs
        (a gate is evaluated wherever its head is)."""
        base = measure_costs(self, self.input_shape)
        gamma_c = dict(base.gamma_c)
        like = dict(zip(("device", "dtype"), device_and_dtype(self)))  # the model's, not CPU
        with eval_mode(self):
            K = self.heads[str(self.num_blocks)](torch.zeros(1, *self._shapes[-1], **like))
        for i in self.exits[:-1]:
            shape = (K.shape[-1],) if self.gate_input == "output" else self._shapes[i - 1]
            gamma_c[i] += count_flops(self.gates[str(i)], torch.zeros(1, *shape, **like))
        return CostProfile(base.gamma_f, gamma_c)


@dataclass(frozen=True)
class GatedLoss:
    """loss(outputs, y) -> (total, per_exit) for `mexit.training.fit` on a GatedExits model:

    total = −log ĉ_1(x)[y] + λ · E[cost]/Γ_full + α Σ_i CE(c_i(x), y),

    the task loss on eq. 9's output, the expected cost of eq. 13-14 (consistent form, as a
    fraction of the plain network) and an optional joint term that keeps every head trained.
    per_exit holds each exit's own cross-entropy (for the training history)."""

    lam: float
    Gamma: torch.Tensor
    alpha: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "lam", check_float(self.lam, "lam", low=0.0))
        object.__setattr__(self, "alpha", check_float(self.alpha, "alpha", low=0.0))
        if not isinstance(self.Gamma, torch.Tensor):
            object.__setattr__(
                self, "Gamma", _check_Gamma(self.Gamma, cumulative=True).to(torch.float32)
            )
        elif self.Gamma.ndim != 1 or self.Gamma.numel() == 0:
            raise ValueError(f"Gamma must be a 1D tensor of costs, got {tuple(self.Gamma.shape)}")

    def __call__(self, outputs, y):
        gates = getattr(outputs, "gates", None)
        if gates is None:
            raise TypeError("outputs carry no .gates: train a GatedExits model with this loss")
        logp = torch.stack([F.log_softmax(o, -1) for o in outputs])  # (E, N, K)
        if logp.shape[0] != self.Gamma.numel():
            raise ValueError(
                f"the loss was built for {self.Gamma.numel()} exits, got {logp.shape[0]} outputs"
            )
        c_hat = combine_recursive(logp.exp(), gates)
        task = F.nll_loss(c_hat.clamp_min(1e-12).log(), y)
        per_exit = torch.stack([F.nll_loss(lp, y) for lp in logp])
        total = task + self.lam * expected_cost(gates, self.Gamma)
        if self.alpha:
            total = total + self.alpha * per_exit.sum()
        return total, per_exit


def gated_loss(lam: float, Gamma, full_cost: float | None = None, alpha: float = 0.0) -> GatedLoss:
    """Task loss + λ · expected cost (§6.1), for `fit`. Gamma: cumulative cost of every exit
    (FLOPs); costs are divided by `full_cost` (default Γ_L) so λ is scale-free."""
    lam = check_float(lam, "lam", low=0.0)
    alpha = check_float(alpha, "alpha", low=0.0)
    Gamma = _check_Gamma(Gamma, cumulative=True)
    full = float(Gamma[-1]) if full_cost is None else check_float(full_cost, "full_cost")
    if full <= 0:
        raise ValueError(f"full_cost must be positive, got {full}")
    return GatedLoss(lam=lam, Gamma=(Gamma / full).to(torch.float32), alpha=alpha)


def train_gated(
    model: GatedExits,
    data,
    lam: float,
    *,
    costs: CostProfile | None = None,
    alpha: float = 0.0,
    epochs: int = 5,
    lr: float = 3e-3,
    batch_size: int = 128,
    progress: bool = True,
):
    """Train a gated network with task loss + λ · expected cost through `mexit.training.fit`.

    data: a `mexit.DataBundle` (train split trains, validation split is monitored).
    costs: the CostProfile whose Γ the regulariser uses (default: `model.costs()`).
    Returns the fit History. A `data` whose inputs or classes do not fit `model` is a
    ValueError naming `model`, never an error inside a layer."""
    from .training import fit_bundle

    if not isinstance(model, GatedExits):
        raise TypeError(f"model must be a GatedExits, got {type(model).__name__}")
    if costs is None:
        costs = model.costs()
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    check_fits(model, data, "model")
    loss = gated_loss(lam, costs.Gamma(model.exits), costs.full, alpha)
    return fit_bundle(
        model,
        data,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        loss=loss,
        progress=progress,
        desc=f"gated λ={lam:g}",
    )


@torch.no_grad()
def gated_outputs(model: GatedExits, x: torch.Tensor, batch_size: int = 1000):
    """(probs (E, N, K), gates (N, E-1)) of a GatedExits model on x, in eval mode.

    Computed once, they let a widget explore the gate threshold for free."""
    if not isinstance(model, GatedExits):
        raise TypeError(f"model must be a GatedExits, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    batch_size = check_int(batch_size, "batch_size", low=1)
    with eval_mode(model):
        ps, gs = [], []
        for s in range(0, x.shape[0], batch_size):
            outs = model(x[s : s + batch_size])
            ps.append(torch.stack([o.softmax(-1) for o in outs]))
            gs.append(outs.gates)
    return check_probs(torch.cat(ps, 1)), torch.cat(gs, 0)


def pretrained_gated(
    lam: float,
    *,
    base: str = "mnist1d_cnn",
    epochs: int = 4,
    lr: float = 3e-3,
    alpha: float = 1.0,
    seed: int = 0,
    progress: bool = True,
    retrain: bool = False,
    root=None,
) -> GatedExits:
    """A gated network (eq. 9) on a copy of the reference model `base`, fine-tuned with task
    loss + λ · expected cost (+ α · joint loss) for a few epochs, trained once and cached.
    `seed` picks the reference model (`pretrained(base, seed=seed)`) and seeds the fine-tuning;
    each seed has its own cache file. The fit history is attached as `model.history`."""
    import copy

    from .checkpoints import pretrained, state_fingerprint
    from .data import load_mnist1d

    lam = check_float(lam, "lam", low=0.0)
    if not isinstance(base, str):
        raise TypeError(f"base must be a reference model name (str), got {type(base).__name__}")
    config = dict(
        base=base,
        lam=lam,
        **run_budget(epochs=epochs, lr=lr, seed=seed),
        alpha=check_float(alpha, "alpha", low=0.0),
        gate="output",
        version=1,
    )
    data = load_mnist1d() if base.startswith("mnist1d") else None
    if data is None:
        raise ValueError(f"base must be an MNIST-1D reference model, got {base!r}")
    reference = pretrained(base, seed=config["seed"], progress=progress, root=root)
    config["reference"] = state_fingerprint(reference)  # retrain if the reference changes

    def build():
        return GatedExits(copy.deepcopy(reference), data.input_shape)

    def train(model):
        return train_gated(model, data, lam, alpha=alpha, epochs=epochs, lr=lr, progress=progress)

    model, _ = cached_fit(f"gated_{base}", config, build, train, root=root, retrain=retrain)
    return model
