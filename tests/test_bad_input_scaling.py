"""Bad input gets a clear error in the scale-up entry points (issue 16): `mexit.runs`'s
load_for / backbone_for / model_for and `mexit.train`'s main / init_distributed. CASES are
counted by tests/test_bad_input_modules.py's meta-test."""

import pytest
import torch

import mexit
from mexit import runs, train

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    X = torch.rand(4, 1, 40)
    Y = torch.tensor([0, 1, 2, 3])
MNIST1D = mexit.data.DataBundle("mnist1d", X, Y, X, Y, X, Y, tuple("0123456789"), (1, 40))


def _not_torchrun(monkeypatch):
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)


CASES = [
    (runs.load_for, dict(dataset=3), TypeError, r"^dataset must"),
    (runs.load_for, dict(dataset="cifar100"), ValueError, r"^dataset must"),
    (runs.load_for, dict(dataset="mnist1d", data_dir="/x"), ValueError, r"^dataset='mnist1d'"),
    (runs.backbone_for, dict(backbone="resnet", data=MNIST1D), ValueError, r"^backbone must"),
    (runs.backbone_for, dict(backbone="mlp", data=X), TypeError, r"^data must"),
    (
        runs.backbone_for,
        dict(backbone="resnet18", data=MNIST1D),
        ValueError,
        r"^backbone='resnet18' reads colour images",
    ),  # fmt: skip
    (
        runs.backbone_for,
        dict(backbone="mlp", data=MNIST1D, weights=3),
        TypeError,
        r"^weights must",
    ),  # fmt: skip
    (
        runs.backbone_for,
        dict(backbone="mlp", data=MNIST1D, weights="/no/such.pt"),
        ValueError,
        r"^weights '/no/such.pt' cannot be read",
    ),  # fmt: skip
    (
        runs.backbone_for,
        dict(backbone="mlp", data=MNIST1D, freeze_backbone=1),
        TypeError,
        r"^freeze_backbone must",
    ),  # fmt: skip
    (runs.model_for, dict(seed=-1), ValueError, r"^seed must"),
    (runs.model_for, dict(device="gpu"), ValueError, r"^device must"),
    (runs.model_for, dict(dataset="nope", backbone="mlp"), ValueError, r"^dataset must"),
    (runs.model_for, dict(data_dir="/x"), ValueError, r"^data_dir and limit must"),
    (train.main, dict(argv="--out x.pt"), TypeError, r"^argv must"),
    (
        train.main,
        dict(argv=["--out", "x.pt", "--dataset", "nope"]),
        ValueError,
        r"^dataset must",
    ),  # fmt: skip
    (
        train.main,
        dict(argv=["--out", "x.pt", "--backbone", "vgg"]),
        ValueError,
        r"^backbone must",
    ),  # fmt: skip
    (
        train.main,
        dict(argv=["--out", "x.pt", "--backbone", "mlp", "--epochs", "0"]),
        ValueError,
        r"^epochs must",
    ),  # fmt: skip
    (train.init_distributed, dict(device="gpu"), ValueError, r"^device must"),
    (train.init_distributed, dict(timeout=0.0), ValueError, r"^timeout must"),
    (train.init_distributed, dict(timeout="60"), TypeError, r"^timeout must"),
    (train.init_distributed, dict(), ValueError, r"^init_distributed needs torchrun"),
]


@pytest.mark.parametrize(("fn", "kwargs", "exc", "words"), CASES)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words, monkeypatch, tmp_path):
    _not_torchrun(monkeypatch)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(exc, match=words):
        fn(**kwargs)
