"""Claims are about the reference run (issue 16): off it, `mexit.claims.reference_run(False)`
turns a failing check into a printed "does not hold on this run" line; on it (the default,
and again after reference_run(True)) a failing check raises."""

import pytest

import mexit
from mexit import claims


@pytest.fixture(autouse=True)
def _back_to_the_reference_run():
    yield
    claims.reference_run(True)


def test_off_the_reference_run_a_failing_check_prints(capsys):
    claims.reference_run(False)
    assert not claims.is_reference_run()
    mexit.check("deeper-is-better", 0.2 > 0.3, exit_1=0.3, final=0.2)
    out = capsys.readouterr().out
    assert out == "does not hold on this run: deeper-is-better (exit_1=0.3, final=0.2)\n"
    mexit.check("deeper-is-better", 0.9 > 0.3, exit_1=0.3, final=0.9)
    assert capsys.readouterr().out.startswith("verified: deeper-is-better")
    with pytest.raises(TypeError, match="^condition must"):  # bad input still raises
        mexit.check("ok", "yes")


def test_the_reference_run_stays_strict():
    assert claims.is_reference_run()
    with pytest.raises(AssertionError, match=r"claim \[x\] does not hold: a=1"):
        mexit.check("x", False, a=1)
    claims.reference_run(False)
    claims.reference_run(True)
    with pytest.raises(AssertionError):
        mexit.check("x", False)


@pytest.mark.parametrize("value", ["no", 0, None])
def test_reference_run_takes_a_bool(value):
    with pytest.raises(TypeError, match="^is_reference must"):
        claims.reference_run(value)
