"""Chapters 01 and 06 scaled up (issue 16): `papermill notebooks/06_inference.ipynb out.ipynb
-p dataset cifar10 -p backbone resnet18` (and the same for 01) runs top to bottom on
CIFAR-10-format files the test writes (synthetic images: nothing downloads), trains the
ResNet-18 with exits once (cached under the test's own data folder, shared by both
chapters), and reports every claim: verified, or "does not hold on this run" (the claims
are about the reference run). Slow: about two minutes here, most of it training."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from mexit.data import write_synthetic_cifar10

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FAST = {  # shorter timings: the numbers are not what these runs test
    "01_model": dict(timing_repeats=3),
    "06_inference": dict(timing_repeats=3, batch1_inputs=5),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("scaled")
    write_synthetic_cifar10(root / "cifar", train=500, test=200, seed=0)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("chapter", ["06_inference", "01_model"])
def test_chapter_runs_on_a_resnet18_with_cifar_files(chapter, folders, monkeypatch):
    import papermill

    monkeypatch.setenv("MEXIT_DATA_DIR", str(folders / "data"))  # caches stay in tmp
    out = folders / f"{chapter}_resnet18.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{chapter}.ipynb"),
        str(out),
        parameters=dict(
            dataset="cifar10", backbone="resnet18", data_dir=str(folders / "cifar"), **FAST[chapter]
        ),
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    nb = nbformat.read(out, as_version=4)
    text = "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("name") == "stdout"
    )
    assert "exit 4" in text and "exit 5" not in text  # ResNet-18: 4 stages, 3 early exits
    checks = sum(c.source.count("mexit.check(") for c in nb.cells if c.cell_type == "code")
    reported = text.count("verified: ") + text.count("does not hold on this run: ")
    assert checks and reported == checks  # every claim reported, none raised
    assert list((folders / "data" / "checkpoints").glob("cifar10_resnet18_seed0_*.pt"))
