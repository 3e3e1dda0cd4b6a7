"""Gradient norms per block (survey §5.1.1, Theorem 1): how much training signal reaches the
first blocks of a deep network, with and without the companion losses of eq. 6."""

from __future__ import annotations

import torch

from .models import MultiExitNet


def block_gradient_norms(model: MultiExitNet) -> list[float]:
    """‖∇_{θ_i}‖ for each block f_i: the Euclidean norm of the gradients currently stored on
    block i's parameters (0.0 for a block that received none). Call it after `backward`."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    norms = []
    for block in model.blocks:
        squares = [p.grad.detach().pow(2).sum() for p in block.parameters() if p.grad is not None]
        norms.append(float(torch.stack(squares).sum().sqrt()) if squares else 0.0)
    return norms


class GradientNormRecorder:
    """An `on_step` hook for `mexit.training.fit`: records `block_gradient_norms` at every step.

    `norms` is a (steps, L) tensor once training has run."""

    def __init__(self):
        self.rows: list[list[float]] = []

    def __call__(self, step: int, model: MultiExitNet) -> None:
        self.rows.append(block_gradient_norms(model))

    @property
    def norms(self) -> torch.Tensor:
        if not self.rows:
            raise ValueError("no gradient was recorded yet: pass the recorder to fit(on_step=...)")
        return torch.tensor(self.rows)


class LossRecorder:
    """Wrap a `fit` loss (loss(outputs, y) -> (total, per_exit)) to record every exit's loss
    L_i on each training batch: one row per optimiser step, the loss against step that
    Theorem 1 is about (`fit` calls the loss once per step and never while evaluating).

    `rows` is a list of per-exit losses; `losses` the (steps, E) tensor."""

    def __init__(self, loss):
        if not callable(loss):
            raise TypeError(
                f"loss must be callable: loss(outputs, y) -> (total, per_exit), "
                f"got {type(loss).__name__}"
            )
        self.loss = loss
        self.rows: list[list[float]] = []

    def __call__(self, outputs, y):
        total, per_exit = self.loss(outputs, y)
        self.rows.append(per_exit.detach().tolist())
        return total, per_exit

    @property
    def losses(self) -> torch.Tensor:
        if not self.rows:
            raise ValueError("no loss was recorded yet: pass the recorder to fit(loss=...)")
        return torch.tensor(self.rows)
