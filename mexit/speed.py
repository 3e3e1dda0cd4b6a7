"""FLOPs are not seconds: measured vs FLOP-predicted speedup of early exit, in deployment form.

`deploy_speedup` times the deployed early-exit network against the deployed plain network
(`mexit.deploy`, `mexit.timing.time_ab`: interleaved, pinned threads, median and interquartile
range) beside the speedup the FLOPs predict. `width_sweep` does it for the reference backbone
made 1, 2, 4, 8 times wider — untrained: timing needs only *where* inputs leave, so per-exit
thresholds send a fixed share of the inputs to each exit (`thresholds_for_shares`) — to find
the size from which early exit pays at batch 1.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass

import torch

from ._checks import check_int, check_probs, check_tensor
from .cost import CostProfile, measure_costs
from .deployment import deploy
from .inference import _check_criterion, exit_probs, max_probability, normalized_entropy
from .models import MultiExitNet, mnist1d_cnn
from .timing import pinned_threads, time_ab, verdict


def _check_shares(shares, n_exits: int) -> list[float]:
    if isinstance(shares, torch.Tensor):
        shares = shares.tolist()
    if isinstance(shares, (str, bytes)) or not hasattr(shares, "__len__"):
        raise TypeError(f"shares must be a sequence of {n_exits} fractions, got {shares!r}")
    if len(shares) != n_exits:
        raise ValueError(f"shares must give one fraction per exit ({n_exits}), got {len(shares)}")
    out = []
    for s in shares:
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s <= 1:
            raise ValueError(f"shares must be fractions in [0, 1], got {shares!r}")
        out.append(float(s))
    if abs(sum(out) - 1) > 1e-6:
        raise ValueError(f"shares must sum to 1, got {sum(out):.6g}")
    return out


def thresholds_for_shares(probs, shares, criterion: str = "max_probability") -> list[float]:
    """Per-early-exit thresholds under which round(shares[k] · N) of the N inputs leave at exit
    k (the rest at the final exit), from the outputs probs (E, N, K) of every exit: exit by
    exit, the cut sits halfway between the scores of the last input let out and the first kept.
    (Ties in the scores can move a few inputs.)"""
    probs = check_probs(probs)
    criterion = _check_criterion(criterion)
    E, N = probs.shape[:2]
    shares = _check_shares(shares, E)
    # higher score = more confident: max probability, or 1 − normalized entropy
    if criterion == "max_probability":
        score = max_probability(probs)
    else:
        score = 1 - normalized_entropy(probs)
    score = score.double().cpu()
    remaining = torch.arange(N)
    thresholds, cum = [], 0.0
    for k in range(E - 1):
        target = round((cum + shares[k]) * N) - (N - len(remaining))
        cum += shares[k]
        s = score[k, remaining].sort(descending=True).values
        if target <= 0:
            cut = 1.0  # nobody (an untrained head is never this sure)
        elif target >= len(s):
            cut = 0.0
        else:
            cut = float((s[target - 1] + s[target]) / 2)
        passed = score[k, remaining] >= cut
        remaining = remaining[~passed]
        thresholds.append(cut if criterion == "max_probability" else 1 - cut)
    return thresholds


@dataclass(frozen=True)
class DeploySpeedup:
    """Deployed early exit against the deployed plain network on the same inputs."""

    batch_size: int
    inputs: int
    predicted: float  # FLOPs of the plain network / mean FLOPs spent (eq. 12)
    measured: float  # median of the interleaved per-pair speedups
    measured_low: float  # interquartile range of the per-pair speedups
    measured_high: float
    ms_plain: float  # median time of the plain network on all inputs
    ms_early_exit: float
    exit_counts: tuple[int, ...]
    repeats: int
    threads: int

    @property
    def measured_over_predicted(self) -> float:
        return self.measured / self.predicted

    @property
    def verdict(self) -> str:
        """`mexit.timing.verdict` of the measured interval: what a text may say."""
        return verdict(self.measured_low, self.measured_high)


def deploy_speedup(
    model: MultiExitNet,
    x: torch.Tensor,
    thresholds,
    criterion: str = "entropy",
    batch_size: int = 1,
    repeats: int = 11,
    threads: int | None = 1,
    costs: CostProfile | None = None,
    clock: str = "wall",
) -> DeploySpeedup:
    """Time `deploy(model, thresholds, criterion)` against its `.plain` network on x, cut into
    batches of `batch_size` (batch 1: `predict_one` / `plain_one` input by input), with
    `mexit.timing.time_ab`; the predicted speedup is Γ of the plain network over the mean Γ of
    the exits the inputs take (FLOPs from `costs`, measured if not given). `clock`: see
    `time_ab` ("cpu" on a machine shared with other work)."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    batch_size = check_int(batch_size, "batch_size", low=1)
    if costs is None:
        costs = measure_costs(model, tuple(x.shape[1:]))
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    net = deploy(model, thresholds, criterion)
    exit_index = net.predict(x).exit_index.cpu()
    Gamma = torch.as_tensor(costs.Gamma(model.exits), dtype=torch.float64)
    predicted = costs.full / float(Gamma[exit_index].mean())
    if batch_size == 1:
        rows = list(x.split(1))

        def run_plain():
            for r in rows:
                net.plain_one(r)

        def run_exit():
            for r in rows:
                net.predict_one(r)
    else:
        batches = list(x.split(batch_size))

        def run_plain():
            for b in batches:
                net.plain(b)

        def run_exit():
            for b in batches:
                net.predict(b)

    t = time_ab(run_plain, run_exit, repeats=repeats, threads=threads, clock=clock)
    return DeploySpeedup(
        batch_size=batch_size,
        inputs=len(x),
        predicted=predicted,
        measured=t.ratio,
        measured_low=t.ratio_low,
        measured_high=t.ratio_high,
        ms_plain=1e3 * t.seconds_a,
        ms_early_exit=1e3 * t.seconds_b,
        exit_counts=tuple(torch.bincount(exit_index, minlength=len(model.exits)).tolist()),
        repeats=t.repeats,
        threads=t.threads,
    )


_PROFILER_LOG = ("USDT:", "SyncActivityProfilerHandler", "gpuGetDeviceCount")


@contextlib.contextmanager
def _profiler_log_filtered():
    """Run a block with file descriptor 2 sent to a temporary file, then pass on every line
    but the profiler's own start/stop log (written by C++ straight to fd 2, it would land in
    a notebook's output)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode(errors="replace").splitlines(keepends=True):
                if not any(m in line for m in _PROFILER_LOG):
                    sys.stderr.write(line)


def where_time_goes(fn, rows: int = 6, threads: int | None = 1) -> list[dict]:
    """Run `fn()` once under `torch.profiler` (CPU) and return the `rows` PyTorch ops with
    the most self time: name, calls, self time (ms) and its share of all ops' self time."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    rows = check_int(rows, "rows", low=1)
    from torch.profiler import ProfilerActivity, profile

    with _profiler_log_filtered(), pinned_threads(threads):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [
        {
            "op": e.key,
            "calls": e.count,
            "self_ms": e.self_cpu_time_total / 1e3,
            "share": e.self_cpu_time_total / total,
        }
        for e in events[:rows]
    ]


def width_sweep(
    x: torch.Tensor,
    shares,
    multipliers=(1, 2, 4, 8),
    batch_sizes=(1, 64),
    repeats: int = 5,
    seed: int = 0,
    threads: int | None = 1,
    clock: str = "wall",
) -> list[dict]:
    """Measured vs FLOP-predicted speedup of deployed early exit on MNIST-1D backbones
    `mnist1d_cnn(channels=(16m, 32m, 64m, 128m))` for each multiplier m (untrained, seeded):
    max-probability thresholds send `shares` of the inputs x to each exit
    (`thresholds_for_shares`). One row per (multiplier, batch size)."""
    check_tensor(x, "x", ndim=3, dtype_kind="float")
    if not isinstance(multipliers, (tuple, list)) or not multipliers:
        raise TypeError(f"multipliers must be a non-empty list of ints, got {multipliers!r}")
    multipliers = [check_int(m, "multipliers", low=1) for m in multipliers]
    if not isinstance(batch_sizes, (tuple, list)) or not batch_sizes:
        raise TypeError(f"batch_sizes must be a non-empty list of ints, got {batch_sizes!r}")
    batch_sizes = [check_int(b, "batch_sizes", low=1) for b in batch_sizes]
    repeats = check_int(repeats, "repeats", low=1)
    seed = check_int(seed, "seed", low=0)
    _check_shares(shares, 4)
    rows = []
    for m in multipliers:
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        model = mnist1d_cnn(channels=(16 * m, 32 * m, 64 * m, 128 * m), input_length=x.shape[-1])
        torch.random.set_rng_state(gen_state)
        model = model.to(x.dtype).eval()
        costs = measure_costs(model, tuple(x.shape[1:]))
        th = thresholds_for_shares(exit_probs(model, x), shares, "max_probability")
        for bs in batch_sizes:
            s = deploy_speedup(
                model,
                x,
                th,
                "max_probability",
                bs,
                repeats=repeats,
                threads=threads,
                costs=costs,
                clock=clock,
            )
            rows.append(
                {
                    "multiplier": m,
                    "kflops_per_input": costs.full / 1e3,
                    "batch_size": bs,
                    "inputs": s.inputs,
                    "exit_counts": list(s.exit_counts),
                    "predicted_speedup": s.predicted,
                    "measured_speedup": s.measured,
                    "measured_low": s.measured_low,
                    "measured_high": s.measured_high,
                    "measured_over_predicted": s.measured_over_predicted,
                    "ms_plain": s.ms_plain,
                    "ms_early_exit": s.ms_early_exit,
                }
            )
    return rows


def crossover(rows: list[dict], batch_size: int = 1, target: float = 1.0):
    """The smallest FLOPs per input (kFLOPs) of a `width_sweep` row at `batch_size` from which
    every larger backbone's interquartile range lies above `target`× (None if none does)."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise TypeError("rows must be the list of dicts width_sweep returns")
    batch_size = check_int(batch_size, "batch_size", low=1)
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not target > 0:
        raise ValueError(f"target must be a positive speedup, got {target!r}")
    mine = sorted(
        (r for r in rows if r["batch_size"] == batch_size), key=lambda r: r["kflops_per_input"]
    )
    found = None
    for r in reversed(mine):
        if r["measured_low"] <= target:
            break
        found = r["kflops_per_input"]
    return found if found is None else float(found)


__all__ = [
    "DeploySpeedup",
    "crossover",
    "deploy_speedup",
    "thresholds_for_shares",
    "where_time_goes",
    "width_sweep",
]
