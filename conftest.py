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
