"""Two runs of a notebook print the same numbers — even when the first run trains the
reference model and the second loads it from the cache."""

import re
from pathlib import Path

import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# lines that report wall-clock measurements legitimately differ between runs
TIMING = re.compile(r"\b(ms|took|speedup)\b")


def printed_lines(nb) -> list[str]:
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                lines += [
                    ln for ln in out["text"].splitlines() if ln.strip() and not TIMING.search(ln)
                ]
    return lines


@pytest.mark.parametrize("name", ["01_model.ipynb"])
def test_a_notebook_prints_the_same_numbers_twice(name, tmp_path, monkeypatch):
    monkeypatch.setenv("MEXIT_DATA_DIR", str(tmp_path / "data"))  # cold cache: run 1 trains
    runs = [
        papermill.execute_notebook(
            str(NOTEBOOKS / name),
            str(tmp_path / f"run{i}.ipynb"),
            cwd=str(NOTEBOOKS),
            progress_bar=False,
            parameters={"timing_repeats": 1},
        )
        for i in range(2)
    ]
    first, second = (printed_lines(nb) for nb in runs)
    assert (tmp_path / "data" / "checkpoints" / "mnist1d_cnn.pt").exists()
    assert any(re.search(r"\d+\.\d", ln) for ln in first), "the notebook printed no numbers"
    assert first == second
