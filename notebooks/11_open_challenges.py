# %% [markdown]
# # §8 Open challenges: other backbones, and beyond exits
#
# *Companion to Scardapane et al., "Why should we add early exits to neural networks?", §8.*
#
# The survey closes with three challenges. The first asks whether early exits help "more
# modern neural layers, such as graph convolutional networks, and transformer
# architectures"; the third looks past exits, to "multiple networks, conditionally connected
# on one another". (The second, fog and IoT integration, is notebook 09's subject: it runs the
# network on tier processes and trains it there, tier by tier.) In this notebook you will:
# - put an exit after every layer of a small **transformer encoder** reading MNIST-1D as a
#   sequence, and compare its exits with the CNN's at equal cost;
# - do the same on a small **graph network** (plain PyTorch message passing) on a graph task
#   where an exit *cannot* know what lies beyond its receptive field;
# - measure Challenge 1's other question, the **generalisation gap** of every exit (train
#   minus test accuracy), on the three backbones;
# - drive all three backbones with the same `MultiExitNet`, policies and widgets;
# - route inputs between **two networks**, small → large, by confidence, and compare that
#   cascade's accuracy–cost curve with one multi-exit network's.
#
# ← [10 Information bottleneck](10_information_bottleneck.ipynb) · back to the
# [00 Index](00_index.ipynb)

# %%
import matplotlib.pyplot as plt
import seaborn as sns
import torch

import mexit
from mexit import cascade, graph, transformer

sns.set_theme(style="whitegrid")
# %matplotlib inline

# %% tags=["parameters"]
seed = 0  # seeds every model of the notebook (each seed has its own cache files)
transformer_epochs = 10  # joint training of the transformer (cached after the first run)
graph_epochs = 8  # joint training of the graph network
small_epochs = 10  # training of the cascade's small network
threshold = 0.4  # exit threshold β on the normalized entropy (eq. 11)

# %%
mexit.seed_everything(seed)

# %% [markdown]
# ## Challenge 1a: exits on a transformer encoder
#
# MNIST-1D becomes a sequence: overlapping patches of 8 samples every 4 positions, each
# projected to $d = 32$, with a position embedding and a CLS token in front. Four
# pre-norm encoder layers follow, each a block $f_i$ of eq. (1); after every layer an exit
# reads the CLS token:
#
# $$h_i = f_i(h_{i-1}) \in \mathbb{R}^{(1+P) \times d}, \qquad
# c_i(h_i) = W_i\, \mathrm{LN}(h_i)_{\mathrm{CLS}} + b_i \quad (3)$$
#
# It is a `MultiExitNet` like the CNN, trained with the same joint loss (eq. 6) by the same
# `mexit.fit`, and cached.

# %%
data = mexit.load_mnist1d()
cnn = mexit.pretrained("mnist1d_cnn", seed=seed)
encoder, _ = transformer.train_transformer(epochs=transformer_epochs, seed=seed)
models = {"CNN": cnn, "transformer": encoder}
costs = {name: mexit.measure_costs(m, data.input_shape) for name, m in models.items()}
probs = {name: mexit.exit_probs(m, data.x_test) for name, m in models.items()}
accuracy = {name: mexit.exit_accuracies(p, data.y_test) for name, p in probs.items()}
fig, ax = plt.subplots(figsize=(5.5, 3.2))
for name, m in models.items():
    Gamma = costs[name].Gamma(m.exits)
    ax.plot(Gamma / 1e6, 100 * accuracy[name], "o-", label=name)
    for i, g, a in zip(m.exits, Gamma, accuracy[name]):
        print(
            f"{name:12s} exit {i}: {100 * a:5.1f} % at Γ_{i} = {g / 1e6:.3f} MFLOPs "
            f"({100 * g / costs[name].full:.0f} % of the network)"
        )
ax.set(
    xlabel=r"cost of the exit $\Gamma_i$ (MFLOPs)",
    ylabel="test accuracy (%)",
    title="exits 1 → 4 on MNIST-1D",
)
ax.legend()
plt.show()

# %%
# check: the transformer's exits are graded and its final exit is a fair classifier; the
# real early exit takes the same exits as the policy on precomputed outputs
acc_t = accuracy["transformer"]
mexit.check(
    "transformer-exits-graded",
    acc_t[-1] >= 0.7 and acc_t[-1] > acc_t[0] + 0.08,
    exit_1=acc_t[0],
    final=acc_t[-1],
)
real = mexit.early_exit_predict(encoder, data.x_test, threshold, costs=costs["transformer"])
sim = mexit.evaluate_policy(probs["transformer"], data.y_test, threshold)
mexit.check(
    "transformer-exit1-beats-cnn-exit1",
    acc_t[0] >= accuracy["CNN"][0] + 0.15,
    transformer_exit_1=acc_t[0],
    cnn_exit_1=accuracy["CNN"][0],
)
mexit.check(
    "real-exit-equals-policy",
    torch.equal(real.exit_index, sim.exit_index),
    same_exit=float((real.exit_index == sim.exit_index).float().mean()),
)

# %%
# at equal cost: for each transformer exit, the most accurate CNN exit that costs no more
Gamma_cnn, Gamma_t = costs["CNN"].Gamma(cnn.exits), costs["transformer"].Gamma(encoder.exits)
cnn_at = []
for i, g, a in zip(encoder.exits, Gamma_t, acc_t):
    k = max(j for j, gc in enumerate(Gamma_cnn) if gc <= g)
    cnn_at.append(float(accuracy["CNN"][k]))
    print(
        f"transformer exit {i} ({g / 1e3:.0f} kFLOPs): {100 * a:.1f} %; CNN exit {cnn.exits[k]} "
        f"({Gamma_cnn[k] / 1e3:.0f} kFLOPs, no more): {100 * cnn_at[-1]:.1f} %"
    )
margins = [c - float(a) for c, a in zip(cnn_at, acc_t)]
mexit.check(
    "cnn-beats-transformer-at-equal-cost",
    min(margins) >= 0.05,
    smallest_margin=min(margins),
    transformer=acc_t,
    cnn_at_no_more_cost=cnn_at,
)

# %% [markdown]
# The transformer's exits are graded like the CNN's, from exit 1 to a final exit above
# 70 % [✓ transformer-exits-graded], and `early_exit_predict` on the encoder takes the same
# exit as the policy on precomputed outputs, input by input [✓ real-exit-equals-policy].
#
# Two differences from the CNN stand out. Every transformer layer costs the same (its
# width never changes), so $\Gamma_i$ grows linearly instead of being dominated by the
# last block; and attention gives even the first layer a global view of the sequence, so
# its exit 1 scores far above the CNN's exit 1, whose first block sees three samples
# [✓ transformer-exit1-beats-cnn-exit1].
# That comparison is unfair, though: the transformer's exit 1 costs *more* than the CNN's
# exit 3 (printed above). Compared at equal cost — each transformer exit against the most
# accurate CNN exit that costs no more — the CNN wins at every exit, by at least 5 points
# [✓ cnn-beats-transformer-at-equal-cost]. On a 40-sample signal with local features,
# convolutions are the cheaper way to accuracy; the transformer's early exits are not a
# bargain here.

# %% [markdown]
# ## Challenge 1b: exits on a graph network
#
# A synthetic graph task: random trees of 16 nodes with two marked nodes $A$ and $B$; the
# class is their distance in hops, $d(A,B) \in \{1, 2, 3, 4, \ge 5\}$ (balanced). Each
# message-passing layer updates every node from its neighbours,
#
# $$h_v^{(i)} = \mathrm{ReLU}\Big(W_s h_v^{(i-1)} + W_n \sum_{u \sim v} h_u^{(i-1)} + b\Big),$$
#
# and exit $i$ reads node $B$'s state. After $i$ layers, $B$ has heard only from nodes at
# most $i$ hops away: exit $i$ can tell $d = 1, \dots, i$ apart and must guess among the
# rest. Were distance all it used, its accuracy could not exceed
# $\frac{i}{5} + \frac{1}{5}$ (for $i < 4$): 40, 60, 80 % — then 100 % at exit 4. The tree's
# shape around $B$ leaks a little more; the graph version of "deeper exits see more": each
# exit beats the one before by more than 8 points, and the last one solves the task
# [✓ gnn-exits-graded].

# %%
graphs = graph.load_graph_distance()
gnn, _ = graph.train_graph_network(epochs=graph_epochs, seed=seed)
print(graphs)
costs["graph network"] = mexit.measure_costs(gnn, graphs.input_shape)
probs["graph network"] = mexit.exit_probs(gnn, graphs.x_test)
accuracy["graph network"] = mexit.exit_accuracies(probs["graph network"], graphs.y_test)
ceiling = [min(1.0, (i + 1) / 5) for i in gnn.exits]
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar([f"exit {i}" for i in gnn.exits], 100 * accuracy["graph network"], label="measured")
ax.plot(
    range(len(gnn.exits)),
    [100 * c for c in ceiling],
    "k_",
    ms=40,
    mew=2,
    label="distance-only ceiling",
)
ax.set(ylabel="test accuracy (%)", ylim=(0, 128), yticks=range(0, 101, 25))
ax.set_title("graph network: exit i sees i hops", pad=4)
ax.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)  # above the bars
plt.show()
for i, a, c in zip(gnn.exits, accuracy["graph network"], ceiling):
    print(f"exit {i}: {100 * a:5.1f} % (distance-only ceiling {100 * c:.0f} %)")

# %%
# check: the graph network's exits are graded, step by step, as its receptive field grows
acc_g = accuracy["graph network"]
mexit.check(
    "gnn-exits-graded",
    all(b > a + 0.08 for a, b in zip(acc_g, acc_g[1:])) and acc_g[0] < 0.55 and acc_g[-1] >= 0.9,
    accuracies=acc_g,
)

# %% [markdown]
# ## One machinery, three backbones
#
# The same policy — exit when the normalized entropy (eq. 11) is at most $\beta$ — on all
# three, with cost as a fraction of each network. The CNN's deep blocks are expensive, so
# leaving early saves a lot; the transformer's layers cost the same, so each exit skipped
# saves a quarter. The graph network's exits are confident where their receptive field
# suffices: at $\beta$ = `threshold`, the graphs that leave at exit 1 are (at least 95 % of
# them) those with $d(A,B) = 1$ [✓ exit1-graphs-are-adjacent].

# %%
grid = [round(0.05 * k, 2) for k in range(21)]
exits_of = {"CNN": cnn.exits, "transformer": encoder.exits, "graph network": gnn.exits}
labels_of = {"CNN": data.y_test, "transformer": data.y_test, "graph network": graphs.y_test}
curves = {}
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for name in probs:
    curves[name] = [
        mexit.evaluate_policy(
            probs[name],
            labels_of[name],
            b,
            Gamma=costs[name].Gamma(exits_of[name]),
            full_cost=costs[name].full,
        )
        for b in grid
    ]
    ax.plot(
        [100 * r.cost_fraction for r in curves[name]],
        [100 * r.accuracy for r in curves[name]],
        "o-",
        ms=3,
        label=name,
    )
ax.set(
    xlabel="mean cost (% of the network)",
    ylabel="test accuracy (%)",
    title="β from 0 to 1, one curve per backbone",
)
ax.legend()
plt.show()
for name, curve in curves.items():
    r = curve[grid.index(threshold)]
    print(
        f"{name:14s} β = {threshold}: accuracy {100 * r.accuracy:.1f} % at "
        f"{100 * r.cost_fraction:.0f} % of the cost; exits taken {r.exit_counts}"
    )
# check: the graphs the graph network answers at exit 1 are those at distance 1 (class 0)
at_beta = curves["graph network"][grid.index(threshold)]
leave_1 = at_beta.exit_index == 0
adjacent = float((graphs.y_test[leave_1] == 0).float().mean())
mexit.check(
    "exit1-graphs-are-adjacent",
    adjacent >= 0.95,
    share_at_distance_1=adjacent,
    left_at_exit_1=int(leave_1.sum()),
)


# %% [markdown]
# ## Challenge 1c: the generalisation gap of every exit
#
# The survey's first challenge also asks to "quantify the relative generalization gap of
# each component" (§8). Measure it: the gap of exit $i$ is its accuracy on the training set
# minus its accuracy on the test set,
#
# $$\mathrm{gap}_i = \mathrm{acc}_{\text{train}}(c_i) - \mathrm{acc}_{\text{test}}(c_i),$$
#
# for the same trained networks (joint training, eq. 6, every $\alpha_i = 1$; the CNN 20
# epochs, the transformer `transformer_epochs`, the graph network `graph_epochs`). With 1000
# test inputs, an accuracy near 90 % carries a standard error of about 1 point, so read
# differences of a point or two as noise.

# %%
nets = {"CNN": cnn, "transformer": encoder, "graph network": gnn}
train_of = {
    "CNN": (data.x_train, data.y_train),
    "transformer": (data.x_train, data.y_train),
    "graph network": (graphs.x_train, graphs.y_train),
}
train_accuracy, gap = {}, {}
for name, (x_tr, y_tr) in train_of.items():
    train_accuracy[name] = mexit.exit_accuracies(mexit.exit_probs(nets[name], x_tr), y_tr)
    gap[name] = train_accuracy[name] - accuracy[name]
    print(
        f"{name:14s} "
        + "  ".join(
            f"exit {i}: {100 * tr:5.1f} → {100 * te:5.1f} % (gap {100 * g:+.1f})"
            for i, tr, te, g in zip(
                nets[name].exits, train_accuracy[name], accuracy[name], gap[name]
            )
        )
    )
fig, ax = plt.subplots(figsize=(6, 3.2))
width = 0.27
for k, name in enumerate(gap):
    ax.bar([i + (k - 1) * width for i in range(1, 5)], 100 * gap[name], width, label=name)
ax.axhline(0, color="k", lw=0.8)
ax.set(
    xlabel="exit i",
    ylabel="train − test accuracy (points)",
    xticks=[1, 2, 3, 4],
    title="generalisation gap per exit",
)
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # beside, not over
plt.show()

# %%
# check: the CNN's final exit generalises worse than its first (gap larger by ≥ 1 point);
# no exit of the three networks has a gap above 6 points; the graph network's are near 0
mexit.check(
    "cnn-gap-grows-with-depth",
    gap["CNN"][-1] >= gap["CNN"][0] + 0.01,
    gap_exit_1=gap["CNN"][0],
    gap_final=gap["CNN"][-1],
)
largest = max(float(g.max()) for g in gap.values())
mexit.check("gaps-are-small", largest < 0.06, largest_gap=largest)
mexit.check(
    "gnn-gap-near-zero",
    float(gap["graph network"].abs().max()) < 0.03,
    gaps=gap["graph network"],
)

# %% [markdown]
# What the gaps show:
#
# - On the CNN, the final exit's gap is larger than exit 1's [✓ cnn-gap-grows-with-depth]:
#   exit 1 underfits (about a third of the inputs right, on the training set as on the
#   test set), and capacity, hence room to overfit, grows with depth.
# - Every gap of the three networks stays below 6 points [✓ gaps-are-small]; the
#   transformer's are a few points at every exit, in an order that changes with the seed.
# - The graph network's gaps are near zero [✓ gnn-gap-near-zero]: its task is generated,
#   and 3000 training trees cover what 1000 test trees hold.
#
# These are small networks on small data; the survey's question — how the gap of each
# exit relates to the others, in theory — stays open (§8).

# %% [markdown]
# ## Challenge 3: two networks, routed by confidence
#
# Instead of exits inside one network, use two: a small network answers every input, and
# hands the ones it is unsure about ($H \le \beta$ fails, eq. 11) to a large one, which
# starts again from $x$. Its cost per input is
#
# $$\gamma_{\text{cascade}} = \gamma_{\text{small}} + P(\text{defer})\, \gamma_{\text{large}},$$
#
# against $\Gamma_{\text{exit}(x)}$ for the multi-exit network, which reuses every block it
# has run. Small: the running example's CNN with half the channels in every block (8, 16,
# 32, 64 instead of 16, 32, 64, 128), hence about a quarter of the FLOPs
# [✓ half-channels-quarter-flops], and no early exit (trained `small_epochs` epochs, cached);
# large: the reference CNN's final exit (trained 20 epochs).

# %%
small, _ = cascade.train_small_network(epochs=small_epochs, seed=seed)
cost_small = mexit.measure_costs(small, data.input_shape).full
cost_large = costs["CNN"].full
small_probs = mexit.exit_probs(small, data.x_test)[-1]
large_probs = probs["CNN"][-1]
curve = cascade.cascade_curve(small_probs, large_probs, data.y_test, cost_small, cost_large)
print(
    f"small network: {100 * mexit.exit_accuracies(small_probs[None], data.y_test)[0]:.1f} % "
    f"at {cost_small / 1e3:.0f} kFLOPs ({100 * cost_small / cost_large:.0f} % of the large "
    f"one, {100 * accuracy['CNN'][-1]:.1f} % at {cost_large / 1e3:.0f} kFLOPs)"
)
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.plot(
    [100 * r.mean_flops / cost_large for r in curve],
    [100 * r.accuracy for r in curve],
    "o-",
    ms=3,
    label="cascade small → large",
)
ax.plot(
    [100 * r.cost_fraction for r in curves["CNN"]],
    [100 * r.accuracy for r in curves["CNN"]],
    "o-",
    ms=3,
    label="multi-exit CNN",
)
ax.set(
    xlabel="mean cost (% of the large network)",
    ylabel="test accuracy (%)",
    title="two networks or one with exits?",
)
ax.legend()
plt.show()
mexit.check(
    "half-channels-quarter-flops",
    0.2 <= cost_small / cost_large <= 0.3,
    small_over_large=cost_small / cost_large,
)

# %%
routed, deferred = cascade.cascade_predict(small, cnn, data.x_test, threshold)
at = cascade.evaluate_cascade(
    small_probs, large_probs, data.y_test, threshold, cost_small, cost_large
)
multi = curves["CNN"][grid.index(threshold)]
print(
    f"β = {threshold}: cascade {100 * at.accuracy:.1f} % at "
    f"{100 * at.mean_flops / cost_large:.0f} % of the large network "
    f"({100 * at.deferred:.0f} % deferred); multi-exit CNN "
    f"{100 * multi.accuracy:.1f} % at {100 * multi.cost_fraction:.0f} %"
)

# %%
# check: the real routing (the large network runs only on deferred inputs) agrees with the
# cascade simulated from precomputed outputs
mexit.check(
    "routing-equals-simulation",
    torch.equal(routed, at.predictions)
    and abs(deferred.float().mean().item() - at.deferred) < 1e-9,
    deferred=int(deferred.sum()),
    simulated_deferred=at.deferred,
)
# at equal cost: the best accuracy each design reaches within 30 % of the large network
cap = 0.30
best_cascade = max(r.accuracy for r in curve if r.mean_flops <= cap * cost_large)
best_multi = max(r.accuracy for r in curves["CNN"] if r.cost_fraction <= cap)
print(
    f"within {100 * cap:.0f} % of the large network's cost: cascade {100 * best_cascade:.1f} %, "
    f"multi-exit CNN {100 * best_multi:.1f} %"
)
mexit.check(
    "cascade-wins-at-low-cost",
    best_cascade >= best_multi + 0.01,
    cascade=best_cascade,
    multi_exit=best_multi,
    cost_cap=cap,
)

# %% [markdown]
# The real routing gives the simulated cascade's answers, input by input
# [✓ routing-equals-simulation]. Which design wins depends on the budget. At a low one
# (30 % of the large network) the cascade is ahead by at least a point
# [✓ cascade-wins-at-low-cost]: the small network alone is a good classifier at a quarter of
# the cost, better than the mix of exits 2 and 3 the multi-exit CNN can afford that cheaply.
# At higher budgets the two curves come within a couple of points of each other (read the
# plot); the notebook makes no claim there. The multi-exit network never pays twice for the
# same features — the survey's case for exits (§8) — while a deferred input pays the small
# model and then the large one from $x$ again; in exchange the cascade can pair any two
# models, however different. Both networks got their own budget (small: `small_epochs`
# epochs; large: 20), not an equal one.

# %% [markdown]
# ## Explore
#
# **Backbone explorer.** One threshold, three backbones: pick one and move $\beta$. The
# outputs of every exit were computed once.
#
# **Placement explorer** on the transformer: which of its exits are worth their head?

# %%
backbone_widget = mexit.widgets.BackboneExplorer(
    {name: (probs[name], labels_of[name], costs[name], exits_of[name]) for name in probs}
)
backbone_widget.threshold.value = threshold
backbone_widget.show();

# %%
placement_widget = mexit.widgets.PlacementExplorer(
    probs["transformer"], data.y_test, costs["transformer"], encoder.exits
)
placement_widget.threshold.value = threshold
placement_widget.show();


# %% [markdown]
# ## Takeaways
#
# - Exits are not a CNN trick: a transformer and a graph network take them through the same `MultiExitNet`, loss and policies [✓ transformer-exits-graded] [✓ gnn-exits-graded]. Compare backbones at equal cost, though: here the CNN beats the transformer at every exit [✓ cnn-beats-transformer-at-equal-cost].
# - Each exit's generalisation gap is measurable and, here, small [✓ gaps-are-small]; on the CNN it grows from exit 1 to the final exit [✓ cnn-gap-grows-with-depth].
# - A cascade of two networks is the simplest step "beyond exits" (§8, Challenge 3): it reuses nothing, yet with a good small model it wins at a low budget [✓ cascade-wins-at-low-cost].
#
# **Try with the widgets:** at which β does the transformer save half its cost? Which share
# of the graphs leaves at exit 1, and why about a fifth? Switch off the transformer's exit
# 2: does anything get worse?

# %% [markdown]
# ## Exercises
#
# Write the code, then run the checker cell under it: it runs your function on a handful of
# fixed inputs (random and edge cases) against mexit's own implementation and says "correct",
# or shows the first input where yours differs, naming the mistake when it recognises it.
# These cells need only the setup and parameters cells at the top, so you can jump here
# straight away.
#
# **Exercise 1 (the cost of a two-network cascade, §8).** A small network answers every
# input; when its normalized entropy (eq. 11) is above $\beta$ it defers the input to a large
# network, which starts again from $x$. Write
# `cascade_cost(small_probs, threshold, cost_small, cost_large)`: the mean FLOPs per input,
#
# $$\gamma_{\text{cascade}} = \gamma_{\text{small}} + P(\text{defer})\,\gamma_{\text{large}},$$
#
# with `small_probs` the small network's softmax outputs $(N, C)$, an input kept when
# $H \le \beta$ (you may call `mexit.normalized_entropy`). Return a float.

# %% tags=["exercise-cascade_cost"]
def cascade_cost(small_probs, threshold, cost_small, cost_large):
    """Mean FLOPs per input of the cascade small -> large at entropy threshold β."""
    raise NotImplementedError  # your code here


# %%
result = mexit.exercises.check_cascade_cost(cascade_cost)

# %% [markdown]
# **Exercise 2 (when is a cascade cheaper than the large network alone?).** From your
# formula, find the largest deferral rate $P(\text{defer})$ at which the cascade still costs
# less than the large network, for a small network at a quarter of the large one's FLOPs. What
# is the multi-exit network's equivalent condition, where no work is repeated? *With the
# backbone explorer:* on the CNN, find the $\beta$ at which the mean cost falls to about 75 % and
# read how many inputs still go to the final exit.
#
# **Exercise 3 (with the placement explorer on the transformer).** Every transformer layer costs
# the same. Predict: is switching off exit 2 cheaper or costlier than switching off exit 3, at
# $\beta = 0.4$? *What to look for:* the exit histogram (where the inputs of the removed exit
# go) and the mean cost against the accuracy.
