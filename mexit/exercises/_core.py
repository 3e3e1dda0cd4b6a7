"""The machinery of the exercises: run a student's function against mexit's reference on
fixed cases, and say what is wrong.

An `Exercise` holds a reference implementation (calling mexit's own functions), a list of
`Case`s (random and edge inputs: uniform and one-hot rows, two classes, batches, float64,
built from a local generator, so the global random state never moves) and a list of
`Mistake`s. A mistake is a *wrong variant*: the function a student who made that mistake
would write. Feedback is detected, not guessed: the checker names a mistake only when the
student's outputs equal that variant's on every case, the variant differing from the
reference on at least one (a discriminating case).

`Exercise.check(fn)` prints one of

- ``not attempted yet: ...``      the stub still raises NotImplementedError;
- ``correct: ...``                every case matches the reference;
- ``✗ <name>: mistake — <mistake name>`` with what is wrong, then the first failing case;
- ``✗ <name>: wrong on case '...'`` (no known mistake matches) with inputs, expected and
  returned values, shapes included;
- ``✗ <name>: your function raised ...`` with the case that made it raise,

and returns a `Result` (truthy only when correct).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..checkpoints import preserved_rng

NOT_ATTEMPTED = "not attempted yet"
STATUSES = ("correct", "not attempted", "mistake", "wrong", "error")

EXERCISES: dict[str, Exercise] = {}  # name -> Exercise, filled as the ch*.py modules load


@dataclass(frozen=True)
class Case:
    """One input of an exercise: positional `args` (and `kwargs`) for the student's function,
    with a `label` saying what it tests ("one-hot rows, float64")."""

    label: str
    args: tuple
    kwargs: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Mistake:
    """A named wrong variant: `variant` is the function a student making this mistake would
    write (same signature as the exercise's), `explanation` what is wrong and how to fix it."""

    name: str
    variant: Callable
    explanation: str


@dataclass(frozen=True)
class Result:
    """What a checker found. `status` is one of STATUSES; `mistake` the detected mistake's
    name (status "mistake"); `case` the label of the first failing case."""

    exercise: str
    status: str
    message: str
    mistake: str | None = None
    case: str | None = None

    def __bool__(self) -> bool:
        return self.status == "correct"

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        extra = f", mistake={self.mistake!r}" if self.mistake else ""
        return f"Result({self.exercise!r}, {self.status!r}{extra})"


class _Raised(Exception):
    """The student's function raised (anything but NotImplementedError) on a case."""

    def __init__(self, case: Case, err: BaseException):
        super().__init__(str(err))
        self.case, self.err = case, err


class _NotAttempted(Exception):
    pass


def _copy_args(value):
    """A fresh copy of a case's inputs, so a function that edits its inputs in place cannot
    change the next call's (tensors cloned, modules and containers deep-copied)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return copy.deepcopy(value)


def as_tensor(value) -> torch.Tensor:
    """An output as a float64 CPU tensor (tensors, numbers, bools, NumPy arrays, nested
    sequences of them); TypeError when it is none of these."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float64)
    if isinstance(value, np.ndarray | np.generic):
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    if isinstance(value, bool | int | float):
        return torch.tensor(float(value), dtype=torch.float64)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        parts = [as_tensor(v) for v in value]
        if not parts:
            return torch.zeros(0, dtype=torch.float64)
        if len({tuple(p.shape) for p in parts}) != 1:
            raise TypeError(f"a ragged sequence (shapes {[tuple(p.shape) for p in parts]})")
        return torch.stack(parts)
    raise TypeError(f"a {type(value).__name__}, not a tensor or numbers")


def _displayed(value):
    """An output as a tensor for messages, keeping its dtype where it has one."""
    if isinstance(value, torch.Tensor):
        return value
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, torch.Tensor) for v in value)
    ):
        try:
            return torch.stack([v.detach() for v in value])
        except RuntimeError:
            pass
    return as_tensor(value)


def describe(value, limit: int = 12) -> str:
    """A short description of an input or output: type, shape, dtype and (when small) values."""
    if isinstance(value, torch.Tensor):
        head = f"tensor {tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
        flat = value.detach().cpu().double()
        if value.numel() <= limit:
            vals = np.array2string(flat.numpy(), precision=4)
            return f"{head} {' '.join(vals.split())}"
        first = np.array2string(flat.reshape(-1)[:6].numpy(), precision=4)
        return f"{head}, first values {' '.join(first.split())[:-1]} ...]"
    if isinstance(value, torch.nn.Module):
        return f"{type(value).__name__} ({sum(p.numel() for p in value.parameters())} params)"
    text = repr(value)
    return text if len(text) <= 90 else text[:87] + "..."


class Exercise:
    """One coding exercise with its checker.

    name: the checker is `check_<name>`; title: what the student writes (one line);
    params: the argument names of the student's function (for messages);
    reference: mexit's implementation; cases: a zero-argument callable returning the Cases;
    mistakes: the named wrong variants; atol, rtol: tolerance of the comparison (float64);
    keep_dtype: the output must have the reference's dtype (float64 in, float64 out);
    success: what "correct" certifies, e.g. "your Γ_j equals mexit.cumulative_costs"."""

    def __init__(
        self,
        name: str,
        *,
        title: str,
        params: Sequence[str],
        reference: Callable,
        cases: Callable[[], list[Case]],
        mistakes: Sequence[Mistake] = (),
        atol: float = 1e-6,
        rtol: float = 1e-5,
        keep_dtype: bool = False,
        success: str = "matches the reference",
        register: bool = True,
    ):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"name must be an identifier, got {name!r}")
        if register and name in EXERCISES:
            raise ValueError(f"name must be unique: exercise {name!r} already exists")
        if not callable(reference) or not callable(cases):
            raise TypeError("reference and cases must be callable")
        names = [m.name for m in mistakes]
        if len(set(names)) != len(names):
            raise ValueError(f"mistakes must have distinct names, got {names}")
        self.name, self.title, self.params = name, title, tuple(params)
        self.reference, self._make_cases = reference, cases
        self.mistakes = tuple(mistakes)
        self.atol, self.rtol, self.keep_dtype, self.success = atol, rtol, keep_dtype, success
        self._cases: list[Case] | None = None
        self._expected: list | None = None
        self._checker: Callable | None = None
        if register:
            EXERCISES[name] = self

    # ------------------------------------------------------------------ cases and outputs
    @property
    def cases(self) -> list[Case]:
        if self._cases is None:
            with preserved_rng():
                self._cases = list(self._make_cases())
        return self._cases

    def _run(self, fn: Callable, case: Case):
        args, kwargs = _copy_args(case.args), _copy_args(dict(case.kwargs))
        with preserved_rng():
            torch.manual_seed(0)  # a function that draws random numbers draws the same ones
            return fn(*args, **kwargs)

    @property
    def expected(self) -> list:
        if self._expected is None:
            self._expected = [self._run(self.reference, c) for c in self.cases]
        return self._expected

    def same(self, out, expected) -> bool:
        """Does output `out` equal `expected` (shape and values, within atol/rtol)?"""
        try:
            a, b = as_tensor(out), as_tensor(expected)
        except TypeError:
            return False
        if a.shape != b.shape:
            return False
        return bool(torch.allclose(a, b, atol=self.atol, rtol=self.rtol, equal_nan=True))

    def _outputs(self, fn: Callable) -> list:
        outs = []
        for case in self.cases:
            try:
                outs.append(self._run(fn, case))
            except NotImplementedError as err:
                raise _NotAttempted() from err
            except Exception as err:  # the student's code may raise anything: report it
                raise _Raised(case, err) from err
        return outs

    # ------------------------------------------------------------------ the checker
    def check(self, fn, *, quiet: bool = False) -> Result:
        """Run `fn` on every case; print the verdict (unless quiet) and return a Result."""
        if not isinstance(quiet, bool):
            raise TypeError(f"quiet must be a bool, got {type(quiet).__name__}")
        self._check_fn(fn)
        result = self._verdict(fn)
        if not quiet:
            print(result.message)
        return result

    def _check_fn(self, fn) -> None:
        if isinstance(fn, type) or not callable(fn):
            raise TypeError(
                f"fn must be the function you wrote, {self.name}({', '.join(self.params)}), "
                f"got {type(fn).__name__} {describe(fn)}"
            )
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):  # builtins without a signature: let the call decide
            return
        try:
            sig.bind(*self.cases[0].args, **self.cases[0].kwargs)
        except TypeError as err:
            raise TypeError(
                f"fn must take ({', '.join(self.params)}), got {fn.__name__}{sig}: {err}"
            ) from err

    def _verdict(self, fn) -> Result:
        try:
            outs = self._outputs(fn)
        except _NotAttempted:
            return Result(
                self.name,
                "not attempted",
                f"{NOT_ATTEMPTED}: write {self.title} in the cell above (replace "
                f"`raise NotImplementedError`), then run this cell again.",
            )
        except _Raised as raised:
            err = raised.err
            return Result(
                self.name,
                "error",
                f"✗ {self.name}: your function raised {type(err).__name__}: {err}\n"
                + self._inputs_text(raised.case),
                case=raised.case.label,
            )
        failing = [k for k, (o, e) in enumerate(zip(outs, self.expected)) if not self.same(o, e)]
        if not failing:
            dtype_issue = self._dtype_issue(outs)
            if dtype_issue is None:
                labels = "; ".join(c.label for c in self.cases)
                return Result(
                    self.name,
                    "correct",
                    f"correct: {self.name} — {self.success}, on all {len(self.cases)} cases "
                    f"({labels}).",
                )
            k, text = dtype_issue
            return Result(
                self.name,
                "wrong",
                f"✗ {self.name}: {text}\n" + self._inputs_text(self.cases[k]),
                case=self.cases[k].label,
            )
        k = failing[0]
        mistake = self._matching_mistake(outs)
        if mistake is not None:
            return Result(
                self.name,
                "mistake",
                f"✗ {self.name}: mistake — {mistake.name}\n  {mistake.explanation}\n"
                + self._case_text(k, outs[k]),
                mistake=mistake.name,
                case=self.cases[k].label,
            )
        return Result(
            self.name,
            "wrong",
            f"✗ {self.name}: wrong on case '{self.cases[k].label}' "
            f"({len(failing)} of {len(self.cases)} cases differ from the reference)\n"
            + self._case_text(k, outs[k]),
            case=self.cases[k].label,
        )

    def _matching_mistake(self, outs) -> Mistake | None:
        """The first mistake whose variant gives the student's outputs on every case."""
        for mistake in self.mistakes:
            try:
                wrong = [self._run(mistake.variant, c) for c in self.cases]
            except Exception:  # a variant that raises on some case matches no student
                continue
            if all(self.same(o, w) for o, w in zip(outs, wrong)):
                return mistake
        return None

    def _dtype_issue(self, outs):
        if not self.keep_dtype:
            return None
        for k, (o, e) in enumerate(zip(outs, self.expected)):
            if isinstance(e, torch.Tensor) and (
                not isinstance(o, torch.Tensor) or o.dtype != e.dtype
            ):
                got = o.dtype if isinstance(o, torch.Tensor) else type(o).__name__
                return k, (
                    f"returns {got} where the inputs ask for {e.dtype} (case "
                    f"'{self.cases[k].label}'): keep the inputs' dtype (no .float(), no "
                    f"torch.tensor(...) of a new dtype)."
                )
        return None

    def _inputs_text(self, case: Case) -> str:
        pairs = list(zip(self.params, case.args)) + list(case.kwargs.items())
        lines = [f"  case '{case.label}':"]
        lines += [f"    {name} = {describe(value)}" for name, value in pairs]
        return "\n".join(lines)

    def _case_text(self, k: int, out) -> str:
        try:
            got = describe(_displayed(out))
        except TypeError as err:
            got = f"{describe(out)} — cannot compare {err}"
        exp = describe(_displayed(self.expected[k]))
        lines = [
            f"  first failing case: '{self.cases[k].label}'",
            self._inputs_text(self.cases[k]).split("\n", 1)[1],
            f"    expected: {exp}",
            f"    yours:    {got}",
        ]
        try:
            a, b = as_tensor(out), as_tensor(self.expected[k])
        except TypeError:
            return "\n".join(lines)
        if a.shape != b.shape:
            lines.append(f"    shapes differ: expected {tuple(b.shape)}, yours {tuple(a.shape)}")
        else:
            bad = ~torch.isclose(a, b, atol=self.atol, rtol=self.rtol, equal_nan=True)
            where = tuple(int(i) for i in bad.nonzero()[0]) if bad.any() else ()
            lines.append(
                f"    first difference at index {where}: expected {b[where].item():.6g}, "
                f"yours {a[where].item():.6g} ({int(bad.sum())} of {bad.numel()} values differ)"
            )
        return "\n".join(lines)

    # ------------------------------------------------------------------ the public checker
    @property
    def checker_fn(self) -> Callable:
        """The function `check_<name>(fn, *, quiet=False)` exported by mexit.exercises."""
        if self._checker is None:
            self._checker = self._make_checker()
        return self._checker

    def _make_checker(self) -> Callable:
        def check(fn, *, quiet: bool = False) -> Result:
            return self.check(fn, quiet=quiet)

        check.__name__ = check.__qualname__ = f"check_{self.name}"
        check.__module__ = "mexit.exercises"
        mistakes = "\n".join(f"- {m.name}" for m in self.mistakes)
        check.__doc__ = (
            f"Check your {self.name}({', '.join(self.params)}): {self.title}.\n\n"
            f"Prints 'correct: ...', 'not attempted yet', or the first failing case; returns a "
            f"Result. Mistakes it recognises:\n{mistakes}"
        )
        check.exercise = self
        return check
