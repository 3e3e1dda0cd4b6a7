"""mexit: the interactive companion to Scardapane et al., 'Why should we add early exits to
neural networks?' (2020). One small module per idea of the survey:

- `models`, `heads`   the multi-exit network (§3, eq. 1 and 3) and exit heads (§4);
                      `eval_mode(model)`: run in eval mode, give every submodule its mode back
- `backbones`         `attach_exits`: exits on a torchvision ResNet, MobileNet or ViT
- `data`              MNIST-1D (the running example) and other datasets
- `training`          joint training (§5, eq. 6-7) and the one `fit` loop
- `cost`              measured FLOPs, Γ, eq. 12-14 (§6.1)
- `inference`         exit policies (eq. 11) and real early exit (§6)
- `deployment`        `deploy(model, thresholds)`: the fast inference-only form (batch 1 too)
- `speed`             measured vs FLOP-predicted speedup, the width sweep
- `checkpoints`       cached reference models (`pretrained`)
- `claims`            `check`: a notebook's claims bound to checks that can fail
- `timing`            interleaved A/B timing with pinned threads
- `patience`, `zero_time_waste`  later exit policies: PABEE (Zhou et al. 2020), ZTW's
                      ensembles of earlier exits (Wołczyk et al. 2021)
- `policy_comparison` every policy on one model at equal accuracy, against the oracle
- `widgets`           the notebooks' interactive explorers
- `exercises`         the chapters' coding exercises: `exercises.check_<name>(fn)`
"""

from . import exercises, patience, policy_comparison, speed, timing, widgets, zero_time_waste
from .backbones import attach_exits
from .checkpoints import cached_model, pretrained
from .claims import check
from .cost import (
    CostProfile,
    cascaded_cost,
    cumulative_costs,
    exit_probabilities,
    expected_cost,
    measure_costs,
)
from .data import (
    DataBundle,
    StreamBundle,
    load_dataset,
    load_digits,
    load_mnist1d,
    load_torchvision,
)
from .deployment import DeployedNet, deploy
from .heads import linear_head, make_head, mlp_head, pooled_head
from .inference import (
    early_exit_predict,
    evaluate_policy,
    exit_accuracies,
    exit_probs,
    max_probability,
    normalized_entropy,
    oracle_exits,
    overthinking,
    simulate_exits,
)
from .models import MultiExitNet, build_model, cnn2d, eval_mode, mlp, mnist1d_cnn
from .seed import seed_everything
from .training import History, evaluate, fit, fit_bundle, joint_loss

__version__ = "0.1.0"

__all__ = [
    "CostProfile",
    "DataBundle",
    "DeployedNet",
    "History",
    "StreamBundle",
    "MultiExitNet",
    "attach_exits",
    "build_model",
    "cached_model",
    "check",
    "cascaded_cost",
    "cnn2d",
    "cumulative_costs",
    "deploy",
    "early_exit_predict",
    "eval_mode",
    "evaluate",
    "exercises",
    "evaluate_policy",
    "exit_accuracies",
    "exit_probabilities",
    "exit_probs",
    "expected_cost",
    "fit",
    "fit_bundle",
    "joint_loss",
    "linear_head",
    "load_dataset",
    "load_digits",
    "load_mnist1d",
    "load_torchvision",
    "make_head",
    "max_probability",
    "measure_costs",
    "mlp",
    "mlp_head",
    "mnist1d_cnn",
    "normalized_entropy",
    "oracle_exits",
    "overthinking",
    "patience",
    "policy_comparison",
    "pooled_head",
    "pretrained",
    "seed_everything",
    "simulate_exits",
    "speed",
    "timing",
    "widgets",
    "zero_time_waste",
]
