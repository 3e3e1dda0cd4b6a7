"""Local learning and feedback alignment (survey §7.1; Mostafa et al., local errors).

Every block f_i is trained by its own head c_i(x) = M f_i(x), M a *fixed* random matrix, and
the input of block i+1 is detached, so no error signal crosses a block boundary. With
feedback alignment the backward pass through the head replaces M by another fixed random
matrix K of the same size: block i then learns from K^T δ instead of M^T δ, and no weight
is ever transported backwards. K is either independent of M ('random') or shares M's signs
with random magnitudes ('sign': sign-concordant feedback, Liao et al. 2016).

Nøkland & Eidnes' similarity-matching loss (`SimilarityHead`, `predsim_loss`) is the fourth
local rule: a learned linear head plus a loss matching the batch's cosine-similarity matrix of
the block's features to that of the labels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_float, check_int, check_tensor
from .data import load_mnist1d
from .models import MultiExitNet, embedding_shapes, eval_mode
from .runs import build_for, cached_fit, fit_run, run_budget
from .training import joint_loss

# backward through M^T (exact), an independent random K, or a K with M's signs
FEEDBACK_MODES = ("transpose", "random", "sign")


def check_feedback(feedback) -> str:
    """Return `feedback` if it is a known feedback mode, else raise ValueError."""
    if not isinstance(feedback, str) or feedback not in FEEDBACK_MODES:
        raise ValueError(
            f"feedback must be one of {FEEDBACK_MODES} ('transpose': the backward pass uses M^T; "
            f"'random': a fixed random K replaces it; 'sign': a fixed K with M's signs and "
            f"random magnitudes), got {feedback!r}"
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
    uses a second fixed random matrix K of the same size instead (feedback alignment); 'sign'
    uses K = sign(M) ⊙ |R|, R independent of M: the signs of M, random magnitudes
    (sign-concordant feedback).
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
        if self.feedback == "sign":
            K = torch.sign(M) * K.abs()
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
        if self.feedback in ("random", "sign"):
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


def teaching_signal_angle(model: MultiExitNet, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Per exit, the angle in degrees between the signal a block receives from its local head,
    K^T δ (rows: δ K), and the exact local gradient M^T δ, on the batch (x, y); δ is the
    cross-entropy error of the head's output. Averaged over the inputs of the batch.

    Lillicrap et al.'s condition for feedback alignment to learn is an angle below 90°. An
    exact head ('transpose') gives 0°. Measured on data, not read off the weights."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    if not isinstance(y, torch.Tensor) or y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must be a 1-D label tensor with one label per row of x ({x.shape[0]})")
    heads = [model.head(i) for i in model.exits]
    if not all(isinstance(h, LocalHead) for h in heads):
        raise TypeError("model must have a LocalHead at every exit (see local_learning_model)")
    num_classes = heads[0].M.shape[0]
    if y.dtype in (torch.float16, torch.float32, torch.float64, torch.bool) or (
        y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes)
    ):
        raise ValueError(f"y must hold integer class labels in [0, {num_classes}), got {y!r}")
    angles = []
    with eval_mode(model):
        with torch.no_grad():
            h = x
            feats = []
            for b in model.blocks:
                h = b(h)
                feats.append(h)
            for i, head in zip(model.exits, heads):
                z = feats[i - 1]
                if head.pool is not None:
                    z = head.pool(z)
                z = z.flatten(1)
                delta = torch.softmax(z @ head.M.T, -1) - F.one_hot(y, head.M.shape[0]).float()
                used = delta @ (head.K if head.feedback != "transpose" else head.M)
                exact = delta @ head.M
                cos = F.cosine_similarity(used, exact, dim=1).clamp(-1.0, 1.0)
                angles.append(float(torch.rad2deg(torch.arccos(cos)).mean()))
    return angles


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


def _shapes_for(backbone: MultiExitNet, input_shape) -> list[tuple[int, ...]]:
    """The shapes of h_1..h_L for one input of `input_shape`, or an error naming it."""
    if not isinstance(input_shape, (tuple, list, torch.Size)):
        raise TypeError(f"input_shape must be a tuple like (1, 40), got {input_shape!r}")
    input_shape = tuple(check_int(s, "input_shape entry", low=1) for s in input_shape)
    try:
        return embedding_shapes(backbone.blocks, input_shape)
    except RuntimeError as err:
        raise ValueError(f"input_shape {input_shape} does not fit backbone: {err}") from None


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
    shapes = _shapes_for(backbone, input_shape)
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
    model.zero_grad(set_to_none=True)
    with eval_mode(model):  # eval: the check must not move BatchNorm's running statistics
        try:
            out = model(x)[model.exits.index(exit_block)]
            out.square().sum().backward()
            reached = {
                i: any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in b.parameters())
                for i, b in enumerate(model.blocks, 1)
            }
        finally:
            model.zero_grad(set_to_none=True)
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
    budget = run_budget(epochs=epochs, lr=lr, batch_size=128, seed=seed)
    seed = budget["seed"]
    if output_size is not None:
        output_size = check_int(output_size, "output_size", low=1)
    config = dict(feedback=feedback, learn_M=learn_M, output_size=output_size, **budget, version=1)

    data = load_mnist1d()

    def build():
        backbone = _backbone_for(data)
        return local_learning_model(
            backbone, data.input_shape, feedback, learn_M, output_size, seed
        )

    def train(model):
        return fit_run(
            model,
            data,
            config,
            progress=progress,
            desc=f"local learning ({feedback}, M {'learned' if learn_M else 'fixed'})",
        )

    name = f"local_{feedback}_{'learned' if learn_M else 'fixed'}M"
    return cached_fit(name, config, build, train, root=root)


def _backbone_for(data):
    """The running example's CNN sized from `data` (input length, number of classes)."""
    return build_for("mnist1d_cnn", {}, data)


def similarity_matrix(z: torch.Tensor) -> torch.Tensor:
    """S(z): the (N, N) cosine similarities of the centred rows of z (N, ...), as in Nøkland
    & Eidnes' similarity-matching loss (each row is centred over its features first)."""
    check_tensor(z, "z", dtype_kind="float")
    if z.ndim < 2 or z.shape[0] < 2:
        raise ValueError(f"z must be a batch of at least 2 rows, got shape {tuple(z.shape)}")
    z = z.flatten(1)
    z = z - z.mean(1, keepdim=True)
    z = z / (z.norm(dim=1, keepdim=True) + 1e-8)
    return (z @ z.T).clamp(-1.0, 1.0)


class SimilarityHead(nn.Module):
    """Nøkland & Eidnes' local head: a learned linear classifier on the average-pooled map
    ('pred', its cross-entropy) and, in training, a learned 3-tap convolution of the map whose
    batch similarity matrix S(conv(h)) is matched to the labels' S(onehot(y)) ('sim').

    At inference only the linear classifier runs (the 'sim' branch is a training signal)."""

    def __init__(self, in_shape, num_classes: int, output_size: int = 4, seed: int = 0):
        super().__init__()
        if not isinstance(in_shape, (tuple, list)) or len(in_shape) != 2:
            raise TypeError(f"in_shape must be a (channels, length) tuple, got {in_shape!r}")
        channels, length = (check_int(s, "in_shape entry", low=1) for s in in_shape)
        num_classes = check_int(num_classes, "num_classes", low=2)
        output_size = min(check_int(output_size, "output_size", low=1), length)
        g = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        self.pool = nn.AdaptiveAvgPool1d(output_size)
        self.pred = nn.Linear(channels * output_size, num_classes)
        self.sim = nn.Conv1d(channels, channels, 3, padding=1, bias=False)
        with torch.no_grad():
            for p in (self.pred.weight, self.sim.weight):
                fan_in = math.prod(p.shape[1:])
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            self.pred.bias.zero_()
        self.last_similarity = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.last_similarity = similarity_matrix(self.sim(h))
        return self.pred(self.pool(h).flatten(1))


def predsim_loss(model: MultiExitNet, beta: float = 0.99):
    """Nøkland & Eidnes' 'predsim' loss for a model with a `SimilarityHead` at every exit:
    Σ_i (1 - β) CE(c_i(x), y) + β ‖S(conv_i(f_i(x))) − S(onehot(y))‖² (mean over the N² pairs).

    Returns loss(outputs, y) -> (total, per_exit cross-entropies), the form `mexit.fit` takes."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    beta = check_float(beta, "beta", low=0.0)
    if beta > 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    heads = [model.head(i) for i in model.exits]
    if not all(isinstance(h, SimilarityHead) for h in heads):
        raise TypeError("model must have a SimilarityHead at every exit (see predsim_model)")
    num_classes = heads[0].pred.out_features

    def loss(outputs, y):
        target = similarity_matrix(F.one_hot(y, num_classes).float())
        per_exit = torch.stack([F.cross_entropy(o, y) for o in outputs])
        sims = torch.stack([F.mse_loss(h.last_similarity, target) for h in heads])
        return ((1 - beta) * per_exit + beta * sims).sum(), per_exit

    return loss


def predsim_model(backbone: MultiExitNet, input_shape, output_size: int = 4, seed: int = 0):
    """The blocks of `backbone` (shared), every block after the first reading a detached
    input, and a `SimilarityHead` at each exit: the fourth local rule (Nøkland & Eidnes)."""
    if not isinstance(backbone, MultiExitNet):
        raise TypeError(f"backbone must be a MultiExitNet, got {type(backbone).__name__}")
    seed = check_int(seed, "seed", low=0)
    shapes = _shapes_for(backbone, input_shape)
    num_classes = _num_classes(backbone)
    blocks = [b if i == 0 else DetachedBlock(b) for i, b in enumerate(backbone.blocks)]
    heads = {
        i: SimilarityHead(shapes[i - 1], num_classes, output_size, seed * 1000 + i)
        for i in backbone.exits
    }
    return MultiExitNet(blocks, heads)


def train_rule(
    rule: str,
    *,
    epochs: int = 6,
    lr: float = 1e-2,
    output_size: int = 4,
    beta: float = 0.99,
    seed: int = 0,
    progress: bool = True,
    root=None,
):
    """Train the running example with rule 'backprop' (joint training, eq. 6 with every
    α_i = 1, the reference model's own linear heads) or 'predsim' (Nøkland & Eidnes, local) at
    the same budget as `train_local`: Adam, one-cycle to `lr`, `epochs` epochs, batch 128.

    Returns (model, extras) like `train_local`; cached per rule, budget and seed."""
    if rule not in ("backprop", "predsim"):
        raise ValueError(f"rule must be 'backprop' or 'predsim', got {rule!r}")
    budget = run_budget(epochs=epochs, lr=lr, batch_size=128, seed=seed)
    seed = budget["seed"]
    output_size = check_int(output_size, "output_size", low=1)
    beta = check_float(beta, "beta", low=0.0, high=1.0)
    config = dict(rule=rule, **budget, version=1)
    if rule == "predsim":
        config.update(output_size=output_size, beta=beta)

    data = load_mnist1d()

    def build():
        if rule == "backprop":
            return _backbone_for(data)
        return predsim_model(_backbone_for(data), data.input_shape, output_size, seed)

    def train(model):
        loss = (
            joint_loss([1.0] * (len(model.exits) - 1))
            if rule == "backprop"
            else predsim_loss(model, beta)
        )
        return fit_run(
            model, data, config, loss=loss, progress=progress, desc=f"{rule} ({epochs} epochs)"
        )

    return cached_fit(f"rule_{rule}", config, build, train, root=root)


def plot_rule_comparison(accuracy: dict, angles: dict, exits, chance: float, title: str = ""):
    """Left: each exit's test accuracy (%) per training rule; right: the teaching-signal angle
    (degrees, `teaching_signal_angle`) per exit for the rules that have one. Returns the figure.

    accuracy: {rule: per-exit accuracies in [0, 1]}; angles: {rule: per-exit angles}."""
    import matplotlib.pyplot as plt

    if not isinstance(accuracy, dict) or not accuracy:
        raise TypeError("accuracy must be a non-empty dict {rule: per-exit accuracies}")
    if not isinstance(angles, dict):
        raise TypeError("angles must be a dict {rule: per-exit angles in degrees}")
    exits = tuple(exits)
    for name, acc in {**accuracy, **angles}.items():
        if len(acc) != len(exits):
            raise ValueError(f"accuracy/angles[{name!r}] must have one value per exit {exits}")
    chance = check_float(chance, "chance", low=0.0)
    if chance > 1.0:
        raise ValueError(f"chance must be an accuracy in [0, 1], got {chance}")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.8 / len(accuracy)
    colors = {name: f"C{k}" for k, name in enumerate(accuracy)}
    for k, (name, acc) in enumerate(accuracy.items()):
        xs = [i + (k - len(accuracy) / 2 + 0.5) * width for i in range(len(exits))]
        a1.bar(xs, [100 * float(a) for a in acc], width, label=name, color=colors[name])
    a1.axhline(100 * chance, color="gray", ls="--", lw=1, label="chance")
    a1.set_xticks(range(len(exits)), [f"exit {i}" for i in exits])
    a1.set(ylabel="test accuracy (%)", ylim=(0, 100), title=title or "each exit alone")
    for name, a in angles.items():
        a2.plot(exits, list(a), "o-", color=colors.get(name), label=name)
    a2.axhline(90, color="gray", ls="--", lw=1)
    a2.set(xlabel="exit (block index)", ylabel="angle(Kᵀδ, Mᵀδ) (degrees)", xticks=exits)
    a2.set_title("teaching signal vs exact local gradient")
    handles, labels = a1.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.1))
    fig.tight_layout()
    return fig
