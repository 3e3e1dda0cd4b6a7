"""Claims bound to checks (issues 10 and 11): every `[✓ name]` in a notebook's text names a
`mexit.check("name", ...)` of the same notebook and every check is cited by a tag; every
Takeaways bullet carries a tag or cites the survey; every notebook has a `seed` parameter;
verdicts come from `mexit.check`, never from a bare assert or a hand-written "verified:"."""

import re
from pathlib import Path

import nbformat
import pytest
import torch
from claims_parser import checks, parameters_source, read, tags, untagged_takeaways

import mexit

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))


def test_there_are_twelve_chapters():
    assert len(NOTEBOOKS) == 12, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_tag_has_a_check_and_every_check_a_tag(path):
    nb = read(path)
    tagged, checked = set(tags(nb)), checks(nb)
    assert not [n for n, f in checked if f], "check names must be literals, not f-strings"
    names = [n for n, _ in checked]
    assert len(names) == len(set(names)), f"a check name is used twice: {names}"
    assert not tagged - set(names), f"tags without a check: {sorted(tagged - set(names))}"
    assert not set(names) - tagged, f"checks no sentence cites: {sorted(set(names) - tagged)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_takeaway_is_tagged_or_cites_the_survey(path):
    nb = read(path)
    assert any(
        c.cell_type == "markdown" and re.search(r"^#+\s*Takeaways", c.source, re.M)
        for c in nb.cells
    ), "no Takeaways cell"
    assert not untagged_takeaways(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_seed_is_a_parameter_and_verdicts_come_from_check(path):
    nb = read(path)
    assert re.search(r"^seed = \d+\b", parameters_source(nb), re.M), "no `seed = <int>` parameter"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "seed_everything(seed)" in code, "the notebook must seed with its `seed` parameter"
    assert not re.search(r"^\s*assert\b", code, re.M), "use mexit.check, not a bare assert"
    assert not re.search(r"""print\(\s*f?["']verified""", code), "print 'verified' via check"


# ---- the parser and the helper can fail (no test that cannot fail)


def _nb(markdown: str, code: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell(code)]
    return nb


def test_the_parser_sees_a_missing_check_and_an_untagged_takeaway():
    nb = _nb(
        "## Takeaways\n\n- X beats Y [✓ x-beats-y].\n- Z is cheap,\n  very cheap.\n"
        "- The survey says so (§6).",
        'mexit.check("other", True)',
    )
    assert tags(nb) == ["x-beats-y"] and checks(nb) == [("other", False)]
    assert untagged_takeaways(nb) == ["- Z is cheap, very cheap."]


def test_check_prints_its_numbers_or_raises_with_them(capsys):
    mexit.check("deeper-is-better", 0.9 > 0.3, exit_1=0.3, final=torch.tensor(0.9), n=3)
    assert capsys.readouterr().out == "verified: deeper-is-better (exit_1=0.3, final=0.9, n=3)\n"
    with pytest.raises(AssertionError, match=r"deeper-is-better.*exit_1=0\.95"):
        mexit.check("deeper-is-better", False, exit_1=0.95)
    mexit.check("tensor-condition", torch.tensor(True))
    assert "verified: tensor-condition" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "condition", "exc", "words"),
    [
        ("Bad Name", True, ValueError, "name"),
        (3, True, TypeError, "name"),
        ("ok", "yes", TypeError, "condition"),
        ("ok", torch.tensor([True, False]), ValueError, "condition"),
        ("ok", 1, TypeError, "condition"),
    ],
)
def test_check_rejects_what_is_not_a_claim(name, condition, exc, words):
    with pytest.raises(exc, match=words):
        mexit.check(name, condition)
