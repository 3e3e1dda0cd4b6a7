"""Early exits on a transformer encoder (survey §8, challenge 1): MNIST-1D read as a
sequence of patches, one exit per encoder layer, as a `MultiExitNet`.

Plain PyTorch, attention written with matmuls so that `FlopCounterMode` counts it."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_int
from .data import load_mnist1d
from .models import MultiExitNet
from .runs import cached_fit, fit_run, run_budget

POOLS = ("cls", "mean")


class PatchEmbedding(nn.Module):
    """(N, C, T) signal → (N, 1 + P, d) tokens: overlapping patches (a strided Conv1d), a
    learned position embedding, and a CLS token in front."""

    def __init__(self, in_channels: int, length: int, d_model: int, patch: int, stride: int):
        super().__init__()
        in_channels = check_int(in_channels, "in_channels", low=1)
        d_model = check_int(d_model, "d_model", low=1)
        patch, stride = check_int(patch, "patch", low=1), check_int(stride, "stride", low=1)
        length = check_int(length, "length", low=patch)
        self.proj = nn.Conv1d(in_channels, d_model, patch, stride=stride, padding=patch // 2)
        n_tokens = (length + 2 * (patch // 2) - patch) // stride + 1
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        self.pos = nn.Parameter(0.02 * torch.randn(1, n_tokens + 1, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(x).transpose(1, 2)  # (N, P, d)
        cls = self.cls.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.pos


class EncoderLayer(nn.Module):
    """A pre-norm transformer encoder layer: x + MHA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d_model: int, heads: int, mlp_ratio: int = 2):
        super().__init__()
        d_model, heads = check_int(d_model, "d_model", low=1), check_int(heads, "heads", low=1)
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of heads ({heads})")
        mlp_ratio = check_int(mlp_ratio, "mlp_ratio", low=1)
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model),
            nn.GELU(),
            nn.Linear(mlp_ratio * d_model, d_model),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, T, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(N, T, 3, self.heads, d // self.heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (N, heads, T, d_head)
        attn = (q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)).softmax(-1)
        x = x + self.out((attn @ v).transpose(1, 2).reshape(N, T, d))
        return x + self.mlp(self.norm2(x))


class SequenceHead(nn.Module):
    """An exit on a token sequence: LayerNorm, then the CLS token ('cls') or the mean of the
    patch tokens ('mean'), then linear."""

    def __init__(self, d_model: int, num_classes: int, pool: str = "cls"):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        self.pool = pool
        d_model = check_int(d_model, "d_model", low=1)
        self.norm = nn.LayerNorm(d_model)
        self.linear = nn.Linear(d_model, check_int(num_classes, "num_classes", low=2))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.norm(h)
        z = h[:, 0] if self.pool == "cls" else h[:, 1:].mean(1)
        return self.linear(z)


def mnist1d_transformer(
    d_model: int = 32,
    heads: int = 4,
    layers: int = 4,
    patch: int = 8,
    stride: int = 4,
    pool: str = "cls",
    num_classes: int = 10,
    input_length: int = 40,
) -> MultiExitNet:
    """A small transformer encoder for MNIST-1D with an exit after every layer: block 1 is
    the patch embedding and the first encoder layer, blocks 2..L one layer each."""
    layers = check_int(layers, "layers", low=2)
    patch, stride = check_int(patch, "patch", low=1), check_int(stride, "stride", low=1)
    input_length = check_int(input_length, "input_length", low=patch)
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    embed = PatchEmbedding(1, input_length, d_model, patch, stride)
    blocks = [nn.Sequential(embed, EncoderLayer(d_model, heads))]
    blocks += [EncoderLayer(d_model, heads) for _ in range(layers - 1)]
    heads_ = {i: SequenceHead(d_model, num_classes, pool) for i in range(1, layers + 1)}
    return MultiExitNet(blocks, heads_)


def train_transformer(
    *,
    epochs: int = 15,
    lr: float = 3e-3,
    pool: str = "cls",
    seed: int = 0,
    progress: bool = True,
    root=None,
):
    """Train `mnist1d_transformer` jointly (eq. 6, every α_i = 1) on MNIST-1D, cached.
    Returns (model, extras) with the validation history in extras."""
    budget = run_budget(epochs=epochs, lr=lr, batch_size=128, seed=seed)
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    config = dict(pool=pool, **budget, version=1)
    data = load_mnist1d()

    def build():  # sized from the data: its input length and number of classes
        return mnist1d_transformer(
            pool=pool, num_classes=data.num_classes, input_length=data.input_shape[-1]
        )

    def train(model):
        return fit_run(model, data, config, progress=progress, desc="training the transformer")

    return cached_fit(f"transformer_{pool}", config, build, train, root=root)
