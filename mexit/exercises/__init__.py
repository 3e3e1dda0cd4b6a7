"""Exercises with instant feedback (issue 15): one checker per coding exercise of the
chapters, `mexit.exercises.check_<name>(fn)`, e.g. `check_gamma(Gamma)` in notebook 01.

Each chapter's exercises live in `ch<NN>.py` (imported here automatically: a new chapter
file needs no edit of this one); the machinery is `_core.py`. A checker runs your function
against mexit's reference on fixed random and edge cases and prints "correct: ...",
"not attempted yet", or the first failing case, naming the mistake when it recognises one.
`EXERCISES` maps each exercise's name to its `Exercise` (title, reference, cases, mistakes).
"""

import importlib
import pkgutil

from ._core import EXERCISES, NOT_ATTEMPTED, Case, Exercise, Mistake, Result

CHAPTERS = []  # the ch*.py modules, in name order

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("ch"):
        _module = importlib.import_module(f"{__name__}.{_info.name}")
        CHAPTERS.append(_module)
        for _name, _obj in vars(_module).items():
            if _name.startswith("check_") and callable(_obj):
                globals()[_name] = _obj


def checkers() -> dict:
    """{"check_<name>": checker} for every exercise of every chapter."""
    return {f"check_{name}": ex.checker_fn for name, ex in EXERCISES.items()}


__all__ = [
    "CHAPTERS",
    "EXERCISES",
    "NOT_ATTEMPTED",
    "Case",
    "Exercise",
    "Mistake",
    "Result",
    "checkers",
] + sorted(n for n in globals() if n.startswith("check_"))
