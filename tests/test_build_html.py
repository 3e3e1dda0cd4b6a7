"""`python -m mexit.build_html`: executes notebooks and writes one HTML page per notebook,
widgets inlined as what they showed, chapter links pointing at the pages."""

from __future__ import annotations

import re

import nbformat
import pytest

from mexit.build_html import build_html, chapter_links_to_html, inline_widget_outputs, main

WIDGET_CELL = """\
import ipywidgets as w
from IPython.display import display
s = w.IntSlider(value=7, description="k")
out = w.interactive_output(lambda k: print(f"square is {k * k}"), {"k": s})
display(w.VBox([w.VBox([s]), out]))
"""


LIVE_CELL = """\
import io
import ipywidgets as w
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import display
fig, ax = plt.subplots(figsize=(2, 1))
ax.plot([0, 1], [0, 1])
buf = io.BytesIO()
fig.savefig(buf, format="jpeg")
image = w.Image(value=buf.getvalue(), format="jpeg")
text = w.HTML("<pre>accuracy 97.5 %</pre>")
display(w.VBox([w.FloatSlider(description="threshold"), image, text]))
"""
MATH = "The entropy $H(p) = -\\sum_k p_k \\log p_k$ (eq. 11)."


def write_notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = cells
    nbformat.write(nb, path)


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    md = nbformat.v4.new_markdown_cell
    code = nbformat.v4.new_code_cell
    write_notebook(
        folder / "00_first.ipynb",
        [
            md("next → [01](01_second.ipynb) · [section](01_second.ipynb#top)"),
            md(MATH),
            code(WIDGET_CELL),
            code(LIVE_CELL),
        ],
    )
    write_notebook(folder / "01_second.ipynb", [code("raise RuntimeError('broken on purpose')")])
    (folder / "notes.ipynb").write_text("not a chapter, never built")
    return folder


def test_one_page_per_notebook_widgets_inlined_links_rewritten(notebooks, tmp_path, capsys):
    out = tmp_path / "build"
    status = build_html(notebooks, out, timeout=120)
    assert list(status) == ["00_first.ipynb", "01_second.ipynb"]
    assert status["00_first.ipynb"] is None
    assert "broken on purpose" in status["01_second.ipynb"]
    pages = sorted(p.name for p in (out / "html").glob("*.html"))
    assert pages == ["00_first.html", "01_second.html"]

    first = (out / "html" / "00_first.html").read_text()
    assert "square is 49" in first  # the Output widget's text, inlined
    assert "Interactive explorer" in first
    assert "widget-state+json" not in first  # no widget JavaScript needed
    assert 'href="01_second.html"' in first and 'href="01_second.html#top"' in first
    assert "01_second.ipynb" not in first
    # a live explorer (an Image widget and an HTML widget): its first picture and its text
    assert "data:image/jpeg;base64," in first
    assert "accuracy 97.5 %" in first
    # offline: no script, style sheet or module import from the network; MathJax shipped
    assert_reads_offline(first)
    assert (out / "html" / "mathjax" / "MathJax.js").is_file()
    assert '<script src="mathjax/MathJax.js?config=' in first
    assert "broken on purpose" in (out / "html" / "01_second.html").read_text()
    assert (out / "executed" / "00_first.ipynb").is_file()
    assert "FAILED 01_second.ipynb" in capsys.readouterr().out


def assert_reads_offline(page: str) -> None:
    """No <script> (its src or its text) and no <link> names an http(s) or protocol-relative
    address: the page needs nothing from the network."""
    scripts = re.findall(r"<script\b[^>]*>.*?</script>", page, flags=re.S | re.I)
    links = re.findall(r"<link\b[^>]*>", page, flags=re.I)
    remote = [t[:160] for t in scripts + links if re.search(r"(https?:)?//[\w.-]+\.\w+/", t)]
    assert not remote, f"the page loads from the network: {remote}"


def test_the_offline_check_can_fail():
    with pytest.raises(AssertionError, match="network"):
        assert_reads_offline('<script src="https://cdn.example.org/x.js"></script>')
    with pytest.raises(AssertionError, match="network"):
        assert_reads_offline('<script type="module">await import("https://a.b/c.mjs")</script>')
    assert_reads_offline('<script src="mathjax/MathJax.js"></script><a href="https://x.org/">')


def test_math_renders_offline_in_a_browser(notebooks, tmp_path):
    """Chromium opens the page from disk with the network cut: MathJax typesets the formula."""
    from browser_helpers import browser_context

    out = tmp_path / "build"
    build_html(notebooks, out, names=["00_first.ipynb"], timeout=120)
    with browser_context(tmp_path / "profile") as context:
        context.route(re.compile(r"^https?://"), lambda route: route.abort())
        page = context.new_page()
        page.goto((out / "html" / "00_first.html").as_uri())
        page.locator(".MathJax, .MathJax_CHTML, mjx-container").first.wait_for(timeout=30_000)
        assert page.locator(".MathJax, .MathJax_CHTML, mjx-container").count() >= 1
        page.close()


def test_main_builds_named_notebooks_and_reports_failure(notebooks, tmp_path):
    out = tmp_path / "b"
    args = ["--notebooks", str(notebooks), "--output", str(out), "--timeout", "120"]
    assert main([*args, "00_first.ipynb"]) == 0
    assert [p.name for p in (out / "html").glob("*.html")] == ["00_first.html"]
    assert main([*args, "01_second.ipynb"]) == 1


def test_chapter_links_to_html():
    html = '<a href="02_placement.ipynb">x</a> <a href="06_inference.ipynb#oracle">y</a>'
    assert chapter_links_to_html(html) == (
        '<a href="02_placement.html">x</a> <a href="06_inference.html#oracle">y</a>'
    )
    other = '<a href="https://example.org/a.ipynb">z</a> <a href="notes.ipynb">n</a>'
    assert chapter_links_to_html(other) == other


def test_inline_widget_outputs_follows_children_and_survives_cycles():
    view = {"model_id": "box", "version_major": 2, "version_minor": 0}
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            outputs=[
                nbformat.v4.new_output("stream", name="stdout", text="before\n"),
                nbformat.v4.new_output(
                    "display_data",
                    data={"application/vnd.jupyter.widget-view+json": view, "text/plain": "VBox"},
                ),
            ]
        )
    ]
    shown = {"output_type": "stream", "name": "stdout", "text": "inside\n"}
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {
                "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_inner"]}},
                "inner": {
                    "model_name": "VBoxModel",
                    "state": {"children": ["IPY_MODEL_box", "IPY_MODEL_out"]},
                },
                "out": {"model_name": "OutputModel", "state": {"outputs": [shown]}},
            }
        }
    }
    assert inline_widget_outputs(nb) == 1
    outputs = nb.cells[0].outputs
    assert [o.get("text") for o in outputs] == ["before\n", None, "inside\n"]
    assert "Interactive explorer" in outputs[1]["data"]["text/html"]
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"notebooks": "no/such/folder"}, FileNotFoundError, "notebooks must be a folder"),
        ({"names": ["missing.ipynb"]}, FileNotFoundError, "names must be notebooks"),
        ({"names": "00_first.ipynb"}, TypeError, "names must be a list"),
        ({"timeout": 0}, ValueError, "timeout"),
    ],
)
def test_build_html_checks_arguments(notebooks, tmp_path, kwargs, error, match):
    kwargs = {"notebooks": notebooks, "output": tmp_path / "b", **kwargs}
    with pytest.raises(error, match=match):
        build_html(**kwargs)


def test_build_html_refuses_an_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="has none"):
        build_html(tmp_path, tmp_path / "b")
