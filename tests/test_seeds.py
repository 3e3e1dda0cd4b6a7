"""Slow: every notebook, executed as a user would, holds its claims at seeds 1 and 2 too.

Not part of the default run (about 10 minutes): `pytest tests/test_seeds.py --run-slow`.
Seed 0 is the default of every notebook and runs under nbval in the default suite. Each run
must pass all its checks (a failing `mexit.check` fails the run) and print one "verified:"
line per check of the notebook."""

from pathlib import Path

import papermill
import pytest
from claims_parser import checks, read

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_claims_hold_at_another_seed(path, seed, tmp_path):
    out = papermill.execute_notebook(
        str(path),
        str(tmp_path / path.name),
        cwd=str(path.parent),
        progress_bar=False,
        parameters={"seed": seed},
    )
    printed = "".join(
        o.get("text", "")
        for c in out.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    )
    for name, _ in checks(read(path)):
        assert f"verified: {name}" in printed, f"check {name} printed nothing at seed {seed}"
