"""Bad input gets a clear error in mexit.local's additions for §7.1 (teaching-signal angle,
Nøkland & Eidnes' similarity matching, equal-budget training, the rule figure). Counted by
the meta-test in tests/test_bad_input_modules.py."""

import pytest
import torch

import mexit
from mexit import local

with mexit.checkpoints.preserved_rng():
    mexit.seed_everything(0)
    BACKBONE = mexit.mnist1d_cnn(channels=(4, 8, 8, 8), strides=(1, 2, 2, 1), input_length=16)
    LOCAL = local.local_learning_model(BACKBONE, (1, 16), feedback="sign", output_size=2)
    PREDSIM = local.predsim_model(BACKBONE, (1, 16), output_size=2)
    X = torch.randn(6, 1, 16)
    Y = torch.tensor([0, 1, 2, 3, 4, 5])
ACC = {"a": [0.1, 0.2, 0.3, 0.4]}

CASES = [
    # a backbone handed an input_shape it cannot read: named, never an error inside conv1d
    (
        local.local_learning_model,
        dict(backbone=BACKBONE, input_shape=(2, 16)),
        ValueError,
        r"^input_shape\b",
    ),
    (
        local.local_learning_model,
        dict(backbone=BACKBONE, input_shape=(1, 0)),
        ValueError,
        r"^input_shape entry must",
    ),
    (
        local.predsim_model,
        dict(backbone=BACKBONE, input_shape=(3, 16)),
        ValueError,
        r"^input_shape\b",
    ),
    # teaching_signal_angle
    (local.teaching_signal_angle, dict(model="net", x=X, y=Y), TypeError, "^model must"),
    (local.teaching_signal_angle, dict(model=LOCAL, x=X, y=Y[:3]), ValueError, "^y must"),
    (local.teaching_signal_angle, dict(model=BACKBONE, x=X, y=Y), TypeError, "^model must"),
    (local.teaching_signal_angle, dict(model=LOCAL, x=X.long(), y=Y), TypeError, "^x must"),
    (local.teaching_signal_angle, dict(model=LOCAL, x=X, y=Y + 10), ValueError, "^y must"),
    (local.teaching_signal_angle, dict(model=LOCAL, x=X, y=Y.float()), ValueError, "^y must"),
    # similarity_matrix
    (local.similarity_matrix, dict(z=[[1.0, 2.0]]), TypeError, "^z must"),
    (local.similarity_matrix, dict(z=torch.ones(1, 4)), ValueError, "^z must"),
    (local.similarity_matrix, dict(z=torch.ones(4)), ValueError, "^z must"),
    # SimilarityHead
    (local.SimilarityHead, dict(in_shape=(8,), num_classes=3), TypeError, "^in_shape must"),
    (local.SimilarityHead, dict(in_shape=(8, 4), num_classes=1), ValueError, "^num_classes must"),
    (
        local.SimilarityHead,
        dict(in_shape=(8, 4), num_classes=3, output_size=0),
        ValueError,
        "^output_size must",
    ),
    # predsim_loss
    (local.predsim_loss, dict(model="net"), TypeError, "^model must"),
    (local.predsim_loss, dict(model=PREDSIM, beta=1.5), ValueError, "^beta must"),
    (local.predsim_loss, dict(model=LOCAL), TypeError, "^model must"),
    (local.predsim_loss, dict(model=PREDSIM, beta="most"), TypeError, "^beta must"),
    # predsim_model
    (local.predsim_model, dict(backbone="net", input_shape=(1, 16)), TypeError, "^backbone must"),
    (local.predsim_model, dict(backbone=BACKBONE, input_shape=16), TypeError, "^input_shape must"),
    (
        local.predsim_model,
        dict(backbone=BACKBONE, input_shape=(1, 16), seed=-1),
        ValueError,
        "^seed must",
    ),
    # train_rule (validated before anything trains or is cached)
    (local.train_rule, dict(rule="hebbian"), ValueError, "^rule must"),
    (local.train_rule, dict(rule="predsim", epochs=0), ValueError, "^epochs must"),
    (local.train_rule, dict(rule="predsim", beta=2.0), ValueError, "^beta must"),
    (local.train_rule, dict(rule="backprop", seed=-3), ValueError, "^seed must"),
    # plot_rule_comparison
    (
        local.plot_rule_comparison,
        dict(accuracy={}, angles={}, exits=(1, 2, 3, 4), chance=0.1),
        TypeError,
        "^accuracy must",
    ),
    (
        local.plot_rule_comparison,
        dict(accuracy=ACC, angles={"a": [1.0]}, exits=(1, 2, 3, 4), chance=0.1),
        ValueError,
        r"^accuracy\b",
    ),
    (
        local.plot_rule_comparison,
        dict(accuracy=ACC, angles={}, exits=(1, 2, 3, 4), chance=1.5),
        ValueError,
        "^chance must",
    ),
    (
        local.plot_rule_comparison,
        dict(accuracy=ACC, angles=[1.0], exits=(1, 2, 3, 4), chance=0.1),
        TypeError,
        "^angles must",
    ),
]


@pytest.mark.parametrize(("fn", "kwargs", "exc", "words"), CASES)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
