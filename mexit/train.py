"""`python -m mexit.train`: joint training (eq. 6, every α_i = 1) of a multi-exit network
from the command line, on one process or several under `torchrun`.

    python -m mexit.train --dataset mnist1d --backbone mnist1d_cnn --epochs 20 --out m.pt
    python -m mexit.train --dataset cifar10 --data-dir ~/data --backbone resnet18 \\
        --device cuda --stream --workers 4 --out resnet18_exits.pt
    torchrun --standalone --nproc_per_node 2 -m mexit.train --dataset cifar10 ...

Under torchrun (WORLD_SIZE > 1) every process joins one process group (gloo on the CPU,
NCCL on CUDA, each rank on GPU LOCAL_RANK), `fit(..., distributed=True)` trains with
DistributedDataParallel and a DistributedSampler (`--batch-size` is the global batch), and
rank 0 alone writes the checkpoint: {"state_dict", "config", "history"}. A rank that dies
makes torchrun stop the others and exit non-zero; a rank that stops answering makes the
others fail after `--timeout` seconds (the process group's timeout) instead of hanging.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from datetime import timedelta
from pathlib import Path

import torch

__all__ = ["init_distributed", "main"]


def init_distributed(device=None, timeout: float = 120.0) -> tuple[int, int]:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the
    environment): NCCL when `device` is CUDA, else gloo (over the loopback interface when
    the master is this machine). Returns (rank, world size)."""
    import torch.distributed as dist

    from ._checks import check_float
    from .devices import check_device

    device = check_device(device)
    timeout = check_float(timeout, "timeout", low=1.0)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise ValueError(
            "init_distributed needs torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, "
            "MASTER_PORT): run under `torchrun --nproc_per_node N -m mexit.train ...`"
        )
    cuda = device is not None and device.type == "cuda"
    local = os.environ.get("MASTER_ADDR", "127.0.0.1") in ("127.0.0.1", "localhost", "::1")
    if not cuda and local and "GLOO_SOCKET_IFNAME" not in os.environ:
        loopback = [n for _, n in socket.if_nameindex() if n.startswith("lo")]
        if loopback:  # as mexit.tiers' ranks do: talk over the loopback interface
            os.environ["GLOO_SOCKET_IFNAME"] = loopback[0]
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(seconds=timeout))
    return dist.get_rank(), dist.get_world_size()


def _parse_args(argv=None) -> argparse.Namespace:
    """The command line of `python -m mexit.train` (see the module's docstring)."""
    p = argparse.ArgumentParser(prog="python -m mexit.train", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="mnist1d", help="a name of mexit.data.DATASETS")
    p.add_argument(
        "--backbone",
        default="reference",
        help="'reference' (the dataset's reference model), mnist1d_cnn, mlp, cnn2d, resnet18, "
        "resnet50, mobilenet_v3_small or vit",
    )
    p.add_argument("--data-dir", default=None, help="folder of the dataset's files")
    p.add_argument("--limit", type=int, default=None, help="first N train and test examples")
    p.add_argument("--stream", action="store_true", help="read images batch by batch")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (with --stream)")
    p.add_argument("--head", default=None, help="early heads: linear, mlp or pooled")
    p.add_argument("--exits", default=None, help="early exits, e.g. 1,2 (default: all)")
    p.add_argument("--weights", default=None, help="your checkpoint (torch.load, weights_only)")
    p.add_argument("--freeze-backbone", action="store_true", help="§5.4: train the heads only")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128, help="the global batch")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: cuda if present)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a rank waits for others")
    p.add_argument("--out", required=True, help="checkpoint file, written by rank 0")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--fail-rank", type=int, default=None, help=argparse.SUPPRESS)  # tests
    return p.parse_args(argv)


def _default_device(args, world: int) -> str:
    if args.device is not None:
        return args.device
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if world > 1 else "cuda"
    return "cpu"


def main(argv=None) -> dict:
    """Train as the command line says; returns what rank 0 saved (every rank returns it)."""
    from .runs import backbone_for, load_for
    from .seed import seed_everything
    from .training import fit_bundle

    if argv is not None and (isinstance(argv, str) or not all(isinstance(a, str) for a in argv)):
        raise TypeError(f"argv must be a list of command-line strings or None, got {argv!r}")
    args = _parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = _default_device(args, world)
    if device.startswith("cuda") and world > 1 and ":" not in device:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    rank = 0
    if world > 1:
        if device == "cpu":
            torch.set_num_threads(1)  # the ranks share the machine's cores
        rank, world = init_distributed(device, args.timeout)
    exits = None if args.exits is None else [int(e) for e in args.exits.split(",") if e]
    data = load_for(
        args.dataset, data_dir=args.data_dir, limit=args.limit,
        stream=args.stream, num_workers=args.workers,
    )  # fmt: skip
    seed_everything(args.seed)
    model = backbone_for(
        args.backbone, data, exits=exits, head=args.head, weights=args.weights,
        freeze_backbone=args.freeze_backbone,
    ).to(device)  # fmt: skip

    def die(step, _model):  # tests: this rank is killed (SIGKILL) after its second step
        if step == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    history = fit_bundle(
        model, data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        progress=args.progress and rank == 0, device=device, distributed=world > 1,
        on_step=die if args.fail_rank == rank else None,
    )  # fmt: skip
    config = {k: v for k, v in vars(args).items() if k not in ("out", "progress", "fail_rank")}
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config | {"world_size": world},
        "history": history.as_dict(),
    }
    if rank == 0:  # one writer: the other ranks hold the same weights
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        torch.save(payload, tmp)
        os.replace(tmp, out)
        print(
            f"saved {out} (rank 0 of {world}; final-exit validation accuracy "
            f"{history.final_accuracy[-1]:.4f}; {history.seconds:.1f} s)"
        )
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
