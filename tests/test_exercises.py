"""The exercises' checkers teach (issue 15): each accepts correct code written independently
of its reference, rejects each listed mistake *naming it* (one test per mistake, with wrong
code written here as a student would, not the checker's own variant), prints "not attempted
yet" on a stub, and its mistakes are real (each variant differs from the reference on some
case and from every other variant). The generic tests run over every chapter's exercises."""

import math
import random

import numpy as np
import pytest
import torch

import mexit
from mexit.exercises import EXERCISES, NOT_ATTEMPTED, Case, Exercise, Mistake

ALL = sorted(EXERCISES)
ALL_MISTAKES = [(n, m.name) for n in ALL for m in EXERCISES[n].mistakes]


def _stub(*args, **kwargs):
    raise NotImplementedError


# ---------------------------------------------------------------- generic, every exercise


def test_there_are_checkers_and_each_detects_two_mistakes():
    assert len(ALL) >= 8
    few = {n: len(EXERCISES[n].mistakes) for n in ALL if len(EXERCISES[n].mistakes) < 2}
    assert not few, f"exercises with fewer than two detected mistakes: {few}"
    for name in ALL:
        assert getattr(mexit.exercises, f"check_{name}").exercise is EXERCISES[name]


@pytest.mark.parametrize("name", ALL)
def test_a_stub_is_not_attempted_yet(name, capsys):
    result = getattr(mexit.exercises, f"check_{name}")(_stub)
    assert result.status == "not attempted" and not result
    assert capsys.readouterr().out.startswith(NOT_ATTEMPTED)


@pytest.mark.parametrize("name", ALL)
def test_the_reference_passes_and_the_checker_leaves_the_rng_alone(name, capsys):
    torch.manual_seed(123)
    before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    result = EXERCISES[name].check(EXERCISES[name].reference)
    assert result.status == "correct" and result
    assert capsys.readouterr().out.startswith(f"correct: {name}")
    assert torch.equal(torch.get_rng_state(), before[0])
    assert (np.random.get_state()[1] == before[1]).all() and random.getstate() == before[2]


@pytest.mark.parametrize(
    ("name", "mistake"), ALL_MISTAKES, ids=[f"{n}-{m}" for n, m in ALL_MISTAKES]
)
def test_every_mistake_is_real_and_named(name, mistake, capsys):
    ex = EXERCISES[name]
    m = next(m for m in ex.mistakes if m.name == mistake)
    wrong = [ex._run(m.variant, c) for c in ex.cases]
    assert any(not ex.same(w, e) for w, e in zip(wrong, ex.expected)), (
        "no case discriminates this mistake from the reference"
    )
    for other in ex.mistakes:
        if other is not m:
            theirs = [ex._run(other.variant, c) for c in ex.cases]
            assert any(not ex.same(w, t) for w, t in zip(wrong, theirs)), (
                f"no case tells {mistake!r} from {other.name!r}"
            )
    result = ex.check(m.variant)
    out = capsys.readouterr().out
    assert result.status == "mistake" and result.mistake == mistake and not result
    assert f"mistake — {mistake}" in out and "first failing case" in out and "expected" in out


@pytest.mark.parametrize("name", ALL)
def test_an_unknown_wrong_answer_shows_the_first_failing_case(name, capsys):
    ex = EXERCISES[name]

    def off(*args, **kwargs):  # the reference, everything shifted: matches no listed mistake
        return mexit.exercises._core.as_tensor(ex.reference(*args, **kwargs)) + 0.125

    result = ex.check(off)
    out = capsys.readouterr().out
    assert result.status == "wrong" and result.case == ex.cases[0].label
    assert "first failing case" in out and "first difference at index" in out


@pytest.mark.parametrize("name", ALL)
def test_a_function_that_raises_is_reported_with_its_case(name, capsys):
    def boom(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    result = EXERCISES[name].check(boom)
    out = capsys.readouterr().out
    assert result.status == "error" and "ZeroDivisionError" in out
    assert EXERCISES[name].cases[0].label in out


def test_a_function_that_edits_its_inputs_cannot_spoil_the_next_case():
    seen = []

    def reference(x):
        return x.sum()

    def editing(x):
        seen.append(float(x.sum()))
        x.add_(1.0)
        return x.sum() - x.numel()

    ex = Exercise(
        "toy_sum",
        title="toy",
        params=("x",),
        reference=reference,
        cases=lambda: [Case("a", (torch.ones(3),)), Case("b", (torch.ones(3),))],
        register=False,
    )
    assert ex.check(editing, quiet=True).status == "correct"
    assert ex.check(editing, quiet=True).status == "correct"
    assert seen == [3.0, 3.0, 3.0, 3.0]


def test_dtype_is_enforced_where_asked():
    ex = Exercise(
        "toy_dtype",
        title="toy",
        params=("x",),
        reference=lambda x: x * 2,
        cases=lambda: [Case("float64", (torch.ones(2, dtype=torch.float64),))],
        keep_dtype=True,
        register=False,
    )
    result = ex.check(lambda x: (x * 2).float(), quiet=True)
    assert result.status == "wrong" and "float32" in result.message
    assert ex.check(lambda x: x * 2, quiet=True).status == "correct"


def test_exercise_definitions_are_checked():
    with pytest.raises(ValueError, match="^name must be unique"):
        Exercise("gamma", title="t", params=(), reference=abs, cases=list)
    with pytest.raises(ValueError, match="^mistakes must have distinct names"):
        Exercise(
            "toy_dup",
            title="t",
            params=(),
            reference=abs,
            cases=list,
            mistakes=[Mistake("a", abs, ""), Mistake("a", abs, "")],
            register=False,
        )


# ---------------------------------------------------------------- 01: Γ_j and eq. 1 / 3
# Student-style code, written independently of mexit/exercises/ch01.py.


def gamma_ok(gamma_f, gamma_c, exits):
    out = []
    for j in exits:
        blocks = sum(float(gamma_f[k]) for k in range(j))
        heads = sum(gamma_c[i] for i in exits if i <= j)
        out.append(blocks + heads)
    return out


def gamma_cumsum_ok(gamma_f, gamma_c, exits):  # a second correct way: running sums
    cum = np.cumsum([float(g) for g in gamma_f])
    heads = np.cumsum([gamma_c[j] for j in exits])
    return torch.tensor([cum[j - 1] for j in exits]) + torch.tensor(heads)


GAMMA_WRONG = {
    "forgot the heads": lambda f, c, e: [sum(float(v) for v in f[:j]) for j in e],
    "only the exit's own head": lambda f, c, e: [float(sum(f[:j])) + c[j] for j in e],
    "marginal instead of cumulative costs": lambda f, c, e: [
        float(sum(f[p:j])) + c[j] for p, j in zip((0,) + tuple(e[:-1]), e)
    ],
    "off by one block": lambda f, c, e: [
        sum(float(f[k]) for k in range(j - 1)) + sum(c[i] for i in e if i <= j) for j in e
    ],
    "counted heads that are not exits": lambda f, c, e: [
        float(sum(f[:j])) + sum(c[i] for i in range(1, j + 1) if i in c) for j in e
    ],
}


def outputs_ok(model, x):
    outs, h = [], x
    for i in range(1, model.num_blocks + 1):
        h = model.blocks[i - 1](h)
        if i in model.exits:
            outs.append(model.head(i)(h))
    return outs


def _walk(model, x, head_input):
    outs, h = [], x
    for i in range(1, model.num_blocks + 1):
        prev, h = h, model.blocks[i - 1](h)
        if i in model.exits:
            outs.append(model.head(i)(head_input(prev, h, x, model)))
    return outs


def _last(model, x):
    for block in model.blocks:
        x = block(x)
    return x


OUTPUTS_WRONG = {
    "head reads the block's input h_{i-1}": lambda m, x: _walk(m, x, lambda p, h, x0, mm: p),
    "every block restarted from x": lambda m, x: [m.head(i)(m.blocks[i - 1](x)) for i in m.exits],
    "every head reads the final embedding": lambda m, x: _walk(
        m, x, lambda p, h, x0, mm: _last(mm, x0)
    ),
    "used every head, not the exit set": lambda m, x: [
        m.head(int(k))(m.embeddings(x)[int(k) - 1]) for k in m.heads
    ],
}

# ---------------------------------------------------------------- 02: percentile and eq. 4


def percentile_ok(block_costs, fractions):
    costs = [float(c) for c in block_costs]
    cum = np.cumsum(costs) / sum(costs)
    exits = set()
    for f in fractions:
        i = int(np.argmax(cum >= f - 1e-12)) + 1  # first block reaching f
        if i < len(costs):
            exits.add(i)
    return sorted(exits)


def _percentile(block_costs, fractions, shift=0, strict=False, final=False, base=1):
    costs = [float(c) for c in block_costs]
    L, total = len(costs), sum(costs)
    exits = []
    for f in fractions:
        for i in range(1, L + 1):
            frac = sum(costs[: i - shift]) / total
            if frac > f if strict else frac >= f:
                if (i < L or final) and i - 1 + base not in exits:
                    exits.append(i - 1 + base)
                break
    return sorted(exits)


def _closest(block_costs, fractions):
    costs = [float(c) for c in block_costs]
    cum = np.cumsum(costs) / sum(costs)
    return sorted({int(np.argmin(np.abs(cum[:-1] - f))) + 1 for f in fractions})


PERCENTILE_WRONG = {
    "cumulative-cost fraction off by one block": lambda b, f: _percentile(b, f, shift=1),
    "0-based block index": lambda b, f: _percentile(b, f, base=0),
    "kept the final block as an exit": lambda b, f: _percentile(b, f, final=True),
    "'>' instead of '≥'": lambda b, f: _percentile(b, f, strict=True),
    "closest block instead of the first that reaches": _closest,
}


def eq4_ok(gamma, I):
    g, r = list(map(float, gamma)), list(map(float, I))
    return [(g[i] - g[i - 1]) * (r[i - 1] - r[i]) > g[i - 1] * r[i] for i in range(1, len(g))]


def _eq4(gamma, I, test):
    g, r = np.asarray(gamma, dtype=float), np.asarray(I, dtype=float)
    return [bool(test(g[k], g[k + 1], r[k], r[k + 1])) for k in range(len(g) - 1)]


EQ4_WRONG = {
    "inequality reversed": lambda g, r: _eq4(g, r, lambda a, b, p, q: (b - a) * (p - q) < a * q),
    "I_i and I_{i+1} swapped": lambda g, r: _eq4(
        g, r, lambda a, b, p, q: (b - a) * (q - p) > a * p
    ),
    "γ_{i+1} on the right side": lambda g, r: _eq4(
        g, r, lambda a, b, p, q: (b - a) * (p - q) > b * q
    ),
}

# ---------------------------------------------------------------- 03: α schedule and eq. 9


def sdn_ok(n_exits):
    return torch.arange(1, n_exits) / n_exits


SDN_WRONG = {
    "weighted the final exit too": lambda E: torch.arange(1, E + 1) / E,
    "divided by E − 1": lambda E: [k / (E - 1) for k in range(1, E)],
    "counted k from 0": lambda E: [k / E for k in range(E - 1)],
    "ramp reversed (BranchyNet's order)": lambda E: [1 - k / E for k in range(1, E)],
}


def eq9_ok(probs, gates):
    E = probs.shape[0]
    out = torch.zeros_like(probs[0])
    reach = torch.ones_like(gates[:, 0])
    for j in range(E):
        g = gates[:, j] if j < E - 1 else torch.ones_like(reach)
        out = out + (g * reach)[:, None] * probs[j]
        reach = reach * (1 - g)
    return out


def _eq9_loop(probs, gates, *, upto=False, final=True, product=True):
    E = probs.shape[0]
    out = torch.zeros_like(probs[0])
    for j in range(E if final else E - 1):
        g = gates[:, j] if j < E - 1 else torch.ones_like(gates[:, 0])
        w = g.clone()
        if product:
            for m in range(j + 1 if upto else j):
                w = w * (1 - (gates[:, m] if m < E - 1 else torch.ones_like(g)))
        out = out + w[:, None] * probs[j]
    return out


def _eq9_swapped(probs, gates):
    c = probs[-1]
    for i in reversed(range(probs.shape[0] - 1)):
        c = gates[:, i : i + 1] * c + (1 - gates[:, i : i + 1]) * probs[i]
    return c


EQ9_WRONG = {
    "product over l ≤ j": lambda p, g: _eq9_loop(p, g, upto=True),
    "dropped the final exit (no g ≡ 1 at L)": lambda p, g: _eq9_loop(p, g, final=False),
    "forgot the product ∏ (1 − g_l)": lambda p, g: _eq9_loop(p, g, product=False),
    "gates swapped (g_i weighs the later exits)": _eq9_swapped,
}

# ---------------------------------------------------------------- 04: a linear probe


def _features(h, bias=True):
    x = h.reshape(len(h), -1).double()
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1) if bias else x


def probe_ok(h_train, y_train, h_test, num_classes, ridge):
    # independent of the reference: sklearn's Ridge (intercept fitted, not penalised)
    from sklearn.linear_model import Ridge

    Y = np.eye(num_classes)[y_train.numpy()]
    X = h_train.reshape(len(h_train), -1).double().numpy()
    model = Ridge(alpha=ridge, fit_intercept=True, solver="cholesky").fit(X, Y)
    return model.predict(h_test.reshape(len(h_test), -1).double().numpy())


def _probe(h_train, y_train, h_test, K, ridge, *, bias=True, pen_bias=False, lam=True, index=False):
    X = _features(h_train, bias)
    Y = y_train.double()[:, None] if index else torch.eye(K, dtype=X.dtype)[y_train]
    P = torch.eye(X.shape[1], dtype=X.dtype)
    if bias and not pen_bias:
        P[-1, -1] = 0
    A = X.T @ X + (ridge * P if lam else 0)
    W = torch.linalg.lstsq(A, X.T @ Y).solution
    return _features(h_test, bias) @ W


PROBE_WRONG = {
    "no bias column": lambda *a: _probe(*a, bias=False),
    "penalised the bias": lambda *a: _probe(*a, pen_bias=True),
    "forgot the ridge term": lambda *a: _probe(*a, lam=False),
    "regressed the class index, not one-hot targets": lambda *a: _probe(*a, index=True),
}

# ---------------------------------------------------------------- 05: FreezeOut, eq. 10


def freezeout_ok(eta0, T, L):
    t = torch.arange(T + 1, dtype=torch.float64)
    rows = []
    for i in range(1, L + 1):
        t_i = i * T / L
        rows.append(torch.where(t < t_i, 0.5 * eta0 * (1 + torch.cos(math.pi * t / t_i)), 0.0))
    return torch.stack(rows)


def _fo(eta0, T, L, t_of, zero=True, pi=math.pi):
    out = np.zeros((L, T + 1))
    for i in range(1, L + 1):
        t_i = t_of(i, T, L)
        for t in range(T + 1):
            if t < t_i or not zero:
                out[i - 1, t] = eta0 / 2 * (1 + math.cos(pi * t / t_i))
    return out


FREEZEOUT_WRONG = {
    "t_i = T for every layer": lambda e, T, L: _fo(e, T, L, lambda i, T, L: T),
    "learning rate not zero after t_i": lambda e, T, L: _fo(
        e, T, L, lambda i, T, L: i * T / L, zero=False
    ),
    "integer division for t_i": lambda e, T, L: _fo(e, T, L, lambda i, T, L: i * T // L),
    "last layer frozen first": lambda e, T, L: _fo(e, T, L, lambda i, T, L: (L - i + 1) * T / L),
    "cos(t / t_i) without π": lambda e, T, L: _fo(e, T, L, lambda i, T, L: i * T / L, pi=1.0),
    "rows are steps, not layers": lambda e, T, L: freezeout_ok(e, T, L).T,
}

STUDENTS = {  # exercise: (correct implementations, {mistake: wrong implementation})
    "gamma": ((gamma_ok, gamma_cumsum_ok), GAMMA_WRONG),
    "exit_outputs": ((outputs_ok,), OUTPUTS_WRONG),
    "percentile": ((percentile_ok,), PERCENTILE_WRONG),
    "eq4": ((eq4_ok,), EQ4_WRONG),
    "sdn_alphas": ((sdn_ok,), SDN_WRONG),
    "eq9": ((eq9_ok,), EQ9_WRONG),
    "linear_probe": ((probe_ok,), PROBE_WRONG),
    "freezeout": ((freezeout_ok,), FREEZEOUT_WRONG),
}
CORRECT = [(n, f) for n, (fs, _) in STUDENTS.items() for f in fs]
WRONG = [(n, m, f) for n, (_, ws) in STUDENTS.items() for m, f in ws.items()]


def test_every_mistake_of_chapters_01_to_05_has_a_student_test():
    for name, (_, wrong) in STUDENTS.items():
        assert set(wrong) == {m.name for m in EXERCISES[name].mistakes}, name


@pytest.mark.parametrize(("name", "fn"), CORRECT, ids=[f"{n}-{f.__name__}" for n, f in CORRECT])
def test_correct_student_code_passes(name, fn, capsys):
    result = getattr(mexit.exercises, f"check_{name}")(fn)
    assert result.status == "correct", capsys.readouterr().out
    assert capsys.readouterr().out.startswith(f"correct: {name}")


@pytest.mark.parametrize(("name", "mistake", "fn"), WRONG, ids=[f"{n}-{m}" for n, m, _ in WRONG])
def test_the_checker_names_the_students_mistake(name, mistake, fn, capsys):
    result = getattr(mexit.exercises, f"check_{name}")(fn)
    out = capsys.readouterr().out
    assert (result.status, result.mistake) == ("mistake", mistake), out
    assert out.startswith(f"✗ {name}: mistake — {mistake}")
