"""Bad input gets a clear error in what issue 10 added to layer-wise, separate and FreezeOut
training (chapters 04 and 05): FLOP counts of training runs, FreezeOut's phase steps, the
heads table. Same form as tests/test_bad_input_modules.py, whose meta-test counts these CASES."""

import pytest
import torch

import mexit
from mexit import freezeout, layerwise, separate

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    MODEL = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3).eval()
    X = torch.randn(5, 1, 6)
    Y = torch.tensor([0, 1, 2, 0, 1])
    LONG_X = torch.zeros(5, 1, 6, dtype=torch.long)

CASES = [
    # ---------------------------------------------------------------- freezeout
    (freezeout.phase_step, dict(model="net", x=X, y=Y, frozen=0), TypeError, "^model must"),
    (freezeout.phase_step, dict(model=MODEL, x=LONG_X, y=Y, frozen=0), TypeError, "^x must"),
    (freezeout.phase_step, dict(model=MODEL, x=X, y=Y[:3], frozen=0), ValueError, "^y must"),
    (freezeout.phase_step, dict(model=MODEL, x=X, y=Y, frozen=-1), ValueError, "^frozen must"),
    (
        freezeout.phase_step,
        dict(model=MODEL, x=X, y=Y, frozen=0, alphas=[1.0]),
        ValueError,
        "^alphas must",
    ),
    (
        freezeout.phase_step_flops,
        dict(model=torch.nn.Linear(2, 2), x=X, y=Y),
        TypeError,
        "^model must",
    ),
    (freezeout.phase_step_flops, dict(model=MODEL, x=LONG_X, y=Y), TypeError, "^x must"),
    (freezeout.phase_step_flops, dict(model=MODEL, x=X, y=Y.float()), TypeError, "^y must"),
    (freezeout.phase_steps, dict(T=0, L=3), ValueError, "^T must"),
    (freezeout.phase_steps, dict(T=10, L=0), ValueError, "^L must"),
    (freezeout.phase_steps, dict(T=10, L=3, freeze="yes"), TypeError, "^freeze must"),
    (freezeout.phase_steps, dict(T=2, L=3), ValueError, "^T must"),
    (freezeout.training_flops, dict(model="net", x=X, y=Y, T=10), TypeError, "^model must"),
    (freezeout.training_flops, dict(model=MODEL, x=X, y=Y, T=0), ValueError, "^T must"),
    (freezeout.training_flops, dict(model=MODEL, x=X, y=Y, T=1.5), TypeError, "^T must"),
    (freezeout.training_flops, dict(model=MODEL, x=X, y=Y[:2], T=10), ValueError, "^y must"),
    # ---------------------------------------------------------------- layerwise
    (
        layerwise.training_flops,
        dict(model="net", x=X, y=Y, epochs=1, n_train=10),
        TypeError,
        "^model must",
    ),
    (
        layerwise.training_flops,
        dict(model=MODEL, x=X, y=Y, epochs=0, n_train=10),
        ValueError,
        "^epochs must",
    ),
    (
        layerwise.training_flops,
        dict(model=MODEL, x=X, y=Y, epochs=1, n_train=0),
        ValueError,
        "^n_train must",
    ),
    (
        layerwise.training_flops,
        dict(model=MODEL, x=X, y=Y, epochs=1, n_train=10, scheme="separate"),
        ValueError,
        "^scheme must",
    ),
    (
        layerwise.training_flops,
        dict(model=MODEL, x=LONG_X, y=Y, epochs=1, n_train=10),
        TypeError,
        "^x must",
    ),
    # ---------------------------------------------------------------- separate
    (
        separate.head_row,
        dict(model="net", x_test=X, y_test=Y, input_shape=(1, 6)),
        TypeError,
        "^model must",
    ),
    (
        separate.head_row,
        dict(model=MODEL, x_test=LONG_X, y_test=Y, input_shape=(1, 6)),
        TypeError,
        "^x_test must",
    ),
    (
        separate.head_row,
        dict(model=MODEL, x_test=X, y_test=Y[:2], input_shape=(1, 6)),
        ValueError,
        "^y_test must",
    ),
    (
        separate.head_row,
        dict(model=MODEL, x_test=X, y_test=Y, input_shape=6),
        TypeError,
        "^input_shape must",
    ),
    (
        separate.head_table,
        dict(models={}, x_test=X, y_test=Y, input_shape=(1, 6)),
        TypeError,
        "^models must",
    ),
    (
        separate.head_table,
        dict(models=[MODEL], x_test=X, y_test=Y, input_shape=(1, 6)),
        TypeError,
        "^models must",
    ),
    (
        separate.head_table,
        dict(models={"a": MODEL}, x_test=X, y_test=Y, input_shape=(1, 6), references=[MODEL]),
        TypeError,
        "^references must",
    ),
    (
        separate.head_table,
        dict(models={"a": "net"}, x_test=X, y_test=Y, input_shape=(1, 6)),
        TypeError,
        r"^models\b",
    ),
]


@pytest.mark.parametrize(("fn", "kwargs", "exc", "words"), CASES)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
