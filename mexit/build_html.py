"""Static pages for readers who cannot run anything: execute every notebook with papermill,
then export it to HTML with nbconvert.

    python -m mexit.build_html                 # notebooks/NN_*.ipynb → build/html/NN_*.html
    python -m mexit.build_html 01_model.ipynb  # only some (names inside --notebooks)

Executed notebooks are kept in build/executed/. Links between chapters are rewritten to point
at the HTML pages. Widgets are replaced by what they showed (the explorers' first figure and
numbers, inlined as static outputs; nothing moves in a static page). The pages read offline:
no script comes from the network; MathJax is copied from the jupyter-server-mathjax package
into build/html/mathjax/ (keep that folder beside the pages when you move them).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat

from ._checks import check_int

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_CHAPTER_LINK = re.compile(r'href="(\d\d_[\w-]+)\.ipynb(#[^"]*)?"')


def chapter_links_to_html(html: str) -> str:
    """Point links like href="02_placement.ipynb#x" at 02_placement.html#x."""
    return _CHAPTER_LINK.sub(lambda m: f'href="{m[1]}.html{m[2] or ""}"', html)


def inline_widget_outputs(nb) -> int:
    """Replace each widget view of an executed notebook by what its Output widgets showed
    (the explorers' figure and numbers), so the page needs no widget JavaScript; returns the
    number of widget views replaced. Uses the widget state papermill stores in the metadata."""
    state = nb.metadata.pop("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    models = state.get("state", {})

    def outputs_of(model_id, seen=()):
        model = models.get(model_id, {})
        kind, state = model.get("model_name"), model.get("state", {})
        if kind == "OutputModel":
            return list(state.get("outputs", []))
        if kind == "ImageModel":  # a live figure: its last picture
            image = _image_output(model)
            return [image] if image else []
        if kind in ("HTMLModel", "HTMLMathModel") and state.get("value"):
            return [_display({"text/html": state["value"]})]
        found = []
        for child in state.get("children", []):
            child_id = child.removeprefix("IPY_MODEL_")
            if child_id not in seen:
                found += outputs_of(child_id, (*seen, model_id))
        return found

    note = {
        "output_type": "display_data",
        "metadata": {},
        "data": {
            "text/html": "<p><em>Interactive explorer: run the notebook to move it. "
            "Shown at its starting values.</em></p>"
        },
    }
    replaced = 0
    for cell in nb.cells:
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(out)
                continue
            outputs += [nbformat.from_dict(note)] + [
                nbformat.from_dict(o) for o in outputs_of(view["model_id"])
            ]
            replaced += 1
        if "outputs" in cell:
            cell.outputs = outputs
    return replaced


def _display(data: dict) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": data}


def _image_output(model: dict) -> dict | None:
    """An Image widget's picture (its `value` travels as a base64 buffer) as an output."""
    fmt = model["state"].get("format", "png")
    for buffer in model.get("buffers", []):
        if buffer.get("path") == ["value"] and buffer.get("encoding", "base64") == "base64":
            mime = {"jpg": "image/jpeg", "jpeg": "image/jpeg"}.get(fmt, f"image/{fmt}")
            if mime in ("image/png", "image/jpeg"):
                return _display({mime: buffer["data"]})
    return None


# The lab template, minus what it would fetch from a CDN: require.js (only widgets need it,
# and the widgets are inlined) and mermaid (no diagrams here); MathJax comes from the
# jupyter-server-mathjax package, copied next to the pages (offline; see `copy_mathjax`).
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
MATHJAX_DIR = "mathjax"
MATHJAX_URL = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"  # what it ships


def copy_mathjax(pages: Path) -> Path:
    """Copy MathJax (shipped by the jupyter-server-mathjax package) into `pages`/mathjax."""
    import shutil

    import jupyter_server_mathjax

    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (source / "MathJax.js").is_file():
        raise FileNotFoundError(f"jupyter-server-mathjax ships no MathJax.js in {source}")
    target = Path(pages) / MATHJAX_DIR
    if not (target / "MathJax.js").is_file():
        shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def offline_exporter():
    """An nbconvert HTMLExporter whose pages load no script from the network."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(
        extra_loaders=[DictLoader({"mexit_offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="mexit_offline.html.j2",
        mathjax_url=MATHJAX_URL,
    )


def build_html(notebooks="notebooks", output="build", names=None, timeout=600) -> dict:
    """Execute notebooks and write `output`/html/<name>.html for each.

    notebooks: folder of the chapter notebooks; names: file names inside it (default: every
    NN_*.ipynb); timeout: seconds allowed per cell. Returns {name: error message or None};
    a notebook that fails still gets its page, showing the error where it happened."""
    import papermill

    from . import _nbclient_guard

    _nbclient_guard.install()

    folder = Path(notebooks)
    if not folder.is_dir():
        raise FileNotFoundError(f"notebooks must be a folder of notebooks, got {str(folder)!r}")
    timeout = check_int(timeout, "timeout", low=1)
    if names is None:
        paths = sorted(folder.glob(NOTEBOOK_GLOB))
    else:
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise TypeError(f"names must be a list of file names, got {names!r}")
        paths = [folder / n for n in names]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"names must be notebooks in {folder}; missing {missing}")
    if not paths:
        raise ValueError(f"notebooks must contain {NOTEBOOK_GLOB} files; {folder} has none")

    executed, pages = Path(output) / "executed", Path(output) / "html"
    executed.mkdir(parents=True, exist_ok=True)
    pages.mkdir(parents=True, exist_ok=True)
    copy_mathjax(pages)
    exporter = offline_exporter()
    status = {}
    for path in paths:
        start, error = time.perf_counter(), None
        out = executed / path.name
        try:
            papermill.execute_notebook(
                str(path),
                str(out),
                cwd=str(path.parent),
                progress_bar=False,
                execution_timeout=timeout,
            )
        except Exception as exc:  # noqa: BLE001 - report it, keep building the other pages
            if hasattr(exc, "ename"):  # an error raised by a cell
                error = f"{exc.ename}: {exc.evalue} (cell [{exc.exec_count}])"
            else:
                error = f"{type(exc).__name__}: {exc}"
        nb = nbformat.read(out, as_version=4)
        inline_widget_outputs(nb)
        body, _ = exporter.from_notebook_node(nb)
        page = pages / f"{path.stem}.html"
        page.write_text(chapter_links_to_html(body), encoding="utf-8")
        status[path.name] = error
        took = time.perf_counter() - start
        print(f"{'FAILED' if error else 'ok':6} {path.name} → {page} ({took:.0f} s)", flush=True)
        if error:
            print(f"       {error}", flush=True)
    return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mexit.build_html", description=__doc__)
    parser.add_argument("names", nargs="*", help="notebook file names (default: all NN_*.ipynb)")
    parser.add_argument("--notebooks", default="notebooks", help="folder of the notebooks")
    parser.add_argument("--output", default="build", help="output folder (git-ignored)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    status = build_html(args.notebooks, args.output, args.names or None, args.timeout)
    failed = [name for name, error in status.items() if error]
    print(f"{len(status) - len(failed)} of {len(status)} notebooks built into {args.output}/html")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
