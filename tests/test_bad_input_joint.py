"""Bad input for the joint-training additions of notebook 03 (eq. 8's `fit_alpha`, eq. 9's
`run_gated`, `combined_answer`, `combination_rows` and the `LossRecorder` of Theorem 1): each
raises a ValueError / TypeError naming the argument. Counted by
tests/test_bad_input_modules.py."""

import pytest
import torch

import mexit
from mexit import combined, gradients

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    MODEL = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3).eval()
    SINGLE = mexit.mlp(input_shape=(1, 6), widths=(8, 8), num_classes=3, exits=()).eval()
    X = torch.randn(5, 1, 6)
    Y = torch.tensor([0, 1, 2, 0, 1])
SOFT = combined.CombinedOutput(MODEL, "softmax")

CASES = [
    # fit_alpha
    (combined.fit_alpha, dict(model=MODEL, x=X, y=Y), TypeError, "^model must"),
    (
        combined.fit_alpha,
        dict(model=combined.CombinedOutput(MODEL, "max"), x=X, y=Y),
        ValueError,
        "^model must",
    ),
    (combined.fit_alpha, dict(model=SOFT, x=X.long(), y=Y), TypeError, "^x must"),
    (combined.fit_alpha, dict(model=SOFT, x=X, y=Y[:3]), ValueError, "^y must"),
    (combined.fit_alpha, dict(model=SOFT, x=X, y=Y, steps=0), ValueError, "^steps must"),
    (combined.fit_alpha, dict(model=SOFT, x=X, y=Y, lr=0.0), ValueError, "^lr must"),
    # run_gated (rejected before anything is trained)
    (combined.run_gated, dict(base="net"), TypeError, "^base must"),
    (combined.run_gated, dict(base=SINGLE), ValueError, "^base must"),
    (combined.run_gated, dict(base=MODEL, lam=-1.0), ValueError, "^lam must"),
    (combined.run_gated, dict(base=MODEL, gate_bias=float("nan")), ValueError, "^gate_bias must"),
    (combined.run_gated, dict(base=MODEL, epochs=0), ValueError, "^epochs must"),
    (combined.run_gated, dict(base=MODEL, seed=-1), ValueError, "^seed must"),
    # combined_answer
    (combined.combined_answer, dict(model=MODEL, x=X), TypeError, "^model must"),
    (combined.combined_answer, dict(model="net", x=X), TypeError, "^model must"),
    (combined.combined_answer, dict(model=SOFT, x=X.long()), TypeError, "^x must"),
    # combination_rows
    (
        combined.combination_rows,
        dict(models={}, x=X, y=Y, reference=MODEL),
        TypeError,
        "^models must",
    ),
    (
        combined.combination_rows,
        dict(models={"a": SOFT}, x=X, y=Y, reference="ref"),
        TypeError,
        "^reference must",
    ),
    (
        combined.combination_rows,
        dict(models={"a": SOFT}, x=X, y=Y[:2], reference=MODEL),
        ValueError,
        "^y must",
    ),
    (
        combined.combination_rows,
        dict(models={"a": MODEL}, x=X, y=Y, reference=MODEL),
        TypeError,
        r"^models\b",
    ),
    # LossRecorder
    (gradients.LossRecorder, dict(loss="ce"), TypeError, "^loss must"),
    (gradients.LossRecorder, dict(loss=None), TypeError, "^loss must"),
    (gradients.LossRecorder, dict(loss=3.0), TypeError, "^loss must"),
]


@pytest.mark.parametrize(("fn", "kwargs", "exc", "words"), CASES)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
