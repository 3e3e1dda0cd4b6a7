"""The widgets in a real browser: JupyterLab runs a notebook top to bottom in headless
Chromium, then the explorers are moved by mouse and by keyboard and must redraw their
readout, their accuracy / cost text and their plot. One Voila page too (classroom mode).

Needs /usr/bin/chromium (`.ci/run` installs it); skipped loudly without it, except under
CI=true, where that is a failure. Screenshots land in the git-ignored artifacts/browser/.
To cover another notebook, add a row to SLIDERS / TOGGLES / VOILA.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from browser_helpers import (
    ARTIFACTS,
    REPO,
    RUN_ALL_TIMEOUT,
    WIDGET_TIMEOUT,
    drag_slider,
    launch_chromium,
    mark_seen,
    require_chromium,
    shutdown_kernels,
    slider,
    start_lab,
    start_voila,
    wait_for_redraw,
    wait_for_render,
)

NOTEBOOKS = REPO / "notebooks"
TRACEBACK = "Traceback (most recent call last)"  # in every error IPython shows


@dataclass(frozen=True)
class Case:
    notebook: str  # file in notebooks/
    widget: str  # text unique to the code cell that shows the explorer
    control: str  # description of the slider / checkbox to move

    def __str__(self) -> str:
        return f"{Path(self.notebook).stem}-{self.widget.strip('(')}-{self.control}"


SLIDERS = [
    Case("01_model.ipynb", "ThresholdExplorer(", "threshold"),
    Case("01_model.ipynb", "PlacementExplorer(", "threshold"),
]
TOGGLES = [Case("01_model.ipynb", "PlacementExplorer(", "exit 1")]
VOILA = [Case("00_index.ipynb", "ThresholdExplorer(", "threshold")]


def shot(locator, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def notebook_hashes() -> dict:
    """Fingerprints of the notebooks the tests open, and whether a checkpoint folder exists."""
    names = {case.notebook for case in SLIDERS + TOGGLES}
    hashes = {n: hashlib.sha256((NOTEBOOKS / n).read_bytes()).hexdigest() for n in names}
    return {**hashes, ".ipynb_checkpoints": (NOTEBOOKS / ".ipynb_checkpoints").exists()}


@pytest.mark.parametrize("ci", ["true", ""])
def test_missing_chromium_skips_loudly_but_fails_in_ci(monkeypatch, tmp_path, ci):
    import browser_helpers

    monkeypatch.setattr(browser_helpers, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", ci)
    if ci:
        with pytest.raises(pytest.fail.Exception, match="CI=true"):
            require_chromium()
    else:
        with pytest.warns(UserWarning, match="BROWSER TESTS NOT RUN"):
            with pytest.raises(pytest.skip.Exception, match="no-chromium"):
                require_chromium()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium (Debian's) on a fresh profile."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = launch_chromium(p, tmp_path_factory.mktemp("chromium-profile"))
        context.set_default_timeout(WIDGET_TIMEOUT * 1000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory):
    """JupyterLab on a free port; yields `open(notebook)` → the notebook's page after Run All
    (each notebook runs once per module). Teardown shuts the kernels down over REST, stops
    the server by its PID, and checks that the repo's notebooks were not modified."""
    before = notebook_hashes()
    server = start_lab(tmp_path_factory.mktemp("jupyter"), ARTIFACTS / "jupyterlab.log")
    pages = {}

    def open_notebook(name: str):
        if name not in pages:
            pages[name] = run_all(browser.new_page(), server.url, name)
        pages[name].bring_to_front()  # Chromium throttles background tabs
        return pages[name]

    try:
        yield open_notebook
        assert shutdown_kernels(browser, server.url) == [], "a kernel survived its shutdown"
    finally:
        for page in pages.values():
            page.close()
        server.stop()
    assert server.proc.returncode is not None
    assert notebook_hashes() == before, "the browser session modified a notebook on disk"


def run_all(page, base_url: str, name: str):
    """Open a notebook in JupyterLab, wait for the kernel, Run All, wait for every cell."""
    page.goto(f"{base_url}/lab/tree/notebooks/{name}")
    # the status bar says "| Idle" once the kernel is really up (the toolbar says so too early)
    status = page.locator("#jp-main-statusbar").get_by_text("| Idle")
    status.wait_for(timeout=RUN_ALL_TIMEOUT * 1000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
    n_code = sum(c.cell_type == "code" for c in nbformat.read(NOTEBOOKS / name, as_version=4).cells)
    page.wait_for_function(
        """([n, traceback]) => {
            const outs = [...document.querySelectorAll('.jp-OutputArea-output')];
            if (outs.some(o => o.textContent.includes(traceback))) return true;  // Run All stops
            const ps = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return ps.length === n && ps.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        arg=[n_code, TRACEBACK],
        timeout=RUN_ALL_TIMEOUT * 1000,
    )
    status.wait_for(timeout=RUN_ALL_TIMEOUT * 1000)
    page.screenshot(path=str(ARTIFACTS / f"{Path(name).stem}-lab-after-run-all.png"))
    errors = page.locator(".jp-OutputArea-output", has_text=TRACEBACK)
    assert errors.count() == 0, f"{name} raised in JupyterLab:\n{errors.first.inner_text()}"
    return page


def widget_output(page, case: Case):
    """The output area of the one code cell that builds the explorer."""
    cell = page.locator(".jp-CodeCell").filter(
        has=page.locator(".jp-InputArea", has_text=case.widget)
    )
    assert cell.count() == 1, f"{case.notebook}: {cell.count()} cells contain {case.widget!r}"
    out = cell.locator(".jp-Cell-outputArea")
    out.scroll_into_view_if_needed()
    return out


def assert_changed(before: dict, after: dict, keys=("summary", "plot")) -> None:
    same = [k for k in keys if after[k] == before[k]]
    assert not same, f"moving the control left {same} unchanged: {after['summary']!r}"


@pytest.mark.parametrize("case", TOGGLES, ids=str)
def test_toggle_by_mouse_and_keyboard(lab, case):
    """Runs before the slider tests, so the toggle acts at the notebook's threshold."""
    page = lab(case.notebook)
    out = widget_output(page, case)
    box = out.locator(".widget-checkbox").filter(has_text=case.control)
    assert box.count() == 1, f"no single checkbox {case.control!r} in {case}"
    start = wait_for_render(out)
    shot(out, f"{case}-0-start")

    mark_seen(out)
    box.get_by_text(case.control, exact=True).click()  # mouse, on the label
    clicked = wait_for_redraw(out)
    assert clicked["checked"] != start["checked"]
    assert_changed(start, clicked)
    shot(out, f"{case}-1-mouse")

    box.locator("input").focus()
    mark_seen(out)
    page.keyboard.press("Space")
    keyed = wait_for_redraw(out)
    assert keyed["checked"] == start["checked"]
    assert_changed(clicked, keyed)
    assert keyed["summary"] == start["summary"], "toggling back must restore the numbers"
    shot(out, f"{case}-2-keyboard")


@pytest.mark.parametrize("case", SLIDERS, ids=str)
def test_slider_moves_by_mouse_and_keyboard(lab, case):
    page = lab(case.notebook)
    out = widget_output(page, case)
    control = slider(out, case.control)
    assert control.count() == 1, f"no single slider {case.control!r} in {case}"
    start = wait_for_render(out, case.control)
    assert "accuracy" in start["summary"] and "cost" in start["summary"], start["summary"]
    shot(out, f"{case}-0-start")

    # mouse: drag the handle far from where it is
    target = 0.2 if float(start["readout"]) > 0.5 else 0.8
    mark_seen(out)
    drag_slider(page, control, target)
    dragged = wait_for_redraw(out, case.control)
    assert abs(float(dragged["readout"]) - target) <= 0.03, (dragged["readout"], target)
    assert_changed(start, dragged, ("readout", "summary", "plot"))
    shot(out, f"{case}-1-mouse")

    # keyboard, on the focused handle: one arrow step (0.01), then End / Home to the far end
    value, up = float(dragged["readout"]), float(dragged["readout"]) < 0.5
    control.locator(".noUi-handle").first.focus()
    mark_seen(out)
    page.keyboard.press("ArrowRight" if up else "ArrowLeft")
    wait_for_redraw(out, case.control, value=value + (0.01 if up else -0.01))
    mark_seen(out)
    page.keyboard.press("End" if up else "Home")
    keyed = wait_for_redraw(out, case.control, value=1.0 if up else 0.0)
    assert_changed(dragged, keyed)
    shot(out, f"{case}-2-keyboard")


@pytest.mark.parametrize("case", VOILA, ids=str)
def test_voila_page_slider_redraws_plot(browser, tmp_path, case):
    """Classroom mode: Voila serves the notebook as an app, code hidden."""
    server = start_voila(NOTEBOOKS / case.notebook, tmp_path, ARTIFACTS / "voila.log")
    page = browser.new_page()
    try:
        # Voila executes the whole notebook before the page finishes loading
        page.goto(server.url + "/", timeout=RUN_ALL_TIMEOUT * 1000)
        out = page.locator(".jp-Cell-outputArea").filter(has=slider(page, case.control)).first
        out.wait_for(timeout=RUN_ALL_TIMEOUT * 1000)
        assert page.get_by_text(case.widget).count() == 0, "Voila showed the code"
        start = wait_for_render(out, case.control)
        target = 0.2 if float(start["readout"]) > 0.5 else 0.8
        mark_seen(out)
        drag_slider(page, slider(out, case.control), target)
        moved = wait_for_redraw(out, case.control)
        assert abs(float(moved["readout"]) - target) <= 0.03
        assert_changed(start, moved, ("readout", "summary", "plot"))
        page.screenshot(path=str(ARTIFACTS / f"voila-{case}.png"), full_page=True)
    finally:
        page.close()
        server.stop()
    assert server.proc.returncode is not None
