"""Where a computation runs: the `device=` argument of `fit`, `exit_probs`,
`early_exit_predict`, `measure_costs` and `pretrained`.

`device=None` (the default) runs where the model's parameters are. A device named
explicitly ("cpu", "cuda", "cuda:1", "mps", a `torch.device`) runs there: the model is moved
for the call and moved back afterwards (parameters keep their identity: `Module.to` swaps
their data), and inputs are moved to it. Nothing assumes the CPU.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from .models import device_and_dtype

__all__ = ["available_devices", "call_on", "check_device", "on_device"]


def available_devices() -> tuple[str, ...]:
    """The device types this machine can run on: "cpu", then "cuda" and "mps" when present."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return tuple(out)


def check_device(device, name: str = "device") -> torch.device | None:
    """`device` as a `torch.device` (None stays None: the model's own), checked to exist on
    this machine."""
    if device is None:
        return None
    if isinstance(device, bool) or not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"{name} must be a device name such as 'cpu' or 'cuda:0' (or a torch.device), got "
            f"{type(device).__name__} {device!r}"
        )
    try:
        device = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"{name} must name a torch device such as 'cpu', got {device!r}: {err}"
        ) from None
    if device.type not in available_devices():
        raise ValueError(
            f"{name} must be a device of this machine ({', '.join(available_devices())}), got "
            f"{str(device)!r}"
        )
    if device.type == "cuda" and device.index is not None:
        if device.index >= torch.cuda.device_count():
            raise ValueError(
                f"{name} must name one of the {torch.cuda.device_count()} CUDA devices, got "
                f"{str(device)!r}"
            )
    return device


def _same(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    index = [d.index if d.index is not None else torch.cuda.current_device() for d in (a, b)]
    return index[0] == index[1]


@contextlib.contextmanager
def on_device(model: nn.Module, device):
    """Run a block with `model` on `device` (checked; None: where it is), then move it back
    to the device it was on. Yields the device the block runs on."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    device = check_device(device)
    home, _ = device_and_dtype(model)
    if device is None or _same(device, home):
        yield home
        return
    model.to(device)
    try:
        yield device
    finally:
        model.to(home)


def call_on(fn, model: nn.Module, x, device, *args, **kwargs):
    """`fn(model, x, *args, **kwargs)` run on `device`: the model moved there for the call
    (and back), `x` (a tensor, or an input shape passed through as is) moved to it. What
    `device=` of `exit_probs`, `early_exit_predict` and `measure_costs` does."""
    with on_device(model, device) as dev:
        if isinstance(x, torch.Tensor):
            x = x.to(dev)
        return fn(model, x, *args, **kwargs)
