"""Exercise of notebook 08 (§7.1): the backward pass of feedback alignment."""

from __future__ import annotations

import torch

from ..local import feedback_alignment
from ._core import Case, Exercise, Mistake


def _fa_cases() -> list[Case]:
    g = torch.Generator().manual_seed(801)

    def draw(n, d, c, dtype=torch.float32):
        h = torch.randn(n, d, generator=g, dtype=dtype)
        M = torch.randn(c, d, generator=g, dtype=dtype) / d**0.5
        K = torch.randn(c, d, generator=g, dtype=dtype) / d**0.5
        delta = torch.randn(n, c, generator=g, dtype=dtype)
        return delta, h, M, K

    notebook = (
        torch.tensor([[1.0, -2.0]]),
        torch.tensor([[1.0, 2.0, 3.0]]),
        torch.tensor([[1.0, 0.0, -1.0], [0.5, 1.0, 0.0]]),
        torch.tensor([[0.0, 2.0, 1.0], [-1.0, 0.0, 1.0]]),
    )
    return [
        Case("a batch of 5 inputs, d = 6 features, C = 3 classes", draw(5, 6, 3)),
        Case("the notebook's example: one input, d = 3, C = 2", notebook),
        Case("10 classes, 8 features, 4 inputs", draw(4, 8, 10)),
        Case("float64, 3 inputs", draw(3, 5, 4, torch.float64)),
    ]


def _fa_reference(delta, h, M, K):
    """∂l/∂h that mexit.local.feedback_alignment's backward pass sends to the block."""
    h = h.detach().clone().requires_grad_(True)
    feedback_alignment(h, M, K).backward(delta)
    return h.grad


def _transpose_of_M(delta, h, M, K):
    return delta @ M


def _sign(delta, h, M, K):
    return -(delta @ K)


def _per_batch(delta, h, M, K):
    return delta @ K / delta.shape[0]


def _batch_summed(delta, h, M, K):
    return (delta.sum(0, keepdim=True) @ K).expand(h.shape[0], -1)


def _times_h(delta, h, M, K):
    return (delta @ K) * h


FEEDBACK = Exercise(
    "feedback_backward",
    title="fa_backward(delta, h, M, K), the error ∂l/∂h that feedback alignment sends back",
    params=("delta", "h", "M", "K"),
    reference=_fa_reference,
    cases=_fa_cases,
    keep_dtype=True,
    success="your backward pass equals mexit.local.feedback_alignment's",
    mistakes=[
        Mistake(
            "Mᵀ instead of the random K",
            _transpose_of_M,
            "δ M is backprop's exact gradient (the forward weights Mᵀ sent backwards: weight "
            "symmetry). Feedback alignment sends the error through the fixed random K of the "
            "same shape: ∂l/∂h = δ K.",
        ),
        Mistake(
            "sign flipped",
            _sign,
            "a backward pass returns the gradient ∂l/∂h = δ K; the optimiser subtracts it. "
            "Do not put the minus sign of the update step here.",
        ),
        Mistake(
            "divided by the batch size",
            _per_batch,
            "δ already carries the loss's 1/N (it is ∂l/∂c for the batch's loss): row n of "
            "the answer is δ_n K, nothing to average.",
        ),
        Mistake(
            "the batch's errors summed",
            _batch_summed,
            "each input gets its own error: row n is δ_n K (a matrix product of the (N, C) "
            "errors with K (C, d)), not the sum of the batch's errors.",
        ),
        Mistake(
            "multiplied by the input h",
            _times_h,
            "c = h Mᵀ is linear in h: its backward pass does not involve h (h enters the "
            "gradient of M, δᵀ h, not that of h).",
        ),
    ],
)
check_feedback_backward = FEEDBACK.checker_fn
