# %% [markdown]
# # §3 The model: a backbone with early exits
#
# *Companion to Scardapane et al., "Why should we add early exits to neural networks?", §3.*
#
# In this notebook you will:
# - meet the running example, MNIST-1D, and its multi-exit 1D CNN;
# - see eq. (1)–(3) in code: blocks $f_i$, the final loss, embeddings $h_i$ and heads $c_i$;
# - read the survey's map of the design choices (§3.2): placement, training, inference;
# - measure how accurate each exit is after joint training, and what each costs in FLOPs;
# - run a **real** early exit that skips the blocks an input no longer needs, and time it;
# - move a threshold and toggle exits with two widgets.
#
# ← [00 Index](00_index.ipynb) · next → [02 Placement](02_placement.ipynb)

# %%
import matplotlib.pyplot as plt
import seaborn as sns
import torch
from torch.utils.flop_counter import FlopCounterMode

import mexit

sns.set_theme(style="whitegrid")
# %matplotlib inline

# %% tags=["parameters"]
seed = 0  # seeds the reference model's initialisation and data order (each seed is cached)
dataset = "mnist1d"  # the reference run; or "cifar10" (torchvision files in data_dir)
backbone = "reference"  # mnist1d_cnn; or resnet18, resnet50, mobilenet_v3_small, vit, cnn2d
device = "cpu"  # where a backbone other than the reference is trained: "cuda", "mps"
data_dir = None  # folder holding cifar-10-batches-py/ (None: mexit's data folder)
retrain = False  # True trains the reference model again instead of loading its cache
max_accuracy_loss = 0.01  # accuracy we accept to lose for speed on validation (1 point)
timing_repeats = 11  # interleaved pairs of the timing; the median and its spread are reported

# %% [markdown]
# ## The running example: MNIST-1D
#
# MNIST-1D (Greydanus, 2020) turns the ten digits into 1D signals of length 40, shifted,
# scaled, sheared and noisy. It is small enough to train on a laptop CPU in seconds, yet
# hard enough that a linear model fails (about 32 % accuracy, Greydanus' figure) while a CNN
# passes 90 %. mexit generates it offline and caches it under `data/`; 3200 signals train,
# 800 validate (thresholds are tuned there) and 1000 test.

# %%
mexit.seed_everything(seed)
# the claims below are about the reference run: on another one, a claim that fails says so
mexit.claims.reference_run(dataset == "mnist1d" and backbone == "reference")
model, data = mexit.runs.model_for(
    dataset, backbone, seed, device, data_dir=data_dir, retrain=retrain
)
print(data)
fig, axes = plt.subplots(2, 5, figsize=(12, 3.5), sharex=True, sharey=True)
for digit, ax in enumerate(axes.flat):
    ax.plot(data.x_train[data.y_train == digit][0, 0], color="tab:blue")
    ax.set_title(f"digit {digit}")
fig.supxlabel("position in the signal (of 40)")
fig.supylabel("amplitude (standardised)")
fig.tight_layout()

# %% [markdown]
# ## Eq. (1): the backbone is a composition of blocks
#
# $$f(x) = (f_L \circ f_{L-1} \circ \dots \circ f_1)(x) \quad (1)$$
#
# Each block $f_i$ maps the previous embedding $h_{i-1}$ to $h_i = f_i(h_{i-1})$, with
# $h_0 = x$. Our backbone has $L = 4$ blocks (convolution, batch norm, ReLU); the channel
# width doubles while the signal shrinks, so the later blocks carry most of the FLOPs, as in
# real CNNs.
#
# A plain network is trained on its final output alone, by stochastic gradient descent on
#
# $$f^* = \arg\min_\theta \sum_{n=1}^N l\big(y_n, f(x_n)\big) \quad (2)$$
#
# with $\theta = \bigcup_i \theta_i$ every block's parameters. Notebooks 03 and 05 call this
# *final-only* training and compare it with training every exit.

# %%
L = model.num_blocks
x = data.x_test[:8]
h = model.embeddings(x)
for i, h_i in enumerate(h, 1):
    print(f"h_{i} = f_{i}(h_{i - 1}): shape {tuple(h_i.shape[1:])} (channels, length)")

# %% [markdown]
# ## Eq. (3): heads turn embeddings into predictions
#
# The survey picks a set of exit indices $C \subseteq \{1, \dots, L-1\}$; for each $i \in C$
# a head (auxiliary classifier) $c_i$ predicts from $h_i$:
#
# $$y_i = c_i(h_i), \quad i \in C \quad (3)$$
#
# Running the network once yields the sequence $(y_i)_{i \in C}$ and the final output. In
# mexit the final output is a head too, $c_L$, so `model.exits` is $C \cup \{L\}$. Our
# heads pool each feature map globally, then apply one linear layer (§4 explains why early
# convolutional features need that reduction). Exits are numbered by their block, 1-based as
# in the survey. Below, the last output of `model(x)` is recomputed by hand as
# $c_L(f_L(\dots f_1(x)))$.

# %%
outputs = model(x)
print("exits (block indices):", model.exits)
print("one logits tensor per exit:", [tuple(o.shape) for o in outputs])
with torch.no_grad():
    h_L = x
    for f_i in model.blocks:
        h_L = f_i(h_L)
    by_hand = model.head(L)(h_L)
print(f"largest |model(x)[-1] - c_L(f_L∘…∘f_1(x))|: {(outputs[-1] - by_hand).abs().max():.1e}")

# %% [markdown]
# ## The design choices of §3.2, in a few words
#
# The survey splits the design of a multi-exit network into three questions, each a chapter
# here:
#
# - **Where and how to exit (§3.2.1, notebook 02).** If the exits only fight overfitting,
#   a few suffice: the original Inception network has two, at roughly 1/3 and 2/3 of the
#   backbone, and **discards them at inference** [67]. Placing exits to meet an energy or
#   speed budget is a *combinatorial* problem: with $L - 1$ candidate positions there are
#   $2^{L-1}$ exit sets (8 for our $L = 4$, over $10^{15}$ for a 50-block network) (§3.2.1).
# - **How to train (§3.2.2).** Three families: *jointly*, one optimisation problem over
#   every exit, either a sum of per-exit losses [38] or one loss on a combination of the
#   outputs [61] (notebook 03); *layer-wise*, each head trained with the blocks before it,
#   which are then frozen [23] (notebook 04); or *separately*, the backbone first, then the
#   heads on top of it [72] — which the survey reads as "a very primitive form of knowledge
#   distillation" [24] (notebook 05).
# - **How to infer (§3.2.3).** Discard the exits (Inception), **ensemble** them "almost for
#   free" [61], or — the case this companion is about — let each input leave at the first
#   exit that is likely right, and run the full network only for the hard ones [79]
#   (notebook 06).
#
# The reference model below was trained **jointly** with the sum of every exit's
# cross-entropy (eq. 6 of §5, every $\alpha_i = 1$) for 20 epochs: `mexit.pretrained` trained
# it the first time you ran a notebook (about 20 s on a 2-core laptop) and loads it from
# `data/checkpoints/` ever since.

# %%
history = torch.tensor(model.history.val_accuracy)
fig, ax = plt.subplots(figsize=(6, 3))
for k, i in enumerate(model.exits):
    ax.plot(range(1, len(history) + 1), 100 * history[:, k], label=f"exit {i}")
ax.set(xlabel="epoch", ylabel="validation accuracy (%)", title="joint training")
ax.legend()
print(f"training took {model.history.seconds:.1f} s when it ran (read from the cache)")

# %%
test_probs = mexit.exit_probs(model, data.x_test)
accuracy = mexit.exit_accuracies(test_probs, data.y_test)
ensemble = (test_probs.mean(0).argmax(-1) == data.y_test).float().mean().item()
fig, ax = plt.subplots(figsize=(5.5, 3))
ax.bar(
    [f"exit {i}" for i in model.exits] + ["ensemble"],
    100 * torch.cat([accuracy, torch.tensor([ensemble])]),
)
ax.set(ylabel="test accuracy (%)", ylim=(0, 100), title="accuracy of each exit alone")
for i, a in zip(model.exits, accuracy):
    print(f"exit {i}: {100 * a:.1f} % test accuracy")
print(f"ensemble (mean of the {len(model.exits)} exits' probabilities): {100 * ensemble:.1f} %")

# %% [markdown]
# Deeper exits are more accurate: each early exit gains more than 5 points on the one
# before it, and the final exit classifies more than 92 % of the test signals
# [✓ deeper-is-more-accurate]. The "almost free" ensemble of §3.2.3 brings nothing here: it
# lands within one point of the final exit alone [✓ ensemble-no-gain] — the early exits are
# much weaker than the last, so averaging mostly repeats the final exit's answer.

# %%
mexit.check(
    "deeper-is-more-accurate",
    accuracy[-1] >= 0.92 and all(accuracy[k + 1] > accuracy[k] + 0.05 for k in range(L - 2)),
    accuracy=accuracy,
)
mexit.check(
    "ensemble-no-gain",
    abs(ensemble - accuracy[-1].item()) < 0.01,
    ensemble=ensemble,
    final_exit=accuracy[-1],
)

# %% [markdown]
# ## What each exit costs
#
# mexit counts FLOPs (floating-point operations, multiply and add counted separately) with
# PyTorch's `FlopCounterMode`: $\gamma_{f_i}$ for block $i$ alone, $\gamma_{c_i}$ for head
# $i$ alone. Answering at exit $j$ costs every block up to $j$ and every head on the way,
# the final head $c_L$ included:
#
# $$\Gamma_j = \sum_{k \le j} \gamma_{f_k} + \sum_{k \le j,\; k \in C \cup \{L\}} \gamma_{c_k}$$
#
# So $\Gamma_L$ is slightly **above** the plain network's cost ("the full network", 100 %
# below): an input that reaches the end has also paid for every early head it passed.

# %%
costs = mexit.measure_costs(model, data.input_shape)
Gamma = costs.Gamma(model.exits)
for i in model.exits:
    print(
        f"block {i}: γ_f = {costs.gamma_f[i - 1] / 1e3:7.1f} kFLOPs   head {i}: "
        f"γ_c = {costs.gamma_c[i] / 1e3:5.2f} kFLOPs   Γ_{i} = {Gamma[i - 1] / 1e3:6.1f} kFLOPs"
        f" ({100 * Gamma[i - 1] / costs.full:.1f} % of the full network)"
    )
heads_share = sum(costs.gamma_c[i] for i in model.exits) / costs.full
last_share = costs.gamma_f[-1] / costs.full
print(
    f"all heads: {100 * heads_share:.1f} % of the full network; block {L}: {100 * last_share:.0f} %"
)
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar([f"exit {i}" for i in model.exits], 100 * Gamma / costs.full)
ax.set(ylabel=r"cost $\Gamma_j$ (% of the plain network)", title="cumulative cost of each exit")
plt.show()

# %% [markdown]
# The heads are tiny next to the blocks: all of them together cost under 2 % of the
# network, while the last block alone costs more than half of it [✓ heads-are-cheap].

# %%
mexit.check(
    "heads-are-cheap",
    heads_share < 0.02 and last_share > 0.5,
    heads_share=heads_share,
    last_block_share=last_share,
)

# %% [markdown]
# ## Early exit in action
#
# At inference an input leaves at the first exit that is confident enough. A common
# measure is the normalized entropy of the head's softmax over the $K$ classes (eq. 11,
# studied in notebook 06; the survey writes $C$ for the number of classes):
#
# $$H[c_i(x)] = -\frac{1}{\log K}\sum_t c_{it}(x)\log c_{it}(x) \in [0, 1] \quad (11)$$
#
# The input exits at $i$ when $H \le \beta$. A higher threshold $\beta$ lets more inputs out
# early: cheaper, and at some point less accurate. `mexit.policies.threshold_for_loss` picks
# the largest $\beta$ that loses at most `max_accuracy_loss` on the **validation** split;
# we report on test.

# %%
val_probs = mexit.exit_probs(model, data.x_val)
beta = mexit.policies.threshold_for_loss(val_probs, data.y_val, max_accuracy_loss)
grid = [round(0.05 * k, 2) for k in range(21)]
curve = [
    mexit.evaluate_policy(test_probs, data.y_test, b, Gamma=Gamma, full_cost=costs.full)
    for b in grid
]
policy = mexit.evaluate_policy(test_probs, data.y_test, beta, Gamma=Gamma, full_cost=costs.full)
loss_points = 100 * (accuracy[-1].item() - policy.accuracy)
print(
    f"β = {beta:.3f}: test accuracy {100 * policy.accuracy:.1f} % (final exit "
    f"{100 * accuracy[-1]:.1f} %, {loss_points:.1f} points lost) at "
    f"{100 * policy.cost_fraction:.0f} % of the FLOPs; exits taken {policy.exit_counts}"
)
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot([100 * r.cost_fraction for r in curve], [100 * r.accuracy for r in curve], "o-")
ax.plot(100 * policy.cost_fraction, 100 * policy.accuracy, "r*", ms=14, label=f"β = {beta:.3f}")
ax.set(
    xlabel="mean cost (% of the full network)",
    ylabel="test accuracy (%)",
    title="one threshold, many trade-offs",
)
ax.legend()
plt.show()

# %% [markdown]
# With $\beta$ tuned on validation, the test set loses at most 1.5 points of accuracy for
# less than half of the FLOPs [✓ half-the-flops].

# %%
mexit.check(
    "half-the-flops",
    loss_points <= 1.5 and policy.cost_fraction < 0.5,
    points_lost=loss_points,
    cost_fraction=policy.cost_fraction,
)

# %% [markdown]
# ### A real early exit, not a simulation
#
# `evaluate_policy` reads the outputs of all exits, computed beforehand. `early_exit_predict`
# does what a deployed model does: it runs block by block on the batch and drops the rows
# that have exited, so later blocks only see the inputs still active. It takes the same
# exit and predicts the same class as the simulation for every test input
# [✓ real-equals-simulated], and the FLOPs that PyTorch counts while it runs equal the mean
# cost eq. 12 predicts from the table above, within 1 % [✓ real-flops-counted].

# %%
with FlopCounterMode(display=False) as counter:
    real = mexit.early_exit_predict(model, data.x_test, beta, costs=costs)
counted = counter.get_total_flops() / len(data.x_test)
print(f"counted: {counted / 1e3:.1f} kFLOPs per input; predicted {policy.mean_flops / 1e3:.1f}")
mexit.check(
    "real-equals-simulated",
    torch.equal(real.exit_index, policy.exit_index)
    and torch.equal(real.predictions, policy.predictions),
    inputs=len(data.x_test),
    same_exit=(real.exit_index == policy.exit_index).float().mean(),
)
mexit.check(
    "real-flops-counted",
    abs(counted - policy.mean_flops) <= 0.01 * policy.mean_flops,
    counted_kflops=counted / 1e3,
    predicted_kflops=policy.mean_flops / 1e3,
)

# %% [markdown]
# ### Timed: the network a device would run
#
# `early_exit_predict` is written to be read and to count FLOPs. What a device runs is its
# **deployment form**, `mexit.deploy(model, β)`: batch norm folded into the convolutions, the
# layers called as plain functions, and the exit test done once on each exit's $K$ logits (for
# max-probability, $\max_t c_{it} \ge \tau$ is $\max_t z_t - \log\sum_t e^{z_t} \ge \log\tau$
# on the logits $z$; the entropy of eq. 11 needs one log-softmax). Its `.plain` is the plain
# network **in the same form**: the only fair baseline. The deployed network takes the same
# exit and predicts the same class as the simulation for every test input
# [✓ deployed-equals-simulated].
#
# `mexit.speed.deploy_speedup` times the two with `mexit.timing.time_ab` — in alternation, on
# one thread, median ratio with its interquartile range — at batch 1 (inputs one by one: the
# small device of the survey) and in one batch of 1000. It reads the thread's CPU time
# (`clock="cpu"`): on a shared machine such as Binder, time spent waiting for other programs
# would otherwise land in either measurement. This is a measurement on this machine,
# not a promise: the sentence printed below is chosen by the interval.

# %%
deployed = mexit.deploy(model, beta)  # the model itself is not changed
served = deployed.predict(data.x_test)
mexit.check(
    "deployed-equals-simulated",
    torch.equal(served.exit_index, policy.exit_index)
    and torch.equal(served.predictions, policy.predictions),
    inputs=len(data.x_test),
    same_exit=(served.exit_index == policy.exit_index).float().mean(),
)
timings = {
    bs: mexit.speed.deploy_speedup(
        model,
        data.x_test[:n],
        beta,
        batch_size=bs,
        repeats=timing_repeats,
        costs=costs,
        clock="cpu",
    )
    for bs, n in ((1, 200), (1000, 1000))
}
for bs, s in timings.items():
    print(
        f"batch {bs}: plain {s.ms_plain:.1f} ms, early exit {s.ms_early_exit:.1f} ms for "
        f"{s.inputs} inputs; measured {s.measured:.2f}× (interquartile {s.measured_low:.2f}–"
        f"{s.measured_high:.2f}×), FLOP-predicted {s.predicted:.2f}× → early exit is {s.verdict}"
    )

# %% [markdown]
# ## FLOPs are not seconds — until compute dominates overhead
#
# The cost of eq. 12 counts FLOPs. A CPU spends time on more than FLOPs: every PyTorch call
# costs microseconds whatever it computes (dispatch, allocation, shape checks), and our network
# is tiny — well under a million FLOPs per input, which one core does in microseconds of pure
# arithmetic. At batch 1 the time goes where the *calls* are. `mexit.speed.where_time_goes`
# runs the deployed early exit on 200 test inputs, one at a time, under `torch.profiler`, and
# lists the ops that take the most time (a measurement: it varies from run to run).

# %%
one_by_one = list(data.x_test[:200].split(1))
profile = mexit.speed.where_time_goes(lambda: [deployed.predict_one(x1) for x1 in one_by_one])
for r in profile:
    print(
        f"{r['op']:<28} {r['calls'] / 200:4.1f} calls per input  {1e3 * r['self_ms'] / 200:6.1f} µs"
        f" per input  {100 * r['share']:4.1f} % (timing)"
    )
print(f"plain network: {costs.full / 1e3:.0f} kFLOPs per input")

# %% [markdown]
# How large must a network be before its FLOPs predict its time? Make the same backbone
# $m$ = 1, 2, 4 and 8 times wider (channels $16m, 32m, 64m, 128m$: FLOPs grow about as $m^2$)
# and time the deployed early exit against the deployed plain network again. Timing needs no
# training, only *where* the inputs leave: `mexit.speed.thresholds_for_shares` picks one
# threshold per exit so that each exit takes the share of inputs the reference model sends
# there at the β above, so the FLOP-predicted speedup stays the same while the work per call
# grows. If FLOPs were seconds, every point would sit on the line at 1 (measured =
# predicted); below the dashed line, early exit is slower than the plain network.

# %%
shares = [c / len(data.x_test) for c in policy.exit_counts]
sweep = mexit.speed.width_sweep(
    data.x_test[:32],
    shares,
    multipliers=(1, 2, 4, 8),
    batch_sizes=(1, 32),
    repeats=3,
    seed=seed,
    clock="cpu",
)
fig, ax = plt.subplots(figsize=(6, 3.5))
for bs, style in ((1, "o-"), (32, "s--")):
    rows = [r for r in sweep if r["batch_size"] == bs]
    mid = [r["measured_over_predicted"] for r in rows]
    low = [m - r["measured_low"] / r["predicted_speedup"] for m, r in zip(mid, rows)]
    high = [r["measured_high"] / r["predicted_speedup"] - m for m, r in zip(mid, rows)]
    flops = [1e3 * r["kflops_per_input"] for r in rows]
    ax.errorbar(flops, mid, yerr=[low, high], fmt=style, capsize=3, label=f"batch {bs}")
ax.axhline(1, color="gray", lw=1, label="measured = FLOP-predicted")
ax.axhline(1 / sweep[0]["predicted_speedup"], color="gray", ls=":", label="break-even (1×)")
ax.set(xscale="log", xlabel="FLOPs per input (plain network)", ylabel="measured / predicted")
ax.legend(fontsize=8)
plt.show()
for bs in (1, 32):
    start = mexit.speed.crossover(sweep, bs)
    widest = [r for r in sweep if r["batch_size"] == bs][-1]
    where = f"from {start / 1e3:.1f} MFLOPs per input on" if start else "at no width of the sweep"
    print(
        f"batch {bs}: early exit faster (whole interquartile range above 1×) {where}; widest: "
        f"measured {widest['measured_speedup']:.2f}× of {widest['predicted_speedup']:.2f}× "
        f"predicted (timing)"
    )

# %% [markdown]
# Read the figure with the lines printed under it, which depend on this machine and this
# run. Where a curve climbs toward 1, arithmetic has started to dominate the fixed cost of each
# call and the FLOP count becomes a usable predictor of time; where it stays under the dotted
# line, early exit costs more than it saves. On a phone or a microcontroller the crossover
# sits elsewhere: the survey's cost model (§6.1) counts FLOPs, but a deployment must be timed
# on its target. `python -m mexit.bench` measures the same at batch 1, 64 and 1000 with more
# repeats, and for the readable `early_exit_predict` too.

# %% [markdown]
# ### Keep the exits that pay for their calls
#
# An exit costs almost nothing in FLOPs (its head is small) but, at batch 1, it costs a few
# calls — head, softmax, the exit test — like a block does. An exit that few inputs take can
# cost more time than it saves. So choose the exits by *seconds*: `mexit.speed.fastest_exit_set`
# tries every subset of the early exits (the final exit always answers; the empty set is the
# plain network, so the best choice is never slower than not exiting), tunes each subset's β
# on the **validation** split for the accuracy loss you accept (`max_accuracy_loss`), and
# times each deployment against the deployed plain network at batch 1. The chosen subset is
# then timed again on **test** inputs. This is §4's placement question answered with a
# stopwatch instead of the FLOP count; the table below is a measurement, and it changes from
# machine to machine.

# %%
ranked = mexit.speed.fastest_exit_set(
    model,
    data.x_val,
    data.y_val,
    max_accuracy_loss,
    batch_size=1,
    repeats=3,
    costs=costs,
    clock="cpu",
    timed=150,
)
for r in ranked:
    kept = ", ".join(map(str, r["exits"])) or "none (plain)"
    print(
        f"exits kept {kept:<14} predicted {r['predicted_speedup']:.2f}×  measured "
        f"{r['measured_speedup']:.2f}× ({r['measured_low']:.2f}–{r['measured_high']:.2f}) (timing)"
    )
best = ranked[0]
if best["exits"]:
    chosen = mexit.speed.deploy_speedup(
        model.with_exits(list(best["exits"])),
        data.x_test[:150],
        best["threshold"],
        batch_size=1,
        repeats=timing_repeats,
        costs=costs,
        clock="cpu",
    )
    print(
        f"on test, exits {list(best['exits'])} at β = {best['threshold']:.2f}: measured "
        f"{chosen.measured:.2f}× ({chosen.measured_low:.2f}–{chosen.measured_high:.2f}) against "
        f"{chosen.predicted:.2f}× predicted → early exit is {chosen.verdict} (timing)"
    )
else:
    print("no subset of exits beats the plain network here: deploy it without early exits (timing)")

# %% [markdown]
# ## Explore
#
# **Threshold explorer.** Pick the criterion, use one shared threshold or one per exit, and
# watch accuracy, cost and where the inputs leave. Nothing is recomputed but the policy:
# the outputs of every exit on the test set were computed once.
#
# **Placement explorer.** Switch exits off and on: removing an exit saves its head's FLOPs
# for everyone who passes it, but forces its inputs to go deeper. What it shows for an exit
# set is what the network rebuilt with only those exits does: for exit 1 switched off, the
# explorer's accuracy and mean FLOPs equal a real early exit of `model.with_exits((2, 3))`
# with its own measured costs [✓ explorer-is-the-rebuilt-network].

# %%
threshold_widget = mexit.widgets.ThresholdExplorer(
    test_probs, data.y_test, Gamma, full_cost=costs.full, exits=model.exits
)
threshold_widget.threshold.value = beta
threshold_widget.show();

# %%
placement_widget = mexit.widgets.PlacementExplorer(test_probs, data.y_test, costs, model.exits)
placement_widget.threshold.value = beta
placement_widget.show();

# %%
shown = placement_widget.compute(threshold=beta, exit_1=False)
rebuilt = model.with_exits(model.exits[1:-1])  # exits 2 and 3 (the final exit is always there)
rebuilt_costs = mexit.measure_costs(rebuilt, data.input_shape)
run = mexit.early_exit_predict(rebuilt, data.x_test, beta, costs=rebuilt_costs)
run_accuracy = (run.predictions == data.y_test).float().mean().item()
mexit.check(
    "explorer-is-the-rebuilt-network",
    abs(shown["accuracy"] - run_accuracy) < 1e-9
    and abs(shown["mean_flops"] - run.flops.mean().item()) <= 1e-6 * shown["mean_flops"],
    explorer_accuracy=shown["accuracy"],
    rebuilt_accuracy=run_accuracy,
    explorer_kflops=shown["mean_flops"] / 1e3,
    rebuilt_kflops=run.flops.mean() / 1e3,
)


# %% [markdown]
# ## Takeaways
#
# - A multi-exit network is a backbone (eq. 1) plus a head per exit (eq. 3); one forward pass gives a prediction at every exit (§3.2).
# - Here deeper exits are clearly more accurate [✓ deeper-is-more-accurate], and the heads cost under 2 % of the network while the last block costs more than half [✓ heads-are-cheap]: letting easy inputs leave early saves the blocks they skip.
# - One threshold trades accuracy for cost: tuned on validation, it loses at most 1.5 points for under half the FLOPs [✓ half-the-flops], and a real early exit spends exactly those FLOPs [✓ real-flops-counted]; whether that is wall-clock speed depends on the machine and the batch size (the interval printed above; notebook 06).
#
# **Try with the widgets:** Which exit takes most inputs at β = 0.3? What happens to cost
# when you remove exit 1? Can one threshold per exit beat the shared one?

# %% [markdown]
# ## Exercises
#
# Write the code, run the checker cell under it: it runs your function on a handful of fixed
# inputs against mexit's own implementation and says "correct", or shows the first input where
# yours differs, naming the mistake when it recognises it. Each exercise needs only the setup
# and parameters cells at the top, so you can jump here straight away.
#
# **Exercise 1 (eq. 1 and 3).** Write `exit_outputs(model, x)`: the logits $c_i(h_i)$ of every
# exit of a `mexit.MultiExitNet`, in the order of `model.exits`, with $h_0 = x$ and
# $h_i = f_i(h_{i-1})$. Use `model.blocks` (a list of $f_1, \dots, f_L$), `model.head(i)` and
# `model.exits`; do not call `model(x)`. Return a list of tensors $(N, K)$.

# %% tags=["exercise-exit_outputs"]
def exit_outputs(model, x):
    """Logits of every exit of `model` on the batch x: a list of (N, K) tensors."""
    raise NotImplementedError  # your code here


# %%
result = mexit.exercises.check_exit_outputs(exit_outputs)


# %% [markdown]
# **Exercise 2 (Γ_j, §3 and eq. 12).** Write `Gamma(gamma_f, gamma_c, exits)`: the cumulative
# cost of answering at each exit $j$ of `exits` (increasing block indices ending at $L$),
#
# $$\Gamma_j = \sum_{k \le j} \gamma_{f_k} + \sum_{k \le j,\, k \in C} \gamma_{c_k},$$
#
# with `gamma_f` the list of the $L$ block costs and `gamma_c` a dict {block index: head cost},
# which may also hold heads that are not exits. Return one number per exit.

# %% tags=["exercise-gamma"]
def Gamma(gamma_f, gamma_c, exits):
    """Γ_j for each exit j in `exits`: every block up to j and every head of `exits` on the way."""
    raise NotImplementedError  # your code here


# %%
result = mexit.exercises.check_gamma(Gamma)

# %% [markdown]
# **Exercise 3 (with the placement explorer).** Before you move anything, predict: if you
# switch exit 1 off at the β above, does the mean cost go up or down? Two effects compete:
# everyone who passes block 1 no longer pays head 1, and the inputs that left at exit 1 now
# run block 2 (and maybe more). *What to look for:* the first bar of the exit histogram moving
# to the later exits, and the mean FLOPs beside it; then try a larger β, where more inputs
# left at exit 1.
#
# **Exercise 4 (with the threshold explorer).** Switch to one threshold per exit and try to
# find a setting that beats the shared threshold: same accuracy, fewer FLOPs. *What to look
# for:* which exit's threshold moves the cost most (the one where many inputs sit close to
# the threshold), and whether lowering the last early exit's threshold costs accuracy.
