"""Bad input gets a clear error in `mexit.links`: CASES are counted by the meta-test of
tests/test_bad_input_modules.py."""

import pytest

from mexit import links

README = f"intro\n{links.BEGIN}\nold\n{links.END}\nrest\n"

CASES = [
    (links.check_repository, dict(repository=None), TypeError, r"^repository must"),
    (links.check_repository, dict(repository="no-slash"), ValueError, r"^repository must"),
    (links.check_repository, dict(repository="a/b/c"), ValueError, r"^repository must"),
    (links.check_repository, dict(repository="OWNER/mexit"), ValueError, r"^repository must"),
    (links.check_ref, dict(ref=3), TypeError, r"^ref must"),
    (links.check_ref, dict(ref=""), ValueError, r"^ref must"),
    (links.check_ref, dict(ref="main..x"), ValueError, r"^ref must"),
    (links.settings, dict(pyproject=3), TypeError, r"^pyproject must"),
    (links.settings, dict(pyproject="/no/such/pyproject.toml"), ValueError, r"^pyproject must"),
    (links.settings, dict(pyproject="/"), ValueError, r"^pyproject must"),
    (links.binder_url, dict(repository="a/b", notebook=1), TypeError, r"^notebook must"),
    (links.binder_url, dict(repository="a/b", notebook="../x.ipynb"), ValueError, "^notebook"),
    (links.binder_url, dict(repository="a/b", notebook="x.py"), ValueError, r"^notebook must"),
    (links.binder_url, dict(repository="a/b", ref="a b"), ValueError, r"^ref must"),
    (links.links_block, dict(repository="a/b", notebooks=[]), ValueError, r"^notebooks must"),
    (links.links_block, dict(repository="a/b", notebooks=[1]), ValueError, r"^notebooks must"),
    (links.links_block, dict(repository="a", notebooks=["x.ipynb"]), ValueError, "^repository"),
    (
        links.render_readme,
        dict(text=b"x", repository="a/b", notebooks=["x.ipynb"]),
        TypeError,
        r"^text must",
    ),
    (
        links.render_readme,
        dict(text="no block", repository="a/b", notebooks=["x.ipynb"]),
        ValueError,
        r"^text must",
    ),
    (
        links.render_readme,
        dict(text=README + README, repository="a/b", notebooks=["x.ipynb"]),
        ValueError,
        r"^text must",
    ),
    (links.chapter_notebooks, dict(folder=3), TypeError, r"^folder must"),
    (links.chapter_notebooks, dict(folder="/no/such/folder"), ValueError, r"^folder must"),
    (links.chapter_notebooks, dict(folder="/"), ValueError, r"^folder must"),
    (links.main, dict(argv="--check"), TypeError, r"^argv must"),
    (links.main, dict(argv=[1]), TypeError, r"^argv must"),
    (links.main, dict(argv=["--root", "/no/such/checkout"]), ValueError, r"^root must"),
]


@pytest.mark.parametrize("fn, kwargs, exc, match", CASES)
def test_bad_input(fn, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(**kwargs)
