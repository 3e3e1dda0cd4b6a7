"""Bad input gets a clear error in the chapter modules (issue 7): every public function and
class of placement, policies, gates, schemes, gradients, combined, layerwise, separate,
freezeout, local, tiers, information, transformer, graph and cascade rejects at least three
invalid inputs (wrong type, wrong shape, out of range, empty) with a ValueError / TypeError
whose message names the argument. Cases already in tests/test_<module>.py are not repeated.
Dataclass result records (PlacementScore, Curve, TuneResult, ...) hold outputs, not inputs."""

import importlib.util
import inspect
from pathlib import Path

import pytest
import torch

import mexit
from mexit import (
    backbones,
    cascade,
    combined,
    cost_weighted_policy,
    deployment,
    devices,
    exercises,
    freezeout,
    gates,
    gradients,
    graph,
    information,
    layerwise,
    links,
    local,
    patience,
    placement,
    policies,
    policy_comparison,
    runs,
    schemes,
    separate,
    speed,
    tier_training,
    tiers,
    timing,
    train,
    transformer,
    zero_time_waste,
)
from mexit.widgets import plane

with mexit.checkpoints.preserved_rng():  # tiny fixtures, without moving the global RNG
    mexit.seed_everything(0)
    MODEL = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3).eval()
    COSTS = mexit.measure_costs(MODEL, (1, 6))
    X = torch.randn(5, 1, 6)
    Y = torch.tensor([0, 1, 2, 0, 1])
    PROBS = torch.randn(3, 5, 3).softmax(-1)
    LOGITS = torch.randn(3, 5, 3) * 3
    GATES = torch.rand(5, 2)
    BLOCKS = [1.0, 2.0, 3.0]
    HEADS = {1: 0.5, 2: 0.5, 3: 0.5}
    LONG_X = torch.zeros(5, 1, 6, dtype=torch.long)
    MNIST1D_MLP = mexit.mlp(input_shape=(1, 40), widths=(8, 8), num_classes=10)
    FOUR_CLASSES = mexit.mlp(input_shape=(1, 6), widths=(4, 4), num_classes=4)
    TEN_CLASSES = mexit.mlp(input_shape=(1, 40), widths=(8, 8), num_classes=10)  # MNIST-1D's
EMPTY = torch.zeros(0, 3)
TINY = mexit.data.DataBundle("tiny", X, Y, X, Y, X, Y, ("a", "b", "c"), (1, 6))
IMAGES = mexit.data.DataBundle(
    "images",
    X.reshape(5, 1, 2, 3),
    Y,
    X.reshape(5, 1, 2, 3),
    Y,
    X.reshape(5, 1, 2, 3),
    Y,
    ("a", "b", "c"),
    (1, 2, 3),
)
RUN = dict(name="run", config={"seed": 0}, build=lambda: MODEL, train=lambda model: {})


def gated_model():
    return gates.GatedExits(MODEL, (1, 6))


def gated_mnist1d():
    """A gated network that fits MNIST-1D (inputs (1, 40), 10 classes): the `train_gated`
    cases fail for the reason they name, not because the model does not fit the data."""
    return gates.GatedExits(TEN_CLASSES, (1, 40))


# (callable, kwargs, exception, words the message must contain); the callable gets kwargs
CASES = [
    # ---------------------------------------------------------------- placement
    (
        placement.set_cost,
        dict(block_costs="abc", head_costs=HEADS, exits=(1,), exit_fractions=(0.5, 0.5)),
        TypeError,
        "^block_costs must",
    ),
    (
        placement.set_cost,
        dict(block_costs=BLOCKS, head_costs=HEADS, exits=(3,), exit_fractions=(0.5, 0.5)),
        ValueError,
        "^exits must",
    ),
    (
        placement.set_cost,
        dict(block_costs=BLOCKS, head_costs=HEADS, exits=(1,), exit_fractions=(0.5, 0.6)),
        ValueError,
        "^exit_fractions must",
    ),
    (
        placement.set_cost,
        dict(block_costs=[], head_costs=HEADS, exits=(1,), exit_fractions=(0.5, 0.5)),
        ValueError,
        "^block_costs must",
    ),
    (placement.percentile_placement, dict(block_costs=[1.0]), ValueError, "^block_costs must"),
    (placement.percentile_placement, dict(block_costs=5), TypeError, "^block_costs must"),
    (
        placement.percentile_placement,
        dict(block_costs=BLOCKS, fractions=(1.5,)),
        ValueError,
        "^fractions must",
    ),
    (placement.percentile_placement, dict(block_costs=[-1.0, 2.0]), ValueError, r"^block_costs\b"),
    (
        placement.is_efficient_exit,
        dict(gamma=[1, 2, 3], I=[0.3, 0.3, 0.4], i=0),
        ValueError,
        "^i must",
    ),
    (placement.is_efficient_exit, dict(gamma=[1, 2, 3], I=[0.5, 0.5], i=1), ValueError, "^I must"),
    (placement.is_efficient_exit, dict(gamma=7, I=[0.3, 0.3, 0.4], i=1), TypeError, "^gamma must"),
    (
        placement.is_efficient_exit,
        dict(gamma=[1, 2, 3], I=[0.3, 0.3, 0.4], i=1.0),
        TypeError,
        "^i must",
    ),
    (
        placement.exit_gain,
        dict(block_costs=BLOCKS, head_costs=HEADS, exits=(), i=3, fractions_with=(0.5, 0.5)),
        ValueError,
        "^i must",
    ),
    (
        placement.exit_gain,
        dict(block_costs=BLOCKS, head_costs=HEADS, exits=(), i=1, fractions_with=(0.5, 0.5, 0.0)),
        ValueError,
        "^fractions_with must",
    ),
    (
        placement.exit_gain,
        dict(block_costs=BLOCKS, head_costs=None, exits=(), i=1, fractions_with=(0.5, 0.5)),
        TypeError,
        r"^head_costs\b",
    ),
    (
        placement.exit_gain,
        dict(block_costs=BLOCKS, head_costs=HEADS, exits="1", i=1, fractions_with=(0.5, 0.5)),
        TypeError,
        "^exits must",
    ),
    (
        placement.filter_placement,
        dict(block_costs=BLOCKS, head_costs=HEADS, exit_rates=(0.5, 0.5), th=1.5),
        ValueError,
        "^th must",
    ),
    (
        placement.filter_placement,
        dict(block_costs=BLOCKS, head_costs=HEADS, exit_rates=(0.5,), th=0.1),
        ValueError,
        "^exit_rates must",
    ),
    (
        placement.filter_placement,
        dict(block_costs=BLOCKS, head_costs=HEADS, exit_rates=(0.5, 2.0), th=0.1),
        ValueError,
        "^exit_rates must",
    ),
    (
        placement.filter_placement,
        dict(block_costs=BLOCKS, head_costs=HEADS, exit_rates=(0.5, 0.5), th="0.1"),
        TypeError,
        "^th must",
    ),
    (
        placement.conditional_exit_rates,
        dict(probs=LOGITS, threshold=0.5),
        ValueError,
        "^probs must",
    ),
    (
        placement.conditional_exit_rates,
        dict(probs=PROBS, threshold=0.5, criterion="margin"),
        ValueError,
        "^criterion must",
    ),
    (
        placement.conditional_exit_rates,
        dict(probs=PROBS, threshold=2.0),
        ValueError,
        "^threshold must",
    ),
    (placement.conditional_exit_rates, dict(probs="p", threshold=0.5), TypeError, "^probs must"),
    (
        placement.evaluate_placement,
        dict(probs=PROBS, labels=Y, costs="flops", exits=(1,), threshold=0.5),
        TypeError,
        "^costs must",
    ),
    (
        placement.evaluate_placement,
        dict(probs=PROBS, labels=Y, costs=COSTS, exits=(5,), threshold=0.5),
        ValueError,
        "^exits must",
    ),
    (
        placement.evaluate_placement,
        dict(probs=PROBS, labels=Y[:4], costs=COSTS, exits=(1,), threshold=0.5),
        ValueError,
        "^labels must",
    ),
    (
        placement.evaluate_placement,
        dict(probs=PROBS, labels=Y, costs=COSTS, exits=(1,), threshold=-0.5),
        ValueError,
        "^threshold must",
    ),
    (
        placement.optimal_placement,
        dict(probs=PROBS, labels=Y, costs=None, threshold=0.5),
        TypeError,
        "^costs must",
    ),
    (
        placement.optimal_placement,
        dict(probs=PROBS, labels=Y, costs=COSTS, threshold=0.5, target_accuracy=1.5),
        ValueError,
        "^target_accuracy must",
    ),
    (
        placement.optimal_placement,
        dict(probs=PROBS, labels=Y, costs=COSTS, threshold=[0.5]),
        TypeError,
        "^threshold must",
    ),
    (
        placement.optimal_placement,
        dict(probs=PROBS, labels=Y.float(), costs=COSTS, threshold=0.5),
        TypeError,
        "^labels must",
    ),
    ("placement_backbone", dict(epochs=0), ValueError, "^epochs must"),
    ("placement_backbone", dict(channels=(8, 0)), ValueError, r"^channels\b"),
    ("placement_backbone", dict(seed=-1), ValueError, "^seed must"),
    ("placement_backbone", dict(lr="fast"), TypeError, "^lr must"),
    # ---------------------------------------------------------------- policies
    (policies.unnormalized_entropy, dict(probs="p"), TypeError, "^probs must"),
    (policies.unnormalized_entropy, dict(probs=torch.ones(3, 1)), ValueError, r"^probs\b"),
    (policies.unnormalized_entropy, dict(probs=EMPTY), ValueError, "^probs must"),
    (
        policies.unnormalized_entropy,
        dict(probs=torch.ones(2, 3, dtype=torch.long)),
        TypeError,
        "^probs must",
    ),
    (policies.confidence_features, dict(probs=[0.5, 0.5]), TypeError, "^probs must"),
    (policies.confidence_features, dict(probs=torch.ones(3, 1)), ValueError, r"^probs\b"),
    (policies.confidence_features, dict(probs=torch.zeros(4, 0)), ValueError, r"^probs\b"),
    (
        policies.confidence_features,
        dict(probs=torch.ones(2, 3, dtype=torch.long)),
        TypeError,
        "^probs must",
    ),
    (policies.LearnedConfidence, dict(n_exits="3"), TypeError, "^n_exits must"),
    (policies.LearnedConfidence, dict(n_exits=2.0), TypeError, "^n_exits must"),
    (policies.LearnedConfidence, dict(n_exits=0), ValueError, "^n_exits must"),
    (
        policies.threshold_range,
        dict(criterion="margin", num_classes=3),
        ValueError,
        "^criterion must",
    ),
    (
        policies.threshold_range,
        dict(criterion="entropy", num_classes=1),
        ValueError,
        "^num_classes must",
    ),
    (
        policies.threshold_range,
        dict(criterion="entropy", num_classes=2.5),
        TypeError,
        "^num_classes must",
    ),
    (policies.confidence_scores, dict(probs=LOGITS), ValueError, "^probs must"),
    (
        policies.confidence_scores,
        dict(probs=PROBS, criterion="margin"),
        ValueError,
        "^criterion must",
    ),
    (
        policies.confidence_scores,
        dict(probs=PROBS, criterion="learned", learned="g"),
        TypeError,
        r"^criterion\b",
    ),
    (
        policies.exits_from_scores,
        dict(scores=torch.rand(4), score_thresholds=torch.rand(4)),
        ValueError,
        "^scores must",
    ),
    (
        policies.exits_from_scores,
        dict(scores=torch.rand(2, 5), score_thresholds=torch.rand(3)),
        ValueError,
        "^score_thresholds must",
    ),
    (
        policies.exits_from_scores,
        dict(scores=torch.rand(2, 5), score_thresholds="high"),
        TypeError,
        "^score_thresholds must",
    ),
    (
        policies.exits_from_scores,
        dict(scores=[[0.5]], score_thresholds=0.5),
        TypeError,
        "^scores must",
    ),
    (policies.policy_exits, dict(probs=PROBS, thresholds="0.5"), TypeError, "^thresholds must"),
    (
        policies.accuracy_cost_curve,
        dict(probs=PROBS, labels=Y, n_points=1),
        ValueError,
        "^n_points must",
    ),
    (policies.accuracy_cost_curve, dict(probs=PROBS, labels=Y[:3]), ValueError, "^labels must"),
    (
        policies.accuracy_cost_curve,
        dict(probs=PROBS, labels=Y, Gamma=[3.0, 2.0, 1.0]),
        ValueError,
        "^Gamma must",
    ),
    (
        policies.accuracy_cost_curve,
        dict(probs=PROBS, labels=Y, full_cost=0.0),
        ValueError,
        "^full_cost must",
    ),
    (policies.oracle_curve, dict(probs=PROBS, labels=Y.float()), TypeError, "^labels must"),
    (
        policies.oracle_curve,
        dict(probs=PROBS, labels=Y, full_cost=-1.0),
        ValueError,
        "^full_cost must",
    ),
    (policies.oracle_curve, dict(probs=LOGITS, labels=Y), ValueError, "^probs must"),
    (
        policies.tune_threshold,
        dict(probs=PROBS, labels=Y, target_accuracy=0.5, step=-1.0),
        ValueError,
        "^step must",
    ),
    (
        policies.tune_threshold,
        dict(probs=PROBS, labels=Y, target_accuracy=0.5, max_iter=0),
        ValueError,
        "^max_iter must",
    ),
    (
        policies.tune_threshold,
        dict(probs=PROBS, labels=Y, target_accuracy="high"),
        TypeError,
        "^target_accuracy must",
    ),
    (
        policies.per_exit_thresholds,
        dict(probs=PROBS, labels=Y, target_accuracy=1.5),
        ValueError,
        "^target_accuracy must",
    ),
    (
        policies.per_exit_thresholds,
        dict(probs=PROBS, labels=Y[:2], target_accuracy=0.5),
        ValueError,
        "^labels must",
    ),
    (
        policies.per_exit_thresholds,
        dict(probs=PROBS, labels=Y, target_accuracy=0.5, criterion="x"),
        ValueError,
        "^criterion must",
    ),
    (timing.median_seconds, dict(fn=5), TypeError, "^fn must"),
    (timing.median_seconds, dict(fn=lambda: None, repeats=0), ValueError, "^repeats must"),
    (timing.median_seconds, dict(fn=lambda: None, repeats=1.5), TypeError, "^repeats must"),
    (timing.median_seconds, dict(fn=lambda: None, warmup=-1), ValueError, "^warmup must"),
    (timing.time_ab, dict(fn_a=5, fn_b=lambda: None), TypeError, "^fn_a must"),
    (timing.time_ab, dict(fn_a=lambda: None, fn_b=None), TypeError, "^fn_b must"),
    (
        timing.time_ab,
        dict(fn_a=lambda: None, fn_b=lambda: None, repeats=0),
        ValueError,
        "^repeats must",
    ),
    (
        timing.time_ab,
        dict(fn_a=lambda: None, fn_b=lambda: None, threads=0),
        ValueError,
        "^threads must",
    ),
    ("pinned_threads", dict(threads=0), ValueError, "^threads must"),
    ("pinned_threads", dict(threads=1.5), TypeError, "^threads must"),
    ("pinned_threads", dict(threads="2"), TypeError, "^threads must"),
    (
        policies.threshold_for_loss,
        dict(probs=PROBS, labels=Y, max_loss=-0.1),
        ValueError,
        "^max_loss must",
    ),
    (
        policies.threshold_for_loss,
        dict(probs=PROBS, labels=Y, max_loss=0.01, criterion="x"),
        ValueError,
        "^criterion must",
    ),
    (
        policies.threshold_for_loss,
        dict(probs=PROBS, labels=Y[:3], max_loss=0.01),
        ValueError,
        "^labels must",
    ),
    (
        policies.threshold_for_loss,
        dict(probs=PROBS, labels=Y + 5, max_loss=0.01),
        ValueError,
        "^labels must",
    ),
    (
        policies.threshold_for_loss,
        dict(probs=LOGITS, labels=Y, max_loss=0.01),
        ValueError,
        "^probs must",
    ),
    (policies.measure_speedup, dict(model="net", x=X, thresholds=0.5), TypeError, "^model must"),
    (policies.measure_speedup, dict(model=MODEL, x=LONG_X, thresholds=0.5), TypeError, "^x must"),
    (
        policies.measure_speedup,
        dict(model=MODEL, x=X, thresholds=0.5, batch_size=0),
        ValueError,
        "^batch_size must",
    ),
    (
        policies.measure_speedup,
        dict(model=MODEL, x=X, thresholds=0.5, repeats=0),
        ValueError,
        "^repeats must",
    ),
    # ---------------------------------------------------------------- gates
    (gates.gate_module, dict(in_shape=4), TypeError, "^in_shape must"),
    (gates.gate_module, dict(in_shape=(0,)), ValueError, r"^in_shape\b"),
    (gates.gate_module, dict(in_shape=()), TypeError, "^in_shape must"),
    (gates.OutputGate, dict(scale=-1.0), ValueError, "^scale must"),
    (gates.OutputGate, dict(bias="b"), TypeError, "^bias must"),
    (gates.OutputGate, dict(scale=float("nan")), ValueError, "^scale must"),
    (gates.combine_recursive, dict(probs=PROBS, gates=torch.rand(5, 3)), ValueError, "^gates must"),
    (gates.combine_recursive, dict(probs=PROBS, gates=GATES + 1), ValueError, "^gates must"),
    (gates.combine_recursive, dict(probs=PROBS[0], gates=GATES), ValueError, "^probs must"),
    (gates.combine_unrolled, dict(probs=PROBS, gates=torch.rand(4, 2)), ValueError, "^gates must"),
    (gates.combine_unrolled, dict(probs=PROBS, gates=[[0.5, 0.5]]), TypeError, "^gates must"),
    (
        gates.combine_unrolled,
        dict(probs=[PROBS[0], "p"], gates=GATES[:, :1]),
        TypeError,
        r"^probs\b",
    ),
    (gates.hard_gates, dict(gates=GATES, threshold=2.0), ValueError, "^threshold must"),
    (gates.hard_gates, dict(gates=torch.rand(5)), ValueError, "^gates must"),
    (gates.hard_gates, dict(gates=[[0.5]]), TypeError, "^gates must"),
    (gates.gate_exits, dict(gates=GATES, threshold=-0.1), ValueError, "^threshold must"),
    (gates.gate_exits, dict(gates=torch.zeros(0, 2)), ValueError, "^gates must"),
    (gates.gate_exits, dict(gates=torch.ones(5, 2, dtype=torch.long)), TypeError, "^gates must"),
    (gates.soft_cost_as_printed, dict(gates=GATES, epsilon=[1.0, 1.0]), ValueError, r"^epsilon\b"),
    (
        gates.soft_cost_as_printed,
        dict(gates=GATES + 1, epsilon=[1.0, 1.0, 1.0]),
        ValueError,
        "^gates must",
    ),
    (gates.soft_cost_as_printed, dict(gates=GATES, epsilon="eps"), TypeError, r"^epsilon\b"),
    (gates.marginal_costs, dict(Gamma=[]), ValueError, "^Gamma must"),
    (gates.marginal_costs, dict(Gamma=[2.0, 1.0]), ValueError, "^Gamma must"),
    (gates.marginal_costs, dict(Gamma="cost"), TypeError, "^Gamma must"),
    (gates.GatedExits, dict(model="net", input_shape=(1, 6)), TypeError, "^model must"),
    (gates.GatedExits, dict(model=MODEL, input_shape=6), TypeError, "^input_shape must"),
    (
        gates.GatedExits,
        dict(model=MODEL, input_shape=(1, 6), gate_input="logits"),
        ValueError,
        "^gate_input must",
    ),
    (gates.GatedLoss, dict(lam=-1.0, Gamma=torch.tensor([1.0, 2.0])), ValueError, "^lam must"),
    (gates.GatedLoss, dict(lam=1.0, Gamma=[1.0, 2.0], alpha=-1.0), ValueError, "^alpha must"),
    (gates.GatedLoss, dict(lam=1.0, Gamma="cost"), TypeError, "^Gamma must"),
    (gates.gated_loss, dict(lam=-1.0, Gamma=[1.0, 2.0]), ValueError, "^lam must"),
    (gates.gated_loss, dict(lam=1.0, Gamma=[1.0, 2.0], alpha=-0.5), ValueError, "^alpha must"),
    (
        gates.gated_loss,
        dict(lam=1.0, Gamma=[1.0, 2.0], full_cost=0.0),
        ValueError,
        "^full_cost must",
    ),
    (gates.train_gated, dict(model=MODEL, data=None, lam=1.0), TypeError, "^model must"),
    ("train_gated", dict(lam=-1.0), ValueError, "^lam must"),
    ("train_gated", dict(costs="flops"), TypeError, "^costs must"),
    ("train_gated", dict(epochs=0), ValueError, "^epochs must"),
    ("train_gated", dict(data="mnist1d"), TypeError, "^data must"),
    ("train_gated", dict(data=TINY), ValueError, r"^model does not fit dataset='tiny'"),
    (gates.gated_outputs, dict(model=MODEL, x=X), TypeError, "^model must"),
    ("gated_outputs", dict(x=LONG_X), TypeError, "^x must"),
    ("gated_outputs", dict(batch_size=0), ValueError, "^batch_size must"),
    ("pretrained_gated", dict(lam=-1.0), ValueError, "^lam must"),
    ("pretrained_gated", dict(lam=1.0, epochs=0), ValueError, "^epochs must"),
    ("pretrained_gated", dict(lam=1.0, base="resnet"), ValueError, "^base must"),
    # ---------------------------------------------------------------- schemes
    (schemes.alpha_scheme, dict(name=3, n_exits=3), TypeError, "^name must"),
    (schemes.alpha_scheme, dict(name="cosine", n_exits=3), ValueError, "^name must"),
    (schemes.alpha_scheme, dict(name="uniform", n_exits=0), ValueError, "^n_exits must"),
    (schemes.check_alphas, dict(alphas=[1.0], n_exits=3), ValueError, "^alphas must"),
    (schemes.check_alphas, dict(alphas=[1.0, -1.0, 1.0], n_exits=3), ValueError, "^alphas must"),
    (schemes.check_alphas, dict(alphas=[1.0], n_exits=1.5), TypeError, "^n_exits must"),
    (schemes.scheme_loss, dict(alphas=7, n_exits=3), TypeError, "^alphas must"),
    (schemes.scheme_loss, dict(alphas="uniform", n_exits=0), ValueError, "^n_exits must"),
    (schemes.scheme_loss, dict(alphas=[1.0, float("nan")], n_exits=2), ValueError, "^alphas must"),
    ("run_scheme", dict(scheme="cosine"), ValueError, "^scheme must"),
    ("run_scheme", dict(epochs=0), ValueError, "^epochs must"),
    ("run_scheme", dict(lr=-1.0), ValueError, "^lr must"),
    ("run_scheme", dict(batch_size=0), ValueError, "^batch_size must"),
    # ---------------------------------------------------------------- gradients
    (gradients.block_gradient_norms, dict(model="net"), TypeError, "^model must"),
    (gradients.block_gradient_norms, dict(model=None), TypeError, "^model must"),
    (gradients.block_gradient_norms, dict(model=torch.nn.Linear(2, 2)), TypeError, "^model must"),
    ("GradientNormRecorder", dict(model="net"), TypeError, "^model must"),
    ("GradientNormRecorder", dict(model=None), TypeError, "^model must"),
    ("GradientNormRecorder", dict(model=torch.nn.Linear(2, 2)), TypeError, "^model must"),
]

SYSTEM = tiers.tier_system(speeds=[1e6, 1e8], latencies=[0.01], bandwidths=[1e5])
HB = (24, 32, 32, 32)

CASES += [
    # ---------------------------------------------------------------- combined
    (combined.CombinedOutput, dict(model="net"), TypeError, "^model must"),
    (combined.CombinedOutput, dict(model=MODEL, mode="median"), ValueError, "^mode must"),
    (combined.CombinedOutput, dict(model=torch.nn.Linear(2, 2)), TypeError, "^model must"),
    (combined.combined_probs, dict(model=MODEL, x=X), TypeError, "^model must"),
    ("combined_probs", dict(x=LONG_X), TypeError, "^x must"),
    ("combined_probs", dict(batch_size=0), ValueError, "^batch_size must"),
    ("run_combined", dict(base="net"), TypeError, "^base must"),
    ("run_combined", dict(mode="median"), ValueError, "^mode must"),
    ("run_combined", dict(epochs=0), ValueError, "^epochs must"),
    ("run_combined", dict(alpha_lr=-1.0), ValueError, "^alpha_lr must"),
    # ---------------------------------------------------------------- layerwise
    (layerwise.train_layerwise, dict(model="net", x_train=X, y_train=Y), TypeError, "^model must"),
    (
        layerwise.train_layerwise,
        dict(model=MODEL, x_train=X, y_train=Y[:3]),
        ValueError,
        "^y_train must",
    ),
    (
        layerwise.train_layerwise,
        dict(model=MODEL, x_train=X, y_train=Y, stages=9),
        ValueError,
        "^stages must",
    ),
    (
        layerwise.train_layerwise,
        dict(model=MODEL, x_train=X, y_train=Y, x_val=X),
        ValueError,
        r"\bx_val\b",
    ),
    (layerwise.saved_activation_bytes, dict(model="net", x=X, y=Y), TypeError, "^model must"),
    (layerwise.saved_activation_bytes, dict(model=MODEL, x=LONG_X, y=Y), TypeError, "^x must"),
    (layerwise.saved_activation_bytes, dict(model=MODEL, x=X, y=Y[:2]), ValueError, "^y must"),
    (layerwise.saved_activation_bytes, dict(model=MODEL, x=X, y=Y.float()), TypeError, "^y must"),
    (
        layerwise.stage_activation_bytes,
        dict(model=torch.nn.Linear(2, 2), x=X, y=Y),
        TypeError,
        "^model must",
    ),
    (
        layerwise.stage_activation_bytes,
        dict(model=MODEL, x=torch.zeros(0, 1, 6), y=Y),
        ValueError,
        "^x must",
    ),
    (layerwise.stage_activation_bytes, dict(model=MODEL, x=X, y=Y[:2]), ValueError, "^y must"),
    (
        layerwise.linear_probes,
        dict(model="net", x_train=X, y_train=Y, x_test=X, y_test=Y),
        TypeError,
        "^model must",
    ),
    (
        layerwise.linear_probes,
        dict(model=MODEL, x_train=X, y_train=Y, x_test=X, y_test=Y[:1]),
        ValueError,
        "^y_test must",
    ),
    (
        layerwise.linear_probes,
        dict(model=MODEL, x_train=X, y_train=Y, x_test=LONG_X, y_test=Y),
        TypeError,
        "^x_test must",
    ),
    ("run_layerwise", dict(epochs=0), ValueError, "^epochs must"),
    ("run_layerwise", dict(lr=-1.0), ValueError, "^lr must"),
    ("run_layerwise", dict(seed=-1), ValueError, "^seed must"),
    ("run_linear_probes", dict(model="net"), TypeError, "^model must"),
    ("run_linear_probes", dict(epochs=0), ValueError, "^epochs must"),
    ("run_linear_probes", dict(batch_size=1.5), TypeError, "^batch_size must"),
    # ---------------------------------------------------------------- separate
    (
        separate.SklearnHead,
        dict(kind="forest", in_shape=(8,), num_classes=3),
        ValueError,
        "^kind must",
    ),
    (
        separate.SklearnHead,
        dict(kind="tree", in_shape=8, num_classes=3),
        TypeError,
        "^in_shape must",
    ),
    (
        separate.SklearnHead,
        dict(kind="tree", in_shape=(8,), num_classes=1),
        ValueError,
        "^num_classes must",
    ),
    (
        separate.SklearnHead,
        dict(kind="tree", in_shape=(8,), num_classes=3, max_depth=0),
        ValueError,
        "^max_depth must",
    ),
    (
        separate.exit_head,
        dict(kind="forest", in_shape=(8,), num_classes=3),
        ValueError,
        "^kind must",
    ),
    (separate.exit_head, dict(kind="tree", in_shape=8, num_classes=3), TypeError, "^in_shape must"),
    (
        separate.exit_head,
        dict(kind="linear", in_shape=(8,), num_classes=1),
        ValueError,
        "^num_classes must",
    ),
    (separate.frozen_embeddings, dict(model="net", x=X), TypeError, "^model must"),
    (separate.frozen_embeddings, dict(model=MODEL, x=LONG_X), TypeError, "^x must"),
    (
        separate.frozen_embeddings,
        dict(model=MODEL, x=X, batch_size=0),
        ValueError,
        "^batch_size must",
    ),
    (
        separate.fit_head,
        dict(head="linear", h_train=torch.randn(5, 8), y_train=Y),
        TypeError,
        "^head must",
    ),
    (
        separate.fit_head,
        dict(head=torch.nn.Linear(8, 3), h_train=torch.randn(5, 8), y_train=Y[:4]),
        ValueError,
        "^y_train must",
    ),
    (
        separate.fit_head,
        dict(
            head=torch.nn.Linear(8, 3),
            h_train=torch.randn(5, 8),
            y_train=Y,
            h_val=torch.randn(5, 8),
        ),
        ValueError,
        r"\bh_val\b",
    ),
    (
        separate.train_heads,
        dict(model="net", heads={1: "linear"}, x_train=X, y_train=Y),
        TypeError,
        "^model must",
    ),
    (
        separate.train_heads,
        dict(model=MODEL, heads={}, x_train=X, y_train=Y),
        TypeError,
        "^heads must",
    ),
    (
        separate.train_heads,
        dict(model=MODEL, heads={9: "linear"}, x_train=X, y_train=Y),
        ValueError,
        r"^heads\b",
    ),
    (
        separate.train_heads,
        dict(model=MODEL, heads={1: 3.0}, x_train=X, y_train=Y),
        TypeError,
        r"^heads\b",
    ),
    (separate.head_flops, dict(head="linear", in_shape=(8,)), TypeError, "^head must"),
    (
        separate.head_flops,
        dict(head=torch.nn.Linear(8, 3), in_shape=8),
        TypeError,
        "^in_shape must",
    ),
    (
        separate.head_flops,
        dict(head=torch.nn.Linear(8, 3), in_shape=(0,)),
        ValueError,
        r"^in_shape\b",
    ),
    (
        separate.head_flops,
        dict(head=torch.nn.Linear(8, 3), in_shape=(5,)),
        ValueError,
        r"^in_shape\b",
    ),
    (separate.exit_costs, dict(model="net", input_shape=(1, 6)), TypeError, "^model must"),
    (separate.exit_costs, dict(model=MODEL, input_shape=6), TypeError, "^input_shape must"),
    (separate.exit_costs, dict(model=MODEL, input_shape=(1, 7)), ValueError, r"^input_shape\b"),
    ("run_heads", dict(backbone="net"), TypeError, "^backbone must"),
    ("run_heads", dict(kind="forest"), ValueError, "^kind must"),
    ("run_heads", dict(exits=(5,)), ValueError, "^exits must"),
    ("run_heads", dict(epochs=0), ValueError, "^epochs must"),
    (separate.same_backbone, dict(a="net", b=MODEL), TypeError, "^a must"),
    (separate.same_backbone, dict(a=MODEL, b=None), TypeError, "^b must"),
    (separate.same_backbone, dict(a=torch.nn.Linear(2, 2), b=MODEL), TypeError, "^a must"),
    # ---------------------------------------------------------------- freezeout
    (freezeout.freezeout_lr, dict(eta0=-1.0, t=0.0, t_i=1.0), ValueError, "^eta0 must"),
    (freezeout.freezeout_lr, dict(eta0=0.1, t="now", t_i=1.0), TypeError, "^t must"),
    (freezeout.freezeout_lr, dict(eta0=0.1, t=0.0, t_i=0.0), ValueError, "^t_i must"),
    (freezeout.freezeout_times, dict(T=0, L=3), ValueError, "^T must"),
    (freezeout.freezeout_times, dict(T=10, L=0), ValueError, "^L must"),
    (freezeout.freezeout_times, dict(T=1.5, L=3), TypeError, "^T must"),
    (freezeout.freezeout_rates, dict(eta0=-0.1, T=10, L=3), ValueError, "^eta0 must"),
    (freezeout.freezeout_rates, dict(eta0=0.1, T=0, L=3), ValueError, "^T must"),
    (freezeout.freezeout_rates, dict(eta0=0.1, T=10, L="3"), TypeError, "^L must"),
    (freezeout.FreezeOut, dict(model="net", T=10), TypeError, "^model must"),
    (freezeout.FreezeOut, dict(model=MODEL, T=0), ValueError, "^T must"),
    (freezeout.FreezeOut, dict(model=MODEL, T=2.5), TypeError, "^T must"),
    (freezeout.train_freezeout, dict(model="net", x_train=X, y_train=Y), TypeError, "^model must"),
    (
        freezeout.train_freezeout,
        dict(model=MODEL, x_train=X, y_train=Y, epochs=0),
        ValueError,
        "^epochs must",
    ),
    (
        freezeout.train_freezeout,
        dict(model=MODEL, x_train=X, y_train=Y, batch_size=0),
        ValueError,
        "^batch_size must",
    ),
    (
        freezeout.train_freezeout,
        dict(model=MODEL, x_train=X, y_train=Y, alphas=[1.0]),
        ValueError,
        "^alphas must",
    ),
    ("run_freezeout", dict(epochs=0), ValueError, "^epochs must"),
    ("run_freezeout", dict(lr=-1.0), ValueError, "^lr must"),
    ("run_freezeout", dict(seed=-1), ValueError, "^seed must"),
    ("run_freezeout", dict(alphas="cosine"), ValueError, "^alphas must"),
    # ---------------------------------------------------------------- local
    (local.check_feedback, dict(feedback="backprop"), ValueError, "^feedback must"),
    (local.check_feedback, dict(feedback=3), ValueError, "^feedback must"),
    (local.check_feedback, dict(feedback=None), ValueError, "^feedback must"),
    (
        local.feedback_alignment,
        dict(h=torch.randn(4), M=torch.randn(3, 4), K=torch.randn(3, 4)),
        ValueError,
        "^h must",
    ),
    (
        local.feedback_alignment,
        dict(h=torch.randn(2, 4), M=torch.randn(3, 4), K=torch.randn(4, 3)),
        ValueError,
        "^K must",
    ),
    (
        local.feedback_alignment,
        dict(h=torch.randn(2, 4), M=torch.ones(3, 4, dtype=torch.long), K=torch.randn(3, 4)),
        TypeError,
        "^M must",
    ),
    (
        local.feedback_alignment,
        dict(h=torch.randn(2, 5), M=torch.randn(3, 4), K=torch.randn(3, 4)),
        ValueError,
        "^h must",
    ),
    (local.LocalHead, dict(in_shape=8, num_classes=3), TypeError, "^in_shape must"),
    (local.LocalHead, dict(in_shape=(8,), num_classes=1), ValueError, "^num_classes must"),
    (
        local.LocalHead,
        dict(in_shape=(8,), num_classes=3, feedback="backprop"),
        ValueError,
        "^feedback must",
    ),
    (
        local.LocalHead,
        dict(in_shape=(8,), num_classes=3, learn_M="yes"),
        TypeError,
        "^learn_M must",
    ),
    (local.DetachedBlock, dict(block="f1"), TypeError, "^block must"),
    (local.DetachedBlock, dict(block=None), TypeError, "^block must"),
    (local.DetachedBlock, dict(block=lambda h: h), TypeError, "^block must"),
    (
        local.local_learning_model,
        dict(backbone="net", input_shape=(1, 6)),
        TypeError,
        "^backbone must",
    ),
    (
        local.local_learning_model,
        dict(backbone=MODEL, input_shape=(1, 6), feedback="bp"),
        ValueError,
        "^feedback must",
    ),
    (
        local.local_learning_model,
        dict(backbone=MODEL, input_shape=6),
        TypeError,
        "^input_shape must",
    ),
    (
        local.local_learning_model,
        dict(backbone=MODEL, input_shape=(1, 6), seed=-1),
        ValueError,
        "^seed must",
    ),
    (local.cross_block_gradients, dict(model="net", x=X, exit_block=1), TypeError, "^model must"),
    (local.cross_block_gradients, dict(model=MODEL, x=LONG_X, exit_block=1), TypeError, "^x must"),
    (
        local.cross_block_gradients,
        dict(model=MODEL, x=X, exit_block=7),
        ValueError,
        "^exit_block must",
    ),
    ("train_local", dict(feedback="bp"), ValueError, "^feedback must"),
    ("train_local", dict(epochs=0), ValueError, "^epochs must"),
    ("train_local", dict(learn_M="no"), TypeError, "^learn_M must"),
    ("train_local", dict(output_size=0), ValueError, "^output_size must"),
    # ---------------------------------------------------------------- tiers
    (
        tiers.tier_system,
        dict(speeds=[1e6], latencies=[], bandwidths=[]),
        ValueError,
        "^speeds must",
    ),
    (
        tiers.tier_system,
        dict(speeds="fast", latencies=[0.0], bandwidths=[1.0]),
        TypeError,
        r"^speeds\b",
    ),
    (
        tiers.tier_system,
        dict(speeds=[1.0, 2.0], latencies=[0.0, 0.0], bandwidths=[1.0]),
        ValueError,
        "^latencies must",
    ),
    (
        tiers.tier_system,
        dict(speeds=[1.0, 2.0], latencies=[0.0], bandwidths=[0.0]),
        ValueError,
        r"^bandwidths\b",
    ),
    (
        tiers.check_placement,
        dict(placement="001", n_blocks=3, n_tiers=2),
        TypeError,
        "^placement must",
    ),
    (
        tiers.check_placement,
        dict(placement=(0, 1), n_blocks=3, n_tiers=2),
        ValueError,
        "^placement must",
    ),
    (
        tiers.check_placement,
        dict(placement=(1, 0, 1), n_blocks=3, n_tiers=2),
        ValueError,
        r"^placement\b",
    ),
    (
        tiers.check_placement,
        dict(placement=(0, 0, 5), n_blocks=3, n_tiers=2),
        ValueError,
        r"^placement\b",
    ),
    (tiers.all_placements, dict(n_blocks=0, n_tiers=2), ValueError, "^n_blocks must"),
    (tiers.all_placements, dict(n_blocks=3, n_tiers=0), ValueError, "^n_tiers must"),
    (tiers.all_placements, dict(n_blocks="3", n_tiers=2), TypeError, "^n_blocks must"),
    (tiers.placement_label, dict(placement=5), TypeError, "^placement must"),
    (tiers.placement_label, dict(placement=(0, 0, 7)), ValueError, r"^placement\b"),
    (tiers.placement_label, dict(placement=(0, 1), names="device"), TypeError, "^names must"),
    (tiers.placement_label, dict(placement=(0, 1.0)), TypeError, r"^placement\b"),
    (tiers.embedding_bytes, dict(model="net", input_shape=(1, 6)), TypeError, "^model must"),
    (tiers.embedding_bytes, dict(model=MODEL, input_shape=6), TypeError, "^input_shape must"),
    (
        tiers.embedding_bytes,
        dict(model=MODEL, input_shape=(1, 6), dtype="float32"),
        TypeError,
        "^dtype must",
    ),
    (tiers.embedding_bytes, dict(model=MODEL, input_shape=(1, 0)), ValueError, r"^input_shape\b"),
    (
        tiers.tier_latencies,
        dict(costs="flops", exits=(1, 2, 3), h_bytes=HB, system=SYSTEM, placement=(0, 0, 1)),
        TypeError,
        "^costs must",
    ),
    (
        tiers.tier_latencies,
        dict(costs=COSTS, exits=(1, 2, 3), h_bytes=HB, system="edge", placement=(0, 0, 1)),
        TypeError,
        "^system must",
    ),
    (
        tiers.tier_latencies,
        dict(costs=COSTS, exits=(1, 2, 3), h_bytes=HB[:2], system=SYSTEM, placement=(0, 0, 1)),
        ValueError,
        "^h_bytes must",
    ),
    (
        tiers.tier_latencies,
        dict(costs=COSTS, exits=(1, 2, 3), h_bytes=HB, system=SYSTEM, placement=(0, 1)),
        ValueError,
        "^placement must",
    ),
    ("evaluate_tiers", dict(probs=LOGITS), ValueError, "^probs must"),
    ("evaluate_tiers", dict(labels=Y[:2]), ValueError, "^labels must"),
    ("evaluate_tiers", dict(thresholds=1.5), ValueError, "^thresholds must"),
    ("evaluate_tiers", dict(system=None), TypeError, "^system must"),
    ("evaluate_placements", dict(labels=Y.float()), TypeError, "^labels must"),
    ("evaluate_placements", dict(costs=None), TypeError, "^costs must"),
    ("evaluate_placements", dict(placements=[(0, 1)]), ValueError, r"^placements\[0\] must"),
    ("evaluate_placements", dict(placements="001"), TypeError, "^placements must"),
    ("evaluate_placements", dict(placements=[]), ValueError, "^placements must"),
    (
        "evaluate_placements",
        dict(placements=[(0, 0, 1), (1, 0, 1)]),
        ValueError,
        r"^placements\[1\]",
    ),
    ("best_boundary", dict(latency_budget=-1.0), ValueError, "^latency_budget must"),
    ("best_boundary", dict(thresholds=[]), ValueError, "^thresholds must"),
    ("best_boundary", dict(thresholds=[1.5]), ValueError, r"^thresholds\b"),
    ("best_boundary", dict(latency_budget="1s"), TypeError, "^latency_budget must"),
    (
        tiers.distributed_early_exit,
        dict(model="net", x=X, thresholds=0.5, placement=(0, 0, 1)),
        TypeError,
        "^model must",
    ),
    (
        tiers.distributed_early_exit,
        dict(model=MODEL, x=LONG_X, thresholds=0.5, placement=(0, 0, 1)),
        TypeError,
        "^x must",
    ),
    (
        tiers.distributed_early_exit,
        dict(model=MODEL, x=X, thresholds=0.5, placement="001"),
        TypeError,
        "^placement must",
    ),
    (
        tiers.distributed_early_exit,
        dict(model=MODEL, x=X, thresholds=0.5, placement=(0, 0, 1), timeout=0.0),
        ValueError,
        "^timeout must",
    ),
    (
        tiers.distributed_early_exit,
        dict(model=MODEL, x=X, thresholds=0.5, placement=(0, 0, 1), world_size=9),
        ValueError,
        "^world_size must",
    ),
    (
        tiers.unresolved_embedding_bytes,
        dict(exit_index=torch.zeros(5), exits=(1, 2, 3), placement=(0, 0, 1), h_bytes=HB),
        TypeError,
        "^exit_index must",
    ),
    (
        tiers.unresolved_embedding_bytes,
        dict(exit_index=torch.zeros(5, dtype=torch.long), exits=5, placement=(0, 0, 1), h_bytes=HB),
        TypeError,
        "^exits must",
    ),
    (
        tiers.unresolved_embedding_bytes,
        dict(
            exit_index=torch.zeros(5, dtype=torch.long),
            exits=(1, 2, 3),
            placement=(0, 0, 1),
            h_bytes=HB[:2],
        ),
        ValueError,
        "^h_bytes must",
    ),
    (
        tiers.unresolved_embedding_bytes,
        dict(
            exit_index=torch.zeros(5, dtype=torch.long),
            exits=(1, 2, 3),
            placement="001",
            h_bytes=HB,
        ),
        TypeError,
        "^placement must",
    ),
]

H = torch.randn(6, 4)
Y6 = torch.tensor([0, 1, 2, 0, 1, 2])
SMALL, LARGE = torch.randn(5, 3).softmax(-1), torch.randn(5, 3).softmax(-1)

CASES += [
    # ---------------------------------------------------------------- information
    (information.discretize, dict(t=H, bins=1), ValueError, "^bins must"),
    (information.discretize, dict(t="h"), TypeError, "^t must"),
    (information.discretize, dict(t=torch.zeros(0, 4)), ValueError, "^t must"),
    (information.discretize, dict(t=H, bins=2.5), TypeError, "^bins must"),
    (information.entropy, dict(symbols=H), TypeError, "^symbols must"),
    (information.entropy, dict(symbols=[1, 2]), TypeError, "^symbols must"),
    (information.entropy, dict(symbols=torch.tensor(3)), ValueError, "^symbols must"),
    (information.binned_mi, dict(a=H, b=H[:3]), ValueError, r"^a\b"),
    (information.binned_mi, dict(a=H, b=H, bins=0), ValueError, "^bins must"),
    (information.binned_mi, dict(a="a", b=H), TypeError, "^a must"),
    (information.kernel_mi, dict(a=H, b=H[:3]), ValueError, r"^a\b"),
    (information.kernel_mi, dict(a=H[:2], b=H[:2]), ValueError, r"^a\b"),
    (information.kernel_mi, dict(a=H, b=H, bandwidth=0.0), ValueError, "^bandwidth must"),
    (information.kernel_mi, dict(a=H, b=H, bandwidth="wide"), TypeError, "^bandwidth must"),
    (information.normalize_representation, dict(h="h"), TypeError, "^h must"),
    (information.normalize_representation, dict(h=torch.zeros(0, 4)), ValueError, "^h must"),
    (information.normalize_representation, dict(h=torch.tensor(1.0)), ValueError, "^h must"),
    (information.kernel_information_plane, dict(h=H, y=Y6[:3]), ValueError, "^y must"),
    (information.kernel_information_plane, dict(h=H, y=Y6, noise=-1.0), ValueError, "^noise must"),
    (information.kernel_information_plane, dict(h=[[1.0]], y=Y6), TypeError, "^h must"),
    (information.binned_information_plane, dict(h=H, y=Y6.float()), TypeError, "^y must"),
    (information.binned_information_plane, dict(h=H, y=Y6, bins=1), ValueError, "^bins must"),
    (information.binned_information_plane, dict(h=torch.zeros(0, 4), y=Y6), ValueError, "^h must"),
    (information.information_plane, dict(model="net", x=X, y=Y), TypeError, "^model must"),
    (information.information_plane, dict(model=MODEL, x=X, y=Y[:2]), ValueError, "^y must"),
    (information.information_plane, dict(model=MODEL, x=X, y=Y, bins=1), ValueError, "^bins must"),
    (
        information.information_plane,
        dict(model=MODEL, x=X, y=Y, noise="loud"),
        TypeError,
        "^noise must",
    ),
    (
        information.label_information_bound,
        dict(logits=torch.randn(5), y=Y),
        ValueError,
        "^logits must",
    ),
    (
        information.label_information_bound,
        dict(logits=torch.randn(5, 3), y=Y[:2]),
        ValueError,
        "^y must",
    ),
    (
        information.label_information_bound,
        dict(logits=torch.randn(5, 2), y=Y),
        ValueError,
        "^y must",
    ),
    (
        information.label_information_bound,
        dict(logits=torch.randn(5, 3), y=Y, num_classes=1),
        ValueError,
        "^num_classes must",
    ),
    (information.RecordingBlock, dict(block="f1"), TypeError, "^block must"),
    (information.RecordingBlock, dict(block=None), TypeError, "^block must"),
    (information.RecordingBlock, dict(block=lambda h: h), TypeError, "^block must"),
    (information.ib_model, dict(backbone="net"), TypeError, "^backbone must"),
    (information.ib_model, dict(backbone=None), TypeError, "^backbone must"),
    (information.ib_model, dict(backbone=torch.nn.Linear(2, 2)), TypeError, "^backbone must"),
    (information.local_ib_loss, dict(model=MODEL, beta=0.1), TypeError, "^model must"),
    ("local_ib_loss", dict(beta=-1.0), ValueError, "^beta must"),
    ("local_ib_loss", dict(beta="big"), TypeError, "^beta must"),
    ("local_ib_loss", dict(noise=-0.5), ValueError, "^noise must"),
    ("train_ib", dict(beta=-1.0), ValueError, "^beta must"),
    ("train_ib", dict(epochs=0), ValueError, "^epochs must"),
    ("train_ib", dict(noise=-1.0), ValueError, "^noise must"),
    ("train_ib", dict(seed=-1), ValueError, "^seed must"),
    ("train_joint_with_plane", dict(epochs=0), ValueError, "^epochs must"),
    ("train_joint_with_plane", dict(samples=5), ValueError, "^samples must"),
    ("train_joint_with_plane", dict(bins=1), ValueError, "^bins must"),
    ("train_joint_with_plane", dict(lr="fast"), TypeError, "^lr must"),
    # ---------------------------------------------------------------- transformer
    (
        transformer.PatchEmbedding,
        dict(in_channels=0, length=40, d_model=8, patch=4, stride=2),
        ValueError,
        "^in_channels must",
    ),
    (
        transformer.PatchEmbedding,
        dict(in_channels=1, length=40, d_model=8.0, patch=4, stride=2),
        TypeError,
        "^d_model must",
    ),
    (
        transformer.PatchEmbedding,
        dict(in_channels=1, length=40, d_model=8, patch=4, stride=0),
        ValueError,
        "^stride must",
    ),
    (
        transformer.PatchEmbedding,
        dict(in_channels=1, length=2, d_model=8, patch=4, stride=2),
        ValueError,
        "^length must",
    ),
    (transformer.EncoderLayer, dict(d_model=10, heads=4), ValueError, r"^d_model\b"),
    (transformer.EncoderLayer, dict(d_model=0, heads=1), ValueError, "^d_model must"),
    (
        transformer.EncoderLayer,
        dict(d_model=8, heads=2, mlp_ratio=0),
        ValueError,
        "^mlp_ratio must",
    ),
    (
        transformer.SequenceHead,
        dict(d_model=8, num_classes=3, pool="max"),
        ValueError,
        "^pool must",
    ),
    (transformer.SequenceHead, dict(d_model=8, num_classes=1), ValueError, "^num_classes must"),
    (transformer.SequenceHead, dict(d_model="8", num_classes=3), TypeError, "^d_model must"),
    (transformer.mnist1d_transformer, dict(layers=1), ValueError, "^layers must"),
    (transformer.mnist1d_transformer, dict(pool="max"), ValueError, "^pool must"),
    (
        transformer.mnist1d_transformer,
        dict(patch=8, input_length=4),
        ValueError,
        "^input_length must",
    ),
    (transformer.mnist1d_transformer, dict(d_model=30, heads=4), ValueError, r"^d_model\b"),
    ("train_transformer", dict(epochs=0), ValueError, "^epochs must"),
    ("train_transformer", dict(pool="max"), ValueError, "^pool must"),
    ("train_transformer", dict(lr=-1.0), ValueError, "^lr must"),
    # ---------------------------------------------------------------- graph
    (graph.make_distance_graphs, dict(n_graphs=0), ValueError, "^n_graphs must"),
    (graph.make_distance_graphs, dict(n_graphs=2, n_nodes=2), ValueError, "^n_nodes must"),
    (
        graph.make_distance_graphs,
        dict(n_graphs=2, max_distance=20),
        ValueError,
        "^max_distance must",
    ),
    (graph.make_distance_graphs, dict(n_graphs=2, window=0), ValueError, "^window must"),
    (graph.load_graph_distance, dict(n_train=0), ValueError, "^n_train must"),
    (graph.load_graph_distance, dict(n_val=1.5), TypeError, "^n_val must"),
    (graph.load_graph_distance, dict(n_test=-1), ValueError, "^n_test must"),
    (graph.MessagePassing, dict(n_nodes=0, d_in=2, d_out=4), ValueError, "^n_nodes must"),
    (graph.MessagePassing, dict(n_nodes=4, d_in=-1, d_out=4), ValueError, "^d_in must"),
    (graph.MessagePassing, dict(n_nodes=4, d_in=2, d_out=0), ValueError, "^d_out must"),
    (graph.NodeReadout, dict(n_nodes=0, d_model=4, num_classes=3), ValueError, "^n_nodes must"),
    (graph.NodeReadout, dict(n_nodes=4, d_model=0, num_classes=3), ValueError, "^d_model must"),
    (graph.NodeReadout, dict(n_nodes=4, d_model=4, num_classes=1), ValueError, "^num_classes must"),
    (
        graph.NodeReadout,
        dict(n_nodes=4, d_model=4, num_classes=3, hidden=0.5),
        TypeError,
        "^hidden must",
    ),
    (graph.graph_network, dict(layers=1), ValueError, "^layers must"),
    (graph.graph_network, dict(hidden=0), ValueError, "^hidden must"),
    (graph.graph_network, dict(num_classes=1), ValueError, "^num_classes must"),
    ("train_graph_network", dict(epochs=0), ValueError, "^epochs must"),
    ("train_graph_network", dict(lr=-1.0), ValueError, "^lr must"),
    ("train_graph_network", dict(seed=-1), ValueError, "^seed must"),
    # ---------------------------------------------------------------- cascade
    ("evaluate_cascade", dict(small_probs=SMALL.log()), ValueError, "^small_probs must"),
    ("evaluate_cascade", dict(large_probs=LARGE[:3]), ValueError, r"\blarge_probs\b"),
    ("evaluate_cascade", dict(threshold=1.5), ValueError, "^threshold must"),
    ("evaluate_cascade", dict(threshold=[0.5, 0.5]), ValueError, "^threshold must"),
    ("evaluate_cascade", dict(cost_small=-1.0), ValueError, "^cost_small must"),
    ("evaluate_cascade", dict(criterion="margin"), ValueError, "^criterion must"),
    ("cascade_curve", dict(thresholds=5), TypeError, "^thresholds must"),
    ("cascade_curve", dict(thresholds=[]), ValueError, "^thresholds must"),
    ("cascade_curve", dict(thresholds=[0.5, 2.0]), ValueError, r"^thresholds\[1\] must"),
    ("cascade_curve", dict(labels=Y[:2]), ValueError, "^labels must"),
    (
        cascade.cascade_predict,
        dict(small="net", large=MODEL, x=X, threshold=0.5),
        TypeError,
        "^small must",
    ),
    (
        cascade.cascade_predict,
        dict(small=MODEL, large=MODEL, x=LONG_X, threshold=0.5),
        TypeError,
        "^x must",
    ),
    (
        cascade.cascade_predict,
        dict(small=MODEL, large=MODEL, x=X, threshold=-0.5),
        ValueError,
        "^threshold must",
    ),
    (
        cascade.cascade_predict,
        dict(small=MODEL, large=MODEL, x=X, threshold=0.5, criterion="x"),
        ValueError,
        "^criterion must",
    ),
    ("train_small_network", dict(channels=(8,)), ValueError, "^channels must"),
    ("train_small_network", dict(channels=(8, 0)), ValueError, r"^channels\[1\] must"),
    ("train_small_network", dict(epochs=0), ValueError, "^epochs must"),
    ("train_small_network", dict(seed=-1), ValueError, "^seed must"),
]

CASES += [
    # ---------------------------------------------------------------- runs
    (runs.cached_fit, RUN | dict(name="a/b"), ValueError, r"^name must"),
    (runs.cached_fit, RUN | dict(config=[("seed", 0)]), TypeError, r"^config must"),
    (runs.cached_fit, RUN | dict(config={"epochs": 1}), ValueError, r"^config must"),
    (runs.cached_fit, RUN | dict(config={"seed": -1}), ValueError, r"^config\['seed'\] must"),
    (runs.cached_fit, RUN | dict(train="fit"), TypeError, r"^train must"),
    (runs.build_for, dict(model="resnet", model_kwargs={}, data=TINY), ValueError, r"^model must"),
    (runs.build_for, dict(model=["mlp"], model_kwargs={}, data=TINY), ValueError, r"^model must"),
    (runs.build_for, dict(model="mlp", model_kwargs={}, data="tiny"), TypeError, r"^data must"),
    (
        runs.build_for,
        dict(model="mlp", model_kwargs=[], data=TINY),
        TypeError,
        r"^model_kwargs must",
    ),
    (
        runs.build_for,
        dict(model="mnist1d_cnn", model_kwargs={}, data=IMAGES),
        ValueError,
        r"^model=",
    ),
    (runs.build_for, dict(model="cnn2d", model_kwargs={}, data=TINY), ValueError, r"^model="),
    (
        runs.build_for,
        dict(model="mlp", model_kwargs={"num_classes": 4}, data=TINY),
        ValueError,
        r"^model='mlp' with model_kwargs=\{'num_classes': 4\} gives \[4\] logits",
    ),
    (runs.check_fits, dict(module="net", data=TINY, argument="base"), TypeError, r"^base must"),
    (runs.check_fits, dict(module=MODEL, data="tiny", argument="base"), TypeError, r"^data must"),
    (
        runs.check_fits,
        dict(module=FOUR_CLASSES, data=TINY, argument="base"),
        ValueError,
        r"^base gives \[4\] logits per exit",
    ),
    (
        runs.check_fits,
        dict(module=MNIST1D_MLP, data=TINY, argument="base"),
        ValueError,
        r"^base does not fit",
    ),
    (runs.fit_budget, dict(config=[1]), TypeError, r"^config must"),
    (runs.fit_budget, dict(config={"lr": 0.1}), ValueError, r"^config must"),
    (runs.fit_budget, dict(config={"epochs": 1}), ValueError, r"^config must"),
    (
        runs.fit_run,
        dict(model="net", data=TINY, config={"epochs": 1, "lr": 0.1}),
        TypeError,
        r"^model must",
    ),
    (
        runs.fit_run,
        dict(model=MODEL, data="tiny", config={"epochs": 1, "lr": 0.1}),
        TypeError,
        r"^data must",
    ),
    (runs.fit_run, dict(model=MODEL, data=TINY, config={"lr": 0.1}), ValueError, r"^config must"),
    (runs.run_budget, dict(epochs=0, lr=0.1, seed=0), ValueError, r"^epochs must"),
    (runs.run_budget, dict(epochs=1, lr=0.0, seed=0), ValueError, r"^lr must"),
    (runs.run_budget, dict(epochs=1, lr=float("inf"), seed=0), ValueError, r"^lr must"),
    (runs.run_budget, dict(epochs=1, lr=0.1, seed=-1), ValueError, r"^seed must"),
    (
        runs.run_budget,
        dict(epochs=1, lr=0.1, seed=0, batch_size=0),
        ValueError,
        r"^batch_size must",
    ),
    (runs.run_data, dict(dataset=3), TypeError, r"^dataset must"),
    (runs.run_data, dict(dataset="nope"), ValueError, r"^dataset must"),
    (runs.run_data, dict(dataset="MNIST1D"), ValueError, r"^dataset must"),
    # run_* helpers handed a dataset or a model that does not fit: named, never inside conv1d
    ("run_scheme", dict(dataset="digits"), ValueError, r"^model='mnist1d_cnn' reads"),
    ("run_scheme", dict(dataset="nope"), ValueError, r"^dataset must"),
    ("run_freezeout", dict(dataset="digits"), ValueError, r"^model='mnist1d_cnn' reads"),
    ("run_layerwise", dict(model="cnn2d"), ValueError, r"^model='cnn2d' reads"),
    ("run_combined", dict(), ValueError, r"^base does not fit"),
    ("run_heads", dict(backbone=MODEL), ValueError, r"^backbone does not fit"),
    ("run_linear_probes", dict(), ValueError, r"^model does not fit"),
]

CACHED = {  # functions that train and cache: called with root=tmp_path, progress=False
    "placement_backbone": placement.placement_backbone,
    "pretrained_gated": gates.pretrained_gated,
    "run_scheme": lambda **kw: schemes.run_scheme(**({"scheme": "uniform"} | kw)),
    "run_combined": lambda **kw: combined.run_combined(**({"base": MODEL, "mode": "softmax"} | kw)),
    "run_layerwise": layerwise.run_layerwise,
    "run_linear_probes": lambda **kw: layerwise.run_linear_probes(**({"model": MODEL} | kw)),
    "run_heads": lambda **kw: separate.run_heads(
        **({"backbone": MNIST1D_MLP, "kind": "linear"} | kw)
    ),
    "run_freezeout": freezeout.run_freezeout,
    "train_local": local.train_local,
    "train_ib": lambda **kw: information.train_ib(**({"beta": 0.1} | kw)),
    "train_joint_with_plane": information.train_joint_with_plane,
    "train_transformer": transformer.train_transformer,
    "train_graph_network": graph.train_graph_network,
    "train_small_network": cascade.train_small_network,
}


def _call(fn, kwargs, tmp_path):
    if callable(fn):
        return fn(**kwargs)
    if fn in CACHED:
        return CACHED[fn](**(dict(progress=False, root=tmp_path) | kwargs))
    if fn == "train_gated":
        base = dict(model=gated_mnist1d(), data=mexit.load_mnist1d(), lam=1.0, progress=False)
        return gates.train_gated(**(base | kwargs))
    if fn == "gated_outputs":
        return gates.gated_outputs(**(dict(model=gated_model(), x=X) | kwargs))
    if fn == "combined_probs":
        return combined.combined_probs(**(dict(model=combined.CombinedOutput(MODEL), x=X) | kwargs))
    if fn == "pinned_threads":
        with timing.pinned_threads(**kwargs):
            return None
    if fn == "GradientNormRecorder":  # no constructor argument: its __call__ takes the model
        return gradients.GradientNormRecorder()(0, **kwargs)
    if fn == "local_ib_loss":
        return information.local_ib_loss(
            **(dict(model=information.ib_model(MODEL), beta=0.1) | kwargs)
        )
    tier_base = dict(probs=PROBS, labels=Y, costs=COSTS, exits=(1, 2, 3), h_bytes=HB, system=SYSTEM)
    if fn == "evaluate_tiers":
        base = tier_base | dict(thresholds=0.5, placement=(0, 0, 1))
        return tiers.evaluate_tiers(**(base | kwargs))
    if fn == "evaluate_placements":
        return tiers.evaluate_placements(**(tier_base | dict(thresholds=0.5) | kwargs))
    if fn == "best_boundary":
        return tiers.best_boundary(**(tier_base | dict(latency_budget=1.0) | kwargs))
    pair = dict(small_probs=SMALL, large_probs=LARGE, labels=Y, cost_small=1.0, cost_large=4.0)
    if fn == "evaluate_cascade":
        return cascade.evaluate_cascade(**(pair | dict(threshold=0.5) | kwargs))
    if fn == "cascade_curve":
        return cascade.cascade_curve(**(pair | kwargs))
    raise AssertionError(f"no caller for {fn}")


def _id(case):
    fn = case[0]
    name = fn if isinstance(fn, str) else getattr(fn, "__name__", "fn")
    return f"{name}-{'-'.join(case[1])}"


@pytest.mark.parametrize(("fn", "kwargs", "exc", "words"), CASES, ids=[_id(c) for c in CASES])
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words, tmp_path):
    with pytest.raises(exc, match=words):
        _call(fn, kwargs, tmp_path)


MODULES = (
    plane,
    placement,
    policies,
    gates,
    schemes,
    gradients,
    combined,
    layerwise,
    separate,
    freezeout,
    local,
    tiers,
    information,
    transformer,
    graph,
    cascade,
    timing,
    tier_training,
    cost_weighted_policy,
    deployment,
    speed,
    exercises,
    backbones,
    devices,
    train,
    patience,
    zero_time_waste,
    policy_comparison,
    links,
)
EXEMPT = {
    # result records: built by the package from validated inputs, they hold outputs
    "PlacementScore",
    "PlacementSearch",
    "Curve",
    "TuneResult",
    "Speedup",
    "ABTiming",
    "DeployResult",
    "DeploySpeedup",
    "TierTraining",
    "Stage",
    "TierSystem",
    "TierResult",
    "DistributedResult",
    "CascadeResult",
    "GatedOutputs",
    "TierRunError",  # an exception class
    "free_port",  # takes no argument
    "checkers",  # exercises.checkers(): takes no argument
    "available_devices",  # takes no argument
}
ELSEWHERE = {"policy_exits": 4}  # bad-input cases already in tests/test_policies.py


def _all_cases():
    """CASES of this file and of every tests/test_bad_input_<topic>.py that defines its own
    (same form: callable, kwargs, exception, words), so a chapter's new module keeps its
    bad-input cases beside its tests."""
    cases = list(CASES)
    for path in sorted(Path(__file__).parent.glob("test_bad_input_*.py")):
        if path.name == Path(__file__).name:
            continue
        spec = importlib.util.spec_from_file_location(f"_cases_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases += getattr(module, "CASES", [])
    return cases


def test_every_public_callable_has_three_bad_inputs():
    counts = dict(ELSEWHERE)
    for fn, *_ in _all_cases():
        name = fn if isinstance(fn, str) else fn.__name__
        counts[name] = counts.get(name, 0) + 1
    public = {
        name
        for module in MODULES
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    }
    thin = {name: counts.get(name, 0) for name in public - EXEMPT if counts.get(name, 0) < 3}
    assert not thin, f"public callables with fewer than three bad inputs: {thin}"
