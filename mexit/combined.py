"""Joint training on a combined output (survey §5.2, eq. 8 and the gated eq. 9).

Instead of summing the exits' losses, merge their predictions and train on the merged one:

    ŷ = α f(x) + Σ_{i<L} α_i c_i(x)                                             (8)

with the weights learned with θ: free, constrained positive, or a softmax (a convex
combination); or a fixed max- or average-pooling of the exits (DDNN). Every c_i(x) enters as
log-probabilities, log softmax(c_i(x)), so exits whose logits have different scales are
comparable: average pooling is then the normalised geometric mean of the exits'
distributions, max pooling takes for every class its most confident exit.

`fit_alpha` learns eq. 8's weights alone on a frozen network (θ untouched, so the exits keep
their accuracy); `run_combined` fine-tunes θ and α together. `run_gated` trains eq. 9's
gated combination (`mexit.gates.GatedExits`) from gates that start half open, and
`combination_rows` compares every combined answer with a reference network's final exit.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_float, check_int, check_labels, check_tensor
from .checkpoints import state_fingerprint
from .gates import GatedExits, OutputGate, combine_recursive, gated_outputs, train_gated
from .models import MultiExitNet, device_and_dtype, eval_mode
from .runs import cached_fit, check_fits, fit_run, run_budget, run_data

MODES = ("free", "positive", "softmax", "max", "average")
LEARNED = ("free", "positive", "softmax")


class CombinedOutput(MultiExitNet):
    """A multi-exit network whose answer is eq. 8's combination ŷ of all its exits.

    Built on an existing `MultiExitNet` (blocks and heads shared, not copied), it is itself a
    MultiExitNet: `forward` returns every exit's logits, so `fit`, `evaluate` and `exit_probs`
    work unchanged; `combine(outputs)` gives ŷ, `loss` trains on it (pass it to `fit`).
    `alpha` holds the weights in exit order (α_1..α_{L-1}, then α of the final exit)."""

    def __init__(self, model: MultiExitNet, mode: str = "softmax"):
        if not isinstance(model, MultiExitNet):
            raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        heads = {int(k): h for k, h in model.heads.items()}
        super().__init__(list(model.blocks), heads, exits=model.exits[:-1])
        self.mode = mode
        E = len(self.exits)
        like = dict(zip(("device", "dtype"), device_and_dtype(model)))  # the model's
        if mode == "free":
            init = torch.full((E,), 1.0 / E, **like)
        elif mode == "positive":  # softplus(raw) = 1/E
            init = torch.full((E,), math.log(math.expm1(1.0 / E)), **like)
        else:
            init = torch.zeros(E, **like)
        self.raw_alpha = nn.Parameter(init) if mode in LEARNED else None

    @property
    def alpha(self) -> torch.Tensor | None:
        """The effective weights (E,) of eq. 8 in exit order; None for max pooling."""
        if self.mode == "free":
            return self.raw_alpha
        if self.mode == "positive":
            return F.softplus(self.raw_alpha)
        if self.mode == "softmax":
            return self.raw_alpha.softmax(0)
        if self.mode == "average":
            device, dtype = device_and_dtype(self)
            return torch.full((len(self.exits),), 1.0 / len(self.exits), device=device, dtype=dtype)
        return None

    def combine(self, outputs) -> torch.Tensor:
        """ŷ (N, K) from the exits' logits (a list of E tensors (N, K), as `forward` returns)."""
        if not isinstance(outputs, (list, tuple)) or len(outputs) != len(self.exits):
            raise ValueError(
                f"outputs must be a list of {len(self.exits)} logits tensors (one per exit), "
                f"got {type(outputs).__name__} of length {len(outputs)}"
            )
        logp = torch.stack([F.log_softmax(o, -1) for o in outputs])  # (E, N, K)
        if self.mode == "max":
            return logp.max(0).values
        return (self.alpha.to(logp.dtype)[:, None, None] * logp).sum(0)

    def combined_logits(self, x: torch.Tensor) -> torch.Tensor:
        """ŷ for a batch x."""
        check_tensor(x, "x", dtype_kind="float")
        return self.combine(self(x))

    def loss(self, outputs, y: torch.Tensor):
        """For `fit`: (cross-entropy of ŷ, per-exit cross-entropies for the history)."""
        per_exit = torch.stack([F.cross_entropy(o, y) for o in outputs])
        return F.cross_entropy(self.combine(outputs), y), per_exit

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode!r}"


@torch.no_grad()
def combined_probs(model: CombinedOutput, x: torch.Tensor, batch_size: int = 1000):
    """softmax(ŷ) (N, K) of a CombinedOutput on x, in eval mode."""
    if not isinstance(model, CombinedOutput):
        raise TypeError(f"model must be a CombinedOutput, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    batch_size = check_int(batch_size, "batch_size", low=1)
    with eval_mode(model):
        chunks = [
            model.combined_logits(x[s : s + batch_size]).softmax(-1)
            for s in range(0, x.shape[0], batch_size)
        ]
    return torch.cat(chunks)


def run_combined(
    base: MultiExitNet,
    mode: str,
    *,
    dataset: str = "mnist1d",
    epochs: int = 2,
    lr: float = 3e-3,
    alpha_lr: float = 0.1,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
    root=None,
    retrain: bool = False,
) -> CombinedOutput:
    """Start from a copy of `base` (e.g. a jointly trained network) and train θ and α together
    on the combined output ŷ for `epochs` (α with its own, larger learning rate `alpha_lr`).
    Cached (the seed in the config and the file name): a later call with the same base and
    settings loads the result. The returned model carries `.history`."""
    if not isinstance(base, MultiExitNet):
        raise TypeError(f"base must be a MultiExitNet, got {type(base).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    config = dict(
        base=state_fingerprint(base),
        mode=mode,
        dataset=dataset,
        **run_budget(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed),
        alpha_lr=check_float(alpha_lr, "alpha_lr", low=0.0),
        version=1,
    )

    data = run_data(dataset)
    check_fits(base, data, "base")

    def train(net):
        theta = [p for n, p in net.named_parameters() if n != "raw_alpha"]
        groups = [{"params": theta, "lr": lr}]  # fit's one-cycle peaks at each group's lr
        if net.raw_alpha is not None:
            groups.append({"params": [net.raw_alpha], "lr": alpha_lr})
        return fit_run(
            net,
            data,
            config,
            loss=net.loss,
            parameters=groups,
            progress=progress,
            desc=f"combined ({mode})",
        )

    def build():
        return CombinedOutput(copy.deepcopy(base), mode)

    net, _ = cached_fit(f"combined_{mode}", config, build, train, root=root, retrain=retrain)
    return net


def fit_alpha(
    model: CombinedOutput,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int = 300,
    lr: float = 0.05,
) -> list[float]:
    """Learn eq. 8's weights α alone, θ frozen: the exits' log-probabilities on (x, y) are
    computed once (eval mode), then α is fitted by full-batch Adam on the cross-entropy of ŷ
    for `steps` steps. The exits are untouched, so whatever changes is the combination's
    doing. Fit on held-out data (e.g. the validation split) and evaluate on the test split.
    Returns the loss after every step; `model.alpha` holds the fitted weights."""
    if not isinstance(model, CombinedOutput):
        raise TypeError(f"model must be a CombinedOutput, got {type(model).__name__}")
    if model.mode not in LEARNED:
        raise ValueError(f"model must have learned weights (mode in {LEARNED}), got {model.mode!r}")
    check_tensor(x, "x", dtype_kind="float")
    check_labels(y, x.shape[0], "y")
    steps = check_int(steps, "steps", low=1)
    lr = check_float(lr, "lr", low=0.0)
    if lr == 0:
        raise ValueError("lr must be positive, got 0.0")
    with eval_mode(model):
        with torch.no_grad():
            logp = [F.log_softmax(o, -1) for o in model(x)]
        opt = torch.optim.Adam([model.raw_alpha], lr=lr)
        losses = []
        for _ in range(steps):
            loss = F.cross_entropy(model.combine(logp), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    return losses


def run_gated(
    base: MultiExitNet,
    *,
    lam: float = 0.0,
    gate_bias: float = 0.0,
    alpha: float = 1.0,
    dataset: str = "mnist1d",
    epochs: int = 2,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
    root=None,
    retrain: bool = False,
) -> GatedExits:
    """Eq. 9's gated combination on a copy of `base`: an `OutputGate` per early exit, its bias
    `gate_bias` (0: every gate starts half open, g = 0.5; −2: nearly closed, g ≈ 0.12), then
    θ and the gates fine-tuned together for `epochs` on −log ĉ_1[y] + α Σ_i L_i + λ · expected
    cost (`mexit.gates.train_gated`; λ = 0: the task alone). Cached (seed in the config and
    the file name). The returned model carries `.history`."""
    if not isinstance(base, MultiExitNet):
        raise TypeError(f"base must be a MultiExitNet, got {type(base).__name__}")
    if len(base.exits) < 2:
        raise ValueError(f"base must have at least one early exit to gate, got exits {base.exits}")
    config = dict(
        base=state_fingerprint(base),
        lam=check_float(lam, "lam", low=0.0),
        gate_bias=check_float(gate_bias, "gate_bias", low=-20.0, high=20.0),
        alpha=check_float(alpha, "alpha", low=0.0),
        dataset=dataset,
        **run_budget(epochs=epochs, lr=lr, seed=seed),
        version=1,
    )
    data = run_data(dataset)
    check_fits(base, data, "base")

    def build():
        net = copy.deepcopy(base)
        gates = {i: OutputGate(bias=gate_bias) for i in net.exits[:-1]}
        return GatedExits(net, data.input_shape, gates=gates)

    def train(net):
        return train_gated(net, data, lam, alpha=alpha, epochs=epochs, lr=lr, progress=progress)

    net, _ = cached_fit("gated_eq9", config, build, train, root=root, retrain=retrain)
    return net


def combined_answer(model: MultiExitNet, x: torch.Tensor) -> tuple[torch.Tensor, list | None]:
    """(answer probabilities (N, K), weights) of a combined network on x: softmax(ŷ) and
    eq. 8's α for a `CombinedOutput`, eq. 9's ĉ_1 and the mean gate per early exit for a
    `GatedExits`."""
    if isinstance(model, CombinedOutput):
        alpha = model.alpha
        return combined_probs(model, x), None if alpha is None else alpha.tolist()
    if isinstance(model, GatedExits):
        probs, g = gated_outputs(model, x)
        return combine_recursive(probs, g), g.mean(0).tolist()
    raise TypeError(f"model must be a CombinedOutput or a GatedExits, got {type(model).__name__}")


@torch.no_grad()
def combination_rows(models: dict, x: torch.Tensor, y: torch.Tensor, *, reference: MultiExitNet):
    """One row per combined network (`models` = {label: CombinedOutput or GatedExits}):
    the combined answer's accuracy, its own final exit's accuracy, both minus the
    `reference` network's final exit accuracy (points), the fraction of inputs on which the
    combined answer differs from its own final exit, and the weights (α or mean gates).
    Accuracies in %. Returns a list of dicts (a table's rows)."""
    if not isinstance(models, dict) or not models:
        raise TypeError("models must be a non-empty dict {label: CombinedOutput or GatedExits}")
    if not isinstance(reference, MultiExitNet):
        raise TypeError(f"reference must be a MultiExitNet, got {type(reference).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    check_labels(y, x.shape[0], "y")
    with eval_mode(reference):
        ref_final = 100 * float((reference(x)[-1].argmax(-1) == y).float().mean())
    for label, net in models.items():
        if not isinstance(net, (CombinedOutput, GatedExits)):
            raise TypeError(
                f"models[{label!r}] must be a CombinedOutput or a GatedExits, "
                f"got {type(net).__name__}"
            )
    rows = []
    for label, net in models.items():
        answer, weights = combined_answer(net, x)
        with eval_mode(net):
            own_final = net(x)[-1].argmax(-1)
        acc = 100 * float((answer.argmax(-1) == y).float().mean())
        final = 100 * float((own_final == y).float().mean())
        rows.append(
            {
                "output": label,
                "combined accuracy (%)": acc,
                "its own final exit (%)": final,
                "combined − reference final (points)": acc - ref_final,
                "own final − reference final (points)": final - ref_final,
                "answer ≠ own final exit (%)": 100
                * float((answer.argmax(-1) != own_final).float().mean()),
                "weights (exits 1..L) or mean gates": None
                if weights is None
                else [round(w, 2) for w in weights],
            }
        )
    return rows
