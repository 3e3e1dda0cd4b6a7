"""The multi-exit network of survey §3 (eq. 1 and 3) and the running-example backbones."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ._checks import check_exit_set, check_int
from .heads import HEAD_KINDS, make_head


class MultiExitNet(nn.Module):
    """Backbone blocks f_1..f_L (eq. 1) with heads c_i for i in the exit set C (eq. 3).

    `heads` maps a block index (1-based, as in the survey) to its head; it must contain the
    final head at L. `exits` picks the exit set C among the early heads (default: all).
    """

    def __init__(self, blocks: Sequence[nn.Module], heads: Mapping[int, nn.Module], exits=None):
        super().__init__()
        if isinstance(blocks, nn.ModuleList):
            blocks = list(blocks)
        if isinstance(blocks, nn.Module) or not isinstance(blocks, Sequence) or not blocks:
            raise TypeError("blocks must be a non-empty list of nn.Module (f_1..f_L)")
        for i, b in enumerate(blocks, 1):
            if not isinstance(b, nn.Module):
                raise TypeError(f"blocks[{i - 1}] must be an nn.Module, got {type(b).__name__}")
        if not isinstance(heads, Mapping):
            raise TypeError(f"heads must be a dict {{block index: head}}, got {type(heads)}")
        L = len(blocks)
        for i, h in heads.items():
            check_int(i, "heads key", low=1, high=L)
            if not isinstance(h, nn.Module):
                raise TypeError(f"heads[{i}] must be an nn.Module, got {type(h).__name__}")
        if L not in heads:
            raise ValueError(f"heads must contain the final head at block {L}, got {sorted(heads)}")
        self.blocks = nn.ModuleList(blocks)
        self.heads = nn.ModuleDict({str(i): heads[i] for i in sorted(heads)})
        candidates = tuple(i for i in sorted(heads) if i < L)
        C = candidates if exits is None else check_exit_set(exits, L)
        missing = [i for i in C if i not in candidates]
        if missing:
            raise ValueError(f"exits {missing} have no head; heads exist at {list(candidates)}")
        self._exits = tuple(C) + (L,)

    @property
    def num_blocks(self) -> int:
        """L, the number of backbone blocks."""
        return len(self.blocks)

    @property
    def exits(self) -> tuple[int, ...]:
        """Block indices of the exits, 1-based, ending with the final exit L."""
        return self._exits

    @property
    def candidate_exits(self) -> tuple[int, ...]:
        """Early block indices that have a head (possible exit sets are subsets of these)."""
        return tuple(int(k) for k in self.heads if int(k) < self.num_blocks)

    def head(self, i: int) -> nn.Module:
        """The head c_i at block i."""
        i = check_int(i, "i", low=1, high=self.num_blocks)
        if str(i) not in self.heads:
            raise ValueError(f"no head at block {i}; heads exist at {list(self.heads)}")
        return self.heads[str(i)]

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        """h_1..h_L with h_i = f_i(h_{i-1}) and h_0 = x."""
        hs, h = [], x
        for block in self.blocks:
            h = block(h)
            hs.append(h)
        return hs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits of every exit in `self.exits` order: (c_i(h_i))_{i in C}, then f(x)."""
        outs, h = [], x
        for i, block in enumerate(self.blocks, 1):
            h = block(h)
            if i in self._exits:
                outs.append(self.heads[str(i)](h))
        return outs

    def with_exits(self, exits) -> MultiExitNet:
        """A model on the same backbone and heads (shared, not copied) with exit set `exits`."""
        heads = {int(k): h for k, h in self.heads.items()}
        return MultiExitNet(list(self.blocks), heads, exits=exits)

    def extra_repr(self) -> str:
        return f"L={self.num_blocks}, exits={self.exits}"


def eval_mode(*modules: nn.Module):
    """Run a block with every module in eval mode, then give each submodule back the mode it
    had (per submodule, not one flag for all: a wrapper that shares blocks with another model,
    such as `CombinedOutput` or `with_exits`, must not flip that model's batch norm).

    Use it as `with mexit.eval_mode(model): ...`; the arguments are checked at the call."""
    if not modules:
        raise TypeError("modules must name at least one nn.Module, got none")
    for m in modules:
        if not isinstance(m, nn.Module):
            raise TypeError(f"modules must be nn.Modules, got {type(m).__name__}")
    return _eval_mode(modules)


@contextlib.contextmanager
def _eval_mode(modules):
    # the flag is set directly (not through Module.train, which walks and re-walks the tree):
    # at batch 1 this context costs microseconds, not the milliseconds of m.eval()/m.train()
    modes = [(sub, sub.training) for m in modules for sub in m.modules()]
    try:
        for sub, training in modes:
            if training:
                object.__setattr__(sub, "training", False)
        yield
    finally:  # every submodule gets back exactly the mode it had, whatever ran inside
        for sub, training in modes:
            if sub.training != training:
                object.__setattr__(sub, "training", training)


def device_and_dtype(*modules: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the first floating parameter (or buffer) of `modules`:
    where an input to them must live. torch's defaults for a module with neither."""
    for m in modules:
        for t in itertools.chain(m.parameters(), m.buffers()):  # lazily: stop at the first
            if t.is_floating_point():
                return t.device, t.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def embedding_shapes(blocks: Sequence[nn.Module], input_shape) -> list[tuple[int, ...]]:
    """Shape of one example's h_1..h_L, found by running a dummy input (on the blocks' device,
    in their dtype; in eval mode, so batch-norm statistics are not touched)."""
    device, dtype = device_and_dtype(*blocks)
    h = torch.zeros(1, *input_shape, device=device, dtype=dtype)
    shapes = []
    with eval_mode(*blocks), torch.no_grad():
        for block in blocks:
            h = block(h)
            shapes.append(tuple(h.shape[1:]))
    return shapes


def _check_head_kind(head) -> str:
    if not isinstance(head, str):
        raise TypeError(f"head must be one of {HEAD_KINDS}, got {type(head).__name__} {head!r}")
    if head not in HEAD_KINDS:
        raise ValueError(f"head must be one of {HEAD_KINDS}, got {head!r}")
    return head


def _attach_heads(blocks, input_shape, num_classes, head, exits, **head_kwargs) -> MultiExitNet:
    head = _check_head_kind(head)
    L = len(blocks)
    C = tuple(range(1, L)) if exits is None else check_exit_set(exits, L)
    shapes = embedding_shapes(blocks, input_shape)
    heads = {i: make_head(head, shapes[i - 1], num_classes, **head_kwargs) for i in C + (L,)}
    return MultiExitNet(blocks, heads)


def mnist1d_cnn(
    channels=(16, 32, 64, 128),
    strides=None,
    num_classes: int = 10,
    head: str = "pooled",
    exits=None,
    input_length: int = 40,
    kernel_size: int = 3,
) -> MultiExitNet:
    """The running example: a 1D CNN for MNIST-1D, block i = conv (stride s_i) + BN + ReLU,
    widths doubling so the later blocks carry most of the FLOPs, with a pooled head after
    every block (exit set C = {1..L-1} unless `exits` says otherwise). Strides default to
    1 for the first block and 2 after it."""
    if not isinstance(channels, (tuple, list)) or len(channels) < 2:
        raise ValueError(f"channels must list at least 2 block widths, got {channels!r}")
    if strides is None:
        strides = (1,) + (2,) * (len(channels) - 1)
    if not isinstance(strides, (tuple, list)) or len(strides) != len(channels):
        raise ValueError(
            f"strides must give one stride per block ({len(channels)}), got {strides!r}"
        )
    input_length = check_int(input_length, "input_length", low=2)
    kernel_size = check_int(kernel_size, "kernel_size", low=1)
    blocks, c_in = [], 1
    for k, (c, s) in enumerate(zip(channels, strides)):
        c = check_int(c, f"channels[{k}]", low=1)
        s = check_int(s, f"strides[{k}]", low=1)
        blocks.append(
            nn.Sequential(
                nn.Conv1d(c_in, c, kernel_size, stride=s, padding=kernel_size // 2),
                nn.BatchNorm1d(c),
                nn.ReLU(),
            )
        )
        c_in = c
    return _attach_heads(blocks, (1, input_length), num_classes, head, exits)


def mlp(
    input_shape=(1, 40),
    widths=(256, 128, 64, 64),
    num_classes: int = 10,
    head: str = "linear",
    exits=None,
) -> MultiExitNet:
    """A multi-exit MLP: block i is Linear + ReLU (the first also flattens the input)."""
    if not isinstance(widths, (tuple, list)) or len(widths) < 2:
        raise ValueError(f"widths must list at least 2 block widths, got {widths!r}")
    if not isinstance(input_shape, (tuple, list)) or not input_shape:
        raise TypeError(f"input_shape must be a tuple of sizes like (1, 40), got {input_shape!r}")
    in_features = 1
    for k, s in enumerate(input_shape):
        in_features *= check_int(s, f"input_shape[{k}]", low=1)
    blocks = []
    for j, w in enumerate(widths):
        w = check_int(w, f"widths[{j}]", low=1)
        layers = [nn.Flatten()] if j == 0 else []
        blocks.append(nn.Sequential(*layers, nn.Linear(in_features, w), nn.ReLU()))
        in_features = w
    return _attach_heads(blocks, tuple(input_shape), num_classes, head, exits)


def cnn2d(
    input_shape=(1, 28, 28),
    channels=(16, 32, 64),
    num_classes: int = 10,
    head: str = "pooled",
    exits=None,
) -> MultiExitNet:
    """A small 2D CNN for 8x8, 28x28 or 32x32 images: conv-BN-ReLU blocks, the later ones
    halving the resolution while it stays above 2x2."""
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape!r}")
    if not isinstance(channels, (tuple, list)) or len(channels) < 2:
        raise ValueError(f"channels must list at least 2 block widths, got {channels!r}")
    input_shape = tuple(check_int(s, f"input_shape[{k}]", low=1) for k, s in enumerate(input_shape))
    c_in, size = input_shape[0], min(input_shape[1:])
    blocks = []
    for k, c in enumerate(channels):
        c = check_int(c, f"channels[{k}]", low=1)
        stride = 2 if size > 4 else 1
        size = (size + 1) // stride if stride == 2 else size
        blocks.append(
            nn.Sequential(
                nn.Conv2d(c_in, c, 3, stride=stride, padding=1), nn.BatchNorm2d(c), nn.ReLU()
            )
        )
        c_in = c
    return _attach_heads(blocks, tuple(input_shape), num_classes, head, exits)


MODELS = {"mnist1d_cnn": mnist1d_cnn, "mlp": mlp, "cnn2d": cnn2d}


def build_model(name: str, **kwargs) -> MultiExitNet:
    """Build a running-example backbone by name: 'mnist1d_cnn', 'mlp' or 'cnn2d'."""
    if not isinstance(name, str):
        raise TypeError(f"name must be one of {tuple(MODELS)}, got {type(name).__name__}")
    if name not in MODELS:
        raise ValueError(f"name must be one of {tuple(MODELS)}, got {name!r}")
    return MODELS[name](**kwargs)
