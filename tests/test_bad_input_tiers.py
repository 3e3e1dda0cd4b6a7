"""Bad input gets a clear error in per-tier distributed training (`mexit.tier_training`) and
`tiers.pss_bytes`: CASES are counted by the meta-test of tests/test_bad_input_modules.py."""

import pytest
import torch

import mexit
from mexit import tier_training, tiers

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    MODEL = mexit.mnist1d_cnn(channels=(4, 4, 4), input_length=8)
    X = torch.randn(6, 1, 8)
    Y = torch.tensor([0, 1, 2, 0, 1, 2])
    NO_EXIT_2 = mexit.mnist1d_cnn(channels=(4, 4, 4), input_length=8, exits=[1])

OK = dict(model=MODEL, x=X, y=Y, placement=(0, 1, 1), progress=False)

CASES = [
    (tiers.pss_bytes, dict(pid="1"), TypeError, r"^pid\b"),
    (tiers.pss_bytes, dict(pid=0), ValueError, r"^pid\b"),
    (tiers.pss_bytes, dict(pid=2**22 + 12345), ValueError, r"^pid\b"),
    (
        tier_training.check_training_placement,
        dict(model="net", placement=(0, 1)),
        TypeError,
        "^model must",
    ),
    (
        tier_training.check_training_placement,
        dict(model=MODEL, placement="011"),
        TypeError,
        "^placement must",
    ),
    (
        tier_training.check_training_placement,
        dict(model=MODEL, placement=(0, 0, 0)),
        ValueError,
        "^placement must",
    ),
    (
        tier_training.check_training_placement,
        dict(model=MODEL, placement=(1, 0, 1)),
        ValueError,
        "^placement maps block 2",
    ),
    (
        tier_training.check_training_placement,
        dict(model=NO_EXIT_2, placement=(0, 0, 1)),
        ValueError,
        "^placement ends tier 0",
    ),
    (tier_training.train_by_tiers, dict(OK, model=None), TypeError, "^model must"),
    (tier_training.train_by_tiers, dict(OK, x=X.long()), TypeError, "^x must"),
    (tier_training.train_by_tiers, dict(OK, y=Y[:3]), ValueError, "^y must"),
    (tier_training.train_by_tiers, dict(OK, epochs=0), ValueError, "^epochs must"),
    # data that does not fit the model: named, never an error inside conv1d or the loss
    (tier_training.train_by_tiers, dict(OK, x=torch.randn(6, 2, 8)), ValueError, r"^x of shape"),
    (
        tier_training.train_by_tiers,
        dict(OK, x=torch.randn(6, 1, 2, 8)),
        ValueError,
        r"^x of shape \(6, 1, 2, 8\) does not fit model",
    ),
    (
        tier_training.train_by_tiers,
        dict(OK, y=torch.tensor([0, 1, 2, 0, 1, 12])),
        ValueError,
        r"^y must be class indices in 0\.\.9",
    ),
    (
        tier_training.distributed_train_by_tiers,
        dict(OK, x=torch.randn(6, 1, 2, 8)),
        ValueError,
        r"^x of shape \(6, 1, 2, 8\) does not fit model",
    ),
    (tier_training.train_by_tiers, dict(OK, lr=0.0), ValueError, "^lr must"),
    (tier_training.train_by_tiers, dict(OK, wire_dtype=torch.int8), ValueError, "^wire_dtype must"),
    (
        tier_training.distributed_train_by_tiers,
        dict(OK, placement=(0, 0, 0)),
        ValueError,
        "^placement must",
    ),
    (
        tier_training.distributed_train_by_tiers,
        dict(OK, batch_size=0),
        ValueError,
        "^batch_size must",
    ),
    (tier_training.distributed_train_by_tiers, dict(OK, timeout=0.1), ValueError, "^timeout must"),
    (
        tier_training.distributed_train_by_tiers,
        dict(OK, fail_rank=5),
        ValueError,
        "^fail_rank must",
    ),
    (tier_training.distributed_train_by_tiers, dict(OK, port=80), ValueError, "^port must"),
    (
        tier_training.distributed_train_by_tiers,
        dict(OK, start_method="thread"),
        ValueError,
        "^start_method must",
    ),
]


@pytest.mark.parametrize(
    ("fn", "kwargs", "exc", "words"), CASES, ids=lambda v: getattr(v, "__name__", None)
)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
