"""Exercise of notebook 04 (§5.3.1): a linear probe, in closed form.

Linear separability of an embedding h_i is measured by a linear classifier on the flattened
h_i (`mexit.layerwise.linear_probes` trains one by SGD). Here the probe is the closed-form
ridge regression onto one-hot targets, so a student's probe can be compared number for
number: features φ(h) = [flatten(h), 1], weights W = (ΦᵀΦ + λ D)⁻¹ Φᵀ Y with Y the one-hot
labels and D = diag(1, …, 1, 0) (the bias is not penalised), scores φ(h_test) W.
"""

from __future__ import annotations

import torch

from ._core import Case, Exercise, Mistake


def _phi(h, bias=True):
    flat = h.reshape(h.shape[0], -1).to(torch.float64)
    return torch.cat([flat, torch.ones(len(flat), 1, dtype=flat.dtype)], 1) if bias else flat


def _ridge(phi, targets, ridge, penalise_last=False):
    D = torch.eye(phi.shape[1], dtype=phi.dtype)
    if not penalise_last:
        D[-1, -1] = 0.0
    return torch.linalg.solve(phi.T @ phi + ridge * D, phi.T @ targets)


def probe_reference(h_train, y_train, h_test, num_classes, ridge):
    """The exercise's reference: ridge scores (N_test, K) of a linear probe on h."""
    phi = _phi(h_train)
    Y = torch.nn.functional.one_hot(y_train, num_classes).to(torch.float64)
    return _phi(h_test) @ _ridge(phi, Y, ridge)


def _probe_cases() -> list[Case]:
    g = torch.Generator().manual_seed(401)

    def data(n, shape, K, offset=3.0, dtype=torch.float32):
        y = torch.randint(0, K, (n,), generator=g)
        centers = torch.randn(K, *shape, generator=g) * 1.5
        h = centers[y] + torch.randn(n, *shape, generator=g) + offset
        return h.to(dtype), y

    h1, y1 = data(60, (2, 5), 3)
    t1, _ = data(7, (2, 5), 3)
    h2, y2 = data(40, (6,), 2)
    t2, _ = data(5, (6,), 2)
    h3, y3 = data(50, (3, 4), 4, dtype=torch.float64)
    t3, _ = data(1, (3, 4), 4, dtype=torch.float64)
    h4, y4 = data(80, (8,), 5, offset=-2.0)
    t4, _ = data(6, (8,), 5, offset=-2.0)
    return [
        Case("conv embeddings (N, C, T), 3 classes, λ = 1", (h1, y1, t1, 3, 1.0)),
        Case("flat embeddings, two classes, λ = 5", (h2, y2, t2, 2, 5.0)),
        Case("float64, 4 classes, one test input, λ = 0.5", (h3, y3, t3, 4, 0.5)),
        Case("negative offset, 5 classes, λ = 20", (h4, y4, t4, 5, 20.0)),
    ]


def _no_bias(h_train, y_train, h_test, num_classes, ridge):
    Y = torch.nn.functional.one_hot(y_train, num_classes).to(torch.float64)
    phi = _phi(h_train, bias=False)
    return _phi(h_test, bias=False) @ _ridge(phi, Y, ridge, penalise_last=True)


def _penalised_bias(h_train, y_train, h_test, num_classes, ridge):
    Y = torch.nn.functional.one_hot(y_train, num_classes).to(torch.float64)
    return _phi(h_test) @ _ridge(_phi(h_train), Y, ridge, penalise_last=True)


def _no_ridge(h_train, y_train, h_test, num_classes, ridge):
    Y = torch.nn.functional.one_hot(y_train, num_classes).to(torch.float64)
    return _phi(h_test) @ torch.linalg.pinv(_phi(h_train)) @ Y


def _label_index(h_train, y_train, h_test, num_classes, ridge):
    target = y_train.to(torch.float64)[:, None]
    return _phi(h_test) @ _ridge(_phi(h_train), target, ridge)


PROBE = Exercise(
    "linear_probe",
    title="probe_scores(h_train, y_train, h_test, num_classes, ridge), a closed-form linear probe",
    params=("h_train", "y_train", "h_test", "num_classes", "ridge"),
    reference=probe_reference,
    cases=_probe_cases,
    atol=1e-4,
    rtol=1e-4,
    success="your scores equal the ridge probe's (bias unpenalised, one-hot targets)",
    mistakes=[
        Mistake(
            "no bias column",
            _no_bias,
            "a linear probe is affine: append a column of ones to the flattened features "
            "(embeddings after ReLU are not centred).",
        ),
        Mistake(
            "penalised the bias",
            _penalised_bias,
            "the ridge term λ‖W‖² leaves the bias out: D = diag(1, …, 1, 0), so shifting the "
            "features does not change the probe's accuracy.",
        ),
        Mistake(
            "forgot the ridge term",
            _no_ridge,
            "W = (ΦᵀΦ + λ D)⁻¹ ΦᵀY: without λ D you fitted plain least squares.",
        ),
        Mistake(
            "regressed the class index, not one-hot targets",
            _label_index,
            "a class index is not a quantity (class 3 is not 'more' than class 1): regress "
            "one column per class, Y = one_hot(y, K), and predict the argmax of the scores.",
        ),
    ],
)
check_linear_probe = PROBE.checker_fn
