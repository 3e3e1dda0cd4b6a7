"""The benchmark's helpers compute what they claim (speed itself is never asserted)."""

import json
from pathlib import Path

import torch

import mexit
from mexit import bench


def test_threshold_for_loss_is_the_loosest_that_keeps_accuracy(make_probs):
    probs, labels = make_probs()
    full = mexit.exit_accuracies(probs, labels)[-1].item()
    for loss in (0.0, 0.05, 0.2):
        beta = mexit.policies.threshold_for_loss(probs, labels, loss)
        assert mexit.evaluate_policy(probs, labels, beta).accuracy >= full - loss - 1e-9
        looser = [t for t in [i / 200 for i in range(201)] if t > beta]
        assert all(
            mexit.evaluate_policy(probs, labels, t).accuracy < full - loss - 1e-9
            for t in looser[:1]
        )


def test_policies_never_beat_the_oracle(make_probs):
    probs, labels = make_probs()
    Gamma = torch.tensor([1.0, 3.0, 7.0])[: probs.shape[0]]
    for row in bench.bench_policies(probs, labels, Gamma):
        assert row["ratio_to_oracle"] >= 1.0 - 1e-9


def test_median_seconds_runs_warmup_and_repeats():
    calls = []
    t = mexit.timing.median_seconds(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7 and t >= 0.0


def test_time_ab_interleaves_and_reports_the_ratio_of_each_pair():
    import time

    order = []

    def slow():
        order.append("a")
        time.sleep(0.004)

    def fast():
        order.append("b")
        time.sleep(0.001)

    t = mexit.timing.time_ab(slow, fast, repeats=6, warmup=1, threads=1)
    # warm-up a b, then pairs alternate which runs first: a b, b a, a b, ...
    assert order[:6] == ["a", "b", "a", "b", "b", "a"]
    assert len(order) == 2 + 12
    assert t.ratio_low <= t.ratio <= t.ratio_high
    assert 2.0 < t.ratio < 6.0 and t.threads == 1


def test_time_ab_on_the_cpu_clock_leaves_out_time_spent_waiting():
    import time

    def wait():
        time.sleep(0.006)

    def spin():
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass

    wall = mexit.timing.time_ab(wait, spin, repeats=3, warmup=0, threads=1)
    cpu = mexit.timing.time_ab(wait, spin, repeats=3, warmup=0, threads=1, clock="cpu")
    assert wall.seconds_a > wall.seconds_b and wall.clock == "wall"
    assert cpu.seconds_a < cpu.seconds_b and cpu.clock == "cpu"
    assert "cpu time" in str(cpu) and "cpu time" not in str(wall)


def test_every_explorer_of_the_package_is_benchmarked(make_cnn):
    model = make_cnn()
    x = torch.randn(30, 1, 16)
    costs = mexit.measure_costs(model, (1, 16))
    probs = mexit.exit_probs(model, x)
    labels = torch.randint(0, probs.shape[-1], (30,))
    made = bench.every_widget(model, costs, probs, labels, input_shape=(1, 16))
    explorers = {n for n in mexit.widgets.__all__ if n != "Explorer"}
    assert set(made) == explorers
    for w in made.values():
        r = w.result()
        assert 0.0 <= r["accuracy"] <= 1.0


RESULTS = {
    "machine": {
        "cpu": "Test CPU",
        "cores": 2,
        "threads": 1,
        "torch": "x",
        "commit": "abc1234",
        "load_average": 3.25,
        "clock": "cpu",
    },
    "early_exit": [
        dict(
            accuracy_loss_target=0.005,
            beta=0.465,
            batch_size=64,
            inputs=1000,
            accuracy=0.962,
            predicted_speedup=2.13,
            form="deploy",
            full_ms=27.6,
            early_exit_ms=45.0,
            realized_speedup=0.61,
            realized_low=0.55,
            realized_high=0.7,
            realized_over_predicted=0.29,
        )
    ],
    "exit_sets": [
        dict(
            accuracy_loss_target=0.01,
            batch_size=1,
            exits=[3],
            threshold=0.56,
            validation_speedup=1.25,
            all_exits_validation_speedup=0.93,
            test_accuracy_loss=0.0102,
            predicted_speedup=1.99,
            measured_speedup=1.22,
            measured_low=1.19,
            measured_high=1.24,
        ),
        dict(
            accuracy_loss_target=0.0,
            batch_size=64,
            exits=[],
            threshold=None,
            validation_speedup=1.0,
            all_exits_validation_speedup=0.8,
            test_accuracy_loss=0.0,
            predicted_speedup=1.0,
            measured_speedup=1.0,
            measured_low=1.0,
            measured_high=1.0,
        ),
    ],
    "width_sweep": [
        dict(
            multiplier=4,
            kflops_per_input=6906.9,
            batch_size=1,
            inputs=64,
            exit_counts=[0, 16, 41, 7],
            predicted_speedup=2.37,
            measured_speedup=2.2,
            measured_low=1.93,
            measured_high=2.29,
            measured_over_predicted=0.929,
            ms_plain=65.5,
            ms_early_exit=29.7,
        )
    ],
    "policies": [
        dict(
            policy="entropy",
            cost_at_full_accuracy=231100.0,
            oracle_cost=72600.0,
            ratio_to_oracle=3.18,
        )
    ],
    "policy_comparison": [
        dict(
            policy="zero_time_waste",
            accuracy_loss_points=1.0,
            test_accuracy=0.951,
            cost_fraction=0.391,
            oracle_cost_fraction=0.153,
            ratio_to_oracle=2.55,
            test_read_ratio=2.65,
        ),
        dict(
            policy="cost_weighted",
            accuracy_loss_points=0.0,
            test_accuracy=None,
            cost_fraction=None,
            oracle_cost_fraction=None,
            ratio_to_oracle=None,
            test_read_ratio=3.1,
        ),
    ],
    "widgets": [
        dict(widget="ThresholdExplorer", compute_ms=1.04, redraw_ms=12.34),
        dict(widget="PolicyExplorer", compute_ms=2.0),
    ],
    "notebooks": [
        dict(notebook="00_index.ipynb", seconds=8.23, peak_rss_mb=880.4),
        dict(notebook="01_model.ipynb", error="boom"),
    ],
}


def test_markdown_renders_every_row_of_the_results(tmp_path, capsys):
    text = bench.markdown(RESULTS)
    assert text.startswith(
        "Machine: Test CPU, 2 cores, 1 PyTorch thread(s), torch x, commit abc1234, "
        "load average 3.2 at the start. Timings in CPU time of the timing thread"
    )
    assert (
        "| 0.5 pt | 0.465 | 64 | deploy | 96.2 % | 27.6 | 45.0 | 2.13× | 0.61× (0.55–0.70) "
        "| 0.29 |" in text
    )
    assert "| 4 | 6907 | 1 | 2.37× | 2.20× (1.93–2.29) | 0.93 |" in text
    assert "| 1.0 pt | 1 | 3 | 0.560 | 1.0 pt | 1.99× | 1.22× (1.19–1.24) | 0.93× |" in text
    assert "| 0.0 pt | 64 | none (plain network) | — | 0.0 pt | 1.00× | 1.00× (1.00–1.00)" in text
    assert "| zero_time_waste | 1.0 pt | 95.1 % | 39.1 | 15.3 | 2.55 (2.65) |" in text
    assert (
        "| cost_weighted | 0.0 pt | not reached | not reached | not reached | not reached (3.10) |"
        in text
    )
    assert "| entropy | 231.1 | 72.6 | 3.18 |" in text
    assert "ThresholdExplorer 1.0 ms" in text
    assert "threshold move (the browser adds its round trip): ThresholdExplorer 12.3 ms." in text
    assert "| 00_index.ipynb | 8.2 | 880 |" in text and "error: boom" in text
    # one table per section present, in the order of bench.MARKDOWN; absent sections vanish
    heads = [text.index(w) for w in ("**Early exit", "**FLOPs are not", "**Policies", "**Widg")]
    assert heads == sorted(heads)
    partial = bench.markdown({"machine": RESULTS["machine"], "policies": RESULTS["policies"]})
    assert "**Policies" in partial and "**Early exit" not in partial
    path = tmp_path / "r.json"
    path.write_text(json.dumps(RESULTS))
    bench.main(["--markdown", str(path)])
    assert capsys.readouterr().out.strip() == text


def test_every_section_has_a_rendering_and_a_unique_key():
    keys = [k for k, _ in bench.SECTIONS + bench.FULL_SECTIONS]
    assert len(keys) == len(set(keys))
    assert set(keys) <= set(bench.MARKDOWN)


def test_machine_names_the_cpu_threads_and_commit():
    m = bench.machine(1, "cpu")
    assert m["clock"] == "cpu" and bench.machine(None)["clock"] == "wall"
    assert bench.machine(None)["threads"] == torch.get_num_threads()
    assert m["threads"] == 1 and m["cores"] == __import__("os").cpu_count()
    assert m["torch"] == torch.__version__ and m["cpu"]
    import subprocess

    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=Path(bench.__file__).parent,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert m["commit"] == (head or "unknown")


def test_bench_rows_say_what_was_timed(make_cnn, make_inputs):
    """One deploy row and one early_exit_predict row per (loss, batch), on the inputs named,
    with the accuracy and predicted speedup of the policy at that threshold."""
    model = make_cnn(scale=6.0)
    x = make_inputs(40, (1, 16))
    labels = mexit.exit_probs(model, x)[-1].argmax(-1)  # the final exit is always right
    costs = mexit.measure_costs(model, (1, 16))
    rows = bench.bench_early_exit(
        model, costs, x, labels, batch_sizes=(1, 16), losses=(0.0, 0.1), repeats=3
    )
    assert [(r["accuracy_loss_target"], r["batch_size"], r["form"]) for r in rows] == [
        (loss, bs, form)
        for loss in (0.0, 0.1)
        for bs in (1, 16)
        for form in ("deploy", "early_exit_predict")
    ]
    probs = mexit.exit_probs(model, x)
    for r in rows:
        beta = mexit.policies.threshold_for_loss(probs, labels, r["accuracy_loss_target"])
        policy = mexit.evaluate_policy(probs, labels, beta, Gamma=costs.Gamma(model.exits))
        assert r["beta"] == beta and r["inputs"] == 40
        assert abs(r["accuracy"] - policy.accuracy) < 1e-12
        assert abs(r["predicted_speedup"] - costs.full / policy.mean_flops) < 1e-9
        assert r["realized_low"] <= r["realized_speedup"] <= r["realized_high"]


def test_markdown_renders_the_browser_tests_numbers(tmp_path, capsys):
    """--browser DIR adds the browser tests' latency.json and voila.json to README's tables."""
    browser = tmp_path / "browser"
    browser.mkdir()
    (browser / "latency.json").write_text(
        json.dumps(
            {
                "explorers": {
                    "06_inference-explorer-threshold": dict(
                        median_ms=61.04, median_first_ms=60.0, moves_ms=[36.2, 61.04, 83.4]
                    )
                },
                "target_median_ms": 150,
            }
        )
    )
    (browser / "voila.json").write_text(
        json.dumps({"06_inference.ipynb": dict(notebook_run_s=14.1, first_widget_s=2.52)})
    )
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"machine": RESULTS["machine"]}))
    bench.main(["--markdown", str(path), "--browser", str(browser)])
    text = capsys.readouterr().out
    assert "| 06_inference-explorer-threshold | 61 | 36–83 |" in text
    assert "| 06_inference.ipynb | 14.1 | 2.5 |" in text
    bench.main(["--markdown", str(path)])
    assert "Explorers in the browser" not in capsys.readouterr().out
