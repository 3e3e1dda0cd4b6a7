"""Beyond exits: a cascade of two networks routed by confidence (survey §8, challenge 3;
Wang et al.'s IDK cascades, Bolukbasi et al.).

A small network answers every input; those it is not confident about (the same criteria as
eq. 11) go to a large network, which starts again from x: unlike a multi-exit network, the
large model reuses nothing of the small one's computation."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ._checks import check_float, check_int, check_labels, check_tensor, check_thresholds
from .data import load_mnist1d
from .inference import _check_criterion, _confident
from .models import eval_mode, mnist1d_cnn
from .runs import cached_fit, fit_run, run_budget


def _check_pair(small_probs, large_probs):
    for name, p in (("small_probs", small_probs), ("large_probs", large_probs)):
        check_tensor(p, name, ndim=2, dtype_kind="float")
        if (p < 0).any() or (p > 1).any():
            raise ValueError(f"{name} must be probabilities (apply softmax to logits)")
    if small_probs.shape != large_probs.shape:
        raise ValueError(
            f"small_probs and large_probs must have the same shape (N, K), got "
            f"{tuple(small_probs.shape)} and {tuple(large_probs.shape)}"
        )


@dataclass(frozen=True)
class CascadeResult:
    """What a two-network cascade does at one threshold."""

    threshold: float
    accuracy: float  # in [0, 1]
    mean_flops: float  # per input: the small network always, the large one when deferred
    deferred: float  # fraction of inputs sent to the large network
    predictions: torch.Tensor  # (N,)


def evaluate_cascade(
    small_probs, large_probs, labels, threshold, cost_small, cost_large, criterion="entropy"
) -> CascadeResult:
    """Route every input: keep the small network's answer when it is confident (entropy ≤
    threshold, or max probability ≥ threshold), else take the large network's.
    Costs are FLOPs per input of each whole network."""
    _check_pair(small_probs, large_probs)
    labels = check_labels(labels, small_probs.shape[0])
    criterion = _check_criterion(criterion)
    th = float(check_thresholds(threshold, 2, "threshold")[0])
    cost_small = check_float(cost_small, "cost_small", low=0.0)
    cost_large = check_float(cost_large, "cost_large", low=0.0)
    keep = _confident(small_probs, torch.tensor(th, dtype=small_probs.dtype), criterion)
    predictions = torch.where(keep, small_probs.argmax(-1), large_probs.argmax(-1))
    deferred = float((~keep).float().mean())
    return CascadeResult(
        threshold=th,
        accuracy=float((predictions == labels).float().mean()),
        mean_flops=cost_small + deferred * cost_large,
        deferred=deferred,
        predictions=predictions,
    )


def cascade_curve(
    small_probs,
    large_probs,
    labels,
    cost_small,
    cost_large,
    thresholds=None,
    criterion="entropy",
) -> list[CascadeResult]:
    """`evaluate_cascade` over a grid of thresholds (default 0, 0.05, ..., 1): the
    accuracy–cost curve of the cascade."""
    if thresholds is None:
        thresholds = [round(0.05 * k, 2) for k in range(21)]
    if isinstance(thresholds, torch.Tensor) or type(thresholds).__module__ == "numpy":
        thresholds = thresholds.tolist()  # a 1-D tensor or array of thresholds
    if isinstance(thresholds, (str, bytes)) or not isinstance(thresholds, (list, tuple, range)):
        name = type(thresholds).__name__
        raise TypeError(f"thresholds must be a sequence of numbers in [0, 1], got {name}")
    if len(thresholds) == 0:
        raise ValueError("thresholds must hold at least one value")
    thresholds = [
        check_float(t, f"thresholds[{i}]", low=0.0, high=1.0) for i, t in enumerate(thresholds)
    ]
    return [
        evaluate_cascade(small_probs, large_probs, labels, t, cost_small, cost_large, criterion)
        for t in thresholds
    ]


def _final_probs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    if isinstance(out, (list, tuple)):  # a MultiExitNet: use its final exit
        out = out[-1]
    return out.softmax(-1)


def cascade_predict(
    small: nn.Module, large: nn.Module, x: torch.Tensor, threshold, criterion="entropy"
):
    """Real routing on a batch: the small network runs on every input, the large one only on
    the inputs the small one defers. Returns (predictions (N,), deferred mask (N,))."""
    for name, m in (("small", small), ("large", large)):
        if not isinstance(m, nn.Module):
            raise TypeError(f"{name} must be an nn.Module, got {type(m).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    criterion = _check_criterion(criterion)
    th = check_thresholds(threshold, 2, "threshold")[0]
    with eval_mode(small, large), torch.inference_mode():
        p = _final_probs(small, x)
        keep = _confident(p, th.to(p.dtype), criterion)
        predictions = p.argmax(-1)
        if (~keep).any():
            predictions[~keep] = _final_probs(large, x[~keep]).argmax(-1)
    return predictions, ~keep


def train_small_network(
    *,
    channels=(8, 16, 32, 64),
    epochs: int = 15,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
    root=None,
):
    """The cascade's small network: the running example's CNN with narrower blocks and only
    its final exit, trained on MNIST-1D and cached. Returns (model, extras)."""
    if not isinstance(channels, (tuple, list)) or len(channels) < 2:
        raise ValueError(f"channels must list at least 2 block widths, got {channels!r}")
    channels = [check_int(c, f"channels[{i}]", low=1) for i, c in enumerate(channels)]
    budget = run_budget(epochs=epochs, lr=lr, batch_size=128, seed=seed)
    config = dict(channels=channels, **budget, version=1)
    data = load_mnist1d()

    def build():  # sized from the data: its input length and number of classes
        return mnist1d_cnn(
            channels=tuple(channels),
            exits=[],
            input_length=data.input_shape[-1],
            num_classes=data.num_classes,
        )

    def train(model):
        return fit_run(model, data, config, progress=progress, desc="training the small network")

    name = "cascade_small_" + "-".join(str(c) for c in channels)
    return cached_fit(name, config, build, train, root=root)
