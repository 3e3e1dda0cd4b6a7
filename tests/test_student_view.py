"""The check of the root conftest.py: under nbval, a notebook cell that shows the student
stderr (a warning box in JupyterLab) or an error fails, naming what it showed. Run here on a
small notebook in a scratch copy of the repository's conftest (the real hook, not a copy of
its logic); the chapter notebooks themselves are checked by the main run (testpaths)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]


def test_a_cell_showing_stderr_fails_and_a_clean_one_passes(tmp_path):
    shutil.copy(REPO / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "tests").symlink_to(REPO / "tests")  # the offline guard the conftest loads
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell("print('accuracy 97.5 %')"),
        nbformat.v4.new_code_cell("import warnings\nwarnings.warn('a warning box')"),
        nbformat.v4.new_code_cell("import sys\nprint('progress 50%', file=sys.stderr)"),
    ]
    nbformat.write(nb, tmp_path / "student.ipynb")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "student.ipynb", "-p", "no:cacheprovider", "-q"]
        + ["--nbval-lax", "--nbval-current-env", "-rf"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    out = run.stdout
    assert "2 failed, 1 passed" in out, out[-3000:]
    assert "UserWarning: a warning box" in out and "progress 50%" in out
    assert "Cell 0 shows" not in out
