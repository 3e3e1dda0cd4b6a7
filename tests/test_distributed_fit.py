"""Several processes (issue 16): `python -m mexit.train` under `torchrun --standalone
--nproc_per_node 2`, two CPU ranks over gloo on loopback, DistributedDataParallel and a
DistributedSampler. The trained weights equal a one-process run with the same global batch
(to float tolerance: the two ranks' gradients are averaged instead of summed in one pass);
a rank killed mid-training makes the run fail loudly, within a timeout, without a
checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mexit.checkpoints import preserved_rng
from mexit.data import write_synthetic_cifar10
from mexit.train import main

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")
TIMEOUT = 300  # seconds; a hang fails the test instead of blocking the suite


def _torchrun(args, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "mexit.train"]
    return subprocess.run(
        command + args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def _one_process(args):
    with preserved_rng():
        return main(args)


def _assert_same_weights(single: dict, two: dict):
    assert single["state_dict"].keys() == two["state_dict"].keys()
    for k, v in single["state_dict"].items():
        torch.testing.assert_close(two["state_dict"][k], v, atol=2e-5, rtol=1e-4, msg=k)
    losses = [torch.tensor(p["history"]["train_loss"]) for p in (single, two)]
    torch.testing.assert_close(losses[1], losses[0], atol=1e-5, rtol=0)


@pytest.mark.skipif(not TORCHRUN.exists(), reason="no torchrun beside this python")
def test_two_gloo_ranks_train_as_one_process(tmp_path):
    common = ["--dataset", "mnist1d", "--backbone", "mlp", "--epochs", "1"]
    common += ["--batch-size", "64", "--lr", "3e-3", "--seed", "3"]
    single = _one_process([*common, "--out", str(tmp_path / "single.pt")])
    run = _torchrun([*common, "--out", str(tmp_path / "two.pt")], tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    two = torch.load(tmp_path / "two.pt", weights_only=True)
    assert two["config"]["world_size"] == 2 and single["config"]["world_size"] == 1
    _assert_same_weights(single, two)
    # the run trained: weights moved away from the seeded initialisation
    with preserved_rng():
        init = main([*common, "--epochs", "1", "--lr", "1e-12", "--out", str(tmp_path / "i.pt")])
    moved = [(two["state_dict"][k] - v).abs().max() for k, v in init["state_dict"].items()]
    assert max(moved) > 1e-3


@pytest.mark.skipif(not TORCHRUN.exists(), reason="no torchrun beside this python")
def test_two_ranks_streaming_cifar_files_train_as_one_process(tmp_path):
    write_synthetic_cifar10(tmp_path, train=200, test=20, seed=1)
    common = ["--dataset", "cifar10", "--data-dir", str(tmp_path), "--backbone", "mlp"]
    common += ["--epochs", "1", "--batch-size", "20", "--seed", "0"]
    single = _one_process([*common, "--out", str(tmp_path / "single.pt")])  # in memory
    run = _torchrun([*common, "--stream", "--workers", "1", "--out", "two.pt"], tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    _assert_same_weights(single, torch.load(tmp_path / "two.pt", weights_only=True))


@pytest.mark.skipif(not TORCHRUN.exists(), reason="no torchrun beside this python")
def test_a_killed_rank_fails_the_run_loudly(tmp_path):
    args = ["--dataset", "mnist1d", "--backbone", "mlp", "--epochs", "2", "--batch-size", "64"]
    run = _torchrun([*args, "--fail-rank", "1", "--out", "never.pt"], tmp_path)  # < TIMEOUT
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "ChildFailedError" in output and "SIGKILL" in output, output[-3000:]
    assert not (tmp_path / "never.pt").exists()
