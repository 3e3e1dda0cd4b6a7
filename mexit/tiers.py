"""Multi-exit networks over device → edge → cloud tiers (survey §7.2; BranchyNet, DDNN,
Baccarelli et al.).

A *placement* maps each block 1..L to a tier 0..T-1 (0 = the device, where inputs arrive),
in tier order. An input that does not exit on a tier crosses the link to the next one with
its embedding h_i: the link costs its latency plus bytes / bandwidth, and the bytes are
those of h_i (tensor size × dtype). Two halves:

- a cost model (`TierSystem`, `tier_latencies`, `evaluate_tiers`, `best_boundary`);
- a real run across processes (`distributed_early_exit`): one process per tier, talking
  `torch.distributed` (gloo) on 127.0.0.1; each rank runs its blocks and exits, and sends
  only the unresolved rows' embeddings to the next rank. Memory is the proportional set size
  of each process (`pss_bytes`): forked ranks share pages with their parent, which summed
  RSS would count once per process.

Distributed *training* over tiers is in `mexit.tier_training`.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import queue as queue_module
import socket
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch

from ._checks import check_float, check_int, check_labels, check_probs, check_tensor
from .cost import CostProfile
from .inference import _check_criterion, _confident, evaluate_policy
from .models import MultiExitNet, embedding_shapes

TIER_NAMES = ("device", "edge", "cloud")


# ---------------------------------------------------------------------------
# The cost model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TierSystem:
    """Compute speed of every tier (FLOP/s) and latency (s) + bandwidth (bytes/s) of every
    link between consecutive tiers. Build it with `tier_system` (which checks the values)."""

    names: tuple[str, ...]
    speeds: tuple[float, ...]
    latencies: tuple[float, ...]
    bandwidths: tuple[float, ...]

    @property
    def num_tiers(self) -> int:
        return len(self.speeds)

    def link_seconds(self, link: int, nbytes: float) -> float:
        """Time to send `nbytes` over link `link` (from tier link to tier link+1)."""
        return self.latencies[link] + nbytes / self.bandwidths[link]


def tier_system(speeds, latencies, bandwidths, names=None) -> TierSystem:
    """A TierSystem from T compute speeds (FLOP/s, > 0) and T-1 link latencies (s, ≥ 0) and
    bandwidths (bytes/s, > 0). names default to device, edge, cloud (tier 0, 1, 2)."""

    def floats(values, what, low, strict):
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError(f"{what} must be a sequence of numbers, got {type(values).__name__}")
        out = [check_float(v, f"{what}[{i}]") for i, v in enumerate(values)]
        for i, v in enumerate(out):
            if v < low or (strict and v == low) or math.isinf(v):
                sign = ">" if strict else ">="
                raise ValueError(f"{what}[{i}] must be finite and {sign} {low}, got {v}")
        return tuple(out)

    speeds = floats(speeds, "speeds (FLOP/s)", 0.0, True)
    if len(speeds) < 2:
        raise ValueError(f"speeds must give at least 2 tiers, got {len(speeds)}")
    latencies = floats(latencies, "latencies (s)", 0.0, False)
    bandwidths = floats(bandwidths, "bandwidths (bytes/s)", 0.0, True)
    for what, v in (("latencies", latencies), ("bandwidths", bandwidths)):
        if len(v) != len(speeds) - 1:
            raise ValueError(
                f"{what} must give one value per link ({len(speeds) - 1} for "
                f"{len(speeds)} tiers), got {len(v)}"
            )
    if names is None:
        names = TIER_NAMES if len(speeds) <= 3 else tuple(f"tier {t}" for t in range(len(speeds)))
        names = tuple(names[: len(speeds)])
    names = tuple(str(n) for n in names)
    if len(names) != len(speeds):
        raise ValueError(f"names must name the {len(speeds)} tiers, got {names}")
    return TierSystem(names, speeds, latencies, bandwidths)


def check_placement(
    placement, n_blocks: int, n_tiers: int, name: str = "placement"
) -> tuple[int, ...]:
    """A placement: one tier per block 1..L, never going back (device → edge → cloud).
    `name` is the argument the messages name (e.g. "placements[2]")."""
    if isinstance(placement, (str, bytes)) or not isinstance(placement, Sequence):
        raise TypeError(
            f"{name} must be a sequence of one tier per block, got {type(placement).__name__}"
        )
    tiers = tuple(check_int(t, f"{name} entry", low=0) for t in placement)
    if len(tiers) != n_blocks:
        raise ValueError(f"{name} must give a tier to each of the {n_blocks} blocks, got {tiers}")
    bad = [t for t in tiers if t >= n_tiers]
    if bad:
        raise ValueError(
            f"{name} names tiers {bad}, but there are only {n_tiers} (0..{n_tiers - 1})"
        )
    for b in range(1, n_blocks):
        if tiers[b] < tiers[b - 1]:
            raise ValueError(
                f"{name} maps block {b + 1} (tier {tiers[b]}) before block {b} (tier "
                f"{tiers[b - 1]}): exits must follow the tier order device → edge → cloud, "
                f"got {tiers}"
            )
    return tiers


def all_placements(n_blocks: int, n_tiers: int) -> list[tuple[int, ...]]:
    """Every placement of L blocks on T tiers in tier order (C(L+T-1, T-1) of them)."""
    n_blocks = check_int(n_blocks, "n_blocks", low=1)
    n_tiers = check_int(n_tiers, "n_tiers", low=1)
    return [tuple(p) for p in itertools.combinations_with_replacement(range(n_tiers), n_blocks)]


def placement_label(placement, names=TIER_NAMES) -> str:
    """'device device | edge | cloud' style label of a placement (blocks in order)."""
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
        raise TypeError(f"names must be a sequence of tier names, got {type(names).__name__}")
    if isinstance(placement, (str, bytes)) or not isinstance(placement, Sequence):
        raise TypeError(
            f"placement must be a sequence of one tier per block, got {type(placement).__name__}"
        )
    placement = [check_int(t, "placement entry", low=0, high=len(names) - 1) for t in placement]
    parts = []
    for t, group in itertools.groupby(placement):
        n = len(list(group))
        parts.append(f"{names[t]}×{n}" if n > 1 else names[t])
    return " → ".join(parts)


def embedding_bytes(model: MultiExitNet, input_shape, dtype=torch.float32) -> tuple[int, ...]:
    """Bytes of one input's h_0 = x, h_1, ..., h_L when sent as `dtype`: elements × size."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    if not isinstance(input_shape, (tuple, list, torch.Size)):
        raise TypeError(f"input_shape must be a tuple like (1, 40), got {input_shape!r}")
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype, got {type(dtype).__name__}")
    input_shape = tuple(check_int(s, "input_shape entry", low=1) for s in input_shape)
    size = torch.empty((), dtype=dtype).element_size()
    shapes = [input_shape] + embedding_shapes(model.blocks, input_shape)
    return tuple(math.prod(s) * size for s in shapes)


def tier_latencies(
    costs: CostProfile,
    exits,
    h_bytes,
    system: TierSystem,
    placement,
    reply: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Latency (s) and bytes sent for one input answered at each exit of `exits`.

    Latency = compute (block and head FLOPs / the speed of their tier) + for every link
    crossed, latency + bytes(h_i) / bandwidth, h_i the embedding leaving the last block of
    the tier (h_0 = x if the device runs no block). reply=True adds the link latencies back
    to the device, where the answer is needed (a class index: a few bytes)."""
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    if not isinstance(system, TierSystem):
        raise TypeError(f"system must be a TierSystem, got {type(system).__name__}")
    L = costs.num_blocks
    placement = check_placement(placement, L, system.num_tiers)
    exits = tuple(exits)
    costs.Gamma(exits)  # checks the exits
    h_bytes = tuple(check_int(b, "h_bytes entry", low=0) for b in h_bytes)
    if len(h_bytes) != L + 1:
        raise ValueError(f"h_bytes must give the bytes of h_0..h_L ({L + 1}), got {len(h_bytes)}")
    latency, sent = [], []
    t, tier, nbytes = 0.0, 0, 0.0
    for b in range(1, L + 1):
        while tier < placement[b - 1]:  # cross the links up to this block's tier
            t += system.link_seconds(tier, h_bytes[b - 1])
            nbytes += h_bytes[b - 1]
            tier += 1
        t += costs.gamma_f[b - 1] / system.speeds[tier]
        if b in exits:
            t += costs.gamma_c[b] / system.speeds[tier]
            back = sum(system.latencies[:tier]) if reply else 0.0
            latency.append(t + back)
            sent.append(nbytes)
    return torch.tensor(latency, dtype=torch.float64), torch.tensor(sent, dtype=torch.float64)


@dataclass(frozen=True)
class TierResult:
    """What a placement and a threshold give on a labelled set (see `evaluate_tiers`)."""

    placement: tuple[int, ...]
    accuracy: float  # in [0, 1]
    mean_latency: float  # seconds per input
    mean_bytes: float  # bytes sent over the links per input
    exit_counts: tuple[int, ...]
    tier_fractions: tuple[float, ...]  # fraction of inputs answered on each tier
    latency_per_exit: tuple[float, ...]  # seconds, for an input answered there
    bytes_per_exit: tuple[float, ...]


def evaluate_tiers(
    probs,
    labels,
    thresholds,
    costs: CostProfile,
    exits,
    h_bytes,
    system: TierSystem,
    placement,
    criterion: str = "entropy",
    reply: bool = True,
) -> TierResult:
    """Accuracy, mean end-to-end latency and bytes per input of an exit policy on tiers."""
    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1])
    lat, sent = tier_latencies(costs, exits, h_bytes, system, placement, reply)
    if lat.numel() != probs.shape[0]:
        raise ValueError(f"probs has {probs.shape[0]} exits, exits names {lat.numel()}")
    policy = evaluate_policy(probs, labels, thresholds, criterion)
    return _tier_result(policy, lat, sent, tuple(placement), tuple(exits), system.num_tiers)


def _tier_result(policy, lat, sent, placement, exits, num_tiers) -> TierResult:
    """Combine an exit policy's outcome with the latency and bytes of each exit."""
    exit_tier = torch.tensor([placement[e - 1] for e in exits])
    tiers = exit_tier[policy.exit_index]
    n = policy.exit_index.numel()
    return TierResult(
        placement=placement,
        accuracy=policy.accuracy,
        mean_latency=float(lat[policy.exit_index].mean()),
        mean_bytes=float(sent[policy.exit_index].mean()),
        exit_counts=policy.exit_counts,
        tier_fractions=tuple(float((tiers == t).sum()) / n for t in range(num_tiers)),
        latency_per_exit=tuple(lat.tolist()),
        bytes_per_exit=tuple(sent.tolist()),
    )


def evaluate_placements(
    probs,
    labels,
    thresholds,
    costs: CostProfile,
    exits,
    h_bytes,
    system: TierSystem,
    placements=None,
    criterion: str = "entropy",
    reply: bool = True,
) -> list[TierResult]:
    """`evaluate_tiers` for many placements (default: all of them) at one threshold; the
    exit policy is simulated once, since where the blocks run does not change the exits."""
    probs = check_probs(probs)
    labels = check_labels(labels, probs.shape[1])
    if not isinstance(costs, CostProfile):
        raise TypeError(f"costs must be a CostProfile, got {type(costs).__name__}")
    if not isinstance(system, TierSystem):
        raise TypeError(f"system must be a TierSystem, got {type(system).__name__}")
    if placements is None:
        placements = all_placements(costs.num_blocks, system.num_tiers)
    if isinstance(placements, (str, bytes)) or not isinstance(placements, Sequence):
        name = type(placements).__name__
        raise TypeError(f"placements must be a sequence of placements, got {name}")
    if len(placements) == 0:
        raise ValueError("placements must hold at least one placement, got none")
    n_blocks, n_tiers = costs.num_blocks, system.num_tiers
    placements = [
        check_placement(p, n_blocks, n_tiers, f"placements[{i}]") for i, p in enumerate(placements)
    ]
    policy = evaluate_policy(probs, labels, thresholds, criterion)
    out = []
    for p in placements:
        lat, sent = tier_latencies(costs, exits, h_bytes, system, p, reply)
        if lat.numel() != probs.shape[0]:
            raise ValueError(f"probs has {probs.shape[0]} exits, exits names {lat.numel()}")
        out.append(_tier_result(policy, lat, sent, tuple(p), tuple(exits), system.num_tiers))
    return out


def best_boundary(
    probs,
    labels,
    costs: CostProfile,
    exits,
    h_bytes,
    system: TierSystem,
    latency_budget: float,
    thresholds=None,
    criterion: str = "entropy",
    reply: bool = True,
) -> tuple[TierResult | None, float | None, list[tuple[float, TierResult]]]:
    """The most accurate (placement, threshold) whose mean latency fits `latency_budget` (s).

    Searches every placement in tier order and every threshold of `thresholds` (default
    0, 0.05, ..., 1); ties go to the lower latency. Returns (best result, its threshold,
    every (threshold, result) tried); best is None when nothing fits the budget."""
    budget = check_float(latency_budget, "latency_budget", low=0.0)
    if thresholds is None:
        thresholds = [round(0.05 * k, 2) for k in range(21)]
    grid = [check_float(t, "thresholds entry", low=0.0, high=1.0) for t in thresholds]
    if not grid:
        raise ValueError("thresholds must hold at least one value")
    tried = []
    for th in grid:
        results = evaluate_placements(
            probs, labels, th, costs, exits, h_bytes, system, None, criterion, reply
        )
        tried += [(th, r) for r in results]
    fits = [(th, r) for th, r in tried if r.mean_latency <= budget]
    if not fits:
        return None, None, tried
    th, best = max(fits, key=lambda tr: (tr[1].accuracy, -tr[1].mean_latency))
    return best, th, tried


# ---------------------------------------------------------------------------
# A real run across processes
# ---------------------------------------------------------------------------


class TierRunError(RuntimeError):
    """A distributed run could not start or finish (port in use, a rank failed, timeout).
    Every process it started has been stopped when this is raised."""


@dataclass(frozen=True)
class DistributedResult:
    """What `distributed_early_exit` measured."""

    predictions: torch.Tensor  # (N,)
    exit_index: torch.Tensor  # (N,) exit position 0..E-1
    embedding_bytes: tuple[int, ...]  # per link: bytes of the embeddings sent
    overhead_bytes: tuple[int, ...]  # per link: row indices and shape header
    rows_sent: tuple[int, ...]  # per link: how many inputs crossed it
    wall_seconds: float  # first block on rank 0 → last answer, all ranks started
    total_seconds: float  # including starting and stopping the processes
    rank_seconds: tuple[float, ...]  # compute time of each rank
    pss_bytes: tuple[
        int, ...
    ] = ()  # proportional set size of each rank at its end, then the caller


def pss_bytes(pid: int | None = None) -> int:
    """Proportional set size of process `pid` (default: this one), in bytes: every page it
    maps, divided by the number of processes sharing it (Linux, /proc/<pid>/smaps_rollup).
    Summed over the processes of a run it gives their real memory; summed RSS counts the
    pages forked ranks share with their parent once per rank."""
    if pid is None:
        pid = os.getpid()
    pid = check_int(pid, "pid", low=1)
    path = f"/proc/{pid}/smaps_rollup"
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        raise ValueError(f"pid {pid} names no running process (no {path})") from None
    except PermissionError:
        raise ValueError(f"pid {pid}: cannot read {path} (another user's process?)") from None
    raise ValueError(f"pid {pid}: {path} has no Pss line (not Linux ≥ 4.14?)")


def _wait_release(release, timeout: float = 30.0) -> None:
    """A rank that has reported waits until the caller has measured the memory of every
    process (all alive at once, so shared pages are divided among the same processes)."""
    if release is not None:
        release.wait(timeout)


def _snapshot_pss(processes, release) -> tuple[int, ...]:
    """PSS of every rank, then of the caller, read while all are alive; then release them."""
    try:
        out = []
        for p in processes + [None]:
            try:
                out.append(pss_bytes(None if p is None else p.pid))
            except ValueError:  # a rank already gone, or /proc unavailable
                out.append(0)
        return tuple(out)
    finally:
        release.set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as err:
            raise TierRunError(
                f"port {port} on 127.0.0.1 is in use ({err.strerror}); pass port=None to pick "
                "a free one automatically"
            ) from None


def _run_tier(model, h, rows, blocks, exits, th, criterion):
    """Run blocks `blocks` (1-based, consecutive) on the rows still active and take the
    exits among them, as `early_exit_predict` does. Returns the answered rows and the
    embedding of the remaining ones."""
    done_rows, done_pred, done_exit = [], [], []
    L = model.num_blocks
    for b in blocks:
        h = model.blocks[b - 1](h)
        if b not in exits:
            continue
        k = exits.index(b)
        p = model.heads[str(b)](h).softmax(-1)
        if b == L:
            done = torch.ones(p.shape[0], dtype=torch.bool)
        else:
            done = _confident(p, th[k].to(p.dtype), criterion)
        done_rows.append(rows[done])
        done_pred.append(p[done].argmax(-1))
        done_exit.append(torch.full((int(done.sum()),), k, dtype=torch.long))
        rows, h = rows[~done], h[~done]
        if rows.numel() == 0:
            break
    return done_rows, done_pred, done_exit, rows, h


def _join_group(rank: int, world: int, port: int, fail, timeout_s: float) -> None:
    """A rank's start-up: one thread, gloo over the loopback interface, the process group on
    127.0.0.1:port (or the failure `fail_rank` asked for)."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    if "GLOO_SOCKET_IFNAME" not in os.environ:  # talk over the loopback interface
        loopback = [n for _, n in socket.if_nameindex() if n.startswith("lo")]
        if loopback:
            os.environ["GLOO_SOCKET_IFNAME"] = loopback[0]
    if fail == rank:
        raise RuntimeError(f"rank {rank} was told to fail at start-up (fail_rank={fail})")
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=timeout_s),
    )


def _leave_group(release) -> None:
    """A rank's shut-down: wait until the parent has read every rank's memory, then leave the
    process group together."""
    import torch.distributed as dist

    _wait_release(release)
    dist.barrier()
    dist.destroy_process_group()


def _report_failure(results, rank: int, err: BaseException) -> None:
    """Report a rank's failure (message and traceback) to the parent, then exit non-zero."""
    results.put(("error", rank, f"{type(err).__name__}: {err}", traceback.format_exc()))
    raise SystemExit(1) from None


def _tier_worker(
    rank, world_size, port, model, x, th, placement, criterion, results, fail, release=None
):
    """One tier: receive the unresolved rows from rank-1 (rank 0 starts from x), run this
    tier's blocks and exits, send what is still unresolved to rank+1. Importable (spawn)."""
    import torch.distributed as dist

    try:
        _join_group(rank, world_size, port, fail, timeout_s=60)
        model.eval()
        exits, L = model.exits, model.num_blocks
        blocks = [b for b in range(1, L + 1) if placement[b - 1] == rank]
        shapes = [tuple(x.shape[1:])] + embedding_shapes(model.blocks, tuple(x.shape[1:]))
        dist.barrier()  # every rank is up: the clock starts now
        start = time.time()
        with torch.inference_mode():
            if rank == 0:
                h, rows, level = x, torch.arange(x.shape[0]), 0
            else:
                header = torch.zeros(2, dtype=torch.long)
                dist.recv(header, src=rank - 1)
                n, level = int(header[0]), int(header[1])
                rows = torch.zeros(n, dtype=torch.long)
                h = torch.zeros(n, *shapes[level])
                if n:
                    dist.recv(rows, src=rank - 1)
                    dist.recv(h, src=rank - 1)
            answered = _run_tier(
                model, h, rows, blocks if rows.numel() else [], exits, th, criterion
            )
            done_rows, done_pred, done_exit, rows, h = answered
            if blocks:
                level = blocks[-1]  # h is now h_level (irrelevant when no row is left)
            sent = (0, 0, 0)
            if rank < world_size - 1:
                header = torch.tensor([rows.numel(), level], dtype=torch.long)
                dist.send(header, dst=rank + 1)
                if rows.numel():
                    h = h.contiguous()
                    dist.send(rows, dst=rank + 1)
                    dist.send(h, dst=rank + 1)
                sent = (
                    h.numel() * h.element_size() if rows.numel() else 0,
                    header.numel() * 8 + rows.numel() * 8,
                    rows.numel(),
                )
        end = time.time()

        def cat(parts, dtype=np.int64):
            return np.concatenate([p.numpy() for p in parts]) if parts else np.zeros(0, dtype)

        results.put(
            (
                "ok",
                rank,
                cat(done_rows),
                cat(done_pred),
                cat(done_exit),
                sent,
                start,
                end,
            )
        )
        _leave_group(release)
    except BaseException as err:
        _report_failure(results, rank, err)


def _stop(processes, grace: float = 2.0) -> None:
    """Stop every process of `processes`: wait `grace` s, then SIGTERM, then SIGKILL."""
    deadline = time.time() + grace
    for p in processes:
        p.join(max(0.0, deadline - time.time()))
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(2.0)
        if p.is_alive():
            p.kill()
            p.join()


def _start_context(start_method: str | None):
    """The multiprocessing context of a multi-process run: 'fork' where available (the ranks
    start in milliseconds), else 'spawn'."""
    import torch.multiprocessing as mp

    methods = mp.get_all_start_methods()
    if start_method is None:
        start_method = "fork" if "fork" in methods else "spawn"
    if start_method not in ("fork", "spawn") or start_method not in methods:
        raise ValueError(
            f"start_method must be one of {[m for m in ('fork', 'spawn') if m in methods]} on "
            f"this platform, got {start_method!r}"
        )
    return mp.get_context(start_method)


def _check_run(world: int, port, timeout, fail_rank) -> tuple[int, float, int | None]:
    """Checked (port, timeout, fail_rank) of a run on `world` ranks; port None picks a free one."""
    timeout = check_float(timeout, "timeout", low=1.0)
    if fail_rank is not None:
        fail_rank = check_int(fail_rank, "fail_rank", low=0, high=world - 1)
    if port is None:
        port = free_port()
    else:
        port = check_int(port, "port", low=1024, high=65535)
        _check_port_free(port)
    return port, timeout, fail_rank


def _run_ranks(ctx, worker, world, port, payload, fail_rank, timeout, what, on_message=None):
    """Start `worker(rank, world, port, *payload, results, fail_rank, release)` on every rank
    and collect one report per rank (a message whose [1] is the rank). A message
    ("error", rank, error, traceback) or a rank that dies or a run longer than `timeout`
    seconds stops every process and raises TierRunError naming `what`; `on_message(msg)`
    may consume other messages (progress) by returning True. Returns (reports, PSS per
    process, seconds from start to the last report)."""
    results, release = ctx.Queue(), ctx.Event()
    started, processes, reports = time.time(), [], {}
    try:
        for rank in range(world):
            args = (rank, world, port, *payload, results, fail_rank, release)
            p = ctx.Process(target=worker, args=args, daemon=True)
            p.start()
            processes.append(p)
        deadline = started + timeout
        while len(reports) < world:
            try:
                msg = results.get(timeout=0.2)
            except queue_module.Empty:
                if time.time() > deadline:
                    raise TierRunError(
                        f"{what} did not finish within timeout={timeout} s; every process has "
                        "been stopped"
                    ) from None
                dead = [r for r, p in enumerate(processes) if not p.is_alive() and r not in reports]
                if not dead:
                    continue
                try:  # give a dead rank's report a moment to arrive
                    msg = results.get(timeout=2.0)
                except queue_module.Empty:
                    raise TierRunError(
                        f"rank {dead[0]} of {world} exited (code {processes[dead[0]].exitcode}) "
                        "without reporting; every process has been stopped"
                    ) from None
            if msg[0] == "error":
                raise TierRunError(
                    f"rank {msg[1]} of {world} failed: {msg[2]}; every process has been "
                    f"stopped\n{msg[3]}"
                )
            if on_message is None or not on_message(msg):
                reports[msg[1]] = msg
        pss = _snapshot_pss(processes, release)
        _stop(processes, grace=5.0)
    finally:
        _stop(processes, grace=0.0)
        results.close()
        results.join_thread()
    return reports, pss, time.time() - started


def distributed_early_exit(
    model: MultiExitNet,
    x: torch.Tensor,
    thresholds,
    placement,
    world_size: int | None = None,
    criterion: str = "entropy",
    port: int | None = None,
    timeout: float = 60.0,
    fail_rank: int | None = None,
    start_method: str | None = None,
) -> DistributedResult:
    """Early exit across `world_size` processes, one per tier, talking gloo on 127.0.0.1.

    Rank t runs the blocks that `placement` maps to tier t and their exits; the rows still
    unresolved travel to rank t+1 as (row indices, embedding h_i), nothing else. Predictions
    and exits equal `early_exit_predict`'s on the same model and thresholds.

    port: None picks a free one; a port in use raises TierRunError. fail_rank makes that
    rank raise at start-up (to see the failure path). On any failure or after `timeout`
    seconds every process is stopped before TierRunError is raised.
    start_method: 'fork' (default where available: the ranks start in milliseconds) or
    'spawn' (fresh interpreters that import torch and mexit, a few seconds each; the worker
    is `mexit.tiers._tier_worker`, importable, so spawn works from a notebook too)."""
    from ._checks import check_thresholds

    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    criterion = _check_criterion(criterion)
    th = check_thresholds(thresholds, len(model.exits))
    L = model.num_blocks
    if isinstance(placement, (str, bytes)) or not isinstance(placement, Sequence):
        raise TypeError(f"placement must be a sequence of one tier per block, got {placement!r}")
    n_tiers = max(check_int(t, "placement entry", low=0) for t in placement) + 1
    if world_size is None:
        world_size = n_tiers
    world_size = check_int(world_size, "world_size", low=2, high=8)
    placement = check_placement(placement, L, world_size)
    if n_tiers != world_size:
        raise ValueError(
            f"world_size ({world_size}) does not match the placement, whose last block is on "
            f"tier {n_tiers - 1} ({n_tiers} ranks needed): {placement}"
        )
    port, timeout, fail_rank = _check_run(world_size, port, timeout, fail_rank)
    ctx = _start_context(start_method)
    x = x.detach().float().clone()  # the children share these copies, not the caller's
    model = copy.deepcopy(model).eval()
    payload = (model, x, th, placement, criterion)
    reports, pss, total = _run_ranks(
        ctx, _tier_worker, world_size, port, payload, fail_rank, timeout, "the distributed run"
    )

    N = x.shape[0]
    predictions = torch.full((N,), -1, dtype=torch.long)
    exit_index = torch.full((N,), -1, dtype=torch.long)
    sent, starts, ends, secs = [], [], [], []
    for rank in range(world_size):
        _, _, rows, pred, ex, s, t0, t1 = reports[rank]
        rows = torch.from_numpy(rows)
        predictions[rows] = torch.from_numpy(pred)
        exit_index[rows] = torch.from_numpy(ex)
        if rank < world_size - 1:
            sent.append(s)
        starts.append(t0)
        ends.append(t1)
        secs.append(t1 - t0)
    if (exit_index < 0).any():  # pragma: no cover - a protocol bug, not a user error
        raise TierRunError(f"{int((exit_index < 0).sum())} inputs got no answer")
    return DistributedResult(
        predictions=predictions,
        exit_index=exit_index,
        embedding_bytes=tuple(int(s[0]) for s in sent),
        overhead_bytes=tuple(int(s[1]) for s in sent),
        rows_sent=tuple(int(s[2]) for s in sent),
        wall_seconds=max(ends) - starts[0],
        total_seconds=total,
        rank_seconds=tuple(secs),
        pss_bytes=pss,
    )


def unresolved_embedding_bytes(exit_index, exits, placement, h_bytes) -> tuple[int, ...]:
    """Bytes each link must carry if only unresolved inputs cross it: for link t, the
    inputs exiting beyond tier t times the bytes of the embedding leaving tier t."""
    check_tensor(exit_index, "exit_index", ndim=1, dtype_kind="int")
    for name, value in (("exits", exits), ("placement", placement), ("h_bytes", h_bytes)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(f"{name} must be a sequence, got {type(value).__name__}")
    exits = tuple(check_int(e, "exits entry", low=1) for e in exits)
    placement = tuple(check_int(t, "placement entry", low=0) for t in placement)
    L = len(placement)
    if L == 0:
        raise ValueError("placement must give a tier to every block, got none")
    if len(h_bytes) != L + 1:
        raise ValueError(f"h_bytes must give the bytes of h_0..h_L ({L + 1}), got {len(h_bytes)}")
    out = []
    for t in range(max(placement)):
        on_or_before = [b for b in range(1, L + 1) if placement[b - 1] <= t]
        last = max(on_or_before) if on_or_before else 0
        k_last = max((exits.index(b) for b in exits if b <= last), default=-1)
        beyond = int((exit_index > k_last).sum())
        out.append(beyond * int(h_bytes[last]))
    return tuple(out)
