# %% [markdown]
# # mexit — why should we add early exits to neural networks?
#
# The interactive companion to S. Scardapane, M. Scarpiniti, E. Baccarelli and A. Uncini,
# *Why should we add early exits to neural networks?*, Cognitive Computation 2020
# (arXiv:2004.12814). The survey has no code of its own; here you run every idea of it,
# move a slider, and see why.
#
# A **multi-exit network** attaches small classifiers (*exits*, or heads) to intermediate
# layers of a deep network. Easy inputs can leave early, so the network spends less
# computation on them; the survey argues that the exits also help training, and that they
# let a network be split across a device, the edge and the cloud.
#
# In this notebook: a short tour of the survey's motivation (§1–§2), the map of the
# notebooks, how the widgets and papermill work, and a first taste of the trade-off every
# chapter explores.
#
# next → [01 The model](01_model.ipynb)

# %% [markdown]
# ## Why add early exits? A tour of §1–§2
#
# - **Shallow networks already solve many inputs.** The survey cites works showing that,
#   even on ImageNet, most patterns can be classified by smaller architectures; the features
#   of a *single* convolutional layer already reach over 30 % top-5 accuracy [40] (§1). You
#   will see the same on our running example below.
# - **Overthinking.** Some inputs that a shallower network gets right are got *wrong* by a
#   deeper one [75, 32] (§1) — depth can hurt.
# - **Deep stacks have costs beyond accuracy.** They are hard to parallelise because of
#   *gradient locking* — no layer can update before the gradient has come back through
#   every layer above it [52] — they are complex to run on resource-constrained or
#   distributed hardware, and they can still overfit and suffer vanishing gradients (§1).
# - **One idea, many names.** The literature is fragmented: *cascaded networks* [48],
#   *IDK networks* [75], *deeply-supervised nets* [38] and *multi-exit* or *early-exit
#   networks* are close relatives (§1.1).
# - **Related lines of work (§2).** Fast inference by other means — a small *student*
#   trained on a big network's labels [14], compression (e.g. group sparsity), quantization
#   and low-latency components [26, 59] — makes *one* network cheaper for every input;
#   early exits are orthogonal: they keep the cost low for *most* inputs. Fog and edge
#   computing offload parts of a program from a device to nearby servers [54, 46], and
#   distributed training on networks of agents [62] and layered training [28, 7, 10] meet
#   multi-exit networks in §5.3 and §7.2.

# %% [markdown]
# ## The map
#
# One notebook per section of the survey. They share one running example — MNIST-1D and
# its multi-exit 1D CNN — so numbers can be compared across chapters. All eleven chapters
# are in this folder, each titled with its survey section [✓ every-chapter-present].
#
# | notebook | survey | what you will see |
# |---|---|---|
# | [01 The model](01_model.ipynb) | §3, eq. 1–3 | backbone, embeddings, heads; per-exit accuracy and cost; a real early exit |
# | [02 Placement](02_placement.ipynb) | §4, eq. 4–5 | head designs, cost profile, where to put exits (percentile, greedy, optimal) |
# | [03 Joint training](03_joint_training.ipynb) | §5.1–5.2, eq. 6–9 | weighting the exits' losses, vanishing gradients, combined and gated outputs |
# | [04 Layer-wise training](04_layerwise_training.ipynb) | §5.3 | training block by block; separability rising with depth |
# | [05 Separate training](05_separate_training.ipynb) | §5.4, eq. 10 | heads on a frozen backbone, non-neural heads, FreezeOut |
# | [06 Inference](06_inference.ipynb) | §6, eq. 11 | exit criteria, thresholds, the oracle, overthinking, real speedups |
# | [07 Cost regularisation](07_cost_regularization.ipynb) | §6.1, eq. 12–14 | expected cost as a training penalty; the accuracy–cost frontier |
# | [08 Biological plausibility](08_biological_plausibility.ipynb) | §7.1 | local learning and feedback alignment |
# | [09 Distributed](09_distributed.ipynb) | §7.2 | device → edge → cloud: exits, bytes and latency |
# | [10 Information bottleneck](10_information_bottleneck.ipynb) | §7.3 | the information plane of each layer |
# | [11 Open challenges](11_open_challenges.ipynb) | §8 | exits on transformers and graph networks; cascades of networks |

# %%
import json
from pathlib import Path

import mexit

# %matplotlib inline

# %% tags=["parameters"]
seed = 0  # seeds the reference model (each seed has its own cached model)
model_name = "mnist1d_cnn"  # the running example's reference model
threshold = 0.3  # the teaser's starting entropy threshold β

# %%
sections = {"01": "§3", "02": "§4", "03": "§5", "04": "§5.3", "05": "§5.4", "06": "§6"}
sections |= {"07": "§6.1", "08": "§7.1", "09": "§7.2", "10": "§7.3", "11": "§8"}
titles = {}
for path in sorted(Path(".").glob("[0-9][0-9]_*.ipynb"))[1:]:
    titles[path.name[:2]] = "".join(
        json.loads(path.read_text())["cells"][0]["source"]
    ).splitlines()[0]
    print(f"{path.name:34s} {titles[path.name[:2]]}")
missing = sorted(set(sections) - set(titles))
mistitled = sorted(k for k in titles if k in sections and sections[k] not in titles[k])
mexit.check(
    "every-chapter-present",
    not missing and not mistitled and len(titles) == len(sections),
    chapters=len(titles),
    missing=missing,
    mistitled=mistitled,
)

# %% [markdown]
# ## How to use these notebooks
#
# - **Run top to bottom.** Each notebook finishes in under a minute on a laptop CPU. The
#   reference model trains the first time you need it (about 20 s on a 2-core laptop) and
#   is cached under `data/checkpoints/`; later notebooks load it.
# - **Widgets.** The *Explore* cell of each chapter has sliders and toggles: a threshold and
#   a placement control at least. Moving one never retrains anything: the outputs of every
#   exit are computed once, and only the policy is re-evaluated.
# - **Claims and checks.** A sentence that states a measured result ends with a tag such as
#   `[✓ every-chapter-present]`; the code cell next to it runs `mexit.check` with that name,
#   which prints `verified: …` with the numbers, or stops the notebook if the claim fails.
#   Sentences without a tag report what the survey says, with its section.
# - **Seeds and scaling up.** Each notebook has one cell tagged `parameters`, `seed`
#   included; every claim holds at seeds 0, 1 and 2. Run it with papermill to change them,
#   e.g. `papermill notebooks/01_model.ipynb out.ipynb -p seed 1`.
# - **Equations** carry the survey's numbers; where the printed formula is wrong (the
#   entropy's sign, the soft cost's indexing, the information bottleneck's sense) a
#   "Note on the formula" says so and the code implements the consistent version.

# %% [markdown]
# ## Notation used in every chapter
#
# | symbol | meaning |
# |---|---|
# | FLOPs | **floating-point operations** per input, as counted by PyTorch's FLOP counter (`mexit.measure_costs`); kFLOPs = thousands, MFLOPs = millions |
# | $L$ | number of blocks of the backbone; the final exit sits after block $L$ |
# | $C$ | the **set of early exits**, $C \subseteq \{1,\dots,L-1\}$ (the survey's letter, eq. 1–5) |
# | $K$ | the **number of classes** (the survey also writes $C$ for it, e.g. in eq. 11; here $K$ keeps the two apart — except in 08, where $K$ is the survey's fixed feedback matrix) |
# | $\gamma_{f_i}$, $\gamma_{c_i}$ | cost of block $i$ alone and of head $i$ alone (FLOPs) |
# | $\Gamma_j$ | cumulative cost of answering at exit $j$: every block up to $j$ and every head on the way |
# | plain network | backbone + final head, no early heads: **100 %** cost. A policy can cost *more* than 100 %: an input that reaches the end has also paid for the early heads it tried |
# | $H$ | normalized entropy of a head's prediction, in $[0, 1]$ (eq. 11) |
# | $\beta$ | entropy threshold: **exit when $H \le \beta$** — a higher $\beta$ lets more inputs out early (cheaper) |
# | $\tau$ | max-probability threshold: **exit when $\max_t c_{it} \ge \tau$** — a higher $\tau$ keeps more inputs (costlier); in 07 also the gate threshold (exit when the gate $g \ge \tau$) |
# | $\alpha_i$, $\lambda$ | weight of exit $i$'s loss in joint training (eq. 6); weight of the expected cost in 07 |
# | $\beta_{IB}$ | the information-bottleneck trade-off of eq. 15 in 10 (the survey's $\beta$; not a threshold) |
# | oracle | the least mean cost *any* assignment of inputs to the same exits pays for a given accuracy: the envelope every explorer draws |
#
# In every explorer, the left panel shows where the inputs leave, the right panel the
# **accuracy–cost plane**: the curve of the current policy as its threshold sweeps, the
# oracle envelope (dashed) and your setting (red dot).

# %% [markdown]
# ## A first taste
#
# The reference network has four exits, at blocks 1–4 of its backbone. Shallow exits are
# cheap and, as §1 says, already right on many inputs: exit 2 costs under a fifth of the
# network's FLOPs (floating-point operations) and is right on more than 65 % of the test signals
# [✓ shallow-solves-many]. Depth also overthinks: between 0.5 % and 5 % of the test inputs
# are answered correctly by some early exit and wrongly by the final one
# [✓ overthinking-exists].

# %%
mexit.seed_everything(seed)
data = mexit.load_mnist1d()
model = mexit.pretrained(model_name, seed=seed)
costs = mexit.measure_costs(model, data.input_shape)
Gamma = costs.Gamma(model.exits)
probs = mexit.exit_probs(model, data.x_test)
accuracy = mexit.exit_accuracies(probs, data.y_test)
overthought = mexit.overthinking(probs, data.y_test)
for i, a, g in zip(model.exits, accuracy, Gamma):
    print(f"exit {i}: {100 * a:.1f} % right at {100 * g / costs.full:.0f} % of the FLOPs")
print(f"overthought: {100 * overthought:.1f} % of the test inputs")
mexit.check(
    "shallow-solves-many",
    accuracy[1] > 0.65 and Gamma[1] / costs.full < 0.2,
    exit_2_accuracy=accuracy[1],
    exit_2_cost_fraction=Gamma[1] / costs.full,
)
mexit.check("overthinking-exists", 0.005 < overthought < 0.05, overthought=overthought)

# %% [markdown]
# An input leaves at the first exit whose prediction is confident enough — its normalized
# entropy (eq. 11) is at most the threshold $\beta$. Move $\beta$: the higher it is, the more
# inputs leave early and the less the network computes, until accuracy starts to drop. At
# $\beta = 0.5$ the network spends under half of its FLOPs and loses under 1.5 points of
# accuracy [✓ first-taste]. The second explorer switches exits off and on (their
# *placement*, §4): an exit you remove saves its head's cost but sends its inputs deeper.

# %%
teaser = mexit.widgets.ThresholdExplorer(
    probs, data.y_test, Gamma, full_cost=costs.full, exits=model.exits
)
teaser.threshold.value = threshold
teaser.show();

# %%
placement = mexit.widgets.PlacementExplorer(probs, data.y_test, costs, model.exits)
placement.threshold.value = threshold
placement.show();

# %%
taste = teaser.compute(threshold=0.5)
points_lost = 100 * (accuracy[-1].item() - taste["accuracy"])
mexit.check(
    "first-taste",
    taste["cost_fraction"] < 0.5 and points_lost < 1.5,
    cost_fraction=taste["cost_fraction"],
    points_lost=points_lost,
)

# %% [markdown]
# ## Takeaways
#
# - Shallow exits are cheap and already right on many inputs [✓ shallow-solves-many]; a few inputs are even overthought by the deeper layers [✓ overthinking-exists].
# - One threshold sets the trade-off between accuracy and cost: here half the FLOPs cost about a point of accuracy [✓ first-taste].
# - Start with [01 The model](01_model.ipynb) for the pieces, then follow the survey's sections (§3–§8).
#
# **Try:** at which β does accuracy first drop below the full network's? Which exit can you
# remove without changing the accuracy at β = 0.3?
