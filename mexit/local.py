"""Local learning and feedback alignment (survey §7.1; Mostafa et al., local errors).

Every block f_i is trained by its own head c_i(x) = M f_i(x), M a *fixed* random matrix, and
the input of block i+1 is detached, so no error signal crosses a block boundary. With
feedback alignment the backward pass through the head replaces M by another fixed random
matrix K of the same size: block i then learns from K^T δ instead of M^T δ, and no weight
is ever transported backwards.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_float, check_int, check_tensor
from .checkpoints import cached_model
from .data import load_mnist1d
from .models import MultiExitNet, embedding_shapes, mnist1d_cnn
from .training import fit_bundle

FEEDBACK_MODES = ("transpose", "random")  # backward through M^T (exact) or a random K


def check_feedback(feedback) -> str:
    """Return `feedback` if it is a known feedback mode, else raise ValueError."""
    if not isinstance(feedback, str) or feedback not in FEEDBACK_MODES:
        raise ValueError(
            f"feedback must be one of {FEEDBACK_MODES} ('transpose': the backward pass uses M^T; "
            f"'random': a fixed random K replaces it), got {feedback!r}"
        )
    return feedback


class _FeedbackAlignment(torch.autograd.Function):
    """y = h M^T forward; backward returns δ K for h (not δ M) and δ^T h for M."""

    @staticmethod
    def forward(ctx, h, M, K):
        ctx.save_for_backward(h, K)
        return h @ M.T

    @staticmethod
    def backward(ctx, grad_out):
        h, K = ctx.saved_tensors
        grad_h = grad_out @ K if ctx.needs_input_grad[0] else None
        grad_M = grad_out.T @ h if ctx.needs_input_grad[1] else None
        return grad_h, grad_M, None


def feedback_alignment(h: torch.Tensor, M: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """The local classifier c = M h for a batch h (N, d): forward with M (C, d), backward
    with K (C, d) in place of M, so dL/dh = δ K instead of δ M (feedback alignment).

    K never receives a gradient. If M requires grad it gets its own local gradient δ^T h
    (the outer product of the head's error and its input: nothing is transported)."""
    check_tensor(h, "h", ndim=2, dtype_kind="float")
    check_tensor(M, "M", ndim=2, dtype_kind="float")
    check_tensor(K, "K", ndim=2, dtype_kind="float")
    if M.shape != K.shape:
        raise ValueError(f"K must have the shape of M {tuple(M.shape)}, got {tuple(K.shape)}")
    if h.shape[1] != M.shape[1]:
        raise ValueError(
            f"h must have {M.shape[1]} features (the columns of M), got shape {tuple(h.shape)}"
        )
    return _FeedbackAlignment.apply(h, M, K)


class LocalHead(nn.Module):
    """c_i(x) = M vec(pool(f_i(x))) with M a random (C, d) matrix.

    feedback='transpose' back-propagates through M (the exact gradient, M^T δ); 'random'
    uses a second fixed random matrix K of the same size instead (feedback alignment).
    learn_M=False keeps M fixed (Mostafa et al.); True lets M learn from its own local
    gradient δ^T h. output_size: average-pool a (channels, length) map to that many
    positions first (None: flatten as is). M and K have N(0, 1/d) entries, from `seed`."""

    def __init__(
        self,
        in_shape,
        num_classes: int,
        feedback: str = "random",
        learn_M: bool = False,
        output_size: int | None = None,
        seed: int = 0,
    ):
        super().__init__()
        if not isinstance(in_shape, (tuple, list)) or not in_shape:
            raise TypeError(f"in_shape must be a non-empty tuple of ints, got {in_shape!r}")
        in_shape = tuple(check_int(s, "in_shape entry", low=1) for s in in_shape)
        num_classes = check_int(num_classes, "num_classes", low=2)
        self.feedback = check_feedback(feedback)
        if not isinstance(learn_M, bool):
            raise TypeError(f"learn_M must be a bool, got {type(learn_M).__name__}")
        self.pool = None
        if output_size is not None:
            output_size = check_int(output_size, "output_size", low=1)
            if len(in_shape) != 2:
                raise ValueError(
                    f"output_size needs a (channels, length) feature map, got in_shape={in_shape}"
                )
            output_size = min(output_size, in_shape[1])
            self.pool = nn.AdaptiveAvgPool1d(output_size)
            in_shape = (in_shape[0], output_size)
        d = math.prod(in_shape)
        g = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        M = torch.randn(num_classes, d, generator=g) / math.sqrt(d)
        K = torch.randn(num_classes, d, generator=g) / math.sqrt(d)
        if learn_M:
            self.M = nn.Parameter(M)
        else:
            self.register_buffer("M", M)
        self.register_buffer("K", K)

    @property
    def learn_M(self) -> bool:
        return isinstance(self.M, nn.Parameter)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            h = self.pool(h)
        h = h.flatten(1)
        if self.feedback == "random":
            return _FeedbackAlignment.apply(h, self.M, self.K)
        return h @ self.M.T

    def alignment_angle(self) -> float:
        """Angle in degrees between vec(M) and vec(K): about 90 for two independent random
        matrices, smaller once a learning M has aligned with its feedback K."""
        m, k = self.M.detach().flatten(), self.K.flatten()
        cos = torch.dot(m, k) / (m.norm() * k.norm())
        return float(torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0))))

    def extra_repr(self) -> str:
        return f"M={tuple(self.M.shape)}, feedback={self.feedback!r}, learn_M={self.learn_M}"


class DetachedBlock(nn.Module):
    """f_i applied to a detached input: the forward pass is unchanged, but no gradient flows
    from block i back into blocks 1..i-1 (the locality of §7.1 and §5.3)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        if not isinstance(block, nn.Module):
            raise TypeError(f"block must be an nn.Module, got {type(block).__name__}")
        self.block = block

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.block(h.detach())


def local_learning_model(
    backbone: MultiExitNet,
    input_shape,
    feedback: str = "random",
    learn_M: bool = False,
    output_size: int | None = None,
    seed: int = 0,
) -> MultiExitNet:
    """The blocks of `backbone` (shared, not copied) with a random local head c_i = M_i f_i
    (a `LocalHead`) at each of its exits, and every block after the first reading a detached
    input. Trained with the plain sum of the exits' cross-entropies (`mexit.fit`'s default),
    each block then learns from its own head only."""
    if not isinstance(backbone, MultiExitNet):
        raise TypeError(f"backbone must be a MultiExitNet, got {type(backbone).__name__}")
    feedback = check_feedback(feedback)
    seed = check_int(seed, "seed", low=0)
    if not isinstance(input_shape, (tuple, list, torch.Size)):
        raise TypeError(f"input_shape must be a tuple like (1, 40), got {input_shape!r}")
    shapes = embedding_shapes(backbone.blocks, tuple(input_shape))
    num_classes = _num_classes(backbone)
    blocks = [b if i == 0 else DetachedBlock(b) for i, b in enumerate(backbone.blocks)]
    heads = {
        i: LocalHead(shapes[i - 1], num_classes, feedback, learn_M, output_size, seed * 1000 + i)
        for i in backbone.exits
    }
    return MultiExitNet(blocks, heads)


def _num_classes(model: MultiExitNet) -> int:
    final = model.head(model.num_blocks)
    linears = [m for m in final.modules() if isinstance(m, nn.Linear)]
    if linears:
        return linears[-1].out_features
    if isinstance(final, LocalHead):
        return final.M.shape[0]
    raise ValueError("cannot read the number of classes from the backbone's final head")


def cross_block_gradients(model: MultiExitNet, x: torch.Tensor, exit_block: int) -> dict:
    """Back-propagate the output of the head at `exit_block` alone and report, per block,
    whether any of its parameters received a non-zero gradient. In a locally trained model
    only block `exit_block` does; in a jointly trained one every block up to it does."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    if exit_block not in model.exits:
        raise ValueError(f"exit_block must be one of the exits {model.exits}, got {exit_block!r}")
    was_training = model.training
    model.eval()  # eval: the check must not move BatchNorm's running statistics
    model.zero_grad(set_to_none=True)
    try:
        out = model(x)[model.exits.index(exit_block)]
        out.square().sum().backward()
        reached = {
            i: any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in b.parameters())
            for i, b in enumerate(model.blocks, 1)
        }
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return reached


def train_local(
    feedback: str = "random",
    learn_M: bool = False,
    *,
    epochs: int = 10,
    lr: float = 1e-2,
    output_size: int | None = 4,
    seed: int = 0,
    progress: bool = True,
    root=None,
):
    """Train the running example (MNIST-1D CNN) by local learning and cache it.

    Returns (model, extras): the locally trained `MultiExitNet` and its training history
    (`val_accuracy` per epoch and exit, `seconds`). Loaded from the cache on later calls."""
    feedback = check_feedback(feedback)
    if not isinstance(learn_M, bool):
        raise TypeError(f"learn_M must be a bool, got {type(learn_M).__name__}")
    epochs = check_int(epochs, "epochs", low=1)
    lr = check_float(lr, "lr", low=0.0)
    seed = check_int(seed, "seed", low=0)
    if output_size is not None:
        output_size = check_int(output_size, "output_size", low=1)
    config = dict(
        feedback=feedback,
        learn_M=learn_M,
        epochs=epochs,
        lr=lr,
        output_size=output_size,
        seed=seed,
        batch_size=128,
        version=1,
    )

    def build():
        return local_learning_model(mnist1d_cnn(), (1, 40), feedback, learn_M, output_size, seed)

    def train(model):
        data = load_mnist1d()
        h = fit_bundle(
            model,
            data,
            epochs=epochs,
            lr=lr,
            batch_size=128,
            progress=progress,
            desc=f"local learning ({feedback}, M {'learned' if learn_M else 'fixed'})",
        )
        return h.as_dict()

    name = f"local_{feedback}_{'learned' if learn_M else 'fixed'}M"
    return cached_model(name, config, build, train, root=root)
