"""Tests for mexit.checkpoints: atomic saves, the on-disk model cache and `pretrained`.

Every file goes under pytest's tmp_path (root=tmp_path), never the repository's data/ folder.
"""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import torch

import mexit
from mexit import checkpoints
from mexit.checkpoints import cached_model, pretrained, save_atomically
from mexit.data import DataBundle

CONFIG = {"seed": 3, "epochs": 1}


def build():
    """A tiny model; its random init draws from torch's global generator."""
    return mexit.mlp(input_shape=(1, 6), widths=(8, 8, 8), num_classes=3)


class Trainer:
    """A stand-in for training: counts calls, records the RNG it was given, moves weights."""

    def __init__(self):
        self.calls = 0
        self.first_draw = None

    def __call__(self, model):
        self.calls += 1
        self.first_draw = torch.rand(1).item()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        return {"calls": self.calls, "loss": [[0.5, 0.25]]}


def state_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def rng_draws():
    return random.random(), float(np.random.rand()), torch.rand(1).item()


# ---------------------------------------------------------------------------
# save_atomically
# ---------------------------------------------------------------------------


def test_save_atomically_round_trips_and_leaves_no_temp_file(tmp_path):
    payload = {"config": "{}", "state_dict": {"w": torch.arange(6.0)}, "extras": {"a": [1, 2]}}
    path = save_atomically(payload, tmp_path / "deep" / "ckpt.pt")
    assert path == tmp_path / "deep" / "ckpt.pt"
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]
    loaded = torch.load(path, weights_only=True)
    assert loaded["config"] == "{}" and loaded["extras"] == {"a": [1, 2]}
    assert torch.equal(loaded["state_dict"]["w"], torch.arange(6.0))
    # overwriting replaces the file, again with nothing left beside it
    save_atomically({"x": torch.ones(2)}, path)
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]
    assert torch.equal(torch.load(path, weights_only=True)["x"], torch.ones(2))


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = save_atomically({"v": 1}, tmp_path / "ckpt.pt")

    def failing_save(obj, f):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_atomically({"v": 2}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]
    assert torch.load(path, weights_only=True) == {"v": 1}


# ---------------------------------------------------------------------------
# cached_model
# ---------------------------------------------------------------------------


def test_cached_model_trains_once_then_loads(tmp_path):
    train = Trainer()
    model, extras = cached_model("tiny", CONFIG, build, train, root=tmp_path)
    assert train.calls == 1
    assert extras == {"calls": 1, "loss": [[0.5, 0.25]]}
    assert (tmp_path / "checkpoints" / "tiny.pt").is_file()
    assert not model.training
    loaded, extras2 = cached_model("tiny", CONFIG, build, train, root=tmp_path)
    assert train.calls == 1  # not trained again
    assert extras2 == extras
    assert loaded is not model and state_equal(loaded, model)
    assert not loaded.training
    # the saved weights are the trained ones, not a fresh build
    torch.manual_seed(0)
    assert not state_equal(loaded, build())
    # retrain=True trains again, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached_model("tiny", CONFIG, build, train, root=tmp_path, retrain=True)
    assert train.calls == 2


def test_training_is_seeded_by_the_config(tmp_path):
    train = Trainer()
    cached_model("a", {"seed": 5}, build, train, root=tmp_path)
    torch.manual_seed(5)
    build()  # the weights are drawn first, from the config's seed
    assert train.first_draw == torch.rand(1).item()
    other = Trainer()
    cached_model("b", {"seed": 6}, build, other, root=tmp_path)
    assert other.first_draw != train.first_draw


def test_the_trained_weights_depend_only_on_the_config(tmp_path):
    torch.manual_seed(1)
    m_a, _ = cached_model("a", {"seed": 5}, build, Trainer(), root=tmp_path)
    torch.manual_seed(2)
    m_b, _ = cached_model("b", {"seed": 5}, build, Trainer(), root=tmp_path)
    assert state_equal(m_a, m_b)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not a dict", "wrong weights"])
def test_a_corrupted_checkpoint_is_retrained_with_a_warning(tmp_path, damage):
    train = Trainer()
    model, _ = cached_model("tiny", CONFIG, build, train, root=tmp_path)
    path = tmp_path / "checkpoints" / "tiny.pt"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 100)
    elif damage == "not a dict":
        torch.save([1, 2, 3], path)
    else:  # the right config, but weights of another architecture
        torch.save(
            {"config": checkpoints._config_key(CONFIG), "state_dict": {"w": torch.ones(1)}}, path
        )
    with pytest.warns(UserWarning, match="retraining tiny"):
        again, extras = cached_model("tiny", CONFIG, build, train, root=tmp_path)
    assert train.calls == 2
    assert extras["calls"] == 2
    # the file was rewritten and now loads, without a warning, the retrained weights
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded, _ = cached_model("tiny", CONFIG, build, train, root=tmp_path)
    assert train.calls == 2
    assert state_equal(loaded, again)


def test_a_config_mismatch_is_retrained_with_a_warning(tmp_path):
    train = Trainer()
    cached_model("tiny", {"seed": 0, "epochs": 1}, build, train, root=tmp_path)
    with pytest.warns(UserWarning, match="another configuration"):
        cached_model("tiny", {"seed": 0, "epochs": 2}, build, train, root=tmp_path)
    assert train.calls == 2
    # key order does not matter
    cached_model("tiny", {"epochs": 2, "seed": 0}, build, train, root=tmp_path)
    assert train.calls == 2


@pytest.mark.parametrize("state", ["train", "load", "retrain after corruption"])
def test_the_random_state_is_the_same_whether_trained_or_loaded(tmp_path, state):
    if state != "train":
        cached_model("tiny", CONFIG, build, Trainer(), root=tmp_path)
    if state == "retrain after corruption":
        (tmp_path / "checkpoints" / "tiny.pt").write_bytes(b"broken")
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    expected = rng_draws()
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cached_model("tiny", CONFIG, build, Trainer(), root=tmp_path)
    assert rng_draws() == expected


def test_cached_model_rejects_bad_arguments(tmp_path):
    train = Trainer()
    with pytest.raises(ValueError, match="plain file name"):
        cached_model("a/b", CONFIG, build, train, root=tmp_path)
    with pytest.raises(ValueError, match="plain file name"):
        cached_model("", CONFIG, build, train, root=tmp_path)
    with pytest.raises(TypeError, match="config must be a dict"):
        cached_model("a", [("seed", 0)], build, train, root=tmp_path)
    with pytest.raises(TypeError, match="JSON"):
        cached_model("a", {"seed": 0, "f": build}, build, train, root=tmp_path)
    with pytest.raises(ValueError, match="seed"):
        cached_model("a", {"seed": -1}, build, train, root=tmp_path)
    assert train.calls == 0
    assert not (tmp_path / "checkpoints").exists()


# ---------------------------------------------------------------------------
# state_fingerprint and cache_name
# ---------------------------------------------------------------------------


def test_state_fingerprint_follows_every_parameter_and_buffer(make_cnn):
    fingerprint = checkpoints.state_fingerprint
    a, b = make_cnn(seed=0), make_cnn(seed=0)
    assert fingerprint(a) == fingerprint(b)  # same state, another object
    assert fingerprint(a) != fingerprint(make_cnn(seed=1))
    with torch.no_grad():
        b.head(4)[-1].bias[0] += 1e-6  # one parameter entry, barely moved
    assert fingerprint(a) != fingerprint(b)
    c = make_cnn(seed=0)
    bn = c.blocks[0][1]
    bn.running_var[0] += 1.0  # a buffer, not a parameter
    assert fingerprint(a) != fingerprint(c)
    with pytest.raises(TypeError, match="nn.Module"):
        fingerprint({"w": torch.ones(1)})


def test_cache_name_hashes_the_config():
    name = checkpoints.cache_name("run", {"seed": 0, "lr": 0.1})
    assert name.startswith("run_") and "/" not in name
    assert name == checkpoints.cache_name("run", {"lr": 0.1, "seed": 0})  # order-free
    assert name != checkpoints.cache_name("run", {"seed": 0, "lr": 0.2})
    assert name != checkpoints.cache_name("other", {"seed": 0, "lr": 0.1})
    with pytest.raises(ValueError, match="plain file name"):
        checkpoints.cache_name("a/b", {})
    with pytest.raises(TypeError, match="JSON"):
        checkpoints.cache_name("run", {"f": print})


# ---------------------------------------------------------------------------
# pretrained, on a tiny recipe and a tiny synthetic dataset
# ---------------------------------------------------------------------------


def tiny_bundle() -> DataBundle:
    g = torch.Generator().manual_seed(0)

    def split(n):
        y = torch.randint(0, 3, (n,), generator=g)
        x = torch.randn(n, 1, 6, generator=g) + torch.eye(3, 6)[y][:, None, :]
        return x, y

    (xt, yt), (xv, yv), (xs, ys) = split(48), split(24), split(24)
    return DataBundle("tiny", xt, yt, xv, yv, xs, ys, ("a", "b", "c"), (1, 6))


@pytest.fixture
def tiny_recipe(monkeypatch):
    loads = []

    def load_dataset(name, **kwargs):
        loads.append(name)
        return tiny_bundle()

    recipe = dict(
        dataset="tiny",
        model="mlp",
        kwargs={"input_shape": [1, 6], "widths": [8, 8, 8], "num_classes": 3},
        epochs=1,
        lr=1e-2,
    )
    monkeypatch.setattr(checkpoints, "RECIPES", {"tiny_mlp": recipe})
    monkeypatch.setattr(checkpoints, "load_dataset", load_dataset)
    return loads


def test_pretrained_trains_once_then_loads(tmp_path, tiny_recipe):
    model = pretrained("tiny_mlp", root=tmp_path, progress=False)
    assert tiny_recipe == ["tiny"]  # the dataset was loaded to train
    assert isinstance(model, mexit.MultiExitNet) and model.exits == (1, 2, 3)
    assert (tmp_path / "checkpoints" / "tiny_mlp.pt").is_file()
    h = model.history
    assert h.exits == model.exits
    assert len(h.train_loss) == 1 and len(h.train_loss[0]) == 3
    assert len(h.val_accuracy) == 1
    # the history's last accuracies are those of the returned model on the val split
    data = tiny_bundle()
    assert h.final_accuracy == pytest.approx(mexit.evaluate(model, data.x_val, data.y_val))

    again = pretrained("tiny_mlp", root=tmp_path, progress=False)
    assert tiny_recipe == ["tiny"]  # loaded from disk: no data, no training
    assert state_equal(again, model)
    assert again.history.train_loss == h.train_loss
    assert again.history.val_accuracy == h.val_accuracy


def test_pretrained_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        pretrained("resnet152", root=tmp_path)
    assert not (tmp_path / "checkpoints").exists()
