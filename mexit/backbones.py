"""Bring your own backbone: exits attached to a torchvision classifier (survey §3-§5).

`attach_exits(model, exits=..., head=...)` splits a torchvision classification network into
its natural blocks f_1..f_L and returns a `MultiExitNet` with a head c_i (`mexit.heads`) at
every block of the exit set C; the network's own classifier is the final exit at L. Every
tool of the package (`fit`, `measure_costs`, `exit_probs`, `early_exit_predict`, the
widgets) then works on it.

==========================  =======================================================  =====
model                       blocks f_1..f_L                                           L
==========================  =======================================================  =====
ResNet (resnet18, 50, ...)  stem + layer1, layer2, layer3, layer4 (residual stages)   4
MobileNetV2 / V3            inverted-residual groups of one width (stem in the first, 4-7
                            the last 1x1 conv in the last)
VisionTransformer           patch embedding + encoder layer 1, then one block per    layers
                            encoder layer
==========================  =======================================================  =====

Early heads of a ViT read the token sequence (tokens, hidden) as a (hidden, tokens) map:
"pooled" averages over the tokens, "linear" and "mlp" read every token. The final exit is
the model's own head (final LayerNorm, class token, `heads`).

The blocks and the classifier are the model's own modules, shared, not copied: training the
multi-exit network trains the model. Weights are the user's (e.g.
`model.load_state_dict(torch.load(path, weights_only=True))` before attaching);
nothing here downloads. `freeze_backbone=True` is §5.4's separate training on a pre-trained
network: blocks and final classifier are frozen (no gradient, batch-norm statistics kept:
they stay in eval mode whatever `train()` says), only the early heads learn.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_exit_set, check_int
from .heads import make_head
from .models import MultiExitNet, _check_head_kind, device_and_dtype, embedding_shapes

__all__ = ["SUPPORTED", "attach_exits", "backbone_blocks"]

SUPPORTED = ("ResNet", "MobileNetV2", "MobileNetV3", "VisionTransformer")


class Frozen(nn.Module):
    """A pre-trained block or head kept as it is: no parameter requires grad, and it stays in
    eval mode whatever `train()` asks (its batch-norm statistics never move)."""

    def __init__(self, module: nn.Module):
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        super().__init__()
        self.module = module
        for p in module.parameters():
            p.requires_grad_(False)
        module.eval()

    def train(self, mode: bool = True):
        self.training = mode
        self.module.eval()
        return self

    def forward(self, x):
        return self.module(x)


class _ViTEmbedding(nn.Module):
    """Patches -> tokens, class token in front, position embedding added: what a torchvision
    VisionTransformer does before its first encoder layer (its modules and parameters)."""

    def __init__(self, vit):
        super().__init__()
        self.conv_proj = vit.conv_proj
        self.class_token = vit.class_token
        self.pos_embedding = vit.encoder.pos_embedding
        self.dropout = vit.encoder.dropout
        self.image_size, self.patch_size, self.hidden_dim = (
            vit.image_size,
            vit.patch_size,
            vit.hidden_dim,
        )

    def forward(self, x):
        n = x.shape[0]
        x = self.conv_proj(x).reshape(n, self.hidden_dim, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        return self.dropout(x + self.pos_embedding)


class _ClassToken(nn.Module):
    """(N, tokens, hidden) -> the class token (N, hidden)."""

    def forward(self, x):
        return x[:, 0]


class _Channels(nn.Module):
    """(N, tokens, hidden) -> (N, hidden, tokens): a token sequence read as a 1-D map."""

    def forward(self, x):
        return x.transpose(1, 2)


def _kind(model) -> str | None:
    names = {c.__name__ for c in type(model).__mro__}
    return next((k for k in SUPPORTED if k in names), None)


def _check_model(model) -> str:
    kind = _kind(model) if isinstance(model, nn.Module) else None
    if kind is None:
        raise TypeError(
            f"model must be a torchvision classifier ({', '.join(SUPPORTED)}: e.g. "
            f"torchvision.models.resnet18(weights=None)), got {type(model).__name__}"
        )
    return kind


def backbone_blocks(model: nn.Module) -> tuple[list[nn.Module], nn.Module]:
    """The natural blocks f_1..f_L of a torchvision classifier and its final head (the
    model's own modules, shared): see the module's table."""
    kind = _check_model(model)
    if kind == "ResNet":
        stem = [model.conv1, model.bn1, model.relu, model.maxpool]
        blocks = [nn.Sequential(*stem, *model.layer1)]
        blocks += [nn.Sequential(*stage) for stage in (model.layer2, model.layer3, model.layer4)]
        return blocks, nn.Sequential(model.avgpool, nn.Flatten(1), model.fc)
    if kind in ("MobileNetV2", "MobileNetV3"):
        groups: list[list[nn.Module]] = [[]]
        width = None
        for layer in model.features:
            is_ir = type(layer).__name__ == "InvertedResidual"
            if is_ir and width is not None and layer.out_channels != width and groups[-1]:
                groups.append([])
            groups[-1].append(layer)
            if is_ir:
                width = layer.out_channels
        blocks = [nn.Sequential(*g) for g in groups]
        return blocks, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), model.classifier)
    layers = list(model.encoder.layers)
    blocks = [nn.Sequential(_ViTEmbedding(model), layers[0]), *layers[1:]]
    return blocks, nn.Sequential(model.encoder.ln, _ClassToken(), model.heads)


def _check_input_shape(input_shape, model, kind) -> tuple[int, ...]:
    if input_shape is None:
        size = model.image_size if kind == "VisionTransformer" else 32
        return (3, size, size)
    if not isinstance(input_shape, (tuple, list, torch.Size)) or len(input_shape) != 3:
        raise ValueError(
            f"input_shape must be (channels, height, width) of one image, got {input_shape!r}"
        )
    shape = tuple(check_int(s, f"input_shape[{k}]", low=1) for k, s in enumerate(input_shape))
    if kind == "VisionTransformer" and shape[1:] != (model.image_size, model.image_size):
        raise ValueError(
            f"input_shape must match the VisionTransformer's image_size={model.image_size}, "
            f"got {shape}"
        )
    return shape


def _num_classes(final_head: nn.Module) -> int:
    return [m for m in final_head.modules() if isinstance(m, nn.Linear)][-1].out_features


def attach_exits(
    model: nn.Module,
    exits=None,
    head: str = "pooled",
    *,
    freeze_backbone: bool = False,
    input_shape=None,
    **head_kwargs,
) -> MultiExitNet:
    """A `MultiExitNet` on the blocks of a torchvision classifier, with a head of kind `head`
    ("linear", "mlp" or "pooled", `mexit.heads`) after every block of `exits` (block indices
    1..L-1, default: all) and the model's own classifier as the final exit L.

    input_shape: (channels, height, width) of one input, used to size the heads (default
    (3, 32, 32); a ViT's own image size). freeze_backbone: §5.4, train the early heads
    only (blocks and classifier frozen, in eval mode). head_kwargs go to the head builder
    (e.g. hidden=(128,) for "mlp").

    The model's modules are shared, not copied. The new heads are created on the model's
    device and in its dtype; the result is in the mode the model was in (frozen parts in
    eval mode)."""
    kind = _check_model(model)
    head = _check_head_kind(head)
    if not isinstance(freeze_backbone, bool):
        raise TypeError(
            f"freeze_backbone must be a bool, got {type(freeze_backbone).__name__} "
            f"{freeze_backbone!r}"
        )
    input_shape = _check_input_shape(input_shape, model, kind)
    blocks, final = backbone_blocks(model)
    L = len(blocks)
    C = tuple(range(1, L)) if exits is None else check_exit_set(exits, L)
    device, dtype = device_and_dtype(model)
    try:
        shapes = embedding_shapes(blocks, input_shape)
    except RuntimeError as err:
        raise ValueError(f"input_shape {input_shape} does not fit the model: {err}") from None
    num_classes = _num_classes(final)
    heads: dict[int, nn.Module] = {}
    for i in C:
        shape = shapes[i - 1]
        if kind == "VisionTransformer":  # (tokens, hidden) -> (hidden, tokens)
            c = make_head(head, (shape[1], shape[0]), num_classes, **head_kwargs)
            c = nn.Sequential(_Channels(), c)
        else:
            c = make_head(head, shape, num_classes, **head_kwargs)
        heads[i] = c.to(device=device, dtype=dtype)
    if freeze_backbone:
        blocks = [Frozen(b) for b in blocks]
        final = Frozen(final)
    heads[L] = final
    net = MultiExitNet(blocks, heads)
    training = model.training
    net.train(training)
    return net
