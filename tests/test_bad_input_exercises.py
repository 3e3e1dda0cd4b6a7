"""Bad input gets a clear error in mexit.exercises: every checker `check_<name>(fn)` rejects
what is not the student's function (not callable, a class, the wrong number of arguments)
and a non-bool `quiet`, naming the argument. Generated for every exercise of every chapter,
so a new chapter's checkers are covered without an edit here. Collected by the meta-test of
tests/test_bad_input_modules.py through `CASES`."""

import pytest

from mexit import exercises


def _no_args():
    raise NotImplementedError


def _too_many(a, b, c, d, e, f, g):
    raise NotImplementedError


CASES = []
for _name in sorted(exercises.EXERCISES):
    _check = getattr(exercises, f"check_{_name}")
    _n = len(exercises.EXERCISES[_name].params)
    CASES += [
        (_check, dict(fn=42), TypeError, r"^fn must be the function you wrote"),
        (_check, dict(fn="Gamma"), TypeError, r"^fn must be the function you wrote"),
        (_check, dict(fn=int), TypeError, r"^fn must be the function you wrote"),
        (_check, dict(fn=_no_args if _n else _too_many), TypeError, r"^fn must take \("),
        (_check, dict(fn=_no_args, quiet="no"), TypeError, r"^quiet must be a bool"),
    ]


@pytest.mark.parametrize(
    ("fn", "kwargs", "exc", "words"),
    CASES,
    ids=[f"{c[0].__name__}-{i % 5}" for i, c in enumerate(CASES)],
)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)
