"""Bad input gets a clear error in the estimators and the eq. 15 sign experiment of
mexit.information (notebook 10): the callables added in issue 11. The meta-test in
tests/test_bad_input_modules.py counts these CASES."""

from __future__ import annotations

import tempfile

import pytest
import torch

import mexit
from mexit import information

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    H = torch.randn(12, 3)
    MODEL = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3).eval()
ROOT = tempfile.mkdtemp(prefix="mexit_bad_input_information_")


def sign_loss(**kwargs):
    """information.sign_loss on a probe-headed copy of MODEL unless `model` is given."""
    base = dict(model=information.ib_model(MODEL, probes=True), beta=0.1, sense="maximise")
    return information.sign_loss(**(base | kwargs))


def train_sign(**kwargs):
    """information.train_sign without a progress bar, caching in a temporary folder."""
    return information.train_sign(**(dict(sense="maximise", progress=False, root=ROOT) | kwargs))


CASES = [
    (information.pairwise_mi, dict(h="h"), TypeError, "^h must"),
    (information.pairwise_mi, dict(h=H, noise=0.0), ValueError, "^noise must"),
    (information.pairwise_mi, dict(h=H, bound="middle"), ValueError, "^bound must"),
    (information.pairwise_mi, dict(h=torch.zeros(0, 3)), ValueError, "^h must"),
    (information.gaussian_channel_mi, dict(dim=0), ValueError, "^dim must"),
    (information.gaussian_channel_mi, dict(dim=2.5), TypeError, "^dim must"),
    (information.gaussian_channel_mi, dict(dim=2, noise=-1.0), ValueError, "^noise must"),
    (information.ProbeHead, dict(head="c1"), TypeError, "^head must"),
    (information.ProbeHead, dict(head=None), TypeError, "^head must"),
    (information.ProbeHead, dict(head=lambda h: h), TypeError, "^head must"),
    (sign_loss, dict(model=MODEL), TypeError, "^model must"),
    (sign_loss, dict(model=information.ib_model(MODEL)), ValueError, "^model must"),
    (sign_loss, dict(sense="min"), ValueError, "^sense must"),
    (sign_loss, dict(beta=-0.1), ValueError, "^beta must"),
    (sign_loss, dict(noise=0.0), ValueError, "^noise must"),
    (train_sign, dict(sense="both"), ValueError, "^sense must"),
    (train_sign, dict(epochs=0), ValueError, "^epochs must"),
    (train_sign, dict(beta=-1.0), ValueError, "^beta must"),
    (train_sign, dict(seed=-1), ValueError, "^seed must"),
    (
        information.kernel_information_plane,
        dict(h=H, y=torch.arange(12) % 3, bound=1),
        ValueError,
        "^bound must",
    ),
    (information.ib_model, dict(backbone=MODEL, probes="yes"), TypeError, "^probes must"),
]


@pytest.mark.parametrize(("fn", "kwargs", "exc", "words"), CASES)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
