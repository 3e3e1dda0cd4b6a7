"""Distributed *training* over tiers (survey §7.2, second half; §8 Challenge 2).

The survey: "LT methods lend themselves naturally to an iterative implementation, in which
every tier trains its own model before sending the new set of input features to the next
tier." That is what `distributed_train_by_tiers` runs, one process per tier talking
`torch.distributed` (gloo) on 127.0.0.1:

- tier t receives the training set's embeddings h_i (and labels) from tier t-1 (tier 0 holds
  x and y), trains the blocks a placement gives it together with their exits on the local
  multi-exit loss of those exits (eq. 6 restricted to the tier, every α = 1);
- then it sends f(h) of the whole training set, computed once with its trained blocks, to
  tier t+1. No gradient ever crosses a link: each tier is a stage of layer-wise training
  (§5.3), the tier's last block must carry an exit (its local loss).

`train_by_tiers` runs the same scheme in one process (same seeds, same order, one thread),
the reference a distributed run must reproduce. Memory is measured as processes really use
it: the proportional set size (`pss_bytes`, /proc/<pid>/smaps_rollup), which splits pages
that forked ranks share with the notebook instead of counting them once per process as the
resident set size does.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ._checks import check_float, check_int, check_labels, check_tensor
from .checkpoints import preserved_rng
from .models import MultiExitNet, device_and_dtype, embedding_shapes, eval_mode
from .seed import seed_everything
from .tiers import (
    _check_run,
    _join_group,
    _leave_group,
    _report_failure,
    _run_ranks,
    _start_context,
    check_placement,
    pss_bytes,
)
from .training import fit

WIRE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class TierTraining:
    """What per-tier layer-wise training did (see `distributed_train_by_tiers`)."""

    placement: tuple[int, ...]
    epochs: int  # per tier, over the whole training set
    embedding_bytes: tuple[int, ...]  # per link: bytes of the training embeddings sent
    label_bytes: tuple[int, ...]  # per link: labels and header
    tier_seconds: tuple[float, ...]  # training time of each tier's blocks and exits
    wall_seconds: float  # first training step on tier 0 → last tier done
    total_seconds: float  # including starting and stopping the processes
    pss_bytes: tuple[int, ...]  # per process, read at one moment: ranks, then the caller

    @property
    def bytes_sent(self) -> tuple[int, ...]:
        """Everything each link carried: embeddings, labels, header."""
        return tuple(e + b for e, b in zip(self.embedding_bytes, self.label_bytes))


def _tier_blocks(model: MultiExitNet, placement, tier: int) -> list[int]:
    return [b for b in range(1, model.num_blocks + 1) if placement[b - 1] == tier]


def check_training_placement(model: MultiExitNet, placement) -> tuple[int, ...]:
    """A placement fit for per-tier training: in tier order, every tier 0..T-1 holds a block,
    and the last block of every tier carries an exit of `model` (the tier's local loss)."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    if isinstance(placement, (str, bytes)) or not isinstance(placement, Sequence):
        raise TypeError(
            f"placement must be a sequence of one tier per block, got {type(placement).__name__}"
        )
    n_tiers = max((check_int(t, "placement entry", low=0) for t in placement), default=0) + 1
    placement = check_placement(placement, model.num_blocks, n_tiers)
    if n_tiers < 2:
        raise ValueError(f"placement must use at least 2 tiers to train over, got {placement}")
    for t in range(n_tiers):
        blocks = _tier_blocks(model, placement, t)
        if not blocks:
            raise ValueError(f"placement gives tier {t} no block to train: {placement}")
        if blocks[-1] not in model.exits:
            raise ValueError(
                f"placement ends tier {t} at block {blocks[-1]}, which has no exit (exits "
                f"{model.exits}): a tier trains on the loss of its own exits"
            )
    return placement


def _tier_net(model: MultiExitNet, blocks: list[int]) -> MultiExitNet:
    """The tier's blocks and their exits as a network of its own (modules shared)."""
    heads = {k: model.heads[str(b)] for k, b in enumerate(blocks, 1) if b in model.exits}
    return MultiExitNet([model.blocks[b - 1] for b in blocks], heads)


def _train_tier(model, placement, tier, h, y, epochs, lr, batch_size, seed):
    """Train tier `tier` on (h, y) in place; return its seconds. Seeded per (seed, tier)."""
    net = _tier_net(model, _tier_blocks(model, placement, tier))
    seed_everything(1000 * seed + tier)
    history = fit(net, h, y, epochs=epochs, lr=lr, batch_size=batch_size, progress=False, desc="")
    return history.seconds


def _forward_tier(model, placement, tier, h, wire_dtype, batch_size=1000):
    """f(h) of the tier's trained blocks (eval mode) over the whole set, as sent on the wire."""
    blocks = [model.blocks[b - 1] for b in _tier_blocks(model, placement, tier)]
    out = []
    with torch.no_grad():
        for s in range(0, h.shape[0], batch_size):
            z = h[s : s + batch_size]
            for block in blocks:
                block.eval()
                z = block(z)
            out.append(z)
    return torch.cat(out).to(wire_dtype).contiguous()


def _check_args(model, x, y, placement, epochs, lr, batch_size, seed, wire_dtype):
    placement = check_training_placement(model, placement)
    check_tensor(x, "x", dtype_kind="float")
    check_labels(y, x.shape[0], "y", num_classes=_num_classes(model, x))
    epochs = check_int(epochs, "epochs", low=1)
    lr = check_float(lr, "lr", low=0.0)
    if lr == 0:
        raise ValueError("lr must be > 0, got 0")
    batch_size = check_int(batch_size, "batch_size", low=1)
    seed = check_int(seed, "seed", low=0)
    if wire_dtype not in WIRE_DTYPES:
        raise ValueError(f"wire_dtype must be one of {WIRE_DTYPES}, got {wire_dtype!r}")
    return placement, epochs, lr, batch_size, seed


def _num_classes(model: MultiExitNet, x: torch.Tensor) -> int:
    """The number of classes `model` gives on `x` (a dummy pass on two rows, in eval mode,
    without gradient, every submodule's mode given back); inputs it cannot read are a
    ValueError naming `x`, never an error inside a layer."""
    device, dtype = device_and_dtype(model)
    try:
        with eval_mode(model), torch.no_grad():
            outputs = model(x[:2].to(device=device, dtype=dtype))
    except RuntimeError as err:
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit model: {err}") from None
    return int(outputs[-1].shape[-1])


@contextlib.contextmanager
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_by_tiers(
    model: MultiExitNet,
    x: torch.Tensor,
    y: torch.Tensor,
    placement,
    *,
    epochs: int = 3,
    lr: float = 3e-3,
    batch_size: int = 128,
    seed: int = 0,
    wire_dtype: torch.dtype = torch.float32,
    progress: bool = True,
) -> TierTraining:
    """Per-tier layer-wise training in this process: the reference for
    `distributed_train_by_tiers` (same seeds and order, one thread). Trains `model` in place;
    the bytes are those the links would carry (embeddings cast to `wire_dtype`)."""
    from tqdm.auto import tqdm

    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    placement, epochs, lr, batch_size, seed = _check_args(
        model, x, y, placement, epochs, lr, batch_size, seed, wire_dtype
    )
    n_tiers = max(placement) + 1
    h, y, seconds, emb, lab = x.detach().float(), y.detach().long(), [], [], []
    start = time.time()
    with preserved_rng(), _one_thread():
        for tier in tqdm(range(n_tiers), desc="training tier by tier", disable=not progress):
            seconds.append(_train_tier(model, placement, tier, h, y, epochs, lr, batch_size, seed))
            if tier < n_tiers - 1:
                wire = _forward_tier(model, placement, tier, h, wire_dtype)
                emb.append(wire.numel() * wire.element_size())
                lab.append(y.numel() * 8 + 2 * 8)
                h = wire.float()
    model.eval()
    wall = time.time() - start
    return TierTraining(
        placement=placement,
        epochs=epochs,
        embedding_bytes=tuple(emb),
        label_bytes=tuple(lab),
        tier_seconds=tuple(seconds),
        wall_seconds=wall,
        total_seconds=wall,
        pss_bytes=(pss_bytes(),),
    )


def _train_worker(rank, world, port, model, x, y, placement, cfg, results, fail, release):
    """One tier: receive (h, y) from rank-1 (rank 0 starts from x), train, send (f(h), y)
    to rank+1, report the tier's weights. Importable (spawn works too)."""
    import torch.distributed as dist

    try:
        _join_group(rank, world, port, fail, timeout_s=cfg["timeout"])
        epochs, lr, batch_size, seed, wire_dtype = (
            cfg[k] for k in ("epochs", "lr", "batch_size", "seed", "wire_dtype")
        )
        dist.barrier()  # every rank is up: the clock starts now
        start = time.time()
        if rank == 0:
            h = x
        else:
            level = max(b for b in range(1, model.num_blocks + 1) if placement[b - 1] < rank)
            shape = embedding_shapes(model.blocks, tuple(x.shape[1:]))[level - 1]
            header = torch.zeros(2, dtype=torch.long)
            dist.recv(header, src=rank - 1)
            n = int(header[0])
            wire = torch.zeros(n, *shape, dtype=wire_dtype)
            y = torch.zeros(n, dtype=torch.long)
            dist.recv(wire, src=rank - 1)
            dist.recv(y, src=rank - 1)
            h = wire.float()
        seconds = _train_tier(model, placement, rank, h, y, epochs, lr, batch_size, seed)
        results.put(("trained", rank, seconds))
        emb = lab = 0
        if rank < world - 1:
            wire = _forward_tier(model, placement, rank, h, wire_dtype)
            y = y.contiguous()
            header = torch.tensor([wire.shape[0], 0], dtype=torch.long)
            dist.send(header, dst=rank + 1)
            dist.send(wire, dst=rank + 1)
            dist.send(y, dst=rank + 1)
            emb = wire.numel() * wire.element_size()
            lab = y.numel() * y.element_size() + header.numel() * header.element_size()
        end = time.time()
        blocks = _tier_blocks(model, placement, rank)
        prefixes = tuple(f"blocks.{b - 1}." for b in blocks) + tuple(f"heads.{b}." for b in blocks)
        state = {
            k: v.detach().clone().numpy()
            for k, v in model.state_dict().items()
            if k.startswith(prefixes)
        }
        results.put(("ok", rank, state, seconds, emb, lab, start, end))
        _leave_group(release)
    except BaseException as err:
        _report_failure(results, rank, err)


def distributed_train_by_tiers(
    model: MultiExitNet,
    x: torch.Tensor,
    y: torch.Tensor,
    placement,
    *,
    epochs: int = 3,
    lr: float = 3e-3,
    batch_size: int = 128,
    seed: int = 0,
    wire_dtype: torch.dtype = torch.float32,
    port: int | None = None,
    timeout: float = 120.0,
    fail_rank: int | None = None,
    start_method: str | None = None,
    progress: bool = True,
) -> TierTraining:
    """Per-tier layer-wise training across processes, one per tier (gloo on 127.0.0.1).

    Tier t trains its blocks and their exits for `epochs` epochs (Adam, one-cycle to `lr`,
    batches of `batch_size`) on the embeddings tier t-1 sent, then sends f(h) of the whole
    training set (cast to `wire_dtype`: float16 halves the bytes) and the labels to tier
    t+1. The trained weights come back from the ranks and are loaded into `model` (in place).
    Same seeds and order as `train_by_tiers`, so both give the same network.

    port None picks a free one (a port in use raises TierRunError); fail_rank makes that
    rank raise at start-up; after `timeout` s or any failure every process is stopped before
    TierRunError is raised. start_method 'fork' (default where available) or 'spawn'."""
    from tqdm.auto import tqdm

    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    placement, epochs, lr, batch_size, seed = _check_args(
        model, x, y, placement, epochs, lr, batch_size, seed, wire_dtype
    )
    world = max(placement) + 1
    port, timeout, fail_rank = _check_run(world, port, timeout, fail_rank)
    ctx = _start_context(start_method)
    cfg = dict(
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        wire_dtype=wire_dtype,
        timeout=max(timeout, 10.0),
    )
    x0 = x.detach().float().clone()
    y0 = y.detach().long().clone()
    worker_model = copy.deepcopy(model)
    # import the optimiser's lazy modules (torch._dynamo, seconds) once, before forking, so
    # the ranks share them instead of importing them three times
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    bar = tqdm(total=world, desc=f"training on {world} tier processes", disable=not progress)

    def progress_message(msg) -> bool:
        if msg[0] == "trained":
            bar.update(1)
            return True
        return False

    try:
        reports, pss, total = _run_ranks(
            ctx,
            _train_worker,
            world,
            port,
            (worker_model, x0, y0, placement, cfg),
            fail_rank,
            timeout,
            "distributed training",
            on_message=progress_message,
        )
    finally:
        bar.close()
    state = model.state_dict()
    for rank in range(world):
        for k, v in reports[rank][2].items():
            state[k] = torch.from_numpy(v)
    model.load_state_dict(state)
    model.eval()
    ranks = [reports[r] for r in range(world)]
    return TierTraining(
        placement=placement,
        epochs=epochs,
        embedding_bytes=tuple(int(r[4]) for r in ranks[:-1]),
        label_bytes=tuple(int(r[5]) for r in ranks[:-1]),
        tier_seconds=tuple(float(r[3]) for r in ranks),
        wall_seconds=max(r[7] for r in ranks) - ranks[0][6],
        total_seconds=total,
        pss_bytes=pss,
    )
