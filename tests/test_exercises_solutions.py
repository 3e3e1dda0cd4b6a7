"""The notebooks' exercises run as shipped and with their solutions (issue 15), generic over
every chapter that has an `## Exercises` section.

For each such notebook, the setup cell (the first code cell), the `parameters` cell and
every code cell after the `## Exercises` heading are executed in one fresh namespace, in
order, in this process (IPython magics such as `%matplotlib inline` dropped): the exercise
cells need nothing else. As shipped, every checker must print "not attempted yet"; with each
`exercise-<name>` cell replaced by the cell of the same tag in notebooks/solutions/<stem>.py
(a jupytext percent script), every checker must print "correct: <name>"."""

import contextlib
import io
import re
from pathlib import Path

import matplotlib
import nbformat
import pytest

from mexit.exercises import EXERCISES, NOT_ATTEMPTED

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = ROOT / "notebooks" / "solutions"
CHECKER = re.compile(r"mexit\.exercises\.check_(\w+)\(")
HEADING = re.compile(r"^##\s+Exercises\b", re.M)
CELL = re.compile(r"^# %%(.*)$", re.M)
TAGS = re.compile(r"""tags\s*=\s*\[([^\]]*)\]""")
# chapters whose Exercises section this branch delivers (06-11 come with their own branch)
REQUIRED = ["01_model", "02_placement", "03_joint_training", "04_layerwise_training"]
REQUIRED += ["05_separate_training"]
REQUIRED += ["06_inference", "07_cost_regularization", "08_biological_plausibility"]
REQUIRED += ["09_distributed", "10_information_bottleneck", "11_open_challenges"]


def _read(path):
    return nbformat.read(str(path), as_version=4)


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _exercise_tag(cell):
    return next((t for t in _tags(cell) if t.startswith("exercise-")), None)


def exercise_cells(nb):
    """(setup, parameters, [cells after the ## Exercises heading]), or None without one."""
    start = next(
        (
            k
            for k, c in enumerate(nb.cells)
            if c.cell_type == "markdown" and HEADING.search(c.source)
        ),
        None,
    )
    if start is None:
        return None
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in _tags(c)]
    return code[0], params[0], [c for c in nb.cells[start + 1 :] if c.cell_type == "code"]


WITH_EXERCISES = [p for p in NOTEBOOKS if exercise_cells(_read(p)) is not None]


def solution_cells(stem: str) -> dict[str, str]:
    """{"exercise-<name>": source} of notebooks/solutions/<stem>.py."""
    text = (SOLUTIONS / f"{stem}.py").read_text()
    marks = list(CELL.finditer(text))
    cells = {}
    for k, m in enumerate(marks):
        body = text[m.end() : marks[k + 1].start() if k + 1 < len(marks) else len(text)]
        tags = TAGS.search(m.group(1))
        names = re.findall(r"""["']([^"']+)["']""", tags.group(1)) if tags else []
        for t in names:
            if t.startswith("exercise-"):
                assert t not in cells, f"{stem}.py: two cells tagged {t}"
                cells[t] = body.strip("\n")
    return cells


def _strip_magics(source: str) -> str:
    return "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )


def run(path, replace=None) -> dict[str, str]:
    """Execute setup + parameters + exercise cells; return {checker name: what it printed}."""
    setup, params, cells = exercise_cells(_read(path))
    namespace = {"__name__": "__main__"}
    printed = {}
    for cell in [setup, params, *cells]:
        source = cell.source
        tag = _exercise_tag(cell)
        if replace is not None and tag is not None:
            source = replace[tag]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(_strip_magics(source), f"{path.stem}:{tag or 'cell'}", "exec"), namespace)
        for name in CHECKER.findall(source):
            printed[name] = out.getvalue()
    return printed


def test_chapters_01_to_05_have_exercises():
    stems = [p.stem for p in WITH_EXERCISES]
    assert set(REQUIRED) <= set(stems), f"no Exercises section in {set(REQUIRED) - set(stems)}"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_the_exercises_section_follows_the_convention(path):
    nb = _read(path)
    _, _, cells = exercise_cells(nb)
    headings = [
        k for k, c in enumerate(nb.cells) if c.cell_type == "markdown" and HEADING.search(c.source)
    ]
    takeaways = [
        k
        for k, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and "## Takeaways" in c.source
    ]
    assert len(headings) == 1 and takeaways and headings[0] > takeaways[-1], (
        "Exercises after Takeaways"
    )
    assert not any("[✓" in c.source for c in nb.cells[headings[0] :]), "no claims in exercises"
    tags = [_exercise_tag(c)[len("exercise-") :] for c in cells if _exercise_tag(c)]
    called = [n for c in cells for n in CHECKER.findall(c.source)]
    assert tags, "at least one coding exercise"
    assert sorted(tags) == sorted(called), "one checker call per exercise cell, same name"
    assert set(tags) <= set(EXERCISES), f"unknown exercises {set(tags) - set(EXERCISES)}"
    for cell in cells:
        if _exercise_tag(cell):
            assert re.search(r"^\s+raise NotImplementedError", cell.source, re.M), "a stub"
    assert set(solution_cells(path.stem)) == {f"exercise-{t}" for t in tags}, "a solution each"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_as_shipped_every_checker_says_not_attempted(path):
    printed = run(path)
    assert printed
    for name, text in printed.items():
        assert text.startswith(NOT_ATTEMPTED), f"check_{name}: {text}"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_with_the_solutions_every_checker_says_correct(path):
    printed = run(path, replace=solution_cells(path.stem))
    assert printed
    for name, text in printed.items():
        assert text.startswith(f"correct: {name}"), f"check_{name}: {text}"


def test_a_wrong_solution_is_caught(tmp_path):
    """The harness can fail: a solution with a mistake does not print "correct"."""
    path = next(p for p in WITH_EXERCISES if p.stem == "01_model")
    wrong = solution_cells("01_model")
    wrong["exercise-gamma"] = wrong["exercise-gamma"].replace("k <= j", "k == j")
    printed = run(path, replace=wrong)
    assert printed["gamma"].startswith("✗ gamma: mistake — only the exit's own head")
