"""Two runs of a notebook print the same numbers: the first with cold caches (a fresh
MEXIT_DATA_DIR, so it trains every model it uses), the second warm (it loads them).

What is compared: every non-blank line a notebook prints (stdout) or shows as a value
(`text/plain` of its results and displays, figures included), except widgets (progress bars
appear only while training, i.e. on the cold run) and timing lines. A timing line is:

1. a line with the interval every result of `mexit.timing` prints — "interquartile A–B×"
   (`ABTiming.__str__`, `policies.Speedup.verdict`), whatever else the line says; or
2. a line with the marker "(timing)", for any other wall-clock measurement a notebook prints;
3. until the notebooks mark them, the lines listed in UNMARKED for their notebook.

Numbers the operating system picks (a free TCP port) are masked where listed in OS_CHOSEN;
the rest of their line is compared.

Training times read from the cache ("training took ... s when it ran") are NOT timing lines:
the warm run must show the seconds measured by the cold one.

Every notebook twice is about 15 minutes: all but the index are slow (`--run-slow`).
"""

import difflib
import re
from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))
FAST = {"00_index"}

NUMBER = r"-?\d+(?:\.\d+)?"
TIMING = re.compile(rf"\binterquartile {NUMBER}–{NUMBER}×|\(timing\)")
# Wall-clock lines that carry no marker yet: {notebook: [(line pattern, "rows" if the numeric
# table rows printed right after the line are timings too (pandas' `to_string`), else None)]}.
UNMARKED = {
    "06_inference": [(re.compile(r"\(ms/input\).*\bspeedup, median\b"), "rows")],
    "09_distributed": [(re.compile(r"^inference wall time \d+ ms on \d+ ranks"), None)],
}
TABLE_ROW = re.compile(rf"^\s*{NUMBER}(\s+{NUMBER})*\s*$")
OS_CHOSEN = {"09_distributed": [re.compile(r"(?<=\bport )\d+(?= on 127\.0\.0\.1 is in use)")]}


def shown_lines(nb) -> list[str]:
    """The non-blank lines a notebook printed or showed, widgets left out (see the docstring)."""
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream" and out.get("name") == "stdout":
                text = out["text"]
            elif kind in ("execute_result", "display_data"):
                data = out.get("data", {})
                if "application/vnd.jupyter.widget-view+json" in data:
                    continue
                text = data.get("text/plain", "")
            else:
                continue
            text = "".join(text) if isinstance(text, list) else text
            lines += [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    return lines


def comparable(lines: list[str], notebook: str) -> list[str]:
    """`lines` without timing lines, numbers chosen by the OS masked (see the docstring)."""
    kept, in_table = [], False
    unmarked = UNMARKED.get(notebook, [])
    for ln in lines:
        if in_table and TABLE_ROW.match(ln):
            continue
        in_table = False
        if TIMING.search(ln):
            continue
        hit = next((rows for pattern, rows in unmarked if pattern.search(ln)), False)
        if hit is not False:
            in_table = hit == "rows"
            continue
        for pattern in OS_CHOSEN.get(notebook, []):
            ln = pattern.sub("<chosen by the OS>", ln)
        kept.append(ln)
    return kept


def test_timing_lines_are_recognised():
    printed = [
        "measured speedup 1.52× (interquartile 1.50–1.84×, 3 interleaved pairs, 1 thread(s))",
        "β = 0.5, batch 1: no measurable difference: 0.98× (interquartile 0.91–1.07×) includes 1×",
        "epoch time 12 ms (timing)",
        "   β  batch  full (ms/input)  early exit (ms/input)  speedup, median  quartile 1",
        " 0.5      1            0.123                  0.456            1.200       1.100",
        " 0.3   1000            0.010                  0.007            1.400       1.300",
        "accuracy 91.2 %, 2.36× fewer FLOPs",  # numbers, not timings: compared
        "training took 3.1 s when it ran (read from the cache)",  # cached: compared
        "  0.5   0.25",  # a numeric row after a kept line: compared
    ]
    assert comparable(printed, "06_inference") == printed[-3:]
    assert comparable(printed[3:], "01_model") == printed[3:]  # no table rule outside 06
    port = "port in use → port 50757 on 127.0.0.1 is in use (Address already in use)"
    assert comparable([port], "09_distributed") == [port.replace("50757", "<chosen by the OS>")]
    assert comparable([port], "01_model") == [port]


def _cache_files(data_dir: Path) -> dict:
    return {
        str(p.relative_to(data_dir)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in data_dir.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=() if p.stem in FAST else pytest.mark.slow) for p in NOTEBOOKS],
    ids=lambda p: p.stem,
)
def test_a_notebook_prints_the_same_numbers_cold_and_warm(path, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MEXIT_DATA_DIR", str(data_dir))  # cold cache: run 1 trains
    declared = papermill.inspect_notebook(str(path))
    parameters = {"timing_repeats": 3} if "timing_repeats" in declared else {}

    def run(i):
        out = tmp_path / f"run{i}.ipynb"
        papermill.execute_notebook(
            str(path),
            str(out),
            cwd=str(path.parent),
            progress_bar=False,
            parameters=parameters,
            execution_timeout=300,  # per cell, as nbval's in pyproject.toml: a hang fails
        )
        return comparable(shown_lines(nbformat.read(out, as_version=4)), path.stem)

    cold = run(0)
    cached = _cache_files(data_dir) if data_dir.exists() else {}
    warm = run(1)
    assert any(re.search(r"\d", ln) for ln in cold), "the notebook showed no numbers"
    after = _cache_files(data_dir) if data_dir.exists() else {}
    assert after == cached, "the warm run wrote to the cache: something was not found there"
    diff = "\n".join(difflib.unified_diff(cold, warm, "cold", "warm", lineterm="", n=1))
    assert cold == warm, f"{path.stem} showed different lines:\n{diff}"
