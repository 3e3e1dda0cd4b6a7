"""The benchmark's helpers compute what they claim (speed itself is never asserted)."""

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


def test_markdown_renders_every_row_of_the_results(tmp_path, capsys):
    results = {
        "machine": {"cpu": "Test CPU", "cores": 2, "threads": 2, "torch": "x"},
        "early_exit": [
            dict(
                accuracy_loss_target=0.005,
                beta=0.465,
                batch_size=64,
                accuracy=0.962,
                full_ms=27.6,
                early_exit_ms=45.0,
                predicted_speedup=2.13,
                realized_speedup=0.61,
                realized_low=0.55,
                realized_high=0.7,
                realized_over_predicted=0.29,
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
        "widgets": [
            dict(widget="ThresholdExplorer", compute_ms=1.04, redraw_ms=12.34),
            dict(widget="PolicyExplorer", compute_ms=2.0),
        ],
        "notebooks": [
            dict(notebook="00_index.ipynb", seconds=8.23, peak_rss_mb=880.4),
            dict(notebook="01_model.ipynb", error="boom"),
        ],
    }
    text = bench.markdown(results)
    assert "Machine: Test CPU, 2 cores" in text
    assert (
        "| 0.5 pt | 0.465 | 64 | 96.2 % | 27.6 | 45.0 | 2.13× | 0.61× (0.55–0.70) | 0.29 |" in text
    )
    assert "| entropy | 231.1 | 72.6 | 3.18 |" in text
    assert "ThresholdExplorer 1.0 ms" in text
    assert "threshold move (the browser adds its round trip): ThresholdExplorer 12.3 ms." in text
    assert "| 00_index.ipynb | 8.2 | 880 |" in text and "error: boom" in text
    path = tmp_path / "r.json"
    path.write_text(__import__("json").dumps(results))
    bench.main(["--markdown", str(path)])
    assert capsys.readouterr().out.strip() == text
