"""Patience-based early exit (PABEE): leave when consecutive exits agree.

Zhou, Xu, Ge, McAuley, Xu and Wei (2020), "BERT Loses Patience: Fast and Robust Inference
with Early Exit", NeurIPS 2020. Instead of asking one exit how confident it is (eq. 11 of
the survey), PABEE asks whether the prediction has stopped changing. A counter starts at 0
at the first exit; at each later exit it grows by one when the exit's predicted class equals
the previous exit's, and goes back to 0 otherwise:

    cnt_1 = 0,   cnt_i = cnt_{i-1} + 1  if argmax c_i(x) = argmax c_{i-1}(x),  else 0.

The input leaves at the first exit i with cnt_i = t (the *patience*) and answers with that
exit's prediction, the one the last t + 1 exits agree on; the final exit always answers.
With t = 1 the earliest exit an input can take is the second one; with E exits, t ≥ E - 1
sends every input to the final exit (the plain network). The only parameter is the integer t,
so a network with few exits has few operating points: a coarse policy, not a curve.

Exits are positions 0..E-1 in the model's exit list, as in `mexit.inference`.
"""

from __future__ import annotations

import torch

from ._checks import check_int, check_probs
from .cost import CostProfile
from .inference import EarlyExitResult, _check_early_exit_args, _staged_early_exit
from .models import MultiExitNet

__all__ = ["patience_exits", "patience_early_exit"]


def _check_patience(patience) -> int:
    return check_int(patience, "patience", low=1)


def patience_exits(probs, patience: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PABEE from the outputs of every exit computed beforehand (the simulation).

    probs: (E, N, K) softmax outputs of every exit (or a list of E tensors (N, K));
    patience: t ≥ 1, how many consecutive agreements an input waits for.
    Returns (exit_index, predictions), each (N,): the exit position 0..E-1 each input takes,
    as `mexit.simulate_exits` returns, and the class it is given there."""
    probs = check_probs(probs)
    t = _check_patience(patience)
    E, N = probs.shape[:2]
    pred = probs.argmax(-1)  # (E, N)
    exit_index = torch.full((N,), E - 1, dtype=torch.long, device=probs.device)
    count = torch.zeros(N, dtype=torch.long, device=probs.device)
    undecided = torch.ones(N, dtype=torch.bool, device=probs.device)
    for k in range(1, E - 1):  # the final exit answers whoever is left
        count = torch.where(pred[k] == pred[k - 1], count + 1, torch.zeros_like(count))
        leave = undecided & (count >= t)
        exit_index[leave] = k
        undecided &= ~leave
    predictions = pred.gather(0, exit_index[None]).squeeze(0)
    return exit_index, predictions


def patience_early_exit(
    model: MultiExitNet, x: torch.Tensor, patience: int, costs: CostProfile | None = None
) -> EarlyExitResult:
    """Real PABEE on a batch: run block by block, keep each active row's counter and last
    prediction, drop the rows that leave. Same exits and predictions as `patience_exits` on
    the same outputs; `flops` are those each input actually went through."""
    t = _check_patience(patience)
    costs = _check_early_exit_args(model, x, costs)

    def decide(k, p, state):
        pred = p.argmax(-1)
        if k == 0:
            count = torch.zeros_like(pred)
        else:
            last, count = state
            count = torch.where(pred == last, count + 1, torch.zeros_like(count))
        return count >= t, pred, [pred, count]

    return _staged_early_exit(model, x, decide, costs)
