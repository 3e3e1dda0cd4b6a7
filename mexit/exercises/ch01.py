"""Exercises of notebook 01 (§3, eq. 1-3): the exits' outputs, and Γ_j."""

from __future__ import annotations

import torch

from ..cost import cumulative_costs
from ..models import eval_mode, mlp
from ._core import Case, Exercise, Mistake

# ------------------------------------------------------------------ Γ_j, cumulative cost


def _gamma_cases() -> list[Case]:
    g = torch.Generator().manual_seed(101)

    def ints(n, high):
        return [float(v) for v in torch.randint(1, high, (n,), generator=g)]

    f4, c4 = ints(4, 100), ints(4, 10)
    f5, c5 = ints(5, 100), ints(5, 10)
    return [
        Case("4 blocks, an exit after each", (f4, dict(enumerate(c4, 1)), (1, 2, 3, 4))),
        Case(
            "5 blocks, exits (2, 4, 5), heads also at blocks 1 and 3 (not exits)",
            (f5, dict(enumerate(c5, 1)), (2, 4, 5)),
        ),
        Case("the plain network: one exit, L = 3", ([10.0, 20.0, 30.0], {3: 5.0}, (3,))),
        Case(
            "float64 tensor of block costs, fractional FLOPs",
            (
                torch.tensor([1.5, 2.25, 0.5], dtype=torch.float64),
                {1: 0.1, 2: 0.2, 3: 0.4},
                (1, 2, 3),
            ),
        ),
        Case("two blocks", ([7.0, 3.0], {1: 2.0, 2: 1.0}, (1, 2))),
    ]


def _gamma_reference(gamma_f, gamma_c, exits):
    return cumulative_costs(gamma_f, gamma_c, exits)


def _blocks(gamma_f, j, shift=0):
    return float(sum(float(v) for v in list(gamma_f)[: j - shift]))


def _no_heads(gamma_f, gamma_c, exits):
    return [_blocks(gamma_f, j) for j in exits]


def _own_head_only(gamma_f, gamma_c, exits):
    return [_blocks(gamma_f, j) + gamma_c[j] for j in exits]


def _marginal(gamma_f, gamma_c, exits):
    out, prev = [], 0
    for j in exits:
        out.append(_blocks(gamma_f, j) - _blocks(gamma_f, prev) + gamma_c[j])
        prev = j
    return out


def _off_by_one(gamma_f, gamma_c, exits):
    return [_blocks(gamma_f, j, shift=1) + sum(gamma_c[k] for k in exits if k <= j) for j in exits]


def _every_head(gamma_f, gamma_c, exits):
    return [_blocks(gamma_f, j) + sum(c for k, c in gamma_c.items() if k <= j) for j in exits]


GAMMA = Exercise(
    "gamma",
    title="Gamma(gamma_f, gamma_c, exits), the cumulative cost Γ_j of answering at each exit",
    params=("gamma_f", "gamma_c", "exits"),
    reference=_gamma_reference,
    cases=_gamma_cases,
    success="your Γ_j equal mexit.cumulative_costs",
    mistakes=[
        Mistake(
            "forgot the heads",
            _no_heads,
            "Γ_j = Σ_{k≤j} γ_{f_k} + Σ_{k≤j, k∈C} γ_{c_k}: an input that answers at exit j "
            "also paid for every head it passed (and for head j itself).",
        ),
        Mistake(
            "only the exit's own head",
            _own_head_only,
            "the heads of the earlier exits were evaluated too (the input did not leave "
            "there): add γ_{c_k} for every exit k ≤ j, not only γ_{c_j}.",
        ),
        Mistake(
            "marginal instead of cumulative costs",
            _marginal,
            "you returned ε_j, the cost from exit j−1 to exit j; Γ_j is the total cost from "
            "the input to exit j (the running sum of the ε_j).",
        ),
        Mistake(
            "off by one block",
            _off_by_one,
            "blocks are numbered 1..L: exit j runs blocks f_1..f_j, i.e. gamma_f[:j] in "
            "Python (gamma_f[:j-1] drops block j).",
        ),
        Mistake(
            "counted heads that are not exits",
            _every_head,
            "gamma_c may hold heads at blocks outside the exit set: only the heads of `exits` "
            "are evaluated (k ∈ C in the sum).",
        ),
    ],
)
check_gamma = GAMMA.checker_fn


# ------------------------------------------------------------------ eq. 1 and 3: the outputs


def _net(exits=None, dtype=torch.float32, classes=3, seed=0):
    torch.manual_seed(seed)
    net = mlp(input_shape=(8,), widths=(8, 8, 8, 8), num_classes=classes)
    if exits is not None:
        net = net.with_exits(exits)
    return net.to(dtype).eval()


def _outputs_cases() -> list[Case]:
    g = torch.Generator().manual_seed(102)
    return [
        Case(
            "4 blocks, an exit after each, a batch of 5",
            (_net(seed=1), torch.randn(5, 8, generator=g)),
        ),
        Case(
            "exits (2, 4) only: heads at 1 and 3 exist but are not exits",
            (_net(exits=(2,), seed=2), torch.randn(5, 8, generator=g)),
        ),
        Case(
            "float64 model and input, a batch of 1",
            (
                _net(dtype=torch.float64, seed=3),
                torch.randn(1, 8, generator=g, dtype=torch.float64),
            ),
        ),
        Case("two classes", (_net(classes=2, seed=4), torch.randn(4, 8, generator=g))),
    ]


def _outputs_reference(model, x):
    with eval_mode(model), torch.no_grad():
        return torch.stack(model(x))


def _head_before_block(model, x):
    outs, h = [], x
    for i, block in enumerate(model.blocks, 1):
        if i in model.exits:
            outs.append(model.heads[str(i)](h))
        h = block(h)
    return outs


def _restart_from_x(model, x):
    return [model.heads[str(i)](model.blocks[i - 1](x)) for i in model.exits]


def _final_embedding(model, x):
    h = x
    for block in model.blocks:
        h = block(h)
    return [model.heads[str(i)](h) for i in model.exits]


def _every_head_out(model, x):
    outs, h = [], x
    for i, block in enumerate(model.blocks, 1):
        h = block(h)
        if str(i) in model.heads:
            outs.append(model.heads[str(i)](h))
    return outs


OUTPUTS = Exercise(
    "exit_outputs",
    title="exit_outputs(model, x), the logits c_i(h_i) of every exit (eq. 1 and 3)",
    params=("model", "x"),
    reference=_outputs_reference,
    cases=_outputs_cases,
    success="your outputs equal the model's own forward pass, exit by exit",
    keep_dtype=False,
    mistakes=[
        Mistake(
            "head reads the block's input h_{i-1}",
            _head_before_block,
            "c_i reads h_i = f_i(h_{i-1}), the output of block i: run the block first, then "
            "its head.",
        ),
        Mistake(
            "every block restarted from x",
            _restart_from_x,
            "the blocks are composed (eq. 1): h_i = f_i(h_{i-1}), not f_i(x). Carry h from "
            "one block to the next.",
        ),
        Mistake(
            "every head reads the final embedding",
            _final_embedding,
            "exit i answers from h_i, computed after i blocks (eq. 3); reading h_L makes "
            "every exit as expensive as the full network.",
        ),
        Mistake(
            "used every head, not the exit set",
            _every_head_out,
            "the exits are model.exits (the exit set C, then L); a head that exists but is "
            "not in C gives no output.",
        ),
    ],
)
check_exit_outputs = OUTPUTS.checker_fn
