"""Separate training (survey §5.4): heads trained on a frozen backbone.

The backbone is trained alone first (or given); its embeddings h_i are computed once, with
the backbone in eval mode and no gradient, and each head c_i is trained on its own h_i.
The backbone is never touched, so its weights stay bit-identical. Heads may be neural
("linear", "mlp", "pooled", see `mexit.heads`) or scikit-learn estimators on the pooled
embeddings ("logistic", "tree", "svm"), wrapped by `SklearnHead` so that they behave like any
other exit: an `nn.Module` returning logits, usable by `exit_probs`, policies and widgets.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import NotFittedError
from torch import nn

from ._checks import check_exit_set, check_int, check_labels, check_tensor
from .checkpoints import state_fingerprint
from .cost import CostProfile, count_flops, measure_costs
from .heads import HEAD_KINDS as NEURAL_KINDS
from .heads import make_head
from .models import MultiExitNet, eval_mode
from .runs import cached_fit, check_fits, run_budget, run_data
from .training import fit, joint_loss

SKLEARN_KINDS = ("logistic", "tree", "svm")
KINDS = NEURAL_KINDS + SKLEARN_KINDS
_MISSING_LOGIT = -30.0  # logit of a class the estimator never saw: probability ≈ 1e-13


class SklearnHead(nn.Module):
    """A scikit-learn classifier as exit head c_i, on the globally average-pooled embedding.

    kind: "logistic" (LogisticRegression), "tree" (DecisionTreeClassifier, depth ≤
    `max_depth`) or "svm" (LinearSVC, whose decision scores become logits through one
    temperature fitted on the training data: a linear SVM has no probabilities).
    Features are standardised with the training mean and deviation.

    After `fit(h, y)` the estimator is compiled into buffers (weights and bias, or the tree's
    nodes), so `forward` is pure torch: it runs in batches, under FlopCounterMode, and saves
    and loads with the model's state_dict. The fitted estimator stays in `estimator`."""

    def __init__(self, kind: str, in_shape, num_classes: int, max_depth: int = 8, seed: int = 0):
        super().__init__()
        if kind not in SKLEARN_KINDS:
            raise ValueError(f"kind must be one of {SKLEARN_KINDS}, got {kind!r}")
        if not isinstance(in_shape, (tuple, list)) or not in_shape:
            raise TypeError(f"in_shape must be a non-empty tuple of ints, got {in_shape!r}")
        self.in_shape = tuple(check_int(s, "in_shape entry", low=1) for s in in_shape)
        self.num_classes = check_int(num_classes, "num_classes", low=2)
        self.max_depth = check_int(max_depth, "max_depth", low=1, high=16)
        self.seed = check_int(seed, "seed", low=0)
        self.kind = kind
        self.estimator = None
        d = self.in_shape[0]  # channels of a feature map (pooled), or the flat width
        self.num_features = d
        K = self.num_classes
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("std", torch.ones(d))
        if kind == "tree":
            n = 2 ** (self.max_depth + 1) - 1
            self.register_buffer("feature", torch.zeros(n, dtype=torch.long))
            self.register_buffer("threshold", torch.zeros(n, dtype=torch.float64))
            self.register_buffer("left", torch.full((n,), -1, dtype=torch.long))
            self.register_buffer("right", torch.full((n,), -1, dtype=torch.long))
            self.register_buffer("value", torch.full((n, K), 1.0 / K))
            self.register_buffer("depth", torch.zeros((), dtype=torch.long))
        else:
            self.register_buffer("weight", torch.zeros(K, d))
            self.register_buffer("bias", torch.zeros(K))
            self.register_buffer("temperature", torch.ones(()))

    def features(self, h: torch.Tensor) -> torch.Tensor:
        """Global average pooling over the spatial axes of h (N, C, ...) → (N, C),
        standardised with the training statistics."""
        check_tensor(h, "h", dtype_kind="float")
        if tuple(h.shape[1:]) != self.in_shape:
            raise ValueError(
                f"h must have shape (N, {', '.join(map(str, self.in_shape))}), got {tuple(h.shape)}"
            )
        pooled = h.flatten(2).mean(-1) if h.ndim > 2 else h
        return (pooled - self.mean) / self.std

    def fit(self, h: torch.Tensor, y: torch.Tensor) -> SklearnHead:
        """Fit the estimator on the pooled embeddings h (N, *in_shape) and labels y (N,)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC
        from sklearn.tree import DecisionTreeClassifier

        check_tensor(h, "h", dtype_kind="float")
        check_labels(y, h.shape[0], "y")
        if int(y.min()) < 0 or int(y.max()) >= self.num_classes:
            raise ValueError(f"y must hold class indices in 0..{self.num_classes - 1}")
        if tuple(h.shape[1:]) != self.in_shape:
            raise ValueError(f"h must have shape (N, *{self.in_shape}), got {tuple(h.shape)}")
        with torch.no_grad():
            pooled = h.flatten(2).mean(-1) if h.ndim > 2 else h
            self.mean.copy_(pooled.mean(0))
            self.std.copy_(pooled.std(0).clamp_min(1e-6))
            X = self.features(h).numpy().astype(np.float32)
        labels = y.numpy()
        if self.kind == "logistic":
            est = LogisticRegression(max_iter=1000)
        elif self.kind == "svm":
            est = LinearSVC(C=1.0, random_state=self.seed)
        else:
            est = DecisionTreeClassifier(max_depth=self.max_depth, random_state=self.seed)
        est.fit(X, labels)
        self.estimator = est
        classes = torch.as_tensor(est.classes_, dtype=torch.long)
        with torch.no_grad():
            if self.kind == "tree":
                self._compile_tree(est, classes)
            else:
                self._compile_linear(est, classes)
                if self.kind == "svm":
                    self.temperature.copy_(self._fit_temperature(torch.from_numpy(X), y))
            self.fitted.fill_(True)
        return self

    def _compile_linear(self, est, classes: torch.Tensor) -> None:
        coef = torch.as_tensor(est.coef_, dtype=torch.float32)
        intercept = torch.as_tensor(np.atleast_1d(est.intercept_), dtype=torch.float32)
        self.weight.zero_()
        self.bias.fill_(_MISSING_LOGIT)
        if coef.shape[0] == 1:  # two classes seen: the score s favours classes[1]
            self.weight[classes[1]] = coef[0]
            self.bias[classes[1]] = intercept[0]
            self.bias[classes[0]] = 0.0
        else:
            self.weight[classes] = coef
            self.bias[classes] = intercept

    def _compile_tree(self, est, classes: torch.Tensor) -> None:
        tree = est.tree_
        n = tree.node_count
        self.feature.zero_()
        self.threshold.zero_()
        self.left.fill_(-1)
        self.right.fill_(-1)
        self.feature[:n] = torch.as_tensor(np.maximum(tree.feature, 0), dtype=torch.long)
        self.threshold[:n] = torch.as_tensor(tree.threshold, dtype=torch.float64)
        self.left[:n] = torch.as_tensor(tree.children_left, dtype=torch.long)
        self.right[:n] = torch.as_tensor(tree.children_right, dtype=torch.long)
        value = torch.as_tensor(tree.value[:, 0, :], dtype=torch.float64)
        value = value / value.sum(1, keepdim=True)
        self.value.zero_()
        self.value[:n, classes] = value.float()
        self.depth.fill_(int(tree.max_depth))

    def _fit_temperature(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One temperature T minimising the cross-entropy of softmax(scores / T) on (X, y)."""
        scores = X @ self.weight.T + self.bias
        log_t = torch.zeros((), requires_grad=True)
        opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=50)

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(scores / log_t.exp(), y)
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        return log_t.detach().exp()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not bool(self.fitted):
            raise NotFittedError(
                f"this SklearnHead ({self.kind}) is not fitted yet: call .fit(h, y) or "
                "train_heads(...) before using it as an exit"
            )
        x = self.features(h)
        if self.kind != "tree":
            return (x @ self.weight.T + self.bias) / self.temperature
        node = torch.zeros(x.shape[0], dtype=torch.long)
        rows = torch.arange(x.shape[0])
        for _ in range(int(self.depth)):
            leaf = self.left[node] < 0
            go_left = x[rows, self.feature[node]].double() <= self.threshold[node]
            step = torch.where(go_left, self.left[node], self.right[node])
            node = torch.where(leaf, node, step)
        return self.value[node].clamp_min(1e-6).log()

    @property
    def pooling_flops(self) -> int:
        """Per-input cost of the features the estimator reads: global average pooling (one
        addition per element of h_i, one division per channel; 0 for flat features) and
        standardisation (a subtraction and a division per feature). Standardisation could be
        folded into a fitted linear model's weights or a tree's thresholds; this head runs it,
        so it is counted."""
        d = self.num_features
        elements = 1
        for s in self.in_shape:
            elements *= s
        pooling = elements + d if len(self.in_shape) > 1 else 0
        return pooling + 2 * d

    @property
    def flops(self) -> int:
        """Per-input cost of the head: `pooling_flops` plus the estimator, 2·d·K for the
        linear models (as FlopCounterMode counts a linear layer) or one comparison per level
        for a tree (its fitted depth)."""
        model = int(self.depth) if self.kind == "tree" else 2 * self.num_features * self.num_classes
        return self.pooling_flops + model

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, in_shape={self.in_shape}, fitted={bool(self.fitted)}"


def exit_head(kind: str, in_shape, num_classes: int, **kwargs) -> nn.Module:
    """A head of any kind: neural ('linear', 'mlp', 'pooled') or scikit-learn ('logistic',
    'tree', 'svm')."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind in SKLEARN_KINDS:
        return SklearnHead(kind, in_shape, num_classes, **kwargs)
    return make_head(kind, in_shape, num_classes, **kwargs)


@torch.no_grad()
def frozen_embeddings(model: MultiExitNet, x: torch.Tensor, batch_size: int = 1000):
    """h_1..h_L of `model` on x, computed once with the backbone in eval mode and no gradient
    (batch-norm statistics untouched); the model's mode is restored afterwards."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float")
    batch_size = check_int(batch_size, "batch_size", low=1)
    with eval_mode(model):
        chunks = [model.embeddings(x[s : s + batch_size]) for s in range(0, len(x), batch_size)]
    return [torch.cat([c[i] for c in chunks]) for i in range(model.num_blocks)]


def fit_head(
    head: nn.Module,
    h_train: torch.Tensor,
    y_train: torch.Tensor,
    h_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    *,
    epochs: int = 5,
    lr: float = 1e-2,
    batch_size: int = 128,
    progress: bool = True,
    desc: str = "head",
) -> dict:
    """Train one head on fixed embeddings: a `SklearnHead` is fitted, a neural head trained
    by `fit` (cross-entropy). Returns {"seconds", "val_accuracy"} (accuracy None without a
    validation set)."""
    if not isinstance(head, nn.Module):
        raise TypeError(f"head must be an nn.Module, got {type(head).__name__}")
    check_tensor(h_train, "h_train", dtype_kind="float")
    check_labels(y_train, h_train.shape[0], "y_train")
    if (h_val is None) != (y_val is None):
        raise ValueError("give both h_val and y_val, or neither")
    start = time.perf_counter()
    if isinstance(head, SklearnHead):
        head.fit(h_train, y_train)
    else:
        net = MultiExitNet([nn.Identity()], {1: head})
        fit(
            net,
            h_train,
            y_train,
            h_val,
            y_val,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            loss=joint_loss([]),
            progress=progress,
            desc=desc,
        )
    seconds = time.perf_counter() - start
    accuracy = None
    if h_val is not None:
        with eval_mode(head), torch.no_grad():
            accuracy = float((head(h_val).argmax(-1) == y_val).float().mean())
    return {"seconds": seconds, "val_accuracy": accuracy}


def train_heads(
    model: MultiExitNet,
    heads: Mapping,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    *,
    epochs: int = 5,
    lr: float = 1e-2,
    batch_size: int = 128,
    progress: bool = True,
):
    """Train the heads `heads` = {block i: head module or kind name} on the frozen backbone of
    `model`, each on its own embedding h_i computed once.

    Returns (multi-exit model, reports): the model shares `model`'s blocks (not copied, never
    modified) and has the new heads at their blocks, the other heads of `model` kept; its exit
    set is C = the early blocks of `heads`. reports[i] = {"seconds", "val_accuracy"}."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    if not isinstance(heads, Mapping) or not heads:
        raise TypeError("heads must be a non-empty dict {block index: head or kind}")
    check_tensor(x_train, "x_train", dtype_kind="float")
    check_labels(y_train, x_train.shape[0], "y_train")
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    L = model.num_blocks
    h_train = frozen_embeddings(model, x_train)
    h_val = frozen_embeddings(model, x_val) if x_val is not None else None
    shapes = [tuple(h.shape[1:]) for h in h_train]
    num_classes = _num_classes(model)
    built = {}
    for i, head in heads.items():
        i = check_int(i, "heads key", low=1, high=L)
        if isinstance(head, str):
            head = exit_head(head, shapes[i - 1], num_classes)
        if not isinstance(head, nn.Module):
            raise TypeError(f"heads[{i}] must be an nn.Module or a kind name, got {type(head)}")
        built[i] = head
    reports = {}
    for i, head in sorted(built.items()):
        reports[i] = fit_head(
            head,
            h_train[i - 1],
            y_train,
            None if h_val is None else h_val[i - 1],
            y_val,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            progress=progress,
            desc=f"head {i}",
        )
    all_heads = {int(k): h for k, h in model.heads.items()}
    all_heads.update(built)
    exits = sorted(i for i in built if i < L)
    return MultiExitNet(list(model.blocks), all_heads, exits=exits), reports


def _num_classes(model: MultiExitNet) -> int:
    final = model.head(model.num_blocks)
    linears = [m for m in final.modules() if isinstance(m, nn.Linear)]
    if isinstance(final, SklearnHead):
        return final.num_classes
    if not linears:
        raise ValueError("cannot tell the number of classes: the final head has no nn.Linear")
    return linears[-1].out_features


_POOLS = (
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.MaxPool1d,
    nn.MaxPool2d,
)


def _pooling_flops(head: nn.Module, x: torch.Tensor) -> int:
    """One operation per input element of every pooling layer of `head` on x (batch of 1):
    FlopCounterMode counts only matmuls and convolutions, so a pooled head's averaging is
    invisible to it."""
    seen = []
    hooks = [
        m.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0][0].numel()))
        for m in head.modules()
        if isinstance(m, _POOLS)
    ]
    try:
        with torch.no_grad():
            head(x)
    finally:
        for h in hooks:
            h.remove()
    return int(sum(seen))


def head_flops(head: nn.Module, in_shape) -> int:
    """Per-input FLOPs of a head on an embedding of shape `in_shape`, pooling included so that
    every kind is counted alike: FlopCounterMode plus one operation per pooled element for
    neural heads, `SklearnHead.flops` (pooling, standardisation, estimator) for
    scikit-learn ones."""
    if not isinstance(head, nn.Module):
        raise TypeError(f"head must be an nn.Module, got {type(head).__name__}")
    if isinstance(in_shape, (str, bytes)) or not isinstance(in_shape, (tuple, list)):
        raise TypeError(f"in_shape must be a tuple of ints like (16, 40), got {in_shape!r}")
    in_shape = tuple(check_int(s, "in_shape entry", low=1) for s in in_shape)
    if isinstance(head, SklearnHead):
        if in_shape != head.in_shape:
            raise ValueError(f"in_shape {in_shape} does not fit the head ({head.in_shape})")
        return head.flops
    x = torch.zeros(1, *in_shape)
    try:
        return count_flops(head, x) + _pooling_flops(head, x)
    except RuntimeError as err:
        raise ValueError(f"in_shape {in_shape} does not fit the head: {err}") from err


def exit_costs(model: MultiExitNet, input_shape) -> CostProfile:
    """γ_f of `mexit.cost.measure_costs`, and every head's γ_c from `head_flops`: pooling
    counted for neural and scikit-learn heads alike (FlopCounterMode sees neither a tree's
    comparisons nor an average pool)."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    with eval_mode(model):  # measure_costs must not hand the submodules back one mode for all
        costs = measure_costs(model, input_shape)
    shapes = [tuple(h.shape[1:]) for h in frozen_embeddings(model, torch.zeros(1, *input_shape))]
    gamma_c = {int(k): head_flops(head, shapes[int(k) - 1]) for k, head in model.heads.items()}
    return CostProfile(costs.gamma_f, gamma_c)


def run_heads(
    backbone: MultiExitNet,
    kind: str,
    *,
    exits=None,
    dataset: str = "mnist1d",
    epochs: int = 5,
    lr: float = 1e-2,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
    root=None,
    retrain: bool = False,
) -> MultiExitNet:
    """`train_heads` with heads of one `kind` at `exits` (default: every early block) on a
    copy of `backbone`, cached; the backbone's final head is kept. The returned model carries
    `.head_reports` ({exit: {"seconds", "val_accuracy"}})."""
    if not isinstance(backbone, MultiExitNet):
        raise TypeError(f"backbone must be a MultiExitNet, got {type(backbone).__name__}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    L = backbone.num_blocks
    exits = list(range(1, L)) if exits is None else list(check_exit_set(exits, L))
    data = run_data(dataset)
    check_fits(backbone, data, "backbone")
    shapes = [tuple(h.shape[1:]) for h in frozen_embeddings(backbone, data.x_train[:1])]
    num_classes = data.num_classes
    config = dict(
        backbone=state_fingerprint(backbone),
        kind=kind,
        exits=exits,
        dataset=dataset,
        **run_budget(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed),
        version=1,
    )

    def build():  # cached_fit seeds the generators first
        copy_ = copy.deepcopy(backbone)
        heads = {int(k): h for k, h in copy_.heads.items() if int(k) == L}
        heads.update({e: exit_head(kind, shapes[e - 1], num_classes) for e in exits})
        return MultiExitNet(list(copy_.blocks), heads, exits=exits)

    def train(net):
        _, reports = train_heads(
            net,
            {e: net.head(e) for e in exits},
            data.x_train,
            data.y_train,
            data.x_val,
            data.y_val,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            progress=progress,
        )
        return {"reports": {str(e): r for e, r in reports.items()}}

    name = f"separate_{kind}"
    net, extras = cached_fit(name, config, build, train, root=root, retrain=retrain)
    net.head_reports = {int(e): r for e, r in extras.get("reports", {}).items()}
    return net


def head_row(model: MultiExitNet, x_test: torch.Tensor, y_test: torch.Tensor, input_shape) -> dict:
    """One row of the heads table: test accuracy of every exit (%), the FLOPs of every early
    head (`head_flops`, pooling included) and, for a model from `run_heads`, the seconds its
    heads took to fit when it was trained (NaN otherwise)."""
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"model must be a MultiExitNet, got {type(model).__name__}")
    check_tensor(x_test, "x_test", dtype_kind="float")
    check_labels(y_test, x_test.shape[0], "y_test")
    costs = exit_costs(model, input_shape)
    with eval_mode(model), torch.no_grad():
        outputs = model(x_test)
    row = {
        f"exit {i} (%)": 100 * float((o.argmax(-1) == y_test).float().mean())
        for i, o in zip(model.exits, outputs)
    }
    row.update({f"FLOPs of c_{i}": costs.gamma_c[i] for i in model.exits[:-1]})
    reports = getattr(model, "head_reports", None)
    row["fit s, all heads (when trained)"] = (
        sum(r["seconds"] for r in reports.values()) if reports else float("nan")
    )
    return row


def head_table(
    models: Mapping, x_test: torch.Tensor, y_test: torch.Tensor, input_shape, references=None
):
    """A pandas table with one `head_row` per model of `models` ({kind: model}), then one per
    model of `references` ({name: model}, e.g. a jointly trained twin)."""
    import pandas as pd

    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be a non-empty dict {kind: model}")
    if references is not None and not isinstance(references, Mapping):
        raise TypeError("references must be a dict {name: model} or None")
    for argument, group in (("models", models), ("references", references or {})):
        for name, m in group.items():
            if not isinstance(m, MultiExitNet):
                raise TypeError(
                    f"{argument}[{name!r}] must be a MultiExitNet, got {type(m).__name__}"
                )
    rows = {**models, **(references or {})}
    return pd.DataFrame.from_dict(
        {name: head_row(m, x_test, y_test, input_shape) for name, m in rows.items()},
        orient="index",
    )


def same_backbone(a: MultiExitNet, b: MultiExitNet) -> bool:
    """True when the blocks of a and b hold bit-identical parameters and buffers."""
    for name, m in (("a", a), ("b", b)):
        if not isinstance(m, MultiExitNet):
            raise TypeError(f"{name} must be a MultiExitNet, got {type(m).__name__}")
    sa, sb = a.blocks.state_dict(), b.blocks.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


__all__ = [
    "KINDS",
    "SKLEARN_KINDS",
    "SklearnHead",
    "exit_costs",
    "exit_head",
    "fit_head",
    "frozen_embeddings",
    "head_flops",
    "head_row",
    "head_table",
    "run_heads",
    "same_backbone",
    "train_heads",
]
