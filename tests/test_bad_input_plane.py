"""Bad input gets a clear error in the live figure, the accuracy–cost plane and the exit
histogram of the explorers (`mexit.widgets.plane`). Counted by
tests/test_bad_input_modules.py with every other tests/test_bad_input_*.py."""

import matplotlib.pyplot as plt
import pytest

from mexit.widgets.plane import ExitHistogram, LiveFigure, Plane

LIVE = LiveFigure(ncols=2)
FOREIGN = plt.figure().add_subplot()
plt.close("all")

CASES = [
    (LiveFigure, dict(ncols=0), ValueError, r"^ncols must be"),
    (LiveFigure, dict(figsize=(0, 3)), ValueError, r"^figsize must be"),
    (LiveFigure, dict(figsize="wide"), ValueError, r"^figsize must be"),
    (LiveFigure, dict(dpi=5), ValueError, r"^dpi must be"),
    (LiveFigure, dict(ncols=2, width_ratios=(1,)), ValueError, r"^width_ratios must give 2"),
    (Plane, dict(ax=LIVE.axes[1], live="figure"), TypeError, r"^live must be a LiveFigure"),
    (Plane, dict(ax=FOREIGN, live=LIVE), ValueError, r"^ax must be one of live\.axes"),
    (Plane, dict(ax=LIVE.axes[1], live=LIVE, family_label=3), TypeError, r"^family_label must"),
    (Plane, dict(ax=LIVE.axes[1], live=LIVE, point_label=None), TypeError, r"^point_label must"),
    (ExitHistogram, dict(ax=LIVE.axes[0], live=None, exits=(1, 2)), TypeError, r"^live must"),
    (ExitHistogram, dict(ax=FOREIGN, live=LIVE, exits=(1, 2)), ValueError, r"^ax must be one"),
    (ExitHistogram, dict(ax=LIVE.axes[0], live=LIVE, exits=()), ValueError, r"^exits must name"),
    (
        ExitHistogram,
        dict(ax=LIVE.axes[0], live=LIVE, exits=(1, 2), colors=["red"]),
        ValueError,
        r"^colors must give one colour per exit",
    ),
]


@pytest.mark.parametrize(
    "fn, kwargs, exc, words",
    CASES,
    ids=[f"{getattr(c[0], '__name__', c[0])}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        fn(**kwargs)


def test_moves_and_counts_are_checked():
    live = LiveFigure(ncols=2)
    plane = Plane(live.axes[1], live)
    with pytest.raises(ValueError, match="^accuracy"):
        plane.move(0.5, 1.5)
    with pytest.raises(ValueError, match="^cost_fraction"):
        plane.move(-0.1, 0.5)
    with pytest.raises(TypeError, match="^family must be a Curve"):
        plane.set_curves(family="curve")
    with pytest.raises(ValueError, match="^oracle must hold finite"):
        plane.set_curves(oracle=([0.1, float("nan")], [0.5, 0.6]))
    hist = ExitHistogram(live.axes[0], live, (1, 2))
    with pytest.raises(ValueError, match="^counts must give 2 counts"):
        hist.update([1, 2, 3])
    with pytest.raises(ValueError, match="^on must give one flag per exit"):
        hist.update([1, 2], on=[True])
