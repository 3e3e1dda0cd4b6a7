"""The checkers of chapters 06-11 teach (issue 15): each accepts correct code written here
independently of its reference (several ways where students differ), rejects each listed
mistake *naming it* — with wrong code written as a student would, not the checker's own
variant — and prints "not attempted yet" on the notebook's stub. The generic properties
(every variant real and distinct, the reference passes, unknown answers and errors reported)
are tested for every chapter in tests/test_exercises.py."""

import math

import numpy as np
import pytest
import torch

import mexit
from mexit.exercises import EXERCISES, NOT_ATTEMPTED

# ---------------------------------------------------------------- 06: eq. 11


def eq11_ok(probs):
    return -torch.xlogy(probs, probs).sum(-1) / math.log(probs.shape[-1])


def eq11_clamped_log_ok(probs):  # a second correct way: clamp before the log, base 2
    C = probs.shape[-1]
    return -(probs * probs.clamp_min(1e-30).log2()).sum(dim=-1) / math.log2(C)


def eq11_numpy_ok(probs):  # a third: NumPy, back to a tensor of the input's dtype
    p = probs.numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return torch.from_numpy(-terms.sum(-1) / np.log(p.shape[-1])).to(probs.dtype)


EQ11_WRONG = {
    "without the minus sign": lambda p: torch.xlogy(p, p).sum(-1) / math.log(p.shape[-1]),
    "without the 1/log C normalisation": lambda p: -torch.xlogy(p, p).sum(-1),
    "log base 2 (bits, not normalised)": lambda p: -(p * torch.log2(p + 1e-30)).sum(-1),
    "log base 2 in the sum, natural log in 1/log C": lambda p: (
        -(p * torch.log2(p.clamp_min(1e-30))).sum(-1) / np.log(p.shape[-1])
    ),
    "0 · log 0 gives NaN": lambda p: -(p * torch.log(p)).sum(-1) / math.log(p.shape[-1]),
    "divided by log N instead of log C": lambda p: -torch.xlogy(p, p).sum(-1) / math.log(len(p)),
    "summed over the inputs (axis 0)": lambda p: (
        -torch.xlogy(p, p).sum(dim=0) / math.log(p.size(-1))
    ),
    "summed over axis 1 instead of the last axis": lambda p: (
        -torch.xlogy(p, p).sum(1) / math.log(p.size(-1))
    ),
}

# ---------------------------------------------------------------- 06: patience (PABEE)


def patience_ok(probs, patience):
    pred = probs.argmax(-1).T.tolist()  # one list of E predictions per input
    out = []
    for row in pred:
        count, where = 0, len(row) - 1
        for k in range(1, len(row)):
            count = count + 1 if row[k] == row[k - 1] else 0
            if count >= patience:
                where = k
                break
        out.append(where)
    return torch.tensor(out)


def patience_window_ok(probs, patience):  # a second way: the last t + 1 exits all agree
    pred = probs.argmax(-1)
    E, N = pred.shape
    out = torch.full((N,), E - 1)
    for n in range(N):
        for k in range(patience, E):
            if (pred[k - patience : k + 1, n] == pred[k, n]).all():
                out[n] = k
                break
    return out


def _streak(probs, patience, need, reset=True, first=False, start=None):
    pred = probs.argmax(-1).T.tolist()
    out = []
    for row in pred:
        count, where = 0, (len(row) - 1 if start is None else start)
        for k in range(len(row)):
            if k:
                agree = row[k] == (row[0] if first else row[k - 1])
                count = count + 1 if agree else (0 if reset else count)
            if count >= need and k < len(row) - 1:
                where = k
                break
        out.append(where)
    return torch.tensor(out)


PATIENCE_WRONG = {
    "counted exits, not agreements (one agreement short)": lambda p, t: _streak(p, t, t - 1),
    "one agreement too many": lambda p, t: _streak(p, t, t + 1),
    "the counter never goes back to 0": lambda p, t: _streak(p, t, t, reset=False),
    "compared with the first exit, not the previous one": lambda p, t: _streak(p, t, t, first=True),
    "no default to the final exit": lambda p, t: _streak(p, t, t, start=0),
    "1-based exit numbers": lambda p, t: patience_ok(p, t) + 1,
}

# ---------------------------------------------------------------- 07: eq. 14


def eq14_ok(gates):
    N, E1 = gates.shape
    p = torch.zeros(N, E1 + 1, dtype=gates.dtype)
    go_on = torch.ones(N, dtype=gates.dtype)
    for j in range(E1):
        p[:, j] = gates[:, j] * go_on
        go_on = go_on * (1 - gates[:, j])
    p[:, E1] = go_on
    return p


def _eq14(gates, final=1.0, inclusive=False, factor=lambda g: 1 - g, product=True):
    g = torch.cat([gates, torch.full((gates.shape[0], 1), final, dtype=gates.dtype)], 1)
    cols = []
    for j in range(g.shape[1]):
        upto = j + 1 if inclusive else j
        prod = torch.prod(factor(g[:, :upto]), dim=1) if product else 1.0
        cols.append(g[:, j] * prod)
    return torch.stack(cols, 1)


EQ14_WRONG = {
    "without the final gate g ≡ 1": lambda g: _eq14(g)[:, :-1],
    "final gate set to 0 instead of 1": lambda g: _eq14(g, final=0.0),
    "the product running over l ≤ j": lambda g: _eq14(g, inclusive=True),
    "product of g_l instead of 1 − g_l": lambda g: _eq14(g, factor=lambda x: x),
    "no product: p_j = g_j": lambda g: _eq14(g, product=False),
}

# ---------------------------------------------------------------- 07: eq. 13, consistent


def _cum(gamma_f, gamma_c, exits, heads="passed"):
    Gamma = []
    for j in exits:
        blocks = float(sum(gamma_f[:j]))
        if heads == "passed":
            blocks += sum(gamma_c[i] for i in exits if i <= j)
        elif heads == "own":
            blocks += gamma_c[j]
        elif heads == "every":
            blocks += sum(c for i, c in gamma_c.items() if i <= j)
        Gamma.append(blocks)
    return np.array(Gamma)


def cost_ok(gates, gamma_f, gamma_c, exits):
    p = eq14_ok(gates).double().numpy()
    return float((p @ _cum(gamma_f, gamma_c, exits)).mean())


def cost_reach_ok(gates, gamma_f, gamma_c, exits):  # Σ_j P(reach j) ε_j: the same number
    Gamma = _cum(gamma_f, gamma_c, exits)
    eps = np.diff(Gamma, prepend=0.0)
    g = gates.double().numpy()
    reach = np.concatenate([np.ones((len(g), 1)), np.cumprod(1 - g, axis=1)], axis=1)
    return float((reach @ eps).mean())


def _cost(gates, f, c, e, heads="passed", marginal=False, reduce=np.mean, drop_final=False):
    p = eq14_ok(gates).double().numpy()
    Gamma = _cum(f, c, e, heads)
    if marginal:
        Gamma = np.diff(Gamma, prepend=0.0)
    if drop_final:
        p, Gamma = p[:, :-1], Gamma[:-1]
    return float(reduce(p @ Gamma))


COST_WRONG = {
    "marginal instead of cumulative costs (eq. 13 as printed)": lambda g, f, c, e: _cost(
        g, f, c, e, marginal=True
    ),
    "forgot the heads": lambda g, f, c, e: _cost(g, f, c, e, heads="none"),
    "only the exit's own head": lambda g, f, c, e: _cost(g, f, c, e, heads="own"),
    "counted heads that are not exits": lambda g, f, c, e: _cost(g, f, c, e, heads="every"),
    "sum over inputs instead of the mean": lambda g, f, c, e: _cost(g, f, c, e, reduce=np.sum),
    "without the final exit": lambda g, f, c, e: _cost(g, f, c, e, drop_final=True),
}

# ---------------------------------------------------------------- 08: feedback alignment


def fa_ok(delta, h, M, K):
    return delta @ K


class _StudentFA(torch.autograd.Function):
    """A student's full autograd function: the backward the notebook asks for, used by
    autograd (a second correct way to get the same numbers)."""

    @staticmethod
    def forward(ctx, h, M, K):
        ctx.save_for_backward(h, K)
        return h @ M.T

    @staticmethod
    def backward(ctx, grad_out):
        h, K = ctx.saved_tensors
        return grad_out @ K, grad_out.T @ h, None


def fa_autograd_ok(delta, h, M, K):
    h = h.clone().requires_grad_(True)
    _StudentFA.apply(h, M, K).backward(delta)
    return h.grad


def fa_einsum_ok(delta, h, M, K):
    return torch.einsum("nc,cd->nd", delta, K)


FA_WRONG = {
    "Mᵀ instead of the random K": lambda delta, h, M, K: torch.einsum("nc,cd->nd", delta, M),
    "sign flipped": lambda delta, h, M, K: -delta @ K,
    "divided by the batch size": lambda delta, h, M, K: (delta @ K) / len(h),
    "the batch's errors summed": lambda delta, h, M, K: delta.sum(0) @ K + torch.zeros_like(h),
    "multiplied by the input h": lambda delta, h, M, K: h * (delta @ K),
}

# ---------------------------------------------------------------- 09: bytes per link


def link_ok(exit_index, exits, placement, h_bytes):
    exits, idx = list(exits), exit_index.tolist()
    out = []
    for t in range(max(placement)):
        last = 0
        for b, tier in enumerate(placement, 1):
            if tier <= t:
                last = b
        # an input travels over link t when its exit block lies beyond `last`
        n = sum(1 for k in idx if exits[k] > last)
        out.append(n * h_bytes[last])
    return out


def _link(
    e, x, p, h, count=lambda blocks, last: blocks > last, shift=0, skip=False, as_blocks=False
):
    out = []
    for t in range(max(p)):
        last = max([b for b, tier in enumerate(p, 1) if tier <= t], default=0)
        if skip and t not in p:
            out.append(0)
            continue
        blocks = (e + 1) if as_blocks else torch.tensor([x[k] for k in e.tolist()])
        out.append(int(count(blocks, last).sum()) * h[last + shift])
    return out


LINK_WRONG = {
    "every input crosses every link": lambda e, x, p, h: [
        len(e) * h[max([b for b, tier in enumerate(p, 1) if tier <= t], default=0)]
        for t in range(max(p))
    ],
    "inputs answered at the tier's last exit sent on": lambda e, x, p, h: _link(
        e,
        x,
        p,
        h,
        count=lambda blocks, last: blocks >= max([b for b in x if b <= last], default=0),
    ),
    "h_{i+1} instead of h_i": lambda e, x, p, h: _link(e, x, p, h, shift=1),
    "exit positions read as block numbers": lambda e, x, p, h: _link(e, x, p, h, as_blocks=True),
    "a tier without blocks sends nothing": lambda e, x, p, h: _link(e, x, p, h, skip=True),
}


def latency_ok(costs, exits, h_bytes, system, placement):
    out = []
    for j in exits:
        t = 0.0
        for k in range(1, j + 1):  # compute: blocks, and the heads of `exits`, at their tier
            speed = system.speeds[placement[k - 1]]
            t += costs.gamma_f[k - 1] / speed
            t += costs.gamma_c[k] / speed if k in exits else 0.0
        for link in range(placement[j - 1]):  # links crossed to reach exit j's tier
            last = max([b for b in range(1, j + 1) if placement[b - 1] <= link], default=0)
            t += 2 * system.latencies[link] + h_bytes[last] / system.bandwidths[link]
        out.append(t)
    return torch.tensor(out, dtype=torch.float64)


def _latency(costs, exits, h, system, placement, reply=2, heads=True, tier_of=None, nxt=0):
    tier_of = tier_of or (lambda k: placement[k - 1])
    out = []
    for j in exits:
        t = sum(
            (costs.gamma_f[k - 1] + (costs.gamma_c[k] if heads and k in exits else 0))
            / system.speeds[tier_of(k)]
            for k in range(1, j + 1)
        )
        for link in range(placement[j - 1]):
            last = max([b for b in range(1, j + 1) if placement[b - 1] <= link], default=0)
            t += reply * system.latencies[link] + h[last + nxt] / system.bandwidths[link]
        out.append(t)
    return out


LATENCY_WRONG = {
    "the answer's way back not counted": lambda c, e, h, s, p: _latency(c, e, h, s, p, reply=1),
    "the heads' FLOPs not counted": lambda c, e, h, s, p: _latency(c, e, h, s, p, heads=False),
    "every block at the device's speed": lambda c, e, h, s, p: _latency(
        c, e, h, s, p, tier_of=lambda k: 0
    ),
    "h_{i+1} sent instead of h_i": lambda c, e, h, s, p: _latency(c, e, h, s, p, nxt=1),
}

# ---------------------------------------------------------------- 10: binned MI


def _bin(t, bins, per_unit=False, clamp=True, bin_ints=False):
    t = t.reshape(len(t), -1)
    if not t.is_floating_point() and not bin_ints:
        return t
    t = t.double()
    lo = t.amin(0) if per_unit else t.min()
    hi = t.amax(0) if per_unit else t.max()
    width = torch.where(hi > lo, (hi - lo) / bins, torch.ones_like(hi))
    idx = torch.floor((t - lo) / width).long()
    return idx.clamp(max=bins - 1) if clamp else idx


def _H(s, log=np.log2, rows=True):
    if rows:
        _, counts = np.unique(s.numpy(), axis=0, return_counts=True)
    else:
        _, counts = np.unique(s.numpy(), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * log(p)).sum())


def mi_ok(a, b, bins):
    sa, sb = _bin(a, bins), _bin(b, bins)
    return _H(sa) + _H(sb) - _H(torch.cat([sa, sb], 1))


def mi_conditional_ok(a, b, bins):  # I = H(A) − H(A | B), the conditional entropy by groups
    sa, sb = _bin(a, bins).numpy(), _bin(b, bins).numpy()
    _, group = np.unique(sb, axis=0, return_inverse=True)
    group = group.reshape(-1)
    h_cond = sum(
        (group == g).mean() * _H(torch.from_numpy(sa[group == g])) for g in np.unique(group)
    )
    return _H(torch.from_numpy(sa)) - h_cond


def _mi(a, b, bins, log=np.log2, rows=True, **binning):
    sa, sb = _bin(a, bins, **binning), _bin(b, bins, **binning)
    joint = torch.cat([sa, sb], 1)
    return _H(sa, log, rows) + _H(sb, log, rows) - _H(joint, log, rows)


MI_WRONG = {
    "nats, not bits": lambda a, b, bins: _mi(a, b, bins, log=np.log),
    "entries counted as symbols, not rows": lambda a, b, bins: _mi(a, b, bins, rows=False),
    "integer labels binned too": lambda a, b, bins: _mi(a, b, bins, bin_ints=True),
    "the maximum in an extra bin": lambda a, b, bins: _mi(a, b, bins, clamp=False),
    "each unit binned over its own range": lambda a, b, bins: _mi(a, b, bins, per_unit=True),
}

# ---------------------------------------------------------------- 11: cascade cost


def cascade_ok(small_probs, threshold, cost_small, cost_large):
    H = mexit.normalized_entropy(small_probs)
    return cost_small + (H > threshold).float().mean().item() * cost_large


def cascade_loop_ok(small_probs, threshold, cost_small, cost_large):  # input by input
    total = 0.0
    for p in small_probs.double():
        h = -sum(float(q) * math.log(float(q)) for q in p if q > 0) / math.log(len(p))
        total += cost_small + (cost_large if h > threshold + 1e-9 else 0.0)
    return total / len(small_probs)


def _entropy(p):
    return -(p.double() * p.double().clamp_min(1e-30).log()).sum(-1)


CASCADE_WRONG = {
    "deferred inputs do not pay the small network": lambda p, b, s, L: float(
        torch.where(_entropy(p) / math.log(p.shape[1]) > b, L, s).double().mean()
    ),
    "deferral inverted": lambda p, b, s, L: (
        s + float((_entropy(p) / math.log(p.shape[1]) <= b + 1e-9).double().mean()) * L
    ),
    "strict test H < β": lambda p, b, s, L: (
        s + float((_entropy(p) / math.log(p.shape[1]) >= b).double().mean()) * L
    ),
    "unnormalized entropy compared with β": lambda p, b, s, L: (
        s + float((_entropy(p) > b + 1e-9).double().mean()) * L
    ),
}

STUDENTS = {  # exercise: (correct implementations, {mistake: wrong implementation})
    "eq11": ((eq11_ok, eq11_clamped_log_ok, eq11_numpy_ok), EQ11_WRONG),
    "patience": ((patience_ok, patience_window_ok), PATIENCE_WRONG),
    "eq14": ((eq14_ok,), EQ14_WRONG),
    "expected_cost": ((cost_ok, cost_reach_ok), COST_WRONG),
    "feedback_backward": ((fa_ok, fa_autograd_ok, fa_einsum_ok), FA_WRONG),
    "link_bytes": ((link_ok,), LINK_WRONG),
    "exit_latencies": ((latency_ok,), LATENCY_WRONG),
    "binned_mi": ((mi_ok, mi_conditional_ok), MI_WRONG),
    "cascade_cost": ((cascade_ok, cascade_loop_ok), CASCADE_WRONG),
}
CORRECT = [(n, f) for n, (fs, _) in STUDENTS.items() for f in fs]
WRONG = [(n, m, f) for n, (_, ws) in STUDENTS.items() for m, f in ws.items()]


def test_chapters_06_to_11_have_nine_checkers_with_two_mistakes_each():
    assert len(STUDENTS) >= 9
    for name in STUDENTS:
        assert len(EXERCISES[name].mistakes) >= 2, name


def test_every_mistake_of_chapters_06_to_11_has_a_student_test():
    for name, (_, wrong) in STUDENTS.items():
        assert set(wrong) == {m.name for m in EXERCISES[name].mistakes}, name


@pytest.mark.parametrize(("name", "fn"), CORRECT, ids=[f"{n}-{f.__name__}" for n, f in CORRECT])
def test_correct_student_code_passes(name, fn, capsys):
    result = getattr(mexit.exercises, f"check_{name}")(fn)
    out = capsys.readouterr().out
    assert result.status == "correct", out
    assert out.startswith(f"correct: {name}")


@pytest.mark.parametrize(("name", "mistake", "fn"), WRONG, ids=[f"{n}-{m}" for n, m, _ in WRONG])
def test_the_checker_names_the_students_mistake(name, mistake, fn, capsys):
    result = getattr(mexit.exercises, f"check_{name}")(fn)
    out = capsys.readouterr().out
    assert (result.status, result.mistake) == ("mistake", mistake), out
    assert out.startswith(f"✗ {name}: mistake — {mistake}")
    assert "first failing case" in out and "expected" in out and "yours" in out


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_the_notebook_stub_prints_not_attempted_yet(name, capsys):
    n = len(EXERCISES[name].params)

    def stub(*args):
        assert len(args) == n
        raise NotImplementedError  # your code here

    result = getattr(mexit.exercises, f"check_{name}")(stub)
    assert result.status == "not attempted" and not result
    assert capsys.readouterr().out.startswith(NOT_ATTEMPTED)


def test_float32_code_on_float64_outputs_is_told_to_keep_the_dtype(capsys):
    result = mexit.exercises.check_eq11(lambda p: eq11_ok(p).float())
    out = capsys.readouterr().out
    assert result.status == "wrong" and "float64" in out and "float32" in out
