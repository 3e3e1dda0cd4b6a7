"""Benchmarks: `python -m mexit.bench [--full] [--json PATH]`. Measures and prints; asserts nothing.

1. Real early exit vs the full backbone (wall clock, medians over repeats, warm-up first),
   beside the speedup the FLOPs predict.
2. Each exit policy's cost at the full model's accuracy, divided by the oracle's.
3. Widget latency: median `compute()` time.
4. (--full) every notebook run through papermill: wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

import torch

from .checkpoints import pretrained
from .cost import CostProfile, measure_costs
from .data import load_mnist1d
from .inference import (
    CRITERIA,
    early_exit_predict,
    evaluate_policy,
    exit_accuracies,
    exit_probs,
)
from .models import MultiExitNet
from .policies import oracle_curve, threshold_for_loss
from .timing import median_seconds, time_ab

GRID = [i / 200 for i in range(201)]


def bench_early_exit(
    model: MultiExitNet, costs: CostProfile, x, labels, batch_sizes, losses, repeats: int
) -> list[dict]:
    """Measured vs FLOP-predicted speedup of `early_exit_predict` over the plain backbone."""
    plain = model.with_exits([])
    probs = exit_probs(model, x)
    Gamma = costs.Gamma(model.exits)
    rows = []
    for loss in losses:
        beta = threshold_for_loss(probs, labels, loss)
        for bs in batch_sizes:
            n = min(len(x), 200 if bs == 1 else 1000)  # batch 1: 200 inputs one by one
            batches = [x[s : s + bs] for s in range(0, n, bs)]
            policy = evaluate_policy(
                probs[:, :n], labels[:n], beta, Gamma=Gamma, full_cost=costs.full
            )

            def run_full(batches=batches):
                with torch.inference_mode():
                    for b in batches:
                        plain(b)

            def run_exit(batches=batches, beta=beta):
                for b in batches:
                    early_exit_predict(model, b, beta, costs=costs)

            t = time_ab(run_full, run_exit, repeats=repeats, threads=None)
            t_full, t_exit = t.seconds_a, t.seconds_b
            predicted = 1 / policy.cost_fraction
            realized = t.ratio
            rows.append(
                {
                    "accuracy_loss_target": loss,
                    "beta": beta,
                    "batch_size": bs,
                    "inputs": n,
                    "accuracy": policy.accuracy,
                    "full_ms": 1e3 * t_full,
                    "early_exit_ms": 1e3 * t_exit,
                    "predicted_speedup": predicted,
                    "realized_speedup": realized,
                    "realized_low": t.ratio_low,
                    "realized_high": t.ratio_high,
                    "realized_over_predicted": realized / predicted,
                }
            )
    return rows


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


def markdown(results: dict) -> str:
    """README's benchmark tables, rendered from the results `main` writes with --json."""
    m = results.get("machine", {})
    out = [
        f"Machine: {m.get('cpu', 'unknown CPU')}, {m.get('cores', '?')} cores, "
        f"{m.get('threads', '?')} PyTorch threads, torch {m.get('torch', '?')}.",
        "",
        "**Real early exit** (`early_exit_predict`) vs the plain backbone, at the entropy "
        "thresholds β that lose 0, 0.5 and 1 point of test accuracy; predicted speedup = FLOPs "
        "of the plain network / mean FLOPs spent; measured = median of interleaved pairs "
        "(interquartile range):",
        "",
        "| accuracy loss | β | batch | accuracy | plain (ms) | early exit (ms) | predicted "
        "| measured | measured / predicted |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results.get("early_exit", []):
        spread = (
            f" ({r['realized_low']:.2f}–{r['realized_high']:.2f})" if "realized_low" in r else ""
        )
        out.append(
            f"| {100 * r['accuracy_loss_target']:.1f} pt | {r['beta']:.3f} | {r['batch_size']} "
            f"| {100 * r['accuracy']:.1f} % | {r['full_ms']:.1f} | {r['early_exit_ms']:.1f} "
            f"| {r['predicted_speedup']:.2f}× | {r['realized_speedup']:.2f}×{spread} "
            f"| {r['realized_over_predicted']:.2f} |"
        )
    out += [
        "",
        "**Policies vs the oracle** — cheapest mean cost at which a threshold policy matches "
        "the final exit's accuracy, divided by the least cost any assignment of inputs to "
        "exits needs for that accuracy:",
        "",
        "| policy | cost at full accuracy (kFLOPs) | oracle (kFLOPs) | ratio |",
        "|---|---|---|---|",
    ]
    for r in results.get("policies", []):
        out.append(
            f"| {r['policy']} | {r['cost_at_full_accuracy'] / 1e3:.1f} "
            f"| {r['oracle_cost'] / 1e3:.1f} | {r['ratio_to_oracle']:.2f} |"
        )
    widgets = ", ".join(f"{r['widget']} {r['compute_ms']:.1f} ms" for r in results["widgets"])
    out += ["", f"**Widgets** — median `compute()` time: {widgets}."]
    redraws = [r for r in results["widgets"] if "redraw_ms" in r]
    if redraws:
        text = ", ".join(f"{r['widget']} {r['redraw_ms']:.1f} ms" for r in redraws)
        out += [
            "",
            "**Explorers** — median compute + redraw of the live figure in the kernel after a "
            f"threshold move (the browser adds its round trip): {text}.",
        ]
    if "notebooks" in results:
        out += [
            "",
            "**Notebooks** (papermill, cold caches, in order):",
            "",
            "| notebook | wall time (s) | peak RSS (MB) |",
            "|---|---|---|",
        ]
        for r in results["notebooks"]:
            if "error" in r:
                out.append(f"| {r['notebook']} | error: {r['error']} | |")
            else:
                out.append(f"| {r['notebook']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} |")
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
    args = parser.parse_args(argv)
    if args.markdown is not None:
        results = json.loads(args.markdown.read_text())
        print(markdown(results))
        return results
    repeats = 15 if args.full else 5

    data = load_mnist1d()
    model = pretrained("mnist1d_cnn", progress=False)
    costs = measure_costs(model, data.input_shape)
    probs = exit_probs(model, data.x_test)
    results = {
        "machine": {
            "cpu": _cpu_name(),
            "cores": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "early_exit": bench_early_exit(
            model, costs, data.x_test, data.y_test, (1, 64, 1000), (0.0, 0.005, 0.01), repeats
        ),
        "policies": bench_policies(probs, data.y_test, costs.Gamma(model.exits)),
        "widgets": bench_widgets(model, costs, probs, data.y_test, 5 * repeats),
    }
    if args.full:
        results["notebooks"] = bench_notebooks(args.notebooks)
    for name, rows in results.items():
        if isinstance(rows, list):
            print(f"\n## {name}\n{_table(rows)}")
    print(
        f"\n(peak RSS of this process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
