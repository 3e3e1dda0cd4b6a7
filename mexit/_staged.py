"""One block-by-block early-exit loop for policies whose decision at exit k needs more than
exit k's own output (patience counters, ensembles of earlier exits). Private: each policy
module wraps it in its own public `*_early_exit` with argument checks.

The loop runs the blocks in order, evaluates the head at every exit, asks the policy's
`decide` which active rows leave there and with which prediction, and carries on with the
other rows only (as `mexit.early_exit_predict` does). The policy keeps whatever it needs
about the active rows in a `state` it gets back, filtered to the rows still active."""

from __future__ import annotations

import torch

from ._checks import check_tensor
from .cost import CostProfile, measure_costs
from .inference import EarlyExitResult, _check_input
from .models import MultiExitNet, eval_mode


def check_model_input(model, x, costs):
    """The checks every real early exit makes: a MultiExitNet, a float x on its device and
    dtype, and a CostProfile measured on it (measured here when None)."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    _check_input(model, x)
    if costs is None:
        costs = measure_costs(model, tuple(x.shape[1:]))
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    exits, L = model.exits, model.num_blocks
    if costs.num_blocks != L or any(i not in costs.gamma_c for i in exits):
        raise ValueError(
            f"costs must be measured on this model (L={L}, exits {exits}), got a profile of "
            f"{costs.num_blocks} blocks with heads at {sorted(costs.gamma_c)}"
        )
    return costs


def staged_early_exit(model: MultiExitNet, x: torch.Tensor, decide, costs: CostProfile):
    """Run `model` on x block by block. At exit position k, `decide(k, probs_k, state)` gets
    the softmax of the active rows (n, K) and returns (leave (n,) bool, predictions (n,),
    state); at the final exit every row leaves. `state` is a list of tensors whose first axis
    is the active rows (the loop drops the rows that left); it starts empty."""
    exits, L = model.exits, model.num_blocks
    N = x.shape[0]
    predictions = torch.empty(N, dtype=torch.long, device=x.device)
    exit_index = torch.empty(N, dtype=torch.long, device=x.device)
    spent, Gamma = 0.0, []
    active = torch.arange(N, device=x.device)
    state: list = []
    with eval_mode(model), torch.inference_mode():
        h, k = x, 0
        for i, block in enumerate(model.blocks, 1):
            h = block(h)
            spent += costs.gamma_f[i - 1]
            if i != exits[k]:
                continue
            p = model.heads[str(i)](h).softmax(-1)
            spent += costs.gamma_c[i]
            Gamma.append(spent)
            leave, pred, state = decide(k, p, state)
            if i == L:
                leave = torch.ones_like(leave)
            if bool(leave.all()):
                predictions[active] = pred
                exit_index[active] = k
                break
            if bool(leave.any()):
                rows = active[leave]
                predictions[rows] = pred[leave]
                exit_index[rows] = k
                keep = ~leave
                active, h = active[keep], h[keep]
                state = [s[keep] for s in state]
            k += 1
    flops = torch.tensor(Gamma, dtype=torch.float64)[exit_index.cpu()]
    return EarlyExitResult(predictions, exit_index, flops)
