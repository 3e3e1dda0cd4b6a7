"""Joint training (survey §5.1, eq. 6-7): the α schemes of the literature, and cached JT runs.

Eq. 6 minimises L + Σ_{i<L} α_i L_i; the schemes differ only in the weights α_i:

==============  ==========================================  ===========================
name            α_i for the early exits k = 1..E-1           from
==============  ==========================================  ===========================
"uniform"       1                                            deeply supervised nets
"inception"     0.3                                          Szegedy et al. (Inception)
"sdn"           k / E, rising linearly with depth            Kaya et al. (SDN)
"branchynet"    (E - k) / (E - 1), first exit weighted most  Teerapittayanon et al.
"final_only"    0: the plain network, heads left untrained   eq. 2
==============  ==========================================  ===========================
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._checks import check_float, check_int
from .gradients import GradientNormRecorder, LossRecorder
from .models import MultiExitNet
from .runs import build_for, cached_fit, fit_run, run_budget, run_data
from .training import joint_loss

SCHEMES = ("uniform", "inception", "sdn", "branchynet", "final_only")


def alpha_scheme(name: str, n_exits: int) -> tuple[float, ...]:
    """The weights α_1..α_{E-1} of eq. 6 for a network with `n_exits` exits E (final included).

    SDN's published recipe also ramps the weights up over the epochs; here the ramp is over
    depth only, as the survey summarises it."""
    return _scheme_alphas(name, n_exits, "name")


def _scheme_alphas(name, n_exits: int, argument: str) -> tuple[float, ...]:
    if not isinstance(name, str):
        raise TypeError(f"{argument} must be a scheme name (str), got {type(name).__name__}")
    if name not in SCHEMES:
        raise ValueError(f"{argument} must be one of {SCHEMES}, got {name!r}")
    E = check_int(n_exits, "n_exits", low=1)
    early = range(1, E)
    if name == "uniform":
        return tuple(1.0 for _ in early)
    if name == "inception":
        return tuple(0.3 for _ in early)
    if name == "sdn":
        return tuple(k / E for k in early)
    if name == "branchynet":
        return tuple((E - k) / (E - 1) for k in early)
    return tuple(0.0 for _ in early)


def check_alphas(alphas, n_exits: int, argument: str = "alphas") -> tuple[float, ...]:
    """α_1..α_{E-1}: a scheme name or one non-negative number per early exit (messages name
    the caller's `argument`)."""
    E = check_int(n_exits, "n_exits", low=1)
    if isinstance(alphas, str):
        return _scheme_alphas(alphas, E, argument)
    if isinstance(alphas, torch.Tensor):
        alphas = alphas.tolist() if alphas.ndim == 1 else alphas
    if not isinstance(alphas, Sequence):
        raise TypeError(
            f"{argument} must be a scheme name or a sequence of floats, got {type(alphas).__name__}"
        )
    if len(alphas) != E - 1:
        raise ValueError(
            f"{argument} must hold one weight per early exit ({E - 1}), got {len(alphas)}"
        )
    return tuple(
        check_float(
            a.item() if isinstance(a, torch.Tensor) and a.ndim == 0 else a,
            f"{argument}[{i}]",
            low=0.0,
        )
        for i, a in enumerate(alphas)
    )


def scheme_loss(alphas, n_exits: int):
    """Eq. 6 as a `fit` loss for a scheme name or explicit α, checked against `n_exits`."""
    return joint_loss(check_alphas(alphas, n_exits))


def run_scheme(
    scheme,
    *,
    model: str = "mnist1d_cnn",
    model_kwargs: dict | None = None,
    dataset: str = "mnist1d",
    epochs: int = 5,
    lr: float = 1e-2,
    batch_size: int = 128,
    optimizer: str = "adam",
    record_gradients: bool = False,
    seed: int = 0,
    progress: bool = True,
    root=None,
    retrain: bool = False,
) -> MultiExitNet:
    """Train a fresh `model` on `dataset` with the joint loss of `scheme` (a name or the α
    themselves), once; later calls load it from `data/checkpoints/`.

    The returned model carries `.history` (a `History`), `.alphas` and, when
    `record_gradients`, `.gradient_norms`: a (steps, L) tensor of `block_gradient_norms`, and
    `.step_losses`: a (steps, E) tensor of every exit's loss on each training batch.
    `seed` seeds the initialisation and the data order; it is in the cache's file name."""
    model_kwargs = dict(model_kwargs or {})
    data = run_data(dataset)
    probe = build_for(model, model_kwargs, data)
    alphas = check_alphas(scheme, len(probe.exits), "scheme")
    config = dict(
        scheme=scheme if isinstance(scheme, str) else "custom",
        alphas=list(alphas),
        model=model,
        model_kwargs=model_kwargs,
        dataset=dataset,
        **run_budget(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed),
        optimizer=optimizer,
        record_gradients=bool(record_gradients),
        version=2,
    )

    def train(net):
        recorder = GradientNormRecorder() if record_gradients else None
        loss = joint_loss(alphas)
        if record_gradients:
            loss = LossRecorder(loss)
        h = fit_run(
            net,
            data,
            config,
            loss=loss,
            optimizer=optimizer,
            on_step=recorder,
            progress=progress,
            desc=f"JT {config['scheme']}",
        )
        if recorder is None:
            return h
        return dict(h.as_dict(), gradient_norms=recorder.rows, step_losses=loss.rows)

    def build():
        return build_for(model, model_kwargs, data)

    name = f"jt_{model}_{config['scheme']}"
    net, extras = cached_fit(name, config, build, train, root=root, retrain=retrain)
    net.alphas = alphas
    if record_gradients:
        net.gradient_norms = torch.tensor(extras["gradient_norms"])
        net.step_losses = torch.tensor(extras["step_losses"])
    return net
