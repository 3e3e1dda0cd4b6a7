"""`python -m mexit.links`: README's Binder badge and per-notebook launch links come from
ONE setting, pyproject.toml's [tool.mexit] repository; README.md must be in sync with it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mexit import links

REPO = Path(__file__).resolve().parents[1]
BINDER_LINK = re.compile(r"https://mybinder\.org/v2/gh/([^/\s)]+/[^/\s)]+)/([^?\s)]+)\?([^)\s]+)")


def test_readme_is_in_sync_with_pyproject(capsys):
    assert links.main(["--check"]) == 0, capsys.readouterr().out


def test_every_binder_link_of_readme_uses_the_setting():
    conf = links.settings(REPO / "pyproject.toml")
    found = BINDER_LINK.findall((REPO / "README.md").read_text())
    opened = {query.removeprefix("urlpath=lab/tree/notebooks/") for _, _, query in found}
    assert {(repo, ref) for repo, ref, _ in found} == {(conf["repository"], conf["binder_ref"])}
    assert opened == set(links.chapter_notebooks()), "one launch link per chapter notebook"
    badge = re.search(r"\[!\[Binder\]\([^)]*\)\]\(([^)]+)\)", (REPO / "README.md").read_text())
    assert badge and badge[1].endswith("notebooks/00_index.ipynb"), "the badge opens the index"


@pytest.fixture
def checkout(tmp_path):
    """A copy of README.md, pyproject.toml and the notebook names, to rewrite freely."""
    for name in ("README.md", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "notebooks").mkdir()
    for name in links.chapter_notebooks():
        (tmp_path / "notebooks" / name).write_text("{}")
    return tmp_path


def test_a_fork_sets_its_repository_and_the_links_follow(checkout, capsys):
    pyproject = checkout / "pyproject.toml"
    text = pyproject.read_text()
    old = links.settings(pyproject)["repository"]
    pyproject.write_text(text.replace(f'repository = "{old}"', 'repository = "a-fork/mexit2"'))
    assert links.main(["--check", "--root", str(checkout)]) == 1
    assert "stale" in capsys.readouterr().out
    assert links.main(["--root", str(checkout)]) == 0
    readme = (checkout / "README.md").read_text()
    repos = {repo for repo, _, _ in BINDER_LINK.findall(readme)}
    assert repos == {"a-fork/mexit2"}
    assert old not in {repo for repo, _, _ in BINDER_LINK.findall(readme)}
    assert links.main(["--check", "--root", str(checkout)]) == 0
    # everything outside the generated block is untouched
    original = (REPO / "README.md").read_text()
    assert readme.split(links.BEGIN)[0] == original.split(links.BEGIN)[0]
    assert readme.split(links.END)[1] == original.split(links.END)[1]


def test_binder_url():
    url = links.binder_url("someone/mexit", "06_inference.ipynb", "v1.0")
    assert url == (
        "https://mybinder.org/v2/gh/someone/mexit/v1.0?urlpath=lab/tree/notebooks/06_inference.ipynb"
    )


def test_a_placeholder_owner_is_refused(checkout):
    pyproject = checkout / "pyproject.toml"
    old = links.settings(pyproject)["repository"]
    pyproject.write_text(pyproject.read_text().replace(old, "OWNER/mexit"))
    with pytest.raises(ValueError, match="^repository must name a real owner"):
        links.settings(pyproject)


def test_a_missing_setting_is_named(checkout):
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("[tool.mexit]", "[tool.other]"))
    with pytest.raises(ValueError, match=r"^pyproject must set \[tool.mexit\] repository"):
        links.settings(pyproject)
