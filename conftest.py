"""Loaded by every pytest run inside this repository, including `pytest notebooks/X.ipynb`
alone: this process and every kernel it starts refuse non-loopback connections and DNS
lookups (tests/offline/sitecustomize.py). `.ci/run` also runs the suite with no network."""

import importlib.util
from pathlib import Path

# by path: a `sitecustomize` of the Python installation may already be imported under that name
_spec = importlib.util.spec_from_file_location(
    "mexit_offline_guard", Path(__file__).parent / "tests" / "offline" / "sitecustomize.py"
)
_guard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_guard)
_guard.activate()


# What a student sees after Run All (issue 14): no traceback, no warning box, no stderr text.
# nbval runs every notebook (pyproject's testpaths); a cell that wrote to stderr (a warning, a
# progress bar, a logging line) or showed an error fails here, with what it showed. The
# explorers' later redraws are checked in a real browser (tests/test_browser.py).
import pytest  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    outputs = getattr(item, "test_outputs", None)  # set by nbval for each notebook cell
    if call.when != "call" or not report.passed or not outputs:
        return
    shown = [
        o.get("text") or "\n".join(o.get("traceback", [])) or o.get("ename", "")
        for o in outputs
        if o.get("output_type") == "error"
        or (o.get("output_type") == "stream" and o.get("name") == "stderr")
    ]
    if shown:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.name} shows the student stderr / an error (a warning box in JupyterLab):\n"
            + "\n".join(shown)[:4000]
        )
