"""Bad input gets a clear error: every core public function, at least three invalid inputs,
each raising ValueError / TypeError / FileNotFoundError with a message naming the argument."""

import ast
from pathlib import Path

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


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3).eval()


@pytest.fixture(scope="module")
def probs():
    return torch.randn(3, 5, 4).softmax(-1)


LABELS = torch.zeros(5, dtype=torch.long)

# (function, kwargs, exception, words the message must contain)
CASES = [
    # normalized_entropy / max_probability
    (mexit.normalized_entropy, dict(probs=[0.5, 0.5]), TypeError, "probs"),
    (mexit.normalized_entropy, dict(probs=torch.ones(3, 1)), ValueError, "2 classes"),
    (mexit.normalized_entropy, dict(probs=torch.ones(0, 3)), ValueError, "empty"),
    (mexit.max_probability, dict(probs="x"), TypeError, "probs"),
    (mexit.max_probability, dict(probs=torch.ones(2, 3, dtype=torch.long)), TypeError, "float"),
    (mexit.max_probability, dict(probs=torch.ones(0, 3)), ValueError, "empty"),
    # simulate_exits
    ("simulate", dict(thresholds=1.5), ValueError, "thresholds"),
    ("simulate", dict(thresholds=[0.5]), ValueError, "thresholds"),
    ("simulate", dict(thresholds="0.5"), TypeError, "thresholds"),
    ("simulate", dict(criterion="margin"), ValueError, "criterion"),
    ("simulate", dict(probs=torch.randn(3, 5, 4)), ValueError, "probs"),
    ("simulate", dict(probs=torch.ones(5, 4) / 4), ValueError, "probs"),
    # evaluate_policy
    ("evaluate", dict(labels=torch.zeros(4, dtype=torch.long)), ValueError, "labels"),
    ("evaluate", dict(labels=torch.zeros(5)), TypeError, "labels"),
    ("evaluate", dict(Gamma=[1.0, 2.0]), ValueError, "Gamma"),
    ("evaluate", dict(full_cost=0.0), ValueError, "full_cost"),
    # oracle_exits / overthinking / exit_accuracies
    (mexit.oracle_exits, dict(probs="p", labels=LABELS), TypeError, "probs"),
    ("oracle", dict(labels=torch.zeros(5, 1, dtype=torch.long)), ValueError, "labels"),
    ("oracle", dict(labels=torch.zeros(6, dtype=torch.long)), ValueError, "labels"),
    ("overthinking", dict(labels=torch.zeros(6, dtype=torch.long)), ValueError, "labels"),
    ("overthinking", dict(labels=[0] * 5), TypeError, "labels"),
    ("overthinking", dict(probs=torch.rand(3, 5, 4) + 1), ValueError, "probs"),
    # costs
    (mexit.exit_probabilities, dict(gates=torch.full((2, 2), 1.5)), ValueError, "gates"),
    (mexit.exit_probabilities, dict(gates=torch.rand(2)), ValueError, "gates"),
    (mexit.exit_probabilities, dict(gates=[[0.5]]), TypeError, "gates"),
    (mexit.expected_cost, dict(gates=torch.rand(2, 2), Gamma=[1.0, 2.0]), ValueError, "Gamma"),
    (mexit.expected_cost, dict(gates=torch.rand(2, 2), Gamma=[1, -2, 3]), ValueError, "Gamma"),
    (mexit.expected_cost, dict(gates=torch.rand(2, 2), Gamma=[[1, 2, 3]]), ValueError, "Gamma"),
    (
        mexit.cascaded_cost,
        dict(exit_index=torch.tensor([0, 3]), Gamma=[1, 2]),
        ValueError,
        "exit_index",
    ),
    (
        mexit.cascaded_cost,
        dict(exit_index=torch.tensor([0.0]), Gamma=[1, 2]),
        TypeError,
        "exit_index",
    ),
    (mexit.cascaded_cost, dict(exit_index=torch.tensor([0]), Gamma=[]), ValueError, "Gamma"),
    (
        mexit.cumulative_costs,
        dict(gamma_f=[1, 2], gamma_c={2: 1}, exits=(2, 1)),
        ValueError,
        "exits",
    ),
    (mexit.cumulative_costs, dict(gamma_f=[1, 2], gamma_c={2: 1}, exits=(1,)), ValueError, "exits"),
    (mexit.cumulative_costs, dict(gamma_f=[1, 2], gamma_c={2: 1}, exits=()), ValueError, "exits"),
    # heads and models
    (mexit.linear_head, dict(in_shape=(4,), num_classes=1), ValueError, "num_classes"),
    (mexit.linear_head, dict(in_shape=4, num_classes=3), TypeError, "in_shape"),
    (mexit.linear_head, dict(in_shape=(0,), num_classes=3), ValueError, "in_shape"),
    (mexit.mlp_head, dict(in_shape=(4,), num_classes=3, hidden=(4, 4, 4)), ValueError, "hidden"),
    (mexit.pooled_head, dict(in_shape=(4,), num_classes=3), ValueError, "in_shape"),
    (mexit.pooled_head, dict(in_shape=(4, 5), num_classes=3, pool="median"), ValueError, "pool"),
    (mexit.make_head, dict(kind="conv", in_shape=(4,), num_classes=3), ValueError, "kind"),
    (mexit.mnist1d_cnn, dict(channels=(4,)), ValueError, "channels"),
    (mexit.mnist1d_cnn, dict(channels=(4, 8), strides=(1,)), ValueError, "strides"),
    (mexit.mnist1d_cnn, dict(channels=(4, 8), exits=(2,)), ValueError, "exits"),
    (mexit.mlp, dict(widths=(8,)), ValueError, "widths"),
    (mexit.mlp, dict(widths=(8, 8), exits=(1, 1)), ValueError, "repeat"),
    (mexit.mlp, dict(widths=(8, 8), input_shape=(1, 0)), ValueError, "input_shape"),
    (mexit.cnn2d, dict(input_shape=(1, 8)), ValueError, "input_shape"),
    (mexit.cnn2d, dict(channels=(4,)), ValueError, "channels"),
    (mexit.cnn2d, dict(channels=(4, 8), head="conv"), ValueError, "kind"),
    (mexit.build_model, dict(name="resnet"), ValueError, "name"),
    (mexit.MultiExitNet, dict(blocks=[], heads={}), TypeError, "blocks"),
    (mexit.MultiExitNet, dict(blocks=["f1"], heads={1: torch.nn.Identity()}), TypeError, "blocks"),
    (mexit.MultiExitNet, dict(blocks=[torch.nn.Identity()], heads={}), ValueError, "final head"),
    # training
    (mexit.joint_loss, dict(alphas=[-0.1]), ValueError, "alphas"),
    (mexit.joint_loss, dict(alphas="uniform"), TypeError, "alphas"),
    (mexit.joint_loss, dict(alphas=[float("nan")]), ValueError, "alphas"),
    (mexit.seed_everything, dict(seed=-1), ValueError, "seed"),
    (mexit.seed_everything, dict(seed=1.5), TypeError, "seed"),
    (mexit.seed_everything, dict(seed="0"), TypeError, "seed"),
    # data
    (mexit.load_dataset, dict(name="imagenet"), ValueError, "name"),
    (mexit.load_mnist1d, dict(num_samples=5), ValueError, "num_samples"),
    (mexit.load_mnist1d, dict(val_fraction=1.5), ValueError, "val_fraction"),
    (mexit.load_digits, dict(val_fraction=0.6, test_fraction=0.6), ValueError, "fraction"),
    (mexit.load_torchvision, dict(name="svhn"), ValueError, "name"),
    # checkpoints
    (mexit.pretrained, dict(name="resnet50"), ValueError, "name"),
    (mexit.cached_model, dict(name="a/b", config={}, build=None, train=None), ValueError, "name"),
    (mexit.cached_model, dict(name="a", config=[], build=None, train=None), TypeError, "config"),
]


def _call(fn, kwargs, model, probs):
    base = dict(probs=probs, labels=LABELS)
    if fn == "simulate":
        return mexit.simulate_exits(**{**dict(probs=probs, thresholds=0.5), **kwargs})
    if fn == "evaluate":
        return mexit.evaluate_policy(**{**base, "thresholds": 0.5, **kwargs})
    if fn == "oracle":
        return mexit.oracle_exits(**{**base, **kwargs})
    if fn == "overthinking":
        return mexit.overthinking(**{**base, **kwargs})
    return fn(**kwargs)


@pytest.mark.parametrize(
    ("fn", "kwargs", "exc", "words"),
    CASES,
    ids=[f"{getattr(c[0], '__name__', c[0])}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_input_raises_a_clear_error(fn, kwargs, exc, words, model, probs):
    with pytest.raises(exc, match=words):
        _call(fn, kwargs, model, probs)


MODEL_CASES = [
    (dict(thresholds=[0.5]), ValueError, "thresholds"),
    (dict(thresholds=-0.1), ValueError, "thresholds"),
    (dict(criterion="margin"), ValueError, "criterion"),
    (dict(x=torch.zeros(0, 1, 6)), ValueError, "x"),
    (dict(x=torch.zeros(2, 1, 6, dtype=torch.long)), TypeError, "x"),
    (dict(costs="flops"), TypeError, "costs"),
]


@pytest.mark.parametrize(("kwargs", "exc", "words"), MODEL_CASES)
def test_early_exit_predict_rejects_bad_input(kwargs, exc, words, model):
    args = dict(model=model, x=torch.zeros(2, 1, 6), thresholds=0.5) | kwargs
    with pytest.raises(exc, match=words):
        mexit.early_exit_predict(**args)


def test_early_exit_predict_rejects_costs_of_another_model(model):
    other = mexit.mlp(input_shape=(1, 6), widths=(8, 8), num_classes=3)
    with pytest.raises(ValueError, match="costs"):
        mexit.early_exit_predict(
            model, torch.zeros(2, 1, 6), 0.5, costs=mexit.measure_costs(other, (1, 6))
        )


@pytest.mark.parametrize(
    ("args", "exc", "words"),
    [
        (("resnet", (1, 6)), TypeError, "model"),
        (("model", 6), TypeError, "input_shape"),
        (("model", (1, 7)), ValueError, "input_shape"),
    ],
)
def test_measure_costs_rejects_bad_input(args, exc, words, model):
    m = model if args[0] == "model" else args[0]
    with pytest.raises(exc, match=words):
        mexit.measure_costs(m, args[1])


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        (dict(epochs=0), ValueError, "epochs"),
        (dict(batch_size=1.5), TypeError, "batch_size"),
        (dict(lr=-1.0), ValueError, "lr"),
        (dict(y_train=torch.zeros(3, dtype=torch.long)), ValueError, "y_train"),
        (dict(x_val=torch.zeros(2, 1, 6)), ValueError, "x_val"),
    ],
)
def test_fit_rejects_bad_input(kwargs, exc, words, model):
    args = dict(model=model, x_train=torch.zeros(4, 1, 6), y_train=torch.zeros(4, dtype=torch.long))
    with pytest.raises(exc, match=words):
        mexit.fit(**(args | kwargs), progress=False)


def test_missing_torchvision_files_name_the_folder_and_files(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        mexit.load_torchvision("mnist", root=tmp_path)
    assert str(tmp_path) in str(err.value) and "train-images-idx3-ubyte" in str(err.value)
