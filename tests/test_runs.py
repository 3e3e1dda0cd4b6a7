"""mexit.runs: the one cached training run every chapter module uses, and the run helpers
that size a model from its data."""

from __future__ import annotations

import pytest
import torch

import mexit
from mexit import runs
from mexit.data import DataBundle
from mexit.schemes import run_scheme


def _bundle(shape, classes=3, n=12):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, *shape, generator=g), torch.arange(n) % classes
    return DataBundle("toy", x, y, x, y, x, y, tuple(str(c) for c in range(classes)), shape)


def test_cached_fit_trains_once_names_the_file_by_seed_and_attaches_the_history(tmp_path):
    calls = []
    data = _bundle((1, 6))
    config = {"epochs": 1, "lr": 0.01, "batch_size": 4, "seed": 3, "version": 1}

    def build():
        return runs.build_for("mlp", {"widths": (4, 4)}, data)

    def train(model):
        calls.append(1)
        return runs.fit_run(model, data, config, progress=False)

    first, extras = runs.cached_fit("toy", config, build, train, root=tmp_path)
    second, again = runs.cached_fit("toy", config, build, train, root=tmp_path)
    assert len(calls) == 1  # the second call loads the file
    files = [p.name for p in (tmp_path / "checkpoints").glob("*.pt")]
    assert len(files) == 1 and files[0].startswith("toy_seed3_")
    assert second.history.val_accuracy == extras["val_accuracy"] == again["val_accuracy"]
    assert len(second.history.val_accuracy) == 1  # one epoch, as the config says
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        torch.testing.assert_close(a, b)
    runs.cached_fit("toy", dict(config, seed=4), build, train, root=tmp_path)
    assert len(calls) == 2 and len(list((tmp_path / "checkpoints").glob("toy_seed4_*.pt"))) == 1


def test_cached_fit_keeps_a_dict_as_it_is_and_rejects_other_results(tmp_path):
    config = {"seed": 0}

    def build():
        return mexit.mlp(input_shape=(1, 6), widths=(4, 4), num_classes=3)

    _, extras = runs.cached_fit("plain", config, build, lambda m: {"k": [1, 2]}, root=tmp_path)
    assert extras == {"k": [1, 2]}
    with pytest.raises(TypeError, match=r"^train must return a History or a dict"):
        runs.cached_fit("bad", config, build, lambda m: 3, root=tmp_path)


@pytest.mark.parametrize(
    ("model", "shape"), [("mnist1d_cnn", (1, 24)), ("mlp", (2, 5)), ("cnn2d", (3, 8, 8))]
)
def test_build_for_sizes_each_backbone_from_the_data(model, shape):
    data = _bundle(shape, classes=4)
    net = runs.build_for(model, {}, data)
    outputs = net.eval()(data.x_test)
    assert all(o.shape == (data.x_test.shape[0], 4) for o in outputs)


def test_build_for_lets_model_kwargs_win_and_checks_what_they_give():
    data = _bundle((1, 6))
    net = runs.build_for("mlp", {"widths": (5, 7)}, data)
    assert net.blocks[1][0].out_features == 7
    with pytest.raises(ValueError, match=r"^model='mlp' with model_kwargs=.* does not fit"):
        runs.build_for("mlp", {"input_shape": (1, 9)}, data)


def test_check_fits_leaves_every_submodule_in_its_mode():
    data = _bundle((1, 6))
    model = mexit.mlp(input_shape=(1, 6), widths=(4, 4), num_classes=3).train()
    model.heads["1"].eval()
    modes = {n: m.training for n, m in model.named_modules()}
    runs.check_fits(model, data, "model")
    assert {n: m.training for n, m in model.named_modules()} == modes


def test_fit_run_trains_at_the_budget_of_the_config():
    data = _bundle((1, 6))
    model = mexit.mlp(input_shape=(1, 6), widths=(4, 4), num_classes=3)
    h = runs.fit_run(model, data, {"epochs": 2, "lr": 0.01, "batch_size": 4}, progress=False)
    assert len(h.val_accuracy) == 2 and len(h.train_loss) == 2


def test_run_scheme_builds_the_named_model_from_the_dataset(tmp_path):
    digits = mexit.load_dataset("digits")
    net = run_scheme(
        "uniform", model="mlp", dataset="digits", epochs=1, progress=False, root=tmp_path
    )
    outputs = net.eval()(digits.x_test[:5])
    assert all(o.shape == (5, digits.num_classes) for o in outputs)
    assert len(net.history.val_accuracy) == 1
