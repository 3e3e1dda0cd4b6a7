"""Bad input gets a clear error: every core public function, at least three invalid inputs,
each raising ValueError / TypeError / FileNotFoundError with a message naming the argument."""

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import mexit

PACKAGE = Path(mexit.__file__).parent


def test_the_package_never_checks_arguments_with_a_bare_assert():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, f"asserts vanish under python -O; raise instead: {offenders}"


with mexit.checkpoints.preserved_rng():  # tiny fixtures, without moving the global RNG
    torch.manual_seed(0)
    MODEL = mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3).eval()
    PROBS = torch.randn(3, 5, 4).softmax(-1)
    LOGITS = 3 * torch.randn(3, 5, 4)
    X = torch.randn(4, 1, 6)
    Y = torch.tensor([0, 1, 2, 0])
LABELS = torch.zeros(5, dtype=torch.long)
NAN = float("nan")
INF = float("inf")
WITH_NAN = PROBS.clone().index_put_(
    (torch.tensor(0), torch.tensor(1), torch.tensor(2)), torch.tensor(NAN)
)
NEGATIVE = PROBS.clone().index_put_(
    (torch.tensor(0), torch.tensor(1)), torch.tensor([1.5, -0.5, 0.0, 0.0])
)
P = dict(probs=PROBS, labels=LABELS)  # the good arguments the cases below spoil one by one
XY = dict(model=MODEL, x=X, y=Y)
FIT = dict(model=MODEL, x_train=X, y_train=Y, progress=False)
BUNDLE = SimpleNamespace(x_train=X, y_train=Y, x_val=X, y_val=Y)
TENSORS = dict(x_train=X, y_train=Y, x_val=X, y_val=Y, x_test=X, y_test=Y)
DB = dict(name="toy", **TENSORS, classes=("a", "b", "c"), input_shape=(1, 6))
NOWHERE = "/nonexistent/mexit-bad-input"  # cached_model must fail before touching it


def _module():
    return torch.nn.Linear(6, 3)


# (function, kwargs, exception, regex anchored on the argument's name)
CASES = [
    # normalized_entropy / max_probability: rows must be distributions
    (mexit.normalized_entropy, dict(probs=[0.5, 0.5]), TypeError, r"^probs must be a torch"),
    (mexit.normalized_entropy, dict(probs=torch.ones(3, 1)), ValueError, r"^probs must have at"),
    (mexit.normalized_entropy, dict(probs=torch.ones(0, 3)), ValueError, r"^probs must not be em"),
    (mexit.normalized_entropy, dict(probs=LOGITS), ValueError, r"^probs must be (prob|distr)"),
    (mexit.normalized_entropy, dict(probs=WITH_NAN), ValueError, r"^probs must not hold NaN"),
    (mexit.normalized_entropy, dict(probs=NEGATIVE), ValueError, r"^probs must be probabilities"),
    (
        mexit.normalized_entropy,
        dict(probs=PROBS * 0.9),
        ValueError,
        r"^probs must be distributions",
    ),
    (mexit.max_probability, dict(probs="x"), TypeError, r"^probs must be a torch"),
    (mexit.max_probability, dict(probs=torch.ones(2, 3).long()), TypeError, r"^probs must be a f"),
    (mexit.max_probability, dict(probs=torch.ones(0, 3)), ValueError, r"^probs must not be empty"),
    (mexit.max_probability, dict(probs=LOGITS), ValueError, r"^probs must be (prob|distr)"),
    (mexit.max_probability, dict(probs=PROBS / 2), ValueError, r"^probs must be distributions"),
    # simulate_exits
    (mexit.simulate_exits, dict(probs=PROBS, thresholds=1.5), ValueError, r"^thresholds must be <"),
    (mexit.simulate_exits, dict(probs=PROBS, thresholds=[0.5]), ValueError, r"^thresholds must h"),
    (mexit.simulate_exits, dict(probs=PROBS, thresholds="0.5"), TypeError, r"^thresholds must be"),
    (
        mexit.simulate_exits,
        dict(probs=PROBS, thresholds=torch.full((2, 1), 0.5)),
        ValueError,
        r"^thresholds must be a number or a 1-D",
    ),
    (
        mexit.simulate_exits,
        dict(probs=PROBS, thresholds=[0.5, NAN]),
        ValueError,
        r"^thresholds\[1\] must not be NaN",
    ),
    (
        mexit.simulate_exits,
        dict(probs=PROBS, thresholds=torch.tensor([True, False])),
        TypeError,
        r"^thresholds must hold real numbers",
    ),
    (
        mexit.simulate_exits,
        dict(probs=PROBS, thresholds=0.5, criterion="margin"),
        ValueError,
        r"^criterion must",
    ),
    (mexit.simulate_exits, dict(probs=LOGITS, thresholds=0.5), ValueError, r"^probs must be"),
    (mexit.simulate_exits, dict(probs=PROBS[0], thresholds=0.5), ValueError, r"^probs must have 3"),
    (mexit.simulate_exits, dict(probs=WITH_NAN, thresholds=0.5), ValueError, r"^probs must not"),
    # evaluate_policy
    (mexit.evaluate_policy, P | dict(labels=LABELS[:4], thresholds=0.5), ValueError, r"^labels m"),
    (
        mexit.evaluate_policy,
        P | dict(labels=LABELS.float(), thresholds=0.5),
        TypeError,
        r"^labels must",
    ),
    (
        mexit.evaluate_policy,
        P | dict(labels=LABELS.bool(), thresholds=0.5),
        TypeError,
        r"^labels must be an integer tensor",
    ),
    (
        mexit.evaluate_policy,
        P | dict(labels=torch.arange(5), thresholds=0.5),
        ValueError,
        r"^labels must be class indices in 0\.\.3",
    ),
    (
        mexit.evaluate_policy,
        P | dict(labels=-LABELS - 1, thresholds=0.5),
        ValueError,
        r"^labels must be class indices",
    ),
    (mexit.evaluate_policy, P | dict(thresholds=0.5, Gamma=[1.0, 2.0]), ValueError, r"^Gamma must"),
    (
        mexit.evaluate_policy,
        P | dict(thresholds=0.5, Gamma=[3, 2, 1]),
        ValueError,
        r"^Gamma must b",
    ),
    (mexit.evaluate_policy, P | dict(thresholds=0.5, Gamma=[1, NAN, 3]), ValueError, r"^Gamma mus"),
    (mexit.evaluate_policy, P | dict(thresholds=0.5, full_cost=0.0), ValueError, r"^full_cost m"),
    (mexit.evaluate_policy, P | dict(thresholds=0.5, full_cost=INF), ValueError, r"^full_cost m"),
    (mexit.evaluate_policy, P | dict(probs=LOGITS, thresholds=0.5), ValueError, r"^probs must be"),
    # exit_accuracies / oracle_exits / overthinking
    (mexit.exit_accuracies, P | dict(probs=LOGITS), ValueError, r"^probs must be"),
    (mexit.exit_accuracies, P | dict(labels=LABELS + 4), ValueError, r"^labels must be class ind"),
    (mexit.exit_accuracies, P | dict(labels=LABELS[:3]), ValueError, r"^labels must have one"),
    (mexit.exit_accuracies, P | dict(labels=LABELS.bool()), TypeError, r"^labels must be an int"),
    (mexit.oracle_exits, P | dict(probs="p"), TypeError, r"^probs must be a torch"),
    (mexit.oracle_exits, P | dict(labels=LABELS[:, None]), ValueError, r"^labels must have 1 dim"),
    (mexit.oracle_exits, P | dict(labels=torch.zeros(6).long()), ValueError, r"^labels must have"),
    (mexit.oracle_exits, P | dict(labels=LABELS + 7), ValueError, r"^labels must be class ind"),
    (mexit.overthinking, P | dict(labels=torch.zeros(6).long()), ValueError, r"^labels must have"),
    (mexit.overthinking, P | dict(labels=[0] * 5), TypeError, r"^labels must be a torch"),
    (mexit.overthinking, P | dict(probs=torch.rand(3, 5, 4) + 1), ValueError, r"^probs must be"),
    (mexit.overthinking, P | dict(labels=LABELS + 7), ValueError, r"^labels must be class ind"),
    # costs
    (mexit.exit_probabilities, dict(gates=torch.full((2, 2), 1.5)), ValueError, r"^gates must"),
    (mexit.exit_probabilities, dict(gates=torch.rand(2)), ValueError, r"^gates must have 2"),
    (mexit.exit_probabilities, dict(gates=[[0.5]]), TypeError, r"^gates must be a torch"),
    (mexit.expected_cost, dict(gates=torch.rand(2, 2), Gamma=[1.0, 2.0]), ValueError, r"^Gamma m"),
    (mexit.expected_cost, dict(gates=torch.rand(2, 2), Gamma=[1, -2, 3]), ValueError, r"^Gamma m"),
    (
        mexit.expected_cost,
        dict(gates=torch.rand(2, 2), Gamma=[[1, 2, 3]]),
        ValueError,
        r"^Gamma must",
    ),
    (
        mexit.expected_cost,
        dict(gates=torch.rand(2, 2), Gamma=[3, 2, 1]),
        ValueError,
        r"^Gamma must be non-decreasing",
    ),
    (
        mexit.expected_cost,
        dict(gates=torch.rand(2, 2), Gamma=[1, 2, NAN]),
        ValueError,
        r"^Gamma must be finite",
    ),
    (
        mexit.cascaded_cost,
        dict(exit_index=torch.tensor([0, 3]), Gamma=[1, 2]),
        ValueError,
        r"^exit_index must lie",
    ),
    (
        mexit.cascaded_cost,
        dict(exit_index=torch.tensor([0.0]), Gamma=[1, 2]),
        TypeError,
        r"^exit_index must be an integer",
    ),
    (
        mexit.cascaded_cost,
        dict(exit_index=torch.tensor([True, False, True]), Gamma=[1, 2, 3]),
        TypeError,
        r"^exit_index must be an integer tensor, got dtype torch\.bool",
    ),
    (mexit.cascaded_cost, dict(exit_index=torch.tensor([0]), Gamma=[]), ValueError, r"^Gamma mu"),
    (
        mexit.cascaded_cost,
        dict(exit_index=torch.tensor([0]), Gamma=[1, INF]),
        ValueError,
        r"^Gamma must be finite",
    ),
    (
        mexit.cascaded_cost,
        dict(exit_index=torch.tensor([0]), Gamma=[2, 1]),
        ValueError,
        r"^Gamma must be non-decreasing",
    ),
    (
        mexit.cumulative_costs,
        dict(gamma_f=[1, 2], gamma_c={2: 1}, exits=(2, 1)),
        ValueError,
        r"^exits must be increasing",
    ),
    (
        mexit.cumulative_costs,
        dict(gamma_f=[1, 2], gamma_c={2: 1}, exits=(1,)),
        ValueError,
        r"^exits must",
    ),
    (
        mexit.cumulative_costs,
        dict(gamma_f=[1, 2], gamma_c={2: 1}, exits=()),
        ValueError,
        r"^exits must",
    ),
    (
        mexit.cumulative_costs,
        dict(gamma_f=[1, 2], gamma_c={2: 1}, exits=(1, 2)),
        ValueError,
        r"^gamma_c has no head cost for exits \[1\]",
    ),
    (
        mexit.cumulative_costs,
        dict(gamma_f=[1, NAN], gamma_c={2: 1}, exits=(2,)),
        ValueError,
        r"^gamma_f\[1\] must not be NaN",
    ),
    (
        mexit.cumulative_costs,
        dict(gamma_f=[1, -2], gamma_c={2: 1}, exits=(2,)),
        ValueError,
        r"^gamma_f\[1\] must be >= 0",
    ),
    (
        mexit.cumulative_costs,
        dict(gamma_f=[1, 2], gamma_c={2: INF}, exits=(2,)),
        ValueError,
        r"^gamma_c\[2\] must be finite",
    ),
    # heads
    (mexit.linear_head, dict(in_shape=(4,), num_classes=1), ValueError, r"^num_classes must be >="),
    (mexit.linear_head, dict(in_shape=4, num_classes=3), TypeError, r"^in_shape must be"),
    (mexit.linear_head, dict(in_shape=(0,), num_classes=3), ValueError, r"^in_shape\[0\] must be"),
    (
        mexit.mlp_head,
        dict(in_shape=(4,), num_classes=3, hidden=(4, 4, 4)),
        ValueError,
        r"^hidden must",
    ),
    (mexit.mlp_head, dict(in_shape=(4,), num_classes=3, hidden=(0,)), ValueError, r"^hidden\[0\]"),
    (mexit.mlp_head, dict(in_shape="4", num_classes=3), TypeError, r"^in_shape must be"),
    (mexit.pooled_head, dict(in_shape=(4,), num_classes=3), ValueError, r"\bin_shape=\(4,\)"),
    (
        mexit.pooled_head,
        dict(in_shape=(4, 5), num_classes=3, pool="median"),
        ValueError,
        r"^pool must",
    ),
    (
        mexit.pooled_head,
        dict(in_shape=(4, 5), num_classes=3, output_size=0),
        ValueError,
        r"^output_size must",
    ),
    (mexit.make_head, dict(kind="conv", in_shape=(4,), num_classes=3), ValueError, r"^kind must"),
    (mexit.make_head, dict(kind=["linear"], in_shape=(4,), num_classes=3), TypeError, r"^kind mu"),
    (
        mexit.make_head,
        dict(kind="linear", in_shape=(0,), num_classes=3),
        ValueError,
        r"^in_shape\[0\] must",
    ),
    (
        mexit.make_head,
        dict(kind="mlp", in_shape=(4,), num_classes=1),
        ValueError,
        r"^num_classes must",
    ),
    # models
    (mexit.mnist1d_cnn, dict(channels=(4,)), ValueError, r"^channels must"),
    (mexit.mnist1d_cnn, dict(channels=(4, 8), strides=(1,)), ValueError, r"^strides must"),
    (mexit.mnist1d_cnn, dict(channels=(4, 8), exits=(2,)), ValueError, r"^exits must be block"),
    (mexit.mnist1d_cnn, dict(channels=(4, 0)), ValueError, r"^channels\[1\] must be >= 1"),
    (mexit.mnist1d_cnn, dict(channels=(4, 8), head="conv"), ValueError, r"^head must be one of"),
    (mexit.mlp, dict(widths=(8,)), ValueError, r"^widths must"),
    (mexit.mlp, dict(widths=(8, 8), exits=(1, 1)), ValueError, r"^exits must not repeat"),
    (mexit.mlp, dict(widths=(8, 8), input_shape=(1, 0)), ValueError, r"^input_shape\[1\] must"),
    (mexit.mlp, dict(widths=(8, 8), head=["linear"]), TypeError, r"^head must be one of"),
    (mexit.cnn2d, dict(input_shape=(1, 8)), ValueError, r"^input_shape must"),
    (mexit.cnn2d, dict(channels=(4,)), ValueError, r"^channels must"),
    (mexit.cnn2d, dict(channels=(4, 8), head="conv"), ValueError, r"^head must be one of"),
    (mexit.cnn2d, dict(input_shape=(1, 28.0, 28)), TypeError, r"^input_shape\[1\] must be an int"),
    (mexit.cnn2d, dict(input_shape=(1, 0, 28)), ValueError, r"^input_shape\[1\] must be >= 1"),
    (mexit.build_model, dict(name="resnet"), ValueError, r"^name must be one of"),
    (mexit.build_model, dict(name=["mlp"]), TypeError, r"^name must be one of"),
    (mexit.build_model, dict(name="mlp", widths=(8,)), ValueError, r"^widths must"),
    (mexit.build_model, dict(name="cnn2d", input_shape=(1, 0, 8)), ValueError, r"^input_shape\["),
    (mexit.MultiExitNet, dict(blocks=[], heads={}), TypeError, r"^blocks must"),
    (
        mexit.MultiExitNet,
        dict(blocks=["f1"], heads={1: torch.nn.Identity()}),
        TypeError,
        r"^blocks\[0\] must",
    ),
    (
        mexit.MultiExitNet,
        dict(blocks=[torch.nn.Identity()], heads={}),
        ValueError,
        r"^heads must contain the final head",
    ),
    # eval_mode(*modules) takes its modules positionally: the "*" key passes them so
    (mexit.eval_mode, {"*": ()}, TypeError, r"^modules must name at least one"),
    (mexit.eval_mode, {"*": (MODEL, "head")}, TypeError, r"^modules must be nn\.Modules, got str"),
    (mexit.eval_mode, {"*": (X,)}, TypeError, r"^modules must be nn\.Modules, got Tensor"),
    (mexit.eval_mode, {"*": (None,)}, TypeError, r"^modules must be nn\.Modules, got NoneType"),
    # training
    (mexit.joint_loss, dict(alphas=[-0.1]), ValueError, r"^alphas\[0\] must be >="),
    (mexit.joint_loss, dict(alphas="uniform"), TypeError, r"^alphas must"),
    (mexit.joint_loss, dict(alphas=[NAN]), ValueError, r"^alphas\[0\] must not be NaN"),
    (mexit.joint_loss, dict(alphas=[1.0, INF]), ValueError, r"^alphas\[1\] must be finite"),
    (mexit.evaluate, XY | dict(model=_module()), TypeError, r"^model must be a MultiExitNet"),
    (mexit.evaluate, XY | dict(y=torch.tensor([0, 1, 2, 3])), ValueError, r"^y must be class ind"),
    (mexit.evaluate, XY | dict(y=Y[:3]), ValueError, r"^y must have one label per input"),
    (mexit.evaluate, XY | dict(x=X.clone().fill_(NAN)), ValueError, r"^x must be finite: row 0"),
    (mexit.evaluate, XY | dict(x=X.double()), TypeError, r"^x has dtype torch\.float64"),
    (mexit.fit, FIT | dict(epochs=0), ValueError, r"^epochs must be >= 1"),
    (mexit.fit, FIT | dict(batch_size=1.5), TypeError, r"^batch_size must be an int"),
    (mexit.fit, FIT | dict(lr=-1.0), ValueError, r"^lr must be >= 0"),
    (mexit.fit, FIT | dict(lr=INF), ValueError, r"^lr must be finite"),
    (mexit.fit, FIT | dict(y_train=Y[:3]), ValueError, r"^y_train must have one label"),
    (mexit.fit, FIT | dict(y_train=Y + 5), ValueError, r"^y_train must be class indices in 0\.\.2"),
    (mexit.fit, FIT | dict(x_val=X[:2], y_val=Y), ValueError, r"^y_val must have one label"),
    (mexit.fit, FIT | dict(x_val=X), ValueError, r"^x_val and y_val must be given together"),
    (
        mexit.fit,
        FIT | dict(x_train=X.clone().index_fill_(0, torch.tensor([2]), NAN)),
        ValueError,
        r"^x_train must be finite: row 2",
    ),
    (mexit.fit, FIT | dict(model=_module()), TypeError, r"^model must be a MultiExitNet"),
    (mexit.fit_bundle, dict(model=MODEL, data=object()), TypeError, r"^data must be a DataBundle"),
    (
        mexit.fit_bundle,
        dict(model=MODEL, data=SimpleNamespace(**vars(BUNDLE) | dict(y_train=Y + 3))),
        ValueError,
        r"^y_train must be class indices",
    ),
    (mexit.fit_bundle, dict(model=MODEL, data=BUNDLE, epochs=0), ValueError, r"^epochs must be"),
    (mexit.fit_bundle, dict(model="mlp", data=BUNDLE), TypeError, r"^model must be a MultiExitNet"),
    (mexit.seed_everything, dict(seed=-1), ValueError, r"^seed must be >= 0"),
    (mexit.seed_everything, dict(seed=1.5), TypeError, r"^seed must be an int"),
    (mexit.seed_everything, dict(seed="0"), TypeError, r"^seed must be an int"),
    (mexit.seed_everything, dict(seed=2**70), ValueError, r"^seed must be <= 4294967295"),
    # inference on a model
    (mexit.exit_probs, dict(model=_module(), x=X), TypeError, r"^model must be a MultiExitNet"),
    (mexit.exit_probs, dict(model=MODEL, x=X.long()), TypeError, r"^x must be a floating"),
    (mexit.exit_probs, dict(model=MODEL, x=X, batch_size=0), ValueError, r"^batch_size must be"),
    (mexit.exit_probs, dict(model=MODEL, x=X.double()), ValueError, r"^x must be on the model's"),
    (mexit.measure_costs, dict(model="resnet", input_shape=(1, 6)), TypeError, r"^model must be"),
    (mexit.measure_costs, dict(model=MODEL, input_shape=6), TypeError, r"^input_shape must be"),
    (mexit.measure_costs, dict(model=MODEL, input_shape=(1, 7)), ValueError, r"^input_shape \(1"),
    (mexit.measure_costs, dict(model=MODEL, input_shape=(1, 6.0)), TypeError, r"^input_shape\[1"),
    # data
    (mexit.DataBundle, DB | dict(y_train=Y[:3]), ValueError, r"^x_train and y_train must have"),
    (mexit.DataBundle, DB | dict(input_shape=(1, 5)), ValueError, r"^x_train must have examples"),
    (mexit.DataBundle, DB | dict(y_val=Y + 3), ValueError, r"^y_val must be class indices"),
    (mexit.DataBundle, DB | dict(y_test=Y.float()), TypeError, r"^y_test must be an integer"),
    (mexit.load_dataset, dict(name="imagenet"), ValueError, r"^name must be one of"),
    (mexit.load_dataset, dict(name=None), TypeError, r"^name must be a str"),
    (mexit.load_dataset, dict(name="digits", seed=-1), ValueError, r"^seed must be >= 0"),
    (mexit.load_mnist1d, dict(num_samples=5), ValueError, r"^num_samples must be >="),
    (mexit.load_mnist1d, dict(val_fraction=1.5), ValueError, r"^val_fraction must be in"),
    (mexit.load_mnist1d, dict(seed=2**70), ValueError, r"^seed must be <="),
    (mexit.load_digits, dict(val_fraction=0.6, test_fraction=0.6), ValueError, r"\bval_fraction\b"),
    (mexit.load_digits, dict(seed=2**70), ValueError, r"^seed must be <= 4294967295"),
    (mexit.load_digits, dict(test_fraction=0), ValueError, r"^test_fraction must be in"),
    (mexit.load_torchvision, dict(name="svhn"), ValueError, r"^name must be one of"),
    (mexit.load_torchvision, dict(name="mnist", val_fraction=1), ValueError, r"^val_fraction must"),
    (mexit.load_torchvision, dict(name="mnist", seed=-3), ValueError, r"^seed must be >= 0"),
    # checkpoints and claims
    (mexit.pretrained, dict(name="resnet50"), ValueError, r"^name must be one of"),
    (mexit.pretrained, dict(name=["mnist1d_cnn"]), ValueError, r"^name must be one of"),
    (mexit.pretrained, dict(seed=-1), ValueError, r"^seed must be >= 0"),
    (mexit.pretrained, dict(seed=2**70), ValueError, r"^seed must be <="),
    (
        mexit.cached_model,
        dict(name="a/b", config={}, build=None, train=None),
        ValueError,
        r"^name must",
    ),
    (
        mexit.cached_model,
        dict(name="a", config=[], build=None, train=None),
        TypeError,
        r"^config must",
    ),
    (
        mexit.cached_model,
        dict(name="a", config={}, build=None, train=dict, root=NOWHERE),
        TypeError,
        r"^build must be callable",
    ),
    (
        mexit.cached_model,
        dict(name="a", config={}, build=lambda: 5, train=dict, root=NOWHERE),
        TypeError,
        r"^build must return an nn\.Module, got int",
    ),
    (
        mexit.cached_model,
        dict(name="a", config={}, build=_module, train="fit", root=NOWHERE),
        TypeError,
        r"^train must be callable",
    ),
    (
        mexit.cached_model,
        dict(name="a", config={"seed": -1}, build=_module, train=dict, root=NOWHERE),
        ValueError,
        r"^config\['seed'\] must be >= 0",
    ),
    (mexit.check, dict(name=5, condition=True), TypeError, r"^name must be a str"),
    (mexit.check, dict(name="Bad Name", condition=True), ValueError, r"^name must be lower"),
    (mexit.check, dict(name="ok", condition=1), TypeError, r"^condition must be a bool"),
    (mexit.check, dict(name="ok", condition=torch.ones(2)), ValueError, r"^condition must be one"),
]
# early_exit_predict, on MODEL with x = X and thresholds 0.5 unless a case says otherwise
EEP = dict(model=MODEL, x=X, thresholds=0.5)
CASES += [
    (mexit.early_exit_predict, EEP | dict(thresholds=[0.5]), ValueError, r"^thresholds must hold"),
    (mexit.early_exit_predict, EEP | dict(thresholds=-0.1), ValueError, r"^thresholds must be >="),
    (
        mexit.early_exit_predict,
        EEP | dict(thresholds=torch.full((1, 2), 0.5)),
        ValueError,
        r"^thresholds must be a number or a 1-D",
    ),
    (mexit.early_exit_predict, EEP | dict(criterion="margin"), ValueError, r"^criterion must"),
    (mexit.early_exit_predict, EEP | dict(x=torch.zeros(0, 1, 6)), ValueError, r"^x must not be"),
    (mexit.early_exit_predict, EEP | dict(x=X.long()), TypeError, r"^x must be a floating"),
    (mexit.early_exit_predict, EEP | dict(x=X.double()), ValueError, r"^x must be on the model"),
    (mexit.early_exit_predict, EEP | dict(costs="flops"), TypeError, r"^costs must be a CostProf"),
    (
        mexit.early_exit_predict,
        EEP | dict(costs=mexit.measure_costs(mexit.mlp(input_shape=(1, 6), widths=(8, 8)), (1, 6))),
        ValueError,
        r"^costs must be measured on this model",
    ),
    (mexit.early_exit_predict, EEP | dict(model=_module()), TypeError, r"^model must be a Multi"),
]

# the deployment form (its methods' bad inputs are in tests/test_deploy.py)
CASES += [
    (fn, kwargs, exc, regex)
    for fn in (mexit.deploy, mexit.DeployedNet)
    for kwargs, exc, regex in (
        (dict(model=_module()), TypeError, r"^model must be a MultiExitNet"),
        (dict(model=MODEL, thresholds=1.5), ValueError, r"^thresholds must be <="),
        (dict(model=MODEL, thresholds=[0.5]), ValueError, r"^thresholds must hold"),
        (dict(model=MODEL, criterion="margin"), ValueError, r"^criterion must be one of"),
    )
]


# issue 16: exits on torchvision backbones, streaming data
_DS = torch.utils.data.TensorDataset(torch.zeros(2, 1, 6), torch.zeros(2, dtype=torch.long))
_SB = dict(name="s", train=_DS, val=_DS, test=_DS, classes=("a", "b"), input_shape=(1, 6))
CASES += [
    (mexit.attach_exits, dict(model=MODEL), TypeError, r"^model must be a torchvision"),
    (mexit.attach_exits, dict(model=_module()), TypeError, r"^model must be a torchvision"),
    (mexit.attach_exits, dict(model="resnet18"), TypeError, r"^model must be a torchvision"),
    (mexit.StreamBundle, _SB | dict(train=3), TypeError, r"^train must be a torch Dataset"),
    (mexit.StreamBundle, _SB | dict(classes=("a",)), ValueError, r"^classes must"),
    (mexit.StreamBundle, _SB | dict(batch_size=0), ValueError, r"^batch_size must"),
    (mexit.StreamBundle, _SB | dict(num_workers=-1), ValueError, r"^num_workers must"),
    (mexit.StreamBundle, _SB | dict(pin_memory="yes"), TypeError, r"^pin_memory must"),
]


def _name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


@pytest.mark.parametrize(
    ("fn", "kwargs", "exc", "regex"), CASES, ids=[f"{_name(c[0])}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, regex):
    kwargs = dict(kwargs)
    with pytest.raises(exc, match=regex):
        fn(*kwargs.pop("*", ()), **kwargs)


# Records the package builds from values it measured or checked itself (no user input to
# check), and the two namespaces re-exported for convenience (their callables are counted by
# tests/test_bad_input_modules.py and tests/test_widgets*.py).
EXEMPT = {"CostProfile", "History", "timing", "widgets"}


def test_every_public_callable_of_the_core_api_has_three_bad_inputs():
    """Walks `mexit.__all__`: every public callable needs >= 3 cases in CASES above."""
    counts = {}
    for fn, *_ in CASES:
        counts[_name(fn)] = counts.get(_name(fn), 0) + 1
    public = {name for name in mexit.__all__ if callable(getattr(mexit, name))} - EXEMPT
    assert public, "mexit.__all__ names no callable"
    thin = {name: counts.get(name, 0) for name in sorted(public) if counts.get(name, 0) < 3}
    assert not thin, f"public callables of mexit with fewer than three bad inputs: {thin}"


def test_every_regex_is_anchored_on_a_name_not_a_letter_or_two():
    """A case's regex starts at the message's beginning (or a word boundary) with the
    argument's name and goes on past it ("^x must", not "x")."""
    for fn, _, _, regex in CASES:
        found = re.match(r"(\^|\\b)([A-Za-z_][A-Za-z_0-9]*)(.*)", regex)
        assert found, (fn, regex)
        name, rest = found.group(2), found.group(3)
        assert len(name) + len(rest) >= 6 and rest, (fn, regex)


def test_missing_torchvision_files_name_the_folder_and_files(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        mexit.load_torchvision("mnist", root=tmp_path)
    assert str(tmp_path) in str(err.value) and "train-images-idx3-ubyte" in str(err.value)


COSTS = mexit.measure_costs(MODEL, (1, 6))
GAMMA = [1.0, 2.0, 3.0]
EXPLORER_CASES = [
    ("threshold", dict(probs=LOGITS), ValueError, r"^probs must be"),
    ("threshold", dict(probs=WITH_NAN), ValueError, r"^probs must not hold NaN"),
    ("threshold", dict(labels=LABELS + 4), ValueError, r"^labels must be class indices"),
    ("threshold", dict(Gamma=[3.0, 2.0, 1.0]), ValueError, r"^Gamma must be non-decreasing"),
    ("threshold", dict(Gamma=[1.0, INF, 3.0]), ValueError, r"^Gamma must be finite"),
    ("threshold", dict(full_cost=NAN), ValueError, r"^full_cost must not be NaN"),
    ("placement", dict(probs=LOGITS), ValueError, r"^probs must be"),
    ("placement", dict(probs=NEGATIVE), ValueError, r"^probs must be probabilities"),
    ("placement", dict(labels=LABELS + 4), ValueError, r"^labels must be class indices"),
    ("placement", dict(labels=LABELS.bool()), TypeError, r"^labels must be an integer"),
]


@pytest.mark.parametrize(("which", "kwargs", "exc", "regex"), EXPLORER_CASES)
def test_the_explorers_refuse_what_is_not_a_distribution_or_a_label(which, kwargs, exc, regex):
    """The explorers of mexit.widgets.threshold and .placement check what they are handed
    with the same checks as the functions they call."""
    from mexit.widgets.placement import PlacementExplorer
    from mexit.widgets.threshold import ThresholdExplorer

    with pytest.raises(exc, match=regex):
        if which == "threshold":
            ThresholdExplorer(**(dict(probs=PROBS, labels=LABELS, Gamma=GAMMA) | kwargs))
        else:
            base = dict(probs=PROBS, labels=LABELS, costs=COSTS, exits=MODEL.exits)
            PlacementExplorer(**(base | kwargs))
