"""binder/ stays consistent with requirements.txt: same packages, same versions (torch and
torchvision as their +cpu builds from the CPU wheel index), mexit installed from the
repository, the CI's Python, and a start script that caps the threads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CPU_ONLY = {"torch", "torchvision"}


def parse(path: Path) -> tuple[dict, list]:
    """Requirements file → ({normalised name: version spec}, [option lines])."""
    packages, options = {}, []
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(" ".join(line.split()))
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)", line)
        assert m, f"{path.name}: cannot parse {line!r}"
        name = re.sub(r"[-_.]+", "-", m[1]).lower()
        assert name not in packages, f"{path.name} lists {name} twice"
        packages[name] = m[2].replace(" ", "")
    return packages, options


@pytest.fixture(scope="module")
def main():
    return parse(REPO / "requirements.txt")


@pytest.fixture(scope="module")
def binder():
    return parse(BINDER / "requirements.txt")


def test_same_packages(main, binder):
    assert set(binder[0]) == set(main[0]), (
        f"only in binder: {sorted(set(binder[0]) - set(main[0]))}; "
        f"only in requirements.txt: {sorted(set(main[0]) - set(binder[0]))}"
    )


def test_same_versions_with_cpu_builds(main, binder):
    for name, spec in main[0].items():
        if name in CPU_ONLY:
            assert re.fullmatch(r"==[\w.]+", spec), f"requirements.txt must pin {name}: {spec!r}"
            assert binder[0][name] == f"{spec}+cpu", f"binder: {name}{binder[0][name]}"
        else:
            assert binder[0][name] == spec, f"{name}: binder {binder[0][name]!r}, main {spec!r}"


def test_cpu_wheel_index(binder):
    indexes = [o.split()[-1].rstrip("/") for o in binder[1] if "index-url" in o.split()[0]]
    assert indexes == [CPU_INDEX], f"binder must name the CPU wheel index once, got {indexes}"


def test_mexit_installed_from_repository(main, binder):
    for options in (main[1], binder[1]):
        assert "-e ." in options, f"mexit is not installed from the repository: {options}"
    assert "mexit" not in binder[0], "mexit must come from the repository, not from PyPI"


def test_runtime_is_the_ci_python():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert re.fullmatch(r"python-3\.\d+", runtime), runtime
    assert f"python{runtime.removeprefix('python-')} -m venv" in ci, (runtime, ci)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "1"),
        ({"CPU_LIMIT": "2.0"}, "2"),
        ({"CPU_LIMIT": "0.5"}, "1"),
        ({"CPU_LIMIT": "1", "OMP_NUM_THREADS": "3"}, "3"),
    ],
)
def test_start_caps_threads(env, expected):
    start = BINDER / "start"
    assert os.access(start, os.X_OK), "binder/start must be executable"
    base = {k: v for k, v in os.environ.items() if not k.endswith("NUM_THREADS")}
    base.pop("CPU_LIMIT", None)
    code = "import os; print(*(os.environ[v] for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')))"
    out = subprocess.run(
        [str(start), sys.executable, "-c", code],
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [expected, expected]


def test_start_caps_torch_threads():
    base = {k: v for k, v in os.environ.items() if not k.endswith("NUM_THREADS")}
    code = "import torch; print(torch.get_num_threads())"
    out = subprocess.run(
        [str(BINDER / "start"), sys.executable, "-c", code],
        env={**base, "CPU_LIMIT": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "1"


def test_readme_binder_badge_opens_the_index():
    """The badge opens the index (the links themselves: tests/test_links.py)."""
    readme = (REPO / "README.md").read_text()
    badges = re.findall(
        r"\[!\[Binder\]\([^)]*\)\]\((https://mybinder\.org/v2/gh/[^)\s]+)\)", readme
    )
    assert len(badges) == 1, f"README must have one Binder badge, got {badges}"
    assert badges[0].endswith("?urlpath=lab/tree/notebooks/00_index.ipynb"), badges[0]
    assert "/OWNER/" not in badges[0], "the badge points at a placeholder owner"
    assert (REPO / "notebooks" / "00_index.ipynb").is_file()
