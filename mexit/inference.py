"""Exit policies and real early-exit inference (survey §6, eq. 11).

An input exits at the first early exit whose prediction is confident enough, and at the final
exit L otherwise. Exits are referred to by their *position* k = 0..E-1 in the model's exit
list (`model.exits[k]` is the block index, 1-based as in the survey).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import (
    check_float,
    check_int,
    check_labels,
    check_probs,
    check_tensor,
    check_thresholds,
)
from .cost import CostProfile, _check_Gamma, measure_costs
from .devices import call_on
from .models import MultiExitNet, device_and_dtype, eval_mode

CRITERIA = ("entropy", "max_probability")


def normalized_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Eq. 11: H[c_i(x)] = −(1/log C) Σ_t c_it(x) log c_it(x), in [0, 1].

    The printed formula drops the minus sign (it would make H ≤ 0). 0 for a one-hot
    prediction, 1 for the uniform one. Reduces the last axis, which must hold distributions."""
    probs = check_probs(probs, ndim=None)
    K = probs.shape[-1]
    return (-torch.xlogy(probs, probs).sum(-1) / math.log(K)).clamp(0.0, 1.0)


def max_probability(probs: torch.Tensor) -> torch.Tensor:
    """max_t c_it(x): the confidence of the predicted class. Reduces the last axis, which must
    hold distributions."""
    probs = check_probs(probs, ndim=None)
    return probs.max(-1).values


def _check_criterion(criterion: str) -> str:
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    return criterion


def _bound(thresholds: torch.Tensor, num_classes: int, criterion: str) -> torch.Tensor:
    """The exit test as a bound on a cheap score: entropy H ≤ β (eq. 11) is
    Σ_t c_t log c_t ≥ −β log C, with no division per input; β ≥ 1 lets every input out
    (H ≤ 1 always). max_probability: max_t c_t ≥ τ."""
    if criterion == "entropy":
        bound = -(thresholds * math.log(num_classes))
        return torch.where(thresholds >= 1, torch.full_like(bound, -math.inf), bound)
    return thresholds


def _passes(probs: torch.Tensor, bound: torch.Tensor, criterion: str) -> torch.Tensor:
    """Which rows of `probs` (..., N, K) clear `bound` (see `_bound`)."""
    if criterion == "entropy":
        return torch.xlogy(probs, probs).sum(-1) >= bound
    return probs.amax(-1) >= bound


def _confident(probs: torch.Tensor, thresholds: torch.Tensor, criterion: str) -> torch.Tensor:
    """Exit decision for outputs `probs` (..., N, K) against thresholds broadcast on (..., 1).

    entropy: exit when H ≤ β_i; max_probability: exit when max_t c_it ≥ τ_i."""
    th = torch.as_tensor(thresholds, dtype=probs.dtype, device=probs.device)
    return _passes(probs, _bound(th, probs.shape[-1], criterion), criterion)


def simulate_exits(probs, thresholds, criterion: str = "entropy") -> torch.Tensor:
    """The exit each input takes, from the outputs of all exits computed beforehand.

    probs: (E, N, K) softmax outputs of every exit (or a list of E tensors (N, K)).
    thresholds: one number shared by the E-1 early exits, or one per early exit.
    Returns exit positions (N,) in 0..E-1."""
    probs = check_probs(probs)
    criterion = _check_criterion(criterion)
    E = probs.shape[0]
    th = check_thresholds(thresholds, E).to(device=probs.device, dtype=probs.dtype)
    exit_index = torch.full((probs.shape[1],), E - 1, dtype=torch.long, device=probs.device)
    if E > 1:
        ok = _confident(probs[:-1], th[:, None], criterion)  # (E-1, N)
        any_ok = ok.any(0)
        exit_index[any_ok] = ok.int().argmax(0)[any_ok]
    return exit_index


@dataclass(frozen=True)
class PolicyResult:
    """What an exit policy does on a labelled set (see `evaluate_policy`)."""

    accuracy: float  # fraction correct, in [0, 1]
    mean_flops: float  # mean FLOPs per input, eq. 12
    cost_fraction: float  # mean_flops / FLOPs of the plain network
    exit_counts: tuple[int, ...]  # inputs leaving at each exit
    exit_index: torch.Tensor  # (N,) exit position of each input
    predictions: torch.Tensor  # (N,) predicted class


def evaluate_policy(
    probs, labels, thresholds, criterion: str = "entropy", Gamma=None, full_cost=None
) -> PolicyResult:
    """Accuracy, mean cost and exit counts of a threshold policy.

    Gamma: cumulative cost Γ_j of each exit (e.g. `CostProfile.Gamma(model.exits)`); if
    omitted, costs are counted in blocks-of-exits (Γ_j = j+1) as a stand-in. full_cost: the
    cost that `cost_fraction` divides by (default: Γ of the final exit)."""
    probs = check_probs(probs)
    labels = _labels_for(probs, labels)
    E = probs.shape[0]
    exit_index = simulate_exits(probs, thresholds, criterion)
    if Gamma is None:
        Gamma = torch.arange(1, E + 1, dtype=torch.float64)
    Gamma = _check_Gamma(Gamma, E, cumulative=True)
    full = float(Gamma[-1]) if full_cost is None else check_float(full_cost, "full_cost")
    if full <= 0:
        raise ValueError(f"full_cost must be positive, got {full}")
    predictions = probs.argmax(-1).gather(0, exit_index[None]).squeeze(0)
    mean_flops = float(Gamma[exit_index.cpu()].mean())
    return PolicyResult(
        accuracy=float((predictions == labels).float().mean()),
        mean_flops=mean_flops,
        cost_fraction=mean_flops / full,
        exit_counts=tuple(torch.bincount(exit_index.cpu(), minlength=E).tolist()),
        exit_index=exit_index,
        predictions=predictions,
    )


def _labels_for(probs: torch.Tensor, labels) -> torch.Tensor:
    """labels checked against probs (E, N, K): one per input, each a class in 0..K-1, and on
    the device of probs."""
    labels = check_labels(labels, probs.shape[1], num_classes=probs.shape[-1])
    if labels.device != probs.device:
        raise ValueError(
            f"labels must be on the device of probs ({probs.device}), got {labels.device}"
        )
    return labels


def exit_accuracies(probs, labels) -> torch.Tensor:
    """Accuracy of every exit on its own, (E,), as if every input left there."""
    probs = check_probs(probs)
    labels = _labels_for(probs, labels)
    return (probs.argmax(-1) == labels).float().mean(1)


def oracle_exits(probs, labels) -> torch.Tensor:
    """The earliest exit whose prediction is correct, per input (final exit when none is).

    No policy that sees only the outputs can be cheaper at the same or higher accuracy."""
    probs = check_probs(probs)
    labels = _labels_for(probs, labels)
    correct = probs.argmax(-1) == labels  # (E, N)
    exit_index = torch.full(
        (probs.shape[1],), probs.shape[0] - 1, dtype=torch.long, device=probs.device
    )
    hit = correct.any(0)
    exit_index[hit] = correct.int().argmax(0)[hit]
    return exit_index


def overthinking(probs, labels) -> float:
    """Fraction of inputs right at some earlier exit and wrong at the final one (Kaya et al.)."""
    probs = check_probs(probs)
    labels = _labels_for(probs, labels)
    correct = probs.argmax(-1) == labels
    if probs.shape[0] < 2:
        return 0.0
    return float((correct[:-1].any(0) & ~correct[-1]).float().mean())


def _check_input(model: MultiExitNet, x: torch.Tensor) -> None:
    """x must live on the model's device and have its dtype (no silent copy or cast)."""
    device, dtype = device_and_dtype(model)
    if x.device.type != device.type or x.dtype != dtype:
        raise ValueError(
            f"x must be on the model's device with its dtype ({device}, {dtype}), got "
            f"({x.device}, {x.dtype}): use x.to(device, dtype) or model.to(...)"
        )


def exit_probs(
    model: MultiExitNet, x: torch.Tensor, batch_size: int = 1000, device=None
) -> torch.Tensor:
    """Softmax outputs of every exit of `model` on `x`, (E, N, K), in eval mode.

    Computed once, these let widgets and `simulate_exits` explore policies for free.
    device: run there (model and x moved for the call; outputs on it); default: x must be on
    the model's device."""
    if device is not None:  # issue 16: the same call, on `device`
        return call_on(exit_probs, model, x, device, batch_size=batch_size)
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    batch_size = check_int(batch_size, "batch_size", low=1)
    _check_input(model, x)
    with eval_mode(model), torch.inference_mode():
        chunks = [
            torch.stack([o.softmax(-1) for o in model(x[s : s + batch_size])])
            for s in range(0, x.shape[0], batch_size)
        ]
    return torch.cat(chunks, dim=1)


@dataclass(frozen=True)
class EarlyExitResult:
    """What `early_exit_predict` did: predictions, exits taken, and FLOPs actually spent."""

    predictions: torch.Tensor  # (N,)
    exit_index: torch.Tensor  # (N,) exit position 0..E-1
    flops: torch.Tensor  # (N,) FLOPs spent on each input (blocks and heads), float64 on the CPU


def early_exit_predict(
    model: MultiExitNet,
    x: torch.Tensor,
    thresholds,
    criterion: str = "entropy",
    costs: CostProfile | None = None,
    device=None,
) -> EarlyExitResult:
    """Real early exit on a batch: run block by block, drop the rows that exited, so later
    blocks only see the inputs still active. No per-row Python loop.

    Gives the same exits and predictions as `simulate_exits` on the same outputs; the FLOPs
    it reports are those of the blocks and heads each input actually went through.
    device: run there (model and x moved for the call); default: the model's device."""
    if device is not None:  # issue 16: the same call, on `device`
        return call_on(early_exit_predict, model, x, device, thresholds, criterion, costs)
    costs = _check_early_exit_args(model, x, costs)
    criterion = _check_criterion(criterion)
    th = check_thresholds(thresholds, len(model.exits)).to(device=x.device, dtype=x.dtype)
    bounds = []  # the exit tests, computed once per call (they need the number of classes)

    def decide(k, p, state):
        if not bounds:
            bounds.extend(_bound(th, p.shape[-1], criterion).unbind())
        if k == len(bounds):  # the final exit has no test: every row still active leaves
            return torch.ones(p.shape[0], dtype=torch.bool, device=p.device), p.argmax(-1), state
        return _passes(p, bounds[k], criterion), p.argmax(-1), state

    return _staged_early_exit(model, x, decide, costs)


# One block-by-block early-exit loop, for every real early exit: `early_exit_predict` and the
# policies whose decision at exit k needs more than exit k's own output (patience counters,
# ensembles of earlier exits: `mexit.patience`, `mexit.zero_time_waste`). It runs the blocks in
# order, evaluates the head at every exit, asks the policy's `decide` which active rows leave
# there and with which prediction, and carries on with the other rows only. The policy keeps
# what it needs about the active rows in a `state` it gets back, filtered to the rows still
# active.


def _check_early_exit_args(model, x, costs):
    """The checks every real early exit makes: a MultiExitNet, a float x on its device and
    dtype, and a CostProfile measured on it (measured here when None)."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    _check_input(model, x)
    if costs is None:
        costs = measure_costs(model, tuple(x.shape[1:]))
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    exits, L = model.exits, model.num_blocks
    if costs.num_blocks != L or any(i not in costs.gamma_c for i in exits):
        raise ValueError(
            f"costs must be measured on this model (L={L}, exits {exits}), got a profile of "
            f"{costs.num_blocks} blocks with heads at {sorted(costs.gamma_c)}"
        )
    return costs


def _staged_early_exit(model: MultiExitNet, x: torch.Tensor, decide, costs: CostProfile):
    """Run `model` on x block by block. At exit position k, `decide(k, probs_k, state)` gets
    the softmax of the active rows (n, K) and returns (leave (n,) bool, predictions (n,),
    state); at the final exit every row leaves. `state` is a list of tensors whose first axis
    is the active rows (the loop drops the rows that left); it starts empty."""
    exits, L = model.exits, model.num_blocks
    N = x.shape[0]
    predictions = torch.empty(N, dtype=torch.long, device=x.device)
    exit_index = torch.empty(N, dtype=torch.long, device=x.device)
    spent, Gamma = 0.0, []
    active = torch.arange(N, device=x.device)
    state: list = []
    with eval_mode(model), torch.inference_mode():
        h, k = x, 0
        for i, block in enumerate(model.blocks, 1):
            h = block(h)
            spent += costs.gamma_f[i - 1]
            if i != exits[k]:
                continue
            p = model.heads[str(i)](h).softmax(-1)
            spent += costs.gamma_c[i]
            Gamma.append(spent)
            leave, pred, state = decide(k, p, state)
            if i == L:
                leave = torch.ones_like(leave)
            if bool(leave.all()):
                predictions[active] = pred
                exit_index[active] = k
                break
            if bool(leave.any()):
                rows = active[leave]
                predictions[rows] = pred[leave]
                exit_index[rows] = k
                keep = ~leave
                active, h = active[keep], h[keep]
                state = [s[keep] for s in state]
            k += 1
    flops = torch.tensor(Gamma, dtype=torch.float64)[exit_index.cpu()]
    return EarlyExitResult(predictions, exit_index, flops)
