"""Read a notebook's claims: the `[✓ name]` tags of its markdown and the `check("name", ...)`
calls of its code. Shared by tests/test_claims.py and tests/test_seeds.py."""

from __future__ import annotations

import re

import nbformat

TAG = re.compile(r"\[✓\s*([^\]]+?)\s*\]")
CHECK = re.compile(r"""\bcheck\(\s*(f?)["']([^"']+)["']""")
BULLET = re.compile(r"^\s*[-*]\s")
CITES_SURVEY = re.compile(r"§|\bsurvey\b|\beq\.", re.I)


def read(path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def tags(nb) -> list[str]:
    return [t for c in nb.cells if c.cell_type == "markdown" for t in TAG.findall(c.source)]


def checks(nb) -> list[tuple[str, bool]]:
    """(name, is_f_string) of every check call in the code cells."""
    return [
        (name, bool(f))
        for c in nb.cells
        if c.cell_type == "code"
        for f, name in CHECK.findall(c.source)
    ]


def untagged_takeaways(nb) -> list[str]:
    """Bullet lines of a 'Takeaways' cell that carry no tag and cite no survey section."""
    bad = []
    for c in nb.cells:
        if c.cell_type != "markdown" or not re.search(r"^#+\s*Takeaways", c.source, re.M):
            continue
        # a bullet may wrap over several lines: join continuation lines to their bullet
        items, current = [], None
        for line in c.source.splitlines():
            if BULLET.match(line):
                current = [line]
                items.append(current)
            elif current is not None and line.startswith(" ") and line.strip():
                current.append(line)
            else:
                current = None
        for item in items:
            text = " ".join(s.strip() for s in item)
            if not TAG.search(text) and not CITES_SURVEY.search(text):
                bad.append(text[:90])
    return bad


def parameters_source(nb) -> str:
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    return cells[0].source if len(cells) == 1 else ""
