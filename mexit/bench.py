"""Benchmarks: `python -m mexit.bench [--full] [--json PATH] [--only SECTION ...]`, and
`python -m mexit.bench --markdown PATH` to render README's tables from a JSON. Measures and
prints; asserts nothing. Timings are interleaved A/B pairs on pinned threads (`--threads`,
default 1; `mexit.timing.time_ab`).

1. early_exit: early exit vs the plain network at batch 1, 64 and 1000 — the deployment form
   (`mexit.deploy`) and the readable `early_exit_predict` — beside the speedup the FLOPs predict.
2. width_sweep: the same, deployed, on the backbone made 1, 2, 4, 8 times wider.
3. policies: each exit policy's cost at the full model's accuracy, divided by the oracle's.
4. widgets: median `compute()` time of every explorer.
5. (--full) notebooks: every notebook run through papermill, wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import pretrained
from .cost import CostProfile, measure_costs
from .data import DataBundle, load_mnist1d
from .inference import (
    CRITERIA,
    early_exit_predict,
    evaluate_policy,
    exit_accuracies,
    exit_probs,
    simulate_exits,
)
from .models import MultiExitNet, eval_mode
from .policies import oracle_curve, threshold_for_loss
from .speed import deploy_speedup, fastest_exit_set, width_sweep
from .timing import median_seconds, time_ab

GRID = [i / 200 for i in range(201)]


BATCH_SIZES = (1, 64, 1000)
LOSSES = (0.0, 0.005, 0.01)
WIDTHS = (1, 2, 4, 8)


def bench_early_exit(
    model: MultiExitNet,
    costs: CostProfile,
    x,
    labels,
    batch_sizes=BATCH_SIZES,
    losses=LOSSES,
    repeats: int = 11,
    threads: int | None = 1,
    legacy: bool = True,
    clock: str = "wall",
) -> list[dict]:
    """Measured vs FLOP-predicted speedup of early exit over the plain network, at the entropy
    thresholds that lose `losses` of accuracy on (x, labels): the deployment form
    (`mexit.deploy`, against its own plain network: `mexit.speed.deploy_speedup`), and with
    `legacy` also `early_exit_predict` against the plain `nn.Module`. Batch 1 runs 300 inputs
    one by one; larger batches run up to 1000 inputs."""
    probs = exit_probs(model, x)
    Gamma = costs.Gamma(model.exits)
    plain_module = model.with_exits([])
    rows = []
    for loss in losses:
        beta = threshold_for_loss(probs, labels, loss)
        for bs in batch_sizes:
            n = min(len(x), 300 if bs == 1 else 1000)
            xs, ys = x[:n], labels[:n]
            policy = evaluate_policy(probs[:, :n], ys, beta, Gamma=Gamma, full_cost=costs.full)
            base = {
                "accuracy_loss_target": loss,
                "beta": beta,
                "batch_size": bs,
                "inputs": n,
                "accuracy": policy.accuracy,
                "predicted_speedup": 1 / policy.cost_fraction,
            }
            s = deploy_speedup(model, xs, beta, "entropy", bs, repeats, threads, costs, clock)
            rows.append(
                base
                | {
                    "form": "deploy",
                    "full_ms": s.ms_plain,
                    "early_exit_ms": s.ms_early_exit,
                    "realized_speedup": s.measured,
                    "realized_low": s.measured_low,
                    "realized_high": s.measured_high,
                    "realized_over_predicted": s.measured / base["predicted_speedup"],
                }
            )
            if not legacy:
                continue
            batches = list(xs.split(bs))

            def run_full(batches=batches):
                with eval_mode(plain_module), torch.inference_mode():
                    for b in batches:
                        plain_module(b)

            def run_exit(batches=batches, beta=beta):
                for b in batches:
                    early_exit_predict(model, b, beta, costs=costs)

            t = time_ab(
                run_full, run_exit, repeats=max(3, repeats // 2), threads=threads, clock=clock
            )
            rows.append(
                base
                | {
                    "form": "early_exit_predict",
                    "full_ms": 1e3 * t.seconds_a,
                    "early_exit_ms": 1e3 * t.seconds_b,
                    "realized_speedup": t.ratio,
                    "realized_low": t.ratio_low,
                    "realized_high": t.ratio_high,
                    "realized_over_predicted": t.ratio / base["predicted_speedup"],
                }
            )
    return rows


def bench_exit_sets(
    model: MultiExitNet,
    data: DataBundle,
    costs: CostProfile,
    batch_sizes=(1, 64),
    losses=(0.0, 0.01),
    repeats: int = 5,
    threads: int | None = 1,
    clock: str = "wall",
) -> list[dict]:
    """Exits chosen by measured time (`mexit.speed.fastest_exit_set`): for each batch size and
    accuracy loss, the exit subset and threshold are chosen on the validation split (timed on
    300 of its inputs at batch 1, else 1000), then the chosen deployment is timed against the
    deployed plain network on as many test inputs, and its accuracy read on the whole test
    split."""
    rows = []
    probs_full = exit_probs(model, data.x_test)
    full_acc = exit_accuracies(probs_full, data.y_test)[-1].item()
    for loss in losses:
        for bs in batch_sizes:
            n = 300 if bs == 1 else 1000
            ranked = fastest_exit_set(
                model,
                data.x_val,
                data.y_val,
                loss,
                bs,
                repeats=repeats,
                threads=threads,
                costs=costs,
                clock=clock,
                timed=n,
            )
            best = ranked[0]
            row = {
                "accuracy_loss_target": loss,
                "batch_size": bs,
                "exits": list(best["exits"]),
                "threshold": best["threshold"],
                "validation_speedup": best["measured_speedup"],
                "all_exits_validation_speedup": next(
                    r["measured_speedup"] for r in ranked if len(r["exits"]) == len(model.exits) - 1
                ),
            }
            if not best["exits"]:  # no subset pays: deploy the plain network
                rows.append(
                    row
                    | {"test_accuracy_loss": 0.0, "predicted_speedup": 1.0}
                    | {"measured_speedup": 1.0, "measured_low": 1.0, "measured_high": 1.0}
                )
                continue
            sub = model.with_exits(best["exits"])
            sub_probs = exit_probs(sub, data.x_test)
            acc = evaluate_policy(sub_probs, data.y_test, best["threshold"]).accuracy
            s = deploy_speedup(
                sub,
                data.x_test[:n],
                best["threshold"],
                "entropy",
                bs,
                2 * repeats,
                threads,
                costs,
                clock,
            )
            rows.append(
                row
                | {"test_accuracy_loss": full_acc - acc, "predicted_speedup": s.predicted}
                | {
                    "measured_speedup": s.measured,
                    "measured_low": s.measured_low,
                    "measured_high": s.measured_high,
                }
            )
    return rows


def bench_width(
    model: MultiExitNet, x, labels, loss: float = 0.01, repeats: int = 5, threads=1, clock="wall"
) -> list[dict]:
    """`mexit.speed.width_sweep` on 64 inputs, with the shares of inputs per exit that the
    reference model sends at the entropy threshold losing `loss` of accuracy on (x, labels)."""
    probs = exit_probs(model, x)
    beta = threshold_for_loss(probs, labels, loss)
    counts = torch.bincount(simulate_exits(probs, beta), minlength=len(model.exits))
    shares = (counts / counts.sum()).tolist()
    return width_sweep(
        x[:64], shares, WIDTHS, (1, 64), repeats=repeats, threads=threads, clock=clock
    )


def bench_policies(probs, labels, Gamma) -> list[dict]:
    """Cheapest mean cost at which each criterion matches the final exit's accuracy, over the
    oracle's least cost at that accuracy (`mexit.policies.oracle_curve`)."""
    full = exit_accuracies(probs, labels)[-1].item()
    oracle = oracle_curve(probs, labels, Gamma)
    oracle_cost = oracle.mean_flops[oracle.accuracy >= full - 1e-9].min().item()
    rows = []
    for criterion in CRITERIA:
        results = [evaluate_policy(probs, labels, t, criterion, Gamma=Gamma) for t in GRID]
        ok = [r.mean_flops for r in results if r.accuracy >= full - 1e-9]
        rows.append(
            {
                "policy": criterion,
                "cost_at_full_accuracy": min(ok),
                "oracle_cost": oracle_cost,
                "ratio_to_oracle": min(ok) / oracle_cost,
            }
        )
    return rows


def bench_policy_comparison(model, data, costs: CostProfile) -> list[dict]:
    """Every exit policy of notebook 06 (entropy, max-probability, learned, patience, Zero
    Time Waste, cost-weighted) at the full model's accuracy, −0.5 and −1 point, over the
    oracle's cost at the same accuracy: tuned on validation, reported on test
    (`mexit.policy_comparison.policy_rows`). The table prints the main columns only."""
    from .policy_comparison import policy_rows

    keep = ("policy", "accuracy_loss_points", "test_accuracy", "cost_fraction")
    keep += ("oracle_cost_fraction", "ratio_to_oracle", "test_read_ratio")
    return [{k: r[k] for k in keep} for r in policy_rows(model, data, costs)]


def every_widget(model, costs: CostProfile, probs, labels, input_shape=(1, 40)) -> dict:
    """One instance of every explorer of the notebooks, fed with the reference model's test
    outputs (compute time depends on the sizes — exits, inputs, classes — not on values)."""
    from . import tiers, widgets

    g = torch.Generator().manual_seed(0)
    E, N, _ = probs.shape
    exits, Gamma = model.exits, costs.Gamma(model.exits)
    variants = {name: probs[:, torch.randperm(N, generator=g)] for name in ("a", "b", "c")}
    gates = {
        lam: (probs, torch.rand(N, E - 1, generator=g, dtype=torch.float64))
        for lam in (0.0, 1.0, 4.0)
    }
    planes = {beta: [(float(8 - i), float(i)) for i in range(E)] for beta in (0.0, 0.1, 0.5)}
    system = tiers.tier_system([1e7, 1e9, 2e10], [0.01, 0.03], [1e6, 1.25e7])
    h_bytes = tiers.embedding_bytes(model, input_shape)
    return {
        "ThresholdExplorer": widgets.ThresholdExplorer(probs, labels, Gamma, costs.full, exits),
        "PlacementExplorer": widgets.PlacementExplorer(probs, labels, costs, exits),
        "PlacementSearchExplorer": widgets.PlacementSearchExplorer(probs, labels, costs, exits),
        "PolicyExplorer": widgets.PolicyExplorer(
            probs, labels, Gamma, costs.full, exits, costs=costs
        ),
        "CostRegExplorer": widgets.CostRegExplorer(
            gates, labels, Gamma, costs.full, exits, costs=costs
        ),
        "SchemeExplorer": widgets.SchemeExplorer(variants, labels, costs, exits),
        "StagesExplorer": widgets.StagesExplorer(probs, labels, costs, reference=probs),
        "HeadKindExplorer": widgets.HeadKindExplorer(
            variants, {k: dict(costs.gamma_c) for k in variants}, labels, costs, exits
        ),
        "FeedbackExplorer": widgets.FeedbackExplorer(
            variants, labels, {k: costs for k in variants}, exits
        ),
        "TierExplorer": widgets.TierExplorer(probs, labels, costs, exits, h_bytes, system),
        "InformationExplorer": widgets.InformationExplorer(
            planes, {b: probs for b in planes}, labels, {b: costs for b in planes}, exits
        ),
        "BackboneExplorer": widgets.BackboneExplorer(
            {k: (v, labels, costs, exits) for k, v in variants.items()}
        ),
    }


def _redraw_ms(w, repeats: int) -> float | None:
    """Median in-process compute + redraw of a live explorer after a threshold move (the
    figure updated in place and encoded); None for an explorer without a live view."""
    if not w.live or "threshold" not in w.controls:
        return None
    w.widget()
    slider, times = w.controls["threshold"], []
    start = slider.value
    for k in range(max(repeats, 3)):
        slider.value = round(slider.min + (0.2 + 0.6 * (k % 2)) * (slider.max - slider.min), 2)
        times.append(w.last_redraw_ms)
    slider.value = start
    return sorted(times)[len(times) // 2]


def bench_widgets(model, costs, probs, labels, repeats: int) -> list[dict]:
    """Median `compute()` latency of every explorer at its current control values, and of
    compute + redraw of its live figure after a threshold move."""
    rows = []
    for name, w in every_widget(model, costs, probs, labels).items():
        row = {"widget": name, "compute_ms": 1e3 * median_seconds(w.result, repeats)}
        redraw = _redraw_ms(w, repeats)
        if redraw is not None:
            row["redraw_ms"] = redraw
        rows.append(row)
    return rows


_RUN_NOTEBOOK = """
import resource, sys, time, papermill
from mexit import _nbclient_guard
_nbclient_guard.install()
start = time.perf_counter()
papermill.execute_notebook(sys.argv[1], sys.argv[2], cwd=sys.argv[3], progress_bar=False)
wall = time.perf_counter() - start
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(wall, kids)
"""


def bench_notebooks(folder: Path) -> list[dict]:
    """Run every notebook with papermill in a fresh process: wall time and the kernel's peak
    RSS (ru_maxrss of the kernel process, which runs the notebook's code)."""
    rows = []
    for nb in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        out = Path("/tmp") / f"mexit-bench-{nb.name}"
        proc = subprocess.run(
            [sys.executable, "-c", _RUN_NOTEBOOK, str(nb), str(out), str(folder)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            rows.append({"notebook": nb.name, "error": proc.stderr.strip().splitlines()[-1]})
            continue
        wall, rss_kb = proc.stdout.split()[-2:]
        rows.append(
            {"notebook": nb.name, "seconds": float(wall), "peak_rss_mb": int(rss_kb) / 1024}
        )
    return rows


def _table(rows: list[dict]) -> str:
    if not rows:
        return "(nothing)"
    cols = list(rows[0])
    fmt = [[f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()] for r in rows]
    width = [max(len(c), *(len(f[i]) for f in fmt)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, width))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(f, width)) for f in fmt]
    return "\n".join(lines)


def _cpu_name() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _md_early_exit(rows: list[dict]) -> list[str]:
    out = [
        "**Early exit vs the plain network**, at the entropy thresholds β that lose 0, 0.5 and "
        "1 point of test accuracy: *deploy* is `mexit.deploy` (batch norm folded, a batch-1 "
        "path) against the plain network in the same form; *early_exit_predict* the readable "
        "version against the plain `nn.Module`. Predicted speedup = FLOPs of the plain network "
        "/ mean FLOPs spent; measured = median of interleaved pairs (interquartile range):",
        "",
        "| accuracy loss | β | batch | form | accuracy | plain (ms) | early exit (ms) "
        "| predicted | measured | measured / predicted |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        spread = (
            f" ({r['realized_low']:.2f}–{r['realized_high']:.2f})" if "realized_low" in r else ""
        )
        out.append(
            f"| {100 * r['accuracy_loss_target']:.1f} pt | {r['beta']:.3f} | {r['batch_size']} "
            f"| {r.get('form', 'early_exit_predict')} | {100 * r['accuracy']:.1f} % "
            f"| {r['full_ms']:.1f} | {r['early_exit_ms']:.1f} | {r['predicted_speedup']:.2f}× "
            f"| {r['realized_speedup']:.2f}×{spread} | {r['realized_over_predicted']:.2f} |"
        )
    return out


def _md_exit_sets(rows: list[dict]) -> list[str]:
    out = [
        "**Exits chosen by measured time** (`mexit.speed.fastest_exit_set`): every subset of "
        "the early exits, its entropy threshold tuned for the accuracy loss and its deployment "
        "timed on validation inputs; the fastest (the plain network included, so never slower) "
        "is timed again on test inputs:",
        "",
        "| accuracy loss (target) | batch | exits kept | β | test accuracy loss "
        "| predicted | measured on test | all exits, on validation |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        kept = ", ".join(map(str, r["exits"])) or "none (plain network)"
        beta = "—" if r["threshold"] is None else f"{r['threshold']:.3f}"
        out.append(
            f"| {100 * r['accuracy_loss_target']:.1f} pt | {r['batch_size']} | {kept} | {beta} "
            f"| {100 * r['test_accuracy_loss']:.1f} pt | {r['predicted_speedup']:.2f}× "
            f"| {r['measured_speedup']:.2f}× ({r['measured_low']:.2f}–{r['measured_high']:.2f}) "
            f"| {r['all_exits_validation_speedup']:.2f}× |"
        )
    return out


def _md_width(rows: list[dict]) -> list[str]:
    out = [
        "**FLOPs are not seconds — until compute dominates overhead**: the reference backbone "
        "made m times wider (untrained; thresholds send the reference model's share of inputs "
        "to each exit), deployed, early exit vs plain (`mexit.speed.width_sweep`):",
        "",
        "| width × | kFLOPs / input | batch | predicted | measured | measured / predicted |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['multiplier']} | {r['kflops_per_input']:.0f} | {r['batch_size']} "
            f"| {r['predicted_speedup']:.2f}× | {r['measured_speedup']:.2f}× "
            f"({r['measured_low']:.2f}–{r['measured_high']:.2f}) "
            f"| {r['measured_over_predicted']:.2f} |"
        )
    return out


def _md_policies(rows: list[dict]) -> list[str]:
    out = [
        "**Policies vs the oracle** — cheapest mean cost at which a threshold policy matches "
        "the final exit's accuracy, divided by the least cost any assignment of inputs to "
        "exits needs for that accuracy:",
        "",
        "| policy | cost at full accuracy (kFLOPs) | oracle (kFLOPs) | ratio |",
        "|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['policy']} | {r['cost_at_full_accuracy'] / 1e3:.1f} "
            f"| {r['oracle_cost'] / 1e3:.1f} | {r['ratio_to_oracle']:.2f} |"
        )
    return out


def _md_policy_comparison(rows: list[dict]) -> list[str]:
    def cell(value, fmt, unit=""):
        return "not reached" if value is None else format(value, fmt) + unit

    out = [
        "**Every policy of notebook 06 vs the oracle** (`mexit.policy_comparison`): thresholds "
        "tuned on the validation split for the full model's accuracy, −0.5 and −1 point, "
        "read on the test split; ratio = the policy's mean cost over the oracle's least cost "
        "at the same test accuracy (in brackets: the optimistic reading, tuned on test):",
        "",
        "| policy | accuracy loss | test accuracy | cost (% of plain) | oracle (% of plain) "
        "| ratio to oracle |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        acc = None if r["test_accuracy"] is None else 100 * r["test_accuracy"]
        cost = None if r["cost_fraction"] is None else 100 * r["cost_fraction"]
        oracle = None if r["oracle_cost_fraction"] is None else 100 * r["oracle_cost_fraction"]
        out.append(
            f"| {r['policy']} | {r['accuracy_loss_points']:.1f} pt | {cell(acc, '.1f', ' %')} "
            f"| {cell(cost, '.1f')} | {cell(oracle, '.1f')} | {cell(r['ratio_to_oracle'], '.2f')}"
            f" ({cell(r['test_read_ratio'], '.2f')}) |"
        )
    return out


def _md_widgets(rows: list[dict]) -> list[str]:
    widgets = ", ".join(f"{r['widget']} {r['compute_ms']:.1f} ms" for r in rows)
    out = [f"**Widgets** — median `compute()` time: {widgets}."]
    redraws = [r for r in rows if "redraw_ms" in r]
    if redraws:
        text = ", ".join(f"{r['widget']} {r['redraw_ms']:.1f} ms" for r in redraws)
        out += [
            "",
            "**Explorers** — median compute + redraw of the live figure in the kernel after a "
            f"threshold move (the browser adds its round trip): {text}.",
        ]
    return out


def _md_browser(browser: dict) -> list[str]:
    out = []
    latency = browser.get("latency", {}).get("explorers", {})
    if latency:
        out += [
            "**Explorers in the browser** (`tests/test_browser.py`, JupyterLab in headless "
            "Chromium): from the input event to the explorer's last redraw, over 7 moves of its "
            "main slider (target: median < 150 ms):",
            "",
            "| explorer (notebook-variable-slider) | median (ms) | fastest–slowest (ms) |",
            "|---|---|---|",
        ]
        for name, r in latency.items():
            moves = r["moves_ms"]
            out.append(f"| {name} | {r['median_ms']:.0f} | {min(moves):.0f}–{max(moves):.0f} |")
    voila = browser.get("voila", {})
    if voila:
        out += [
            "",
            "**Voila** (`tests/test_voila.py`): the notebook's own run (what a page without a "
            "pre-heated kernel shows blank) and, with a pre-heated kernel, page request → first "
            "widget (target < 5 s):",
            "",
            "| notebook | notebook run (s) | first widget, pre-heated (s) |",
            "|---|---|---|",
        ]
        for name, r in voila.items():
            out.append(f"| {name} | {r['notebook_run_s']:.1f} | {r['first_widget_s']:.1f} |")
    return out


def _md_notebooks(rows: list[dict]) -> list[str]:
    out = [
        "**Notebooks** (papermill, in order, one fresh kernel each; the chapters' trained models "
        "as cached on this machine; a clean clone trains them on first run):",
        "",
        "| notebook | wall time (s) | peak RSS (MB) |",
        "|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['notebook']} | error: {r['error']} | |")
        else:
            out.append(f"| {r['notebook']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} |")
    return out


@dataclass
class Bench:
    """What every section of the benchmark may use (built once by `main`)."""

    data: DataBundle
    model: MultiExitNet
    costs: CostProfile
    probs: torch.Tensor  # (E, N, K) test outputs of every exit
    repeats: int
    threads: int | None
    notebooks: Path
    clock: str = "wall"


# The benchmark's sections, run in this order: (key in the results and the JSON, rows from a
# `Bench`). A new table is one more entry here and one in MARKDOWN (its README rendering).
SECTIONS: list[tuple[str, Callable[[Bench], list[dict]]]] = [
    (
        "early_exit",
        lambda b: bench_early_exit(
            b.model,
            b.costs,
            b.data.x_test,
            b.data.y_test,
            repeats=b.repeats,
            threads=b.threads,
            clock=b.clock,
        ),
    ),
    (
        "exit_sets",
        lambda b: bench_exit_sets(
            b.model,
            b.data,
            b.costs,
            repeats=max(3, b.repeats // 2),
            threads=b.threads,
            clock=b.clock,
        ),
    ),
    (
        "width_sweep",
        lambda b: bench_width(
            b.model,
            b.data.x_test,
            b.data.y_test,
            repeats=max(3, b.repeats // 2),
            threads=b.threads,
            clock=b.clock,
        ),
    ),
    ("policies", lambda b: bench_policies(b.probs, b.data.y_test, b.costs.Gamma(b.model.exits))),
    ("policy_comparison", lambda b: bench_policy_comparison(b.model, b.data, b.costs)),
    ("widgets", lambda b: bench_widgets(b.model, b.costs, b.probs, b.data.y_test, 5 * b.repeats)),
]
FULL_SECTIONS = [("notebooks", lambda b: bench_notebooks(b.notebooks))]  # with --full only
MARKDOWN: dict[str, Callable[[list[dict]], list[str]]] = {
    "early_exit": _md_early_exit,
    "exit_sets": _md_exit_sets,
    "width_sweep": _md_width,
    "policies": _md_policies,
    "policy_comparison": _md_policy_comparison,
    "widgets": _md_widgets,
    "notebooks": _md_notebooks,
    "browser": _md_browser,
}


def _commit() -> str:
    """The git commit of the package's checkout ('unknown' outside a git work tree)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def machine(threads: int | None, clock: str = "wall") -> dict:
    """The machine a run measured: CPU model, cores, the PyTorch threads the timings were
    pinned to, the clock they read, torch version, the package's commit and the load average
    when it started."""
    return {
        "clock": clock,
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads() if threads is None else threads,
        "torch": torch.__version__,
        "commit": _commit(),
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def markdown(results: dict) -> str:
    """README's benchmark tables, rendered from the results `main` writes with --json."""
    m = results.get("machine", {})
    load = m.get("load_average")
    out = [
        f"Machine: {m.get('cpu', 'unknown CPU')}, {m.get('cores', '?')} cores, "
        f"{m.get('threads', '?')} PyTorch thread(s), torch {m.get('torch', '?')}"
        + (f", commit {m['commit']}" if m.get("commit") else "")
        + (f", load average {load:.1f} at the start" if load is not None else "")
        + "."
        + (
            " Timings in CPU time of the timing thread (time spent descheduled by other "
            "programs left out)."
            if m.get("clock") == "cpu"
            else ""
        )
    ]
    for key, render in MARKDOWN.items():
        if results.get(key):
            out += [""] + render(results[key])
    return "\n".join(out)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m mexit.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--full", action="store_true", help="more repeats, and run every notebook (several minutes)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--notebooks", type=Path, default=Path(__file__).resolve().parent.parent / "notebooks"
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        help="print README's tables from a JSON file written by --json, and measure nothing",
    )
    parser.add_argument(
        "--browser",
        type=Path,
        help="with --markdown: also render the browser tests' latency.json and voila.json "
        "from this folder (artifacts/browser after `pytest tests/test_browser.py "
        "tests/test_voila.py`)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="PyTorch threads the timings are pinned to"
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or the timing thread's CPU time (on a machine shared with other work)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="SECTION",
        help="run only these sections: " + ", ".join(k for k, _ in SECTIONS + FULL_SECTIONS),
    )
    args = parser.parse_args(argv)
    if args.markdown is not None:
        results = json.loads(args.markdown.read_text())
        if args.browser is not None:
            results["browser"] = {
                name: json.loads((args.browser / f"{name}.json").read_text())
                for name in ("latency", "voila")
                if (args.browser / f"{name}.json").exists()
            }
        print(markdown(results))
        return results
    known = [k for k, _ in SECTIONS + FULL_SECTIONS]
    if args.only and not set(args.only) <= set(known):
        parser.error(f"--only must name sections among {known}, got {args.only}")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.clock == "cpu" and args.threads != 1:
        parser.error("--clock cpu needs --threads 1")
    start = time.perf_counter()
    data = load_mnist1d()
    model = pretrained("mnist1d_cnn", progress=False)
    costs = measure_costs(model, data.input_shape)
    bench = Bench(
        data=data,
        model=model,
        costs=costs,
        probs=exit_probs(model, data.x_test),
        repeats=21 if args.full else 11,
        threads=args.threads,
        notebooks=args.notebooks,
        clock=args.clock,
    )
    results: dict = {"machine": machine(args.threads, args.clock)}
    for key, section in SECTIONS + (FULL_SECTIONS if args.full else []):
        if args.only and key not in args.only:
            continue
        results[key] = section(bench)
        print(f"\n## {key}\n{_table(results[key])}", flush=True)
    results["seconds"] = time.perf_counter() - start
    print(
        f"\n({results['seconds']:.0f} s; peak RSS of this process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
