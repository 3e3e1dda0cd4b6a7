"""Chapter 06 scaled up (issue 16): `papermill notebooks/06_inference.ipynb out.ipynb
-p dataset cifar10 -p backbone resnet18` runs top to bottom on CIFAR-10-format files the
test writes (synthetic images: nothing downloads), trains the ResNet-18 with exits once
(cached under the test's own data folder), and reports every claim: verified, or "does not
hold on this run" (the claims are about the reference run). Slow: about two minutes here."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from mexit.data import write_synthetic_cifar10

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
def test_chapter_06_runs_on_a_resnet18_with_cifar_files(tmp_path, monkeypatch):
    import papermill

    write_synthetic_cifar10(tmp_path / "cifar", train=500, test=200, seed=0)
    monkeypatch.setenv("MEXIT_DATA_DIR", str(tmp_path / "data"))  # caches stay in tmp_path
    out = tmp_path / "06_resnet18.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "06_inference.ipynb"),
        str(out),
        parameters=dict(
            dataset="cifar10",
            backbone="resnet18",
            data_dir=str(tmp_path / "cifar"),
            timing_repeats=3,
            batch1_inputs=5,
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
    assert reported == checks  # every claim reported, none raised
    assert list((tmp_path / "data" / "checkpoints").glob("cifar10_resnet18_seed0_*.pt"))
