"""Exit heads c_i (survey §4): linear, small MLP, pooled-then-linear."""

from __future__ import annotations

import math

from torch import nn

from ._checks import check_int

HEAD_KINDS = ("linear", "mlp", "pooled")


def _check_shape(in_shape) -> tuple[int, ...]:
    if not isinstance(in_shape, (tuple, list)) or len(in_shape) == 0:
        raise TypeError(f"in_shape must be a non-empty tuple of ints, got {in_shape!r}")
    return tuple(check_int(s, f"in_shape[{k}]", low=1) for k, s in enumerate(in_shape))


def linear_head(in_shape, num_classes: int) -> nn.Sequential:
    """c_i(h) = W vec(h) + b: the cheapest head, costly on wide early feature maps (§4)."""
    in_shape = _check_shape(in_shape)
    num_classes = check_int(num_classes, "num_classes", low=2)
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), num_classes))


def mlp_head(in_shape, num_classes: int, hidden=(64,)) -> nn.Sequential:
    """A small MLP head with one or two hidden layers (§4)."""
    in_shape = _check_shape(in_shape)
    num_classes = check_int(num_classes, "num_classes", low=2)
    if not isinstance(hidden, (tuple, list)) or not 1 <= len(hidden) <= 2:
        raise ValueError(f"hidden must be a tuple of 1 or 2 layer widths, got {hidden!r}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(in_shape)
    for k, h in enumerate(hidden):
        h = check_int(h, f"hidden[{k}]", low=1)
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def pooled_head(in_shape, num_classes: int, output_size: int = 1, pool: str = "avg"):
    """Strong spatial reduction first, then linear (§4): global (output_size=1) or
    large-window average / max pooling of a (channels, *spatial) feature map."""
    in_shape = _check_shape(in_shape)
    num_classes = check_int(num_classes, "num_classes", low=2)
    output_size = check_int(output_size, "output_size", low=1)
    if len(in_shape) not in (2, 3):
        raise ValueError(
            f"pooled_head needs a (channels, length) or (channels, height, width) feature map, "
            f"got in_shape={in_shape}; use linear_head or mlp_head for flat features"
        )
    if pool not in ("avg", "max"):
        raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
    spatial = len(in_shape) - 1
    cls = {
        (1, "avg"): nn.AdaptiveAvgPool1d,
        (1, "max"): nn.AdaptiveMaxPool1d,
        (2, "avg"): nn.AdaptiveAvgPool2d,
        (2, "max"): nn.AdaptiveMaxPool2d,
    }[(spatial, pool)]
    size = min(output_size, *in_shape[1:])
    return nn.Sequential(
        cls(size), nn.Flatten(), nn.Linear(in_shape[0] * size**spatial, num_classes)
    )


def make_head(kind: str, in_shape, num_classes: int, **kwargs) -> nn.Module:
    """Build a head by name: 'linear', 'mlp' or 'pooled'."""
    builders = {"linear": linear_head, "mlp": mlp_head, "pooled": pooled_head}
    if not isinstance(kind, str):
        raise TypeError(f"kind must be one of {HEAD_KINDS}, got {type(kind).__name__} {kind!r}")
    if kind not in builders:
        raise ValueError(f"kind must be one of {HEAD_KINDS}, got {kind!r}")
    return builders[kind](in_shape, num_classes, **kwargs)
