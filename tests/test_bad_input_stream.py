"""Bad input gets a clear error in the streaming data path (issue 16): load_torchvision's
stream arguments, StreamBundle, write_synthetic_cifar10 and fit on a StreamBundle."""

import pytest
import torch

import mexit
from mexit.data import StreamBundle, load_torchvision, write_synthetic_cifar10

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    X = torch.rand(6, 3, 4, 4)
    Y = torch.tensor([0, 1, 0, 1, 0, 1])
    MODEL = mexit.mlp(input_shape=(3, 4, 4), widths=(8, 8), num_classes=2)
DATASET = torch.utils.data.TensorDataset(X, Y)
STREAM = StreamBundle("tiny", DATASET, DATASET, DATASET, ("a", "b"), (3, 4, 4))


def loader(**kwargs):  # named as the method it calls (the meta-test counts by name)
    return STREAM.loader(**kwargs)


CASES = [
    (load_torchvision, dict(name="cifar10", stream="yes"), TypeError, r"^stream must"),
    (
        load_torchvision,
        dict(name="cifar10", stream=True, num_workers=-1),
        ValueError,
        r"^num_workers must",
    ),  # fmt: skip
    (
        load_torchvision,
        dict(name="cifar10", stream=True, batch_size=0),
        ValueError,
        r"^batch_size must",
    ),  # fmt: skip
    (
        load_torchvision,
        dict(name="cifar10", stream=True, pin_memory="on"),
        TypeError,
        r"^pin_memory must",
    ),  # fmt: skip
    (load_torchvision, dict(name="cifar10", num_workers=2), ValueError, r"^num_workers and"),
    (write_synthetic_cifar10, dict(root=3), TypeError, r"^root must"),
    (write_synthetic_cifar10, dict(root="/tmp/never", train=7), ValueError, r"^train must"),
    (write_synthetic_cifar10, dict(root="/tmp/never", test=0), ValueError, r"^test must"),
    (write_synthetic_cifar10, dict(root="/tmp/never", seed=-1), ValueError, r"^seed must"),
    (loader, dict(split="validation"), ValueError, r"^split must"),
    (loader, dict(split="val", batch_size=0), ValueError, r"^batch_size must"),
    (loader, dict(split="val", batch_size=2.5), TypeError, r"^batch_size must"),
    (mexit.fit, dict(model=MODEL, x_train=STREAM, y_train=Y), ValueError, r"^y_train must be"),
    (mexit.fit, dict(model=MODEL, x_train=STREAM, x_val=X), ValueError, r"^x_val must be"),
    (mexit.evaluate, dict(model=MODEL, x=STREAM, y=Y), ValueError, r"^y must be None"),
]


@pytest.mark.parametrize(("fn", "kwargs", "exc", "words"), CASES)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
