"""Every notebook has a review copy: a jupytext percent script `notebooks/NN_slug.py` beside it,
so a change to a chapter reads as a text diff (issue 14 §3). The scripts are generated, never
edited by hand: `jupytext --to py:percent --opt notebook_metadata_filter=-all
notebooks/[0-9]*.ipynb` rewrites them all (no metadata header, so the scripts do not depend on
jupytext's version). This test
fails when a notebook changed and its script was not regenerated (or the reverse)."""

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FORMAT = {"extension": ".py", "format_name": "percent", "notebook_metadata_filter": "-all"}
REGENERATE = "jupytext --to py:percent --opt notebook_metadata_filter=-all notebooks/"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def test_every_chapter_is_found():
    assert len(CHAPTERS) == 12, [p.name for p in CHAPTERS]


def test_no_script_without_its_notebook():
    scripts = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py")}
    assert scripts == {p.stem for p in CHAPTERS}


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_script_matches_notebook(notebook):
    script = notebook.with_suffix(".py")
    assert script.exists(), f"{script.name} is missing: run {REGENERATE}{notebook.name}"
    expected = jupytext.writes(nbformat.read(notebook, as_version=4), fmt=FORMAT)
    assert script.read_text(encoding="utf-8") == expected, (
        f"{script.name} is out of date with {notebook.name}: run {REGENERATE}{notebook.name}"
    )


def test_script_round_trips_to_the_same_cells():
    """The review copy holds every cell: source and kind survive the round trip."""
    for notebook in CHAPTERS:
        nb = nbformat.read(notebook, as_version=4)
        back = jupytext.reads(notebook.with_suffix(".py").read_text(encoding="utf-8"), "py:percent")
        assert [(c.cell_type, c.source) for c in back.cells] == [
            (c.cell_type, c.source) for c in nb.cells
        ], notebook.name
