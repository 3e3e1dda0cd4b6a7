"""The deployment form of a multi-exit network: what runs on the device once training is over.

`early_exit_predict` is written to be read (and to count FLOPs); `deploy(model, thresholds)`
is written to be fast, and gives the same exits and predictions:

- **batch norm folded** into the convolution or linear layer before it
  (`torch.nn.utils.fusion`): one op fewer per block, the same function in eval mode;
- **inference only**: dropout and identities removed, weights detached copies (the model
  handed in is not touched), layers called as functions, not through `nn.Module.__call__`;
- **an exit test with as few ops as the criterion allows**: at batch 1 the logits of an exit
  go to Python once (`tolist`) and the test runs on K floats in double precision —
  max-probability ≥ τ as max(z) − logsumexp(z) ≥ log τ, entropy from one log-softmax;
  on a batch the test is softmax, max (and x log x) — the same ops as `simulate_exits`, on
  the same logits;
- **batch 1 without index bookkeeping**: stop at the first exit that fires; **a batch**
  carries only the rows still active to the next block.

`DeployedNet.plain` is the plain network (backbone and final head only) in the **same** form:
the fair baseline for a speedup. `torch.compile` is not used: on this CPU it took 35 s to
compile the plain network and brought no measurable gain at batch 1 (see README).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from ._checks import check_tensor, check_thresholds
from .inference import CRITERIA, _check_criterion
from .models import MultiExitNet, device_and_dtype

_CONV = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_DROPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)
_POOL = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)


def _leaves(module: nn.Module) -> list[nn.Module]:
    """The layers of a (nested) nn.Sequential in order; any other module is one layer."""
    if type(module) is nn.Sequential:
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def _fold(layers: list[nn.Module]) -> list[nn.Module]:
    """Eval-mode copies of `layers` with each batch norm folded into the convolution or
    linear layer right before it, and dropout / identity layers left out."""
    out: list[nn.Module] = []
    for layer in layers:
        layer = copy.deepcopy(layer).eval()
        if isinstance(layer, _DROPPED):
            continue
        prev = out[-1] if out else None
        if isinstance(layer, _BN) and layer.track_running_stats and layer.running_mean is not None:
            if type(prev) in _CONV and prev.out_channels == layer.num_features:
                out[-1] = fuse_conv_bn_eval(prev, layer)
                continue
            if type(prev) is nn.Linear and isinstance(layer, nn.BatchNorm1d):
                if prev.out_features == layer.num_features:
                    out[-1] = fuse_linear_bn_eval(prev, layer)
                    continue
        out.append(layer)
    for layer in out:
        layer.requires_grad_(False)
    return out


def _as_functions(layers: list[nn.Module]) -> list:
    """One callable per layer (tensor → tensor), skipping `nn.Module.__call__` where the layer
    is a plain op. A ReLU right after a convolution / linear layer works in place on the fresh
    output; a pooled head (global average pool, flatten, linear) becomes sum, then addmm with
    the weights divided by the pooled size (the same FLOPs as the mean, one op fewer)."""
    fns, k = [], 0
    while k < len(layers):
        layer, nxt = layers[k], layers[k + 1 : k + 3]
        if (
            type(layer) in _POOL
            and layer.output_size in (1, (1,), (1, 1), (1, 1, 1))
            and len(nxt) == 2
            and type(nxt[0]) is nn.Flatten
            and nxt[0].start_dim == 1
            and nxt[0].end_dim == -1
            and type(nxt[1]) is nn.Linear
        ):
            fns.append(_PooledLinear(nxt[1], dims=_POOL.index(type(layer)) + 1))
            k += 3
            continue
        fresh = bool(fns) and type(layers[k - 1]) in (*_CONV, nn.Linear)
        fns.append(_function(layer, fresh))
        k += 1
    return fns


GEMM_MACS = 4_000_000  # below this many multiply-adds a batched Conv1d runs as im2col + GEMM
CONTIGUOUS_FROM = 65_536  # outputs of im2col with this many elements are made contiguous


class _Conv1d:
    """A Conv1d (zero padding, no dilation, no groups) as the cheaper of two ops for the
    shape at hand: PyTorch's convolution for one input (no fixed cost there) and for large
    work; im2col + one matrix product (addmm) for small batches and one-channel inputs, where
    the oneDNN convolution pays a fixed ~60-100 µs per call on this kind of CPU (measured:
    batch 4, 72 µs against 35 µs; batch 1000 of the first block, 2.9 ms against 0.5 ms)."""

    def __init__(self, layer: nn.Conv1d):
        self.w = layer.weight.detach()
        self.b = None if layer.bias is None else layer.bias.detach()
        self.k, self.s, self.p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
        c_out, c_in = self.w.shape[:2]
        self.c_out, self.c_in = c_out, c_in
        # (C_in * k, C_out), rows ordered (channel, tap) like the windows below
        self.wt = self.w.reshape(c_out, c_in * self.k).t().contiguous()

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        n, c, t = h.shape
        t_out = (t + 2 * self.p - self.k) // self.s + 1
        if n == 1 or (self.c_in > 1 and n * t_out * c * self.k * self.c_out > GEMM_MACS):
            return F.conv1d(h, self.w, self.b, self.s, self.p)
        hp = F.pad(h, (self.p, self.p)) if self.p else h
        sn, sc, st = hp.stride()
        win = hp.as_strided((n, t_out, c, self.k), (sn, self.s * st, sc, st))
        win = win.reshape(n * t_out, c * self.k)
        y = win @ self.wt if self.b is None else torch.addmm(self.b, win, self.wt)
        y = y.view(n, t_out, self.c_out).transpose(1, 2)
        # a large output goes on in the usual layout: oneDNN's convolution reads the transposed
        # one several times slower (block 2 of the reference CNN at batch 1000)
        return y.contiguous() if y.numel() >= CONTIGUOUS_FROM else y


def _function(layer: nn.Module, fresh: bool):
    if (
        type(layer) is nn.Conv1d
        and layer.padding_mode == "zeros"
        and isinstance(layer.padding, tuple)
        and layer.dilation == (1,)
        and layer.groups == 1
    ):
        return _Conv1d(layer)
    conv = _CONV.get(type(layer))
    if conv is not None and layer.padding_mode == "zeros":
        w, b = layer.weight.detach(), None if layer.bias is None else layer.bias.detach()
        s, p, d, g = layer.stride, layer.padding, layer.dilation, layer.groups
        return lambda h: conv(h, w, b, s, p, d, g)
    if type(layer) is nn.Linear:
        w, b = layer.weight.detach(), None if layer.bias is None else layer.bias.detach()
        return lambda h: F.linear(h, w, b)
    if type(layer) is nn.ReLU:
        return torch.relu_ if fresh else torch.relu
    if type(layer) is nn.Flatten:
        s, e = layer.start_dim, layer.end_dim
        return lambda h: h.flatten(s, e)
    return layer  # anything else runs as the (eval-mode, detached) module it is


class _PooledLinear:
    """linear(mean over the spatial dims): addmm(b, sum over the dims, (W / size)ᵀ), the
    scaled weights cached per pooled size."""

    def __init__(self, linear: nn.Linear, dims: int):
        self.weight = linear.weight.detach()
        self.bias = None if linear.bias is None else linear.bias.detach()
        self.dims = tuple(range(-dims, 0))
        self.scaled: dict[int, torch.Tensor] = {}

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        size = math.prod(h.shape[2:])
        wt = self.scaled.get(size)
        if wt is None:
            wt = self.scaled[size] = (self.weight / size).t()
        s = h.sum(self.dims)
        return s @ wt if self.bias is None else torch.addmm(self.bias, s, wt)


def _run(fns, h):
    for f in fns:
        h = f(h)
    return h


@dataclass(frozen=True)
class DeployResult:
    """What a deployed network did on a batch: the predicted class and the exit position
    (0..E-1, as in `simulate_exits`) of each input."""

    predictions: torch.Tensor  # (N,) long, on the input's device
    exit_index: torch.Tensor  # (N,) long, on the input's device


class DeployedNet:
    """A MultiExitNet in deployment form (see the module docstring); build it with `deploy`.

    `predict(x)` early-exits a batch (batch 1 takes the path without index bookkeeping),
    `predict_one(x)` returns (class, exit position) as Python ints for one input,
    `plain(x)` / `plain_one(x)` run the plain network in the same form, and `outputs(x)` the
    logits of every exit (every block and exit head, for checks)."""

    def __init__(self, model: MultiExitNet, thresholds=None, criterion: str = "entropy"):
        if not isinstance(model, MultiExitNet):
            raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
        self.criterion = _check_criterion(criterion)
        self.exits = model.exits
        self.device, self.dtype = device_and_dtype(model)
        E, L = len(self.exits), model.num_blocks
        if thresholds is None:
            self.thresholds = None
        else:
            self.thresholds = tuple(check_thresholds(thresholds, E).tolist())
        blocks = [_as_functions(_fold(_leaves(b))) for b in model.blocks]
        heads = {i: _as_functions(_fold(_leaves(model.heads[str(i)]))) for i in self.exits}
        self._blocks = blocks
        self._heads = heads
        # the plan: per block, its layers, then (head, exit position, bound) at an exit
        plan = []
        for i, fns in enumerate(blocks, 1):
            if i in self.exits:
                k = self.exits.index(i)
                plan.append((fns, heads[i], k, None if i == L else k))
            else:
                plan.append((fns, None, None, None))
        self._plan = plan
        self._final = (blocks, heads[L], E - 1)
        self._bounds_one = None if self.thresholds is None else self._python_bounds()

    # ------------------------------------------------------------------ exit tests
    def _python_bounds(self) -> list[float]:
        """Per early exit, the bound the batch-1 test compares with (math.inf: always exits).
        max_probability: log Σ exp(z − max z) ≤ −log τ; entropy: Σ p log p ≥ −β log K is
        checked on K at run time (β ≥ 1 lets every input out, as in `simulate_exits`)."""
        if self.criterion == "max_probability":
            return [math.inf if t <= 0 else -math.log(t) for t in self.thresholds]
        return [math.inf if t >= 1 else t for t in self.thresholds]

    def _passes_one(self, row: list[float], top: float, bound: float) -> bool:
        """The exit test on one input's logits `row` (Python floats, `top` = max(row))."""
        if bound == math.inf:
            return True
        e = [math.exp(v - top) for v in row]
        s = sum(e)
        if self.criterion == "max_probability":  # max(z) − logsumexp(z) ≥ log τ
            return math.log(s) <= bound
        # Σ p log p with log p = z − max z − log s: one log-softmax
        plogp = sum(ei * (v - top) for ei, v in zip(e, row)) / s - math.log(s)
        return plogp >= -bound * math.log(len(row))

    def _passes(self, z: torch.Tensor, k: int):
        """Which rows of the logits z (n, K) leave at early exit k, and their classes: the
        ops of `simulate_exits` (softmax, then max or Σ x log x) on these logits."""
        p = z.softmax(-1)
        t = self.thresholds[k]
        if self.criterion == "max_probability":
            top, pred = p.max(-1)
            return top >= t, pred
        if t >= 1:
            return torch.ones(len(z), dtype=torch.bool, device=z.device), p.argmax(-1)
        return torch.xlogy(p, p).sum(-1) >= -(t * math.log(z.shape[-1])), p.argmax(-1)

    # ------------------------------------------------------------------ checks
    def _check_x(self, x, one: bool = False) -> torch.Tensor:
        check_tensor(x, "x", dtype_kind="float")
        if x.device != self.device or x.dtype != self.dtype:
            raise ValueError(
                f"x must be on the model's device with its dtype ({self.device}, {self.dtype}), "
                f"got ({x.device}, {x.dtype}): use x.to(device, dtype)"
            )
        if x.ndim < 2:
            raise ValueError(f"x must be a batch (N, ...) of inputs, got shape {tuple(x.shape)}")
        if one and x.shape[0] != 1:
            raise ValueError(f"x must hold exactly one input (1, ...), got shape {tuple(x.shape)}")
        return x.detach()

    def _check_policy(self) -> None:
        if self.thresholds is None:
            raise ValueError(
                "thresholds must be given to deploy(model, thresholds, criterion) for early "
                "exit (plain() and outputs() need none)"
            )

    # ------------------------------------------------------------------ the plain network
    def plain_one(self, x: torch.Tensor) -> int:
        """The plain network's class for one input x (1, ...)."""
        h = self._check_x(x, one=True)
        blocks, head, _ = self._final
        for fns in blocks:
            h = _run(fns, h)
        row = _run(head, h).tolist()[0]
        return row.index(max(row))

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        """The plain network's classes (N,) for a batch x: every block, the final head only."""
        h = self._check_x(x)
        blocks, head, _ = self._final
        for fns in blocks:
            h = _run(fns, h)
        return _run(head, h).argmax(-1)

    def outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits of every exit on x, in `exits` order (like `model(x)`, folded)."""
        h = self._check_x(x)
        outs = []
        for fns, head, _, _ in self._plan:
            h = _run(fns, h)
            if head is not None:
                outs.append(_run(head, h))
        return outs

    # ------------------------------------------------------------------ early exit
    def predict_one(self, x: torch.Tensor) -> tuple[int, int]:
        """(class, exit position) for one input x (1, ...): run block by block and stop at
        the first exit whose test passes; no tensor but the activations is made."""
        self._check_policy()
        h = self._check_x(x, one=True)
        bounds = self._bounds_one
        for fns, head, k, early in self._plan:
            for f in fns:
                h = f(h)
            if head is None:
                continue
            row = _run(head, h).tolist()[0]
            top = max(row)
            if early is None or self._passes_one(row, top, bounds[early]):
                return row.index(top), k
        raise AssertionError("unreachable: the final exit always answers")

    def predict(self, x: torch.Tensor) -> DeployResult:
        """Early exit on a batch x (N, ...): the rows that leave at an exit are recorded, the
        others alone go on to the next block."""
        self._check_policy()
        x = self._check_x(x)
        N, dev = x.shape[0], x.device
        if N == 1:
            pred, k = self.predict_one(x)
            return DeployResult(torch.tensor([pred], device=dev), torch.tensor([k], device=dev))
        rows, preds, where = [], [], []  # per exit that let some rows out
        h, active = x, None  # active: original row indices still running (None: all)
        for fns, head, k, early in self._plan:
            for f in fns:
                h = f(h)
            if head is None:
                continue
            z = _run(head, h)
            if early is None:  # the final exit: every row still active leaves
                pred, keep = z.softmax(-1).argmax(-1), None
            else:
                done, pred = self._passes(z, early)
                keep = (~done).nonzero().squeeze(1)  # one sync: how many go on
                if len(keep) == len(z):  # nobody leaves here
                    continue
            if keep is None or len(keep) == 0:  # every row still active leaves here
                if active is None:
                    return DeployResult(pred, torch.full((N,), k, dtype=torch.long, device=dev))
                rows.append(active)
                preds.append(pred)
                where.append(k)
                break
            out = done.nonzero().squeeze(1)
            rows.append(out if active is None else active.index_select(0, out))
            preds.append(pred.index_select(0, out))
            where.append(k)
            active = keep if active is None else active.index_select(0, keep)
            h = h.index_select(0, keep)
        predictions = torch.empty(N, dtype=torch.long, device=dev)
        exit_index = torch.empty(N, dtype=torch.long, device=dev)
        for r, p, k in zip(rows, preds, where):
            predictions[r] = p
            exit_index[r] = k
        return DeployResult(predictions, exit_index)

    __call__ = predict

    def __repr__(self) -> str:
        return (
            f"DeployedNet(exits={self.exits}, criterion={self.criterion!r}, "
            f"thresholds={self.thresholds}, device={self.device}, dtype={self.dtype})"
        )


def deploy(model: MultiExitNet, thresholds=None, criterion: str = "entropy") -> DeployedNet:
    """The deployment form of `model` with its exit policy (`thresholds` for the E−1 early
    exits, one shared number or one each; `criterion` one of `CRITERIA`). Thresholds may be
    left out for the plain network (`.plain`) and the exits' logits (`.outputs`).

    The model handed in is not changed (its mode, device, dtype and weights stay as they are);
    the deployed form computes what the model computes in eval mode."""
    return DeployedNet(model, thresholds, criterion)


__all__ = ["CRITERIA", "DeployResult", "DeployedNet", "deploy"]
