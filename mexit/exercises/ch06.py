"""Exercises of notebook 06 (§6, eq. 11): the normalized entropy, and a patience policy."""

from __future__ import annotations

import math

import torch

from ..inference import normalized_entropy
from ..patience import patience_exits
from ._core import Case, Exercise, Mistake

# ------------------------------------------------------------------ eq. 11


def _softmax_rows(g, shape, scale=2.0, dtype=torch.float32):
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).softmax(-1).to(dtype)


def _eq11_cases() -> list[Case]:
    g = torch.Generator().manual_seed(601)
    one_hot = torch.eye(10)[torch.tensor([3, 0, 9, 5])]
    mixed = torch.cat([one_hot[:2], _softmax_rows(g, (2, 10))])
    return [
        Case("random rows, 10 classes", (_softmax_rows(g, (6, 10)),)),
        Case("uniform rows, 10 classes (H = 1)", (torch.full((3, 10), 0.1),)),
        Case("one-hot rows next to random ones (H = 0 for one-hot)", (mixed,)),
        Case("two classes", (_softmax_rows(g, (5, 2)),)),
        Case("every exit at once: (E, N, C) = (3, 4, 10)", (_softmax_rows(g, (3, 4, 10)),)),
        Case("float64, 7 classes", (_softmax_rows(g, (5, 7), dtype=torch.float64),)),
    ]


def _plogp(p):
    return torch.xlogy(p, p).sum(-1)


def _no_minus(probs):
    return _plogp(probs) / math.log(probs.shape[-1])


def _nats(probs):
    return -_plogp(probs)


def _bits(probs):
    return -_plogp(probs) / math.log(2.0)


def _mixed_bases(probs):
    return _bits(probs) / math.log(probs.shape[-1])


def _log_of_zero(probs):
    return -(probs * probs.log()).sum(-1) / math.log(probs.shape[-1])


def _log_of_n(probs):
    return -_plogp(probs) / math.log(probs.shape[0])


def _sum_axis_0(probs):
    return -torch.xlogy(probs, probs).sum(0) / math.log(probs.shape[-1])


def _sum_axis_1(probs):
    return -torch.xlogy(probs, probs).sum(1) / math.log(probs.shape[-1])


EQ11 = Exercise(
    "eq11",
    title="normalized_entropy(probs), the normalized entropy H of eq. 11",
    params=("probs",),
    reference=normalized_entropy,
    cases=_eq11_cases,
    keep_dtype=True,
    success="your H equals mexit.normalized_entropy",
    mistakes=[
        Mistake(
            "without the minus sign",
            _no_minus,
            "the printed eq. 11 drops the minus sign: Σ_t c_t log c_t ≤ 0, so your H is ≤ 0 and "
            "the test H ≤ β lets every input out at exit 1. Put the minus sign back.",
        ),
        Mistake(
            "without the 1/log C normalisation",
            _nats,
            "you return the unnormalized entropy in nats (BranchyNet's), up to log C = 2.30 "
            "for 10 classes. Divide by log C so that a uniform row gives 1 and a threshold β "
            "in [0, 1] means the same for any number of classes.",
        ),
        Mistake(
            "log base 2 (bits, not normalised)",
            _bits,
            "−Σ c log2 c is the entropy in bits, up to log2 C = 3.32 for 10 classes. It equals "
            "eq. 11 only for two classes (log2 2 = 1), which is why your two-class case "
            "passes. Divide by log C in the same base as the sum (the base then cancels).",
        ),
        Mistake(
            "log base 2 in the sum, natural log in 1/log C",
            _mixed_bases,
            "the two logarithms must have the same base: Σ c log2 c / ln C is eq. 11 times "
            "1/ln 2 = 1.44, so a uniform row gives 1.44, not 1. Use one base for both.",
        ),
        Mistake(
            "0 · log 0 gives NaN",
            _log_of_zero,
            "torch.log(0) = −inf and 0 · (−inf) = NaN, so a one-hot row gives NaN instead of "
            "H = 0. The entropy's convention is 0 log 0 = 0: use torch.xlogy(p, p) (0 where "
            "p = 0) or p.clamp_min(1e-12).log().",
        ),
        Mistake(
            "divided by log N instead of log C",
            _log_of_n,
            "C is the number of classes, probs.shape[-1]; probs.shape[0] is the number of "
            "inputs (or of exits for an (E, N, C) tensor).",
        ),
        Mistake(
            "summed over the inputs (axis 0)",
            _sum_axis_0,
            "the sum of eq. 11 runs over the classes t, the last axis: .sum(-1), one H per input.",
        ),
        Mistake(
            "summed over axis 1 instead of the last axis",
            _sum_axis_1,
            ".sum(1) is the class axis of an (N, C) batch but not of the (E, N, C) outputs of "
            "every exit: reduce the last axis, .sum(-1).",
        ),
    ],
)
check_eq11 = EQ11.checker_fn


# ------------------------------------------------------------------ patience (PABEE)


def _patience_reference(probs, patience):
    """PABEE's exits (positions 0..E-1), from the package's one implementation,
    `mexit.patience.patience_exits` (Zhou et al. 2020): patience t means t consecutive
    agreements, i.e. the last t + 1 exits agree; the final exit answers whoever is left."""
    return patience_exits(probs, patience)[0]


def _probs_for(predictions, classes=10, dtype=torch.float32, seed=0):
    """Softmax outputs (E, N, C) whose argmax at exit k, input n is predictions[k][n]."""
    pred = torch.tensor(predictions)
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(*pred.shape, classes, generator=g, dtype=torch.float64)
    logits.scatter_(-1, pred[..., None], 6.0)
    return logits.softmax(-1).to(dtype)


# predictions of 4 exits (rows) for 6 inputs (columns), chosen so each rule gives its own exits
_HAND = [
    [3, 1, 1, 5, 0, 2],
    [3, 2, 2, 5, 1, 7],
    [3, 2, 1, 1, 2, 2],
    [3, 2, 2, 1, 2, 7],
]
# 5 exits: agreement with an earlier, not the previous, exit (input 0), and a late streak
_GAPS = [
    [4, 1, 6],
    [8, 1, 6],
    [4, 3, 0],
    [2, 3, 0],
    [2, 3, 0],
]


def _patience_cases() -> list[Case]:
    g = torch.Generator().manual_seed(602)
    few = torch.randint(0, 3, (5, 40), generator=g).tolist()
    two = torch.randint(0, 2, (4, 12), generator=g).tolist()
    return [
        Case("4 exits, 6 inputs, patience 1", (_probs_for(_HAND), 1)),
        Case("the same outputs, patience 2", (_probs_for(_HAND), 2)),
        Case("patience 3 with 4 exits (everyone at the final exit)", (_probs_for(_HAND), 3)),
        Case("5 exits, a streak that breaks and one that starts late", (_probs_for(_GAPS), 1)),
        Case("5 exits, 40 inputs, 3 classes, patience 2", (_probs_for(few, classes=3), 2)),
        Case(
            "two classes, float64, patience 1",
            (_probs_for(two, classes=2, dtype=torch.float64, seed=1), 1),
        ),
    ]


def _patience_variant(probs, patience, *, need=None, reset=True, against_first=False, init=None):
    pred = torch.stack(list(probs)).argmax(-1)
    E, N = pred.shape
    need = patience if need is None else need(patience)
    out = torch.full((N,), E - 1 if init is None else init, dtype=torch.long)
    count = torch.zeros(N, dtype=torch.long)
    undecided = torch.ones(N, dtype=torch.bool)
    for k in range(0, E - 1):
        if k > 0:
            same = pred[k] == (pred[0] if against_first else pred[k - 1])
            zero = torch.zeros_like(count) if reset else count
            count = torch.where(same, count + 1, zero)
        leave = undecided & (count >= need)
        out[leave] = k
        undecided &= ~leave
    return out


def _counts_exits(probs, patience):
    return _patience_variant(probs, patience, need=lambda t: t - 1)


def _one_too_many(probs, patience):
    return _patience_variant(probs, patience, need=lambda t: t + 1)


def _no_reset(probs, patience):
    return _patience_variant(probs, patience, reset=False)


def _against_first(probs, patience):
    return _patience_variant(probs, patience, against_first=True)


def _no_default(probs, patience):
    return _patience_variant(probs, patience, init=0)


def _one_based(probs, patience):
    return _patience_reference(probs, patience) + 1


PATIENCE = Exercise(
    "patience",
    title="patience_exits(probs, patience), the exit PABEE gives every input",
    params=("probs", "patience"),
    reference=_patience_reference,
    cases=_patience_cases,
    success="your exits equal PABEE's (mexit.patience.patience_exits)",
    mistakes=[
        Mistake(
            "counted exits, not agreements (one agreement short)",
            _counts_exits,
            "patience t is the number of times the prediction stayed the same, so t + 1 "
            "consecutive exits agree; you let an input out once t exits agree (with t = 1 "
            "everyone leaves at the first exit).",
        ),
        Mistake(
            "one agreement too many",
            _one_too_many,
            "an input leaves as soon as its counter reaches t (counter ≥ patience), i.e. "
            "after t agreements, not t + 1.",
        ),
        Mistake(
            "the counter never goes back to 0",
            _no_reset,
            "the agreements must be consecutive: when an exit predicts another class than "
            "the exit before it, the counter restarts from 0.",
        ),
        Mistake(
            "compared with the first exit, not the previous one",
            _against_first,
            "PABEE compares each exit with the exit just before it (argmax c_i = argmax "
            "c_{i-1}), not with exit 1.",
        ),
        Mistake(
            "no default to the final exit",
            _no_default,
            "an input whose predictions never settle is answered by the final exit: start "
            "every exit index at E − 1 (the final exit always answers), not at 0.",
        ),
        Mistake(
            "1-based exit numbers",
            _one_based,
            "return positions 0..E-1 in the exit list, as mexit.simulate_exits does (the "
            "survey's block number of position k is model.exits[k]).",
        ),
    ],
)
check_patience = PATIENCE.checker_fn
