"""Bad input gets a clear error from the checkers of chapters 06-11, for the slips students
make there (beyond the generic cases of tests/test_bad_input_exercises.py): passing the
result of their function instead of the function, the autograd Function class of notebook
08 instead of its backward, mexit's own object in place of theirs, a function of the other
exercise of the same chapter (wrong number of arguments). Collected by the meta-test of
tests/test_bad_input_modules.py through `CASES`."""

import pytest
import torch

from mexit import exercises
from mexit.local import _FeedbackAlignment


def _one_arg(probs):
    raise NotImplementedError


def _two_args(probs, patience):
    raise NotImplementedError


CASES = [
    # the tensor their function returned, not the function
    (exercises.check_eq11, dict(fn=torch.zeros(3)), TypeError, r"^fn must be the function"),
    # notebook 08: the autograd Function class instead of the backward they wrote
    (
        exercises.check_feedback_backward,
        dict(fn=_FeedbackAlignment),
        TypeError,
        r"^fn must be the function",
    ),
    # the other exercise's function of the same chapter
    (exercises.check_eq11, dict(fn=_two_args), TypeError, r"^fn must take \(probs\)"),
    (exercises.check_patience, dict(fn=_one_arg), TypeError, r"^fn must take \(probs, patience"),
    (exercises.check_eq14, dict(fn=lambda gates, Gamma: gates), TypeError, r"^fn must take"),
    (
        exercises.check_expected_cost,
        dict(fn=lambda gates, Gamma: gates),
        TypeError,
        r"^fn must take \(gates, gamma_f",
    ),
    (exercises.check_link_bytes, dict(fn=None), TypeError, r"^fn must be the function"),
    (exercises.check_binned_mi, dict(fn=_one_arg), TypeError, r"^fn must take \(a, b, bins"),
    (exercises.check_cascade_cost, dict(fn=3.5), TypeError, r"^fn must be the function"),
    (exercises.check_cascade_cost, dict(fn=_two_args, quiet=None), TypeError, r"^quiet"),
]


@pytest.mark.parametrize(
    ("fn", "kwargs", "exc", "words"),
    CASES,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
