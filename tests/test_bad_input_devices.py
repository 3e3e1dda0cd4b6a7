"""Bad input gets a clear error in `mexit.devices` and in the `device=` / `distributed=`
arguments (issue 16): CASES are counted by tests/test_bad_input_modules.py's meta-test."""

import pytest
import torch

import mexit
from mexit import devices

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    MODEL = mexit.mlp(input_shape=(1, 6), widths=(8, 8), num_classes=3).eval()
    X = torch.randn(4, 1, 6)
    Y = torch.tensor([0, 1, 2, 0])


def on_device(**kwargs):  # named as the callable it enters (the meta-test counts by name)
    with devices.on_device(**kwargs):
        pass


NOWHERE = "cuda" if not torch.cuda.is_available() else "cuda:99"

CASES = [
    (devices.check_device, dict(device=0), TypeError, r"^device must"),
    (devices.check_device, dict(device=True), TypeError, r"^device must"),
    (devices.check_device, dict(device="gpu0"), ValueError, r"^device must"),
    (devices.check_device, dict(device=NOWHERE), ValueError, r"^device must"),
    (on_device, dict(model="net", device="cpu"), TypeError, r"^model must"),  # fmt: skip
    (on_device, dict(model=MODEL, device="gpu"), ValueError, r"^device must"),  # fmt: skip
    (on_device, dict(model=MODEL, device=1.0), TypeError, r"^device must"),  # fmt: skip
    (
        devices.call_on,
        dict(fn=mexit.exit_probs, model="net", x=X, device="cpu"),
        TypeError,
        r"^model must",
    ),  # fmt: skip
    (
        devices.call_on,
        dict(fn=mexit.exit_probs, model=MODEL, x=X, device="tpu"),
        ValueError,
        r"^device must",
    ),  # fmt: skip
    (
        devices.call_on,
        dict(fn=mexit.exit_probs, model=MODEL, x=X, device=NOWHERE),
        ValueError,
        r"^device must",
    ),  # fmt: skip
    (mexit.fit, dict(model=MODEL, x_train=X, y_train=Y, device="tpu"), ValueError, r"^device"),
    (
        mexit.fit,
        dict(model=MODEL, x_train=X, y_train=Y, distributed=1),
        TypeError,
        r"^distributed must",
    ),  # fmt: skip
    (
        mexit.fit,
        dict(model=MODEL, x_train=X, y_train=Y, distributed=True),
        ValueError,
        r"^distributed=True needs",
    ),  # fmt: skip
    (mexit.exit_probs, dict(model=MODEL, x=X, device=NOWHERE), ValueError, r"^device must"),
    (
        mexit.early_exit_predict,
        dict(model=MODEL, x=X, thresholds=0.5, device=2),
        TypeError,
        r"^device must",
    ),  # fmt: skip
    (
        mexit.measure_costs,
        dict(model=MODEL, input_shape=(1, 6), device="gpu"),
        ValueError,
        r"^device must",
    ),  # fmt: skip
    (mexit.evaluate, dict(model=MODEL, x=X, y=Y, device="gpu"), ValueError, r"^device must"),
    (mexit.pretrained, dict(device="gpu"), ValueError, r"^device must"),
]


@pytest.mark.parametrize(("fn", "kwargs", "exc", "words"), CASES)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
