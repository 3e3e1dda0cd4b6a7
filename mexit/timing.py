"""Wall-clock timing a student can trust: one helper, interleaved A/B runs, pinned threads.

Two functions timed one after the other see different machine loads (another process, a
frequency change); timed in alternation, A then B then A ..., each pair sees about the same.
`time_ab` reports the median of the per-pair ratios with its interquartile range, so a text can
say "faster" only when the whole interval is above 1×. A measurement, never a promise: tests do
not assert on it.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass

import torch

from ._checks import check_int


@contextlib.contextmanager
def pinned_threads(threads: int | None):
    """Run a block with `torch.set_num_threads(threads)`, restoring the previous count after
    (None leaves the count as it is)."""
    if threads is None:
        yield
        return
    threads = check_int(threads, "threads", low=1)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def _seconds(fn, clock=time.perf_counter) -> float:
    start = clock()
    fn()
    return clock() - start


def median_seconds(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of `fn()` over `repeats` runs, after `warmup` runs."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    repeats = check_int(repeats, "repeats", low=1)
    warmup = check_int(warmup, "warmup", low=0)
    for _ in range(warmup):
        fn()
    return statistics.median(_seconds(fn) for _ in range(repeats))


def verdict(low: float, high: float) -> str:
    """What an interquartile range [low, high] of speedups (time A / time B) lets a text say
    about B: faster only when the whole range is above 1×, slower when it is all below."""
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"{name} must be a positive speedup, got {v!r}")
    if low > high:
        raise ValueError(f"low must be <= high, got {low} > {high}")
    if low > 1:
        return "faster here (the whole interquartile range is above 1×)"
    if high < 1:
        return "slower here (the whole interquartile range is below 1×): overhead wins"
    return "not distinguishably faster here (the interquartile range includes 1×)"


@dataclass(frozen=True)
class ABTiming:
    """Interleaved timing of `a` against `b`: seconds are medians over the pairs; `ratio` is
    the median of the per-pair ratios time(a) / time(b) (> 1: b is faster), with its
    interquartile range [ratio_low, ratio_high]."""

    seconds_a: float
    seconds_b: float
    ratio: float
    ratio_low: float
    ratio_high: float
    repeats: int
    threads: int
    clock: str = "wall"

    @property
    def verdict(self) -> str:
        """`verdict(ratio_low, ratio_high)`: what the interval lets a text say about b."""
        return verdict(self.ratio_low, self.ratio_high)

    def __str__(self) -> str:
        return (
            f"{self.ratio:.2f}× (interquartile {self.ratio_low:.2f}–{self.ratio_high:.2f}×, "
            f"{self.repeats} interleaved pairs, {self.threads} thread(s)"
            + ("" if self.clock == "wall" else f", {self.clock} time")
            + ")"
        )


def time_ab(
    fn_a, fn_b, repeats: int = 21, warmup: int = 2, threads: int | None = 1, clock: str = "wall"
) -> ABTiming:
    """Time `fn_a` and `fn_b` in alternation (`repeats` pairs, after `warmup` of each), with
    PyTorch pinned to `threads` threads (None: as it is). Pairs alternate which runs first.

    clock: "wall" (elapsed time, what a user waits) or "cpu" (the CPU time of the calling
    thread, `time.thread_time`: time the process spent descheduled by other programs does not
    count — for a machine shared with other work; needs threads=1, where PyTorch computes
    on the calling thread)."""
    if not callable(fn_a):
        raise TypeError(f"fn_a must be callable, got {type(fn_a).__name__}")
    if not callable(fn_b):
        raise TypeError(f"fn_b must be callable, got {type(fn_b).__name__}")
    repeats = check_int(repeats, "repeats", low=1)
    warmup = check_int(warmup, "warmup", low=0)
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {tuple(CLOCKS)}, got {clock!r}")
    if clock == "cpu" and threads != 1:
        raise ValueError(f"clock 'cpu' needs threads=1 (one thread's CPU time), got {threads}")
    tick = CLOCKS[clock]
    with pinned_threads(threads):
        used = torch.get_num_threads()
        for _ in range(warmup):
            fn_a()
            fn_b()
        ta, tb = [], []
        for r in range(repeats):
            if r % 2:
                tb.append(_seconds(fn_b, tick))
                ta.append(_seconds(fn_a, tick))
            else:
                ta.append(_seconds(fn_a, tick))
                tb.append(_seconds(fn_b, tick))
    ratios = sorted(a / b for a, b in zip(ta, tb))
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return ABTiming(
        statistics.median(ta),
        statistics.median(tb),
        statistics.median(ratios),
        q[0],
        q[2],
        repeats,
        used,
        clock,
    )
