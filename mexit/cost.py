"""Costs of a multi-exit network (survey §4 and §6.1, eq. 12-14), measured in FLOPs.

γ_f (gamma_f) is the cost of each block alone, γ_c (gamma_c) of each head alone, both counted
by `torch.utils.flop_counter.FlopCounterMode` on one input. Γ_j (Gamma) is the cumulative
cost of answering at exit j: every block up to j and every head on the way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from ._checks import check_exit_set, check_float, check_int, check_tensor
from .models import MultiExitNet, device_and_dtype, eval_mode


def count_flops(module: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs of `module(x)` as counted by FlopCounterMode (matmuls and convolutions)."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    check_tensor(x, "x")
    # attention counted too (issue 16): torch's CPU kernel of scaled_dot_product_attention
    # has no FLOP formula, and nn.MultiheadAttention's fused fast path hides its matmuls
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_EXTRA) as counter:
            module(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return int(counter.get_total_flops())


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    return sdpa_flop_count(query_shape, key_shape, value_shape)


_EXTRA = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops}


@dataclass(frozen=True)
class CostProfile:
    """Per-input FLOPs of every block (γ_f) and every head (γ_c) of a multi-exit network."""

    gamma_f: tuple[int, ...]
    gamma_c: dict[int, int]

    @property
    def num_blocks(self) -> int:
        return len(self.gamma_f)

    @property
    def full(self) -> int:
        """Cost of the plain network: every block and the final head, no early heads."""
        return sum(self.gamma_f) + self.gamma_c[self.num_blocks]

    def Gamma(self, exits) -> torch.Tensor:
        """Γ_j for each exit j of `exits` (block indices; the final exit L may be included)."""
        L = self.num_blocks
        early = tuple(e for e in exits if e != L)
        C = check_exit_set(early, L)
        missing = [i for i in C if i not in self.gamma_c]
        if missing:
            raise ValueError(f"exits {missing} have no head cost; heads at {sorted(self.gamma_c)}")
        return cumulative_costs(self.gamma_f, self.gamma_c, C + (L,))


def measure_costs(model: MultiExitNet, input_shape, device=None) -> CostProfile:
    """Measure γ_f for every block and γ_c for every head of `model` on one input (on the
    model's device, or on `device`: the model moved there for the call)."""
    if device is not None:  # issue 16
        from .devices import call_on

        return call_on(measure_costs, model, input_shape, device)
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    if not isinstance(input_shape, (tuple, list, torch.Size)):
        raise TypeError(f"input_shape must be a tuple like (1, 40), got {input_shape!r}")
    input_shape = tuple(check_int(s, f"input_shape[{i}]", low=1) for i, s in enumerate(input_shape))
    device, dtype = device_and_dtype(model)
    gamma_f, gamma_c = [], {}
    try:
        with eval_mode(model), torch.no_grad():
            h = torch.zeros(1, *input_shape, device=device, dtype=dtype)
            for i, block in enumerate(model.blocks, 1):
                gamma_f.append(count_flops(block, h))
                h = block(h)
                if str(i) in model.heads:
                    gamma_c[i] = count_flops(model.heads[str(i)], h)
    except RuntimeError as err:
        text = str(err)
        if any(w in text for w in ("dtype", "scalar type", "Input type", "same type")):
            raise TypeError(
                f"model must hold parameters of one dtype and device: a {dtype} input on "
                f"{device} (those of its first parameter) failed: {err}"
            ) from err
        raise ValueError(f"input_shape {input_shape} does not fit the model: {err}") from err
    return CostProfile(tuple(gamma_f), gamma_c)


def cumulative_costs(gamma_f, gamma_c, exits) -> torch.Tensor:
    """Γ_j = Σ_{k≤j} γ_{f_k} + Σ_{k≤j, k∈C} γ_{c_k} for each j in `exits` (sorted, ends at L)."""
    if isinstance(gamma_f, (str, bytes)) or not isinstance(gamma_f, (list, tuple, torch.Tensor)):
        raise TypeError(f"gamma_f must be a sequence of block costs, got {type(gamma_f).__name__}")
    gamma_f = [
        check_float(g.item() if isinstance(g, torch.Tensor) else g, f"gamma_f[{k}]", low=0.0)
        for k, g in enumerate(gamma_f)
    ]
    if not hasattr(gamma_c, "keys"):
        raise TypeError(f"gamma_c must be a dict {{exit: head cost}}, got {type(gamma_c).__name__}")
    if isinstance(exits, (str, bytes)):
        raise TypeError(f"exits must be a sequence of block indices, got {type(exits).__name__}")
    exits = tuple(check_int(j, f"exits[{k}]") for k, j in enumerate(exits))
    if not exits or list(exits) != sorted(set(exits)) or exits[-1] != len(gamma_f) or exits[0] < 1:
        raise ValueError(
            f"exits must be increasing block indices ending at L={len(gamma_f)}, got {exits}"
        )
    missing = [j for j in exits if j not in gamma_c]
    if missing:
        raise ValueError(f"gamma_c has no head cost for exits {missing}; it has {sorted(gamma_c)}")
    out, total, prev = [], 0.0, 0
    for j in exits:
        c = gamma_c[j]
        c = check_float(c.item() if isinstance(c, torch.Tensor) else c, f"gamma_c[{j}]", low=0.0)
        total += sum(gamma_f[prev:j]) + c
        out.append(total)
        prev = j
    return torch.tensor(out, dtype=torch.float64)


def _check_Gamma(Gamma, n_exits: int | None = None, *, cumulative: bool = False) -> torch.Tensor:
    """Costs per exit as a finite, non-negative float64 vector (of n_exits when given);
    cumulative=True also requires them non-decreasing, as every Γ_j is (eq. 12-13)."""
    if isinstance(Gamma, (str, bytes)):
        raise TypeError(f"Gamma must be a sequence of numbers, got {type(Gamma).__name__}")
    if isinstance(Gamma, torch.Tensor) and (Gamma.dtype == torch.bool or Gamma.is_complex()):
        raise TypeError(f"Gamma must hold real costs, got dtype {Gamma.dtype}")
    try:
        Gamma = torch.as_tensor(Gamma, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"Gamma must be a sequence of numbers, got {type(Gamma).__name__}") from err
    if Gamma.ndim != 1 or Gamma.numel() == 0:
        raise ValueError(f"Gamma must be a 1D sequence of cumulative costs, got {Gamma.shape}")
    if n_exits is not None and Gamma.numel() != n_exits:
        raise ValueError(f"Gamma must hold one cost per exit ({n_exits}), got {Gamma.numel()}")
    if not torch.isfinite(Gamma).all():
        raise ValueError(f"Gamma must be finite (no NaN or inf), got {Gamma.tolist()}")
    if (Gamma < 0).any():
        raise ValueError("Gamma must be non-negative")
    if cumulative and (Gamma.diff() < 0).any():
        raise ValueError(
            f"Gamma must be non-decreasing (cumulative: a later exit has run every block before "
            f"it), got {Gamma.tolist()}"
        )
    return Gamma


def cascaded_cost(exit_index: torch.Tensor, Gamma) -> float:
    """Eq. 12: mean over inputs of the cost of every block and head up to its exit, Γ_exit(i).

    `exit_index` holds each input's exit as a position in the exit list (0..E-1)."""
    check_tensor(exit_index, "exit_index", ndim=1, dtype_kind="int")
    Gamma = _check_Gamma(Gamma, cumulative=True)
    if exit_index.min() < 0 or exit_index.max() >= Gamma.numel():
        raise ValueError(f"exit_index must lie in 0..{Gamma.numel() - 1}")
    return float(Gamma[exit_index.cpu()].mean())


def exit_probabilities(gates: torch.Tensor) -> torch.Tensor:
    """Eq. 14: p_j = g_j ∏_{l<j} (1 − g_l), with g ≡ 1 at the final exit, so Σ_j p_j = 1.

    `gates` has shape (N, E-1): one gate in [0, 1] per early exit. Returns (N, E).
    Differentiable, so it can sit inside a training loss."""
    check_tensor(gates, "gates", ndim=2, dtype_kind="float")
    if gates.isnan().any() or (gates < 0).any() or (gates > 1).any():
        raise ValueError("gates must lie in [0, 1] (apply a sigmoid to gate logits)")
    g = torch.cat([gates, torch.ones_like(gates[:, :1])], dim=1)
    survive = torch.cumprod(torch.cat([torch.ones_like(g[:, :1]), 1 - g[:, :-1]], dim=1), dim=1)
    return g * survive


def expected_cost(gates: torch.Tensor, Gamma) -> torch.Tensor:
    """Eq. 13 in its consistent form: mean over inputs of Σ_j p_j Γ_j (p_j from eq. 14).

    Uses the cumulative Γ_j; with hard 0/1 gates it equals eq. 12. The printed eq. 13 with
    marginal costs ε_j under-counts (see EQUATIONS.md, §6.1)."""
    p = exit_probabilities(gates)
    Gamma = _check_Gamma(Gamma, p.shape[1], cumulative=True).to(device=p.device, dtype=p.dtype)
    return (p * Gamma).sum(dim=1).mean()


def counted_flops(fn, *args, **kwargs) -> tuple[int, object]:
    """Run `fn(*args, **kwargs)` under FlopCounterMode: (FLOPs it really executed, its result).

    An independent count of what a call costs, e.g. real early exit
    (`mexit.early_exit_predict`) against the cascaded cost of eq. 12 computed from Γ."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = fn(*args, **kwargs)
    return int(counter.get_total_flops()), out
