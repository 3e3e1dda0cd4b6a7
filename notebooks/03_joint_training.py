# %% [markdown]
# # §5.1–5.2 Joint training: every exit learns at once
#
# *Companion to Scardapane et al., "Why should we add early exits to neural networks?",
# §5.1–5.2.*
#
# In this notebook you will:
# - train the running example with the joint loss of eq. 6–7 under the α schemes of the
#   literature (uniform, Inception's 0.3, SDN's ramp, BranchyNet's front weighting) and
#   against training the final exit alone;
# - compare joint training with heads trained *afterwards* on the final-only backbone
#   (separate training, §5.4), at the same budget;
# - watch Theorem 1's intuition on a deep plain network (an illustration, not a proof);
# - merge the exits into one prediction, with learned weights (eq. 8) or gates (eq. 9);
# - pick a training scheme, toggle exits and move the threshold in a widget.
#
# ← [02 Placement](02_placement.ipynb) · next → [04 Layer-wise training](04_layerwise_training.ipynb)

# %%
import math

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

import mexit
from mexit import combined, gates, schemes, separate

sns.set_theme(style="whitegrid")
# %matplotlib inline

# %% tags=["parameters"]
seed = 0  # seeds every model trained or loaded here (each seed has its own cache files)
scheme_names = ("uniform", "inception", "sdn", "branchynet", "final_only")  # α schemes
epochs = 4  # epochs of each scheme's run, and of the separately trained heads (cached)
lr = 1e-2  # peak learning rate of the one-cycle schedule (Adam), for all of them
deep_widths = (64,) * 10  # the deep plain network of the Theorem 1 section: 10 blocks
deep_epochs = 8  # its epochs, with plain SGD (momentum 0.9)
deep_lr = 0.05  # its peak SGD learning rate
model_name = "mnist1d_cnn"  # reference model the combined outputs start from
combined_epochs = 1  # epochs of fine-tuning θ and α together on eq. 8's output
alpha_steps = 300  # full-batch Adam steps fitting eq. 8's α alone, θ frozen
gated_epochs = 2  # epochs of fine-tuning θ and the gates of eq. 9
gated_lam = 0.3  # cost weight λ of the second gated run (§6.1)
threshold = 0.5  # normalized-entropy threshold β of the widget's exit policy

# %%
mexit.seed_everything(seed)
data = mexit.load_mnist1d()
arch = mexit.build_model(model_name)
E = len(arch.exits)
exit_cols = [f"exit {i}" for i in arch.exits]

# %% [markdown]
# ## §5.1 Joint training and its α schemes
#
# Give every head $c_i$ its own loss and minimise a weighted sum of all of them with SGD.
# This is **joint training** (JT), also called deep supervision:
#
# $$f^* = \arg\min \Big( L + \sum_{i=1}^{L-1} \alpha_i L_i \Big) \quad (6)
# \qquad L_i = \sum_{n=1}^{N} l\big(y_n, c_i(x_n)\big) \quad (7)$$
#
# $L$ is the final loss of eq. 2 and $L_i$ the companion loss of exit $i$. The schemes
# differ only in the weights $\alpha_i$: uniform ($\alpha_i = 1$), Inception
# ($\alpha_i = 0.3$), SDN (weights rising linearly with depth), BranchyNet (the first exit
# weighted most), and $\alpha_i = 0$: the plain network, trained on its final loss only.
#
# The survey (§5.1) notes that when the auxiliary classifiers are only there to improve the
# final network, *it is customary to weight earlier classifiers less*; Inception's small
# constant 0.3 and SDN's ramp follow that habit, BranchyNet's front weighting goes against
# it, because there the early exits are meant to answer.
#
# JT is not only for CNNs: with recurrent networks for sequence classification or regression,
# the output at every time step is an intermediate prediction obtained for free (§5.1).

# %%
alpha_table = pd.DataFrame(
    {name: schemes.alpha_scheme(name, E) for name in scheme_names},
    index=[f"α_{i}" for i in arch.exits[:-1]],
).T
alpha_table.round(2)

# %% [markdown]
# Each scheme trains a fresh copy of the running example's 4-block CNN with the same
# budget: `epochs` = 4 epochs of Adam, one-cycle schedule peaking at `lr` = 0.01, batch 128,
# the same seed and data order. The runs are cached under `data/checkpoints/` (the seed is
# in the file name), so a second run of this notebook loads them; the training times in the
# table are those measured **when the model was trained**.

# %%
runs = {
    name: schemes.run_scheme(name, model=model_name, epochs=epochs, lr=lr, seed=seed)
    for name in scheme_names
}
test_probs = {name: mexit.exit_probs(m, data.x_test) for name, m in runs.items()}
accuracy = pd.DataFrame(
    {name: 100 * mexit.exit_accuracies(p, data.y_test) for name, p in test_probs.items()},
    index=exit_cols,
).T
accuracy["training time when trained (s)"] = [runs[n].history.seconds for n in scheme_names]
accuracy.astype(float).round(1)

# %% [markdown]
# Trained on its final loss alone, the network has heads $c_1..c_3$ that never saw a
# gradient: they stay near chance (10 %) while its final exit is as good as the JT
# networks' [✓ untrained-heads-at-chance]. That is not a fair test of JT: nobody would ship
# untrained heads.
#
# ### Joint training against separately trained heads, at the same budget
#
# The fair rival is **separate training** (§5.4, notebook 05): keep the final-only
# backbone, freeze it, and train each head $c_i$ on its embeddings $h_i$. Budgets:
#
# | | backbone | each head |
# |---|---|---|
# | JT (uniform α) | 4 epochs, Adam, lr 0.01, trained with the heads | the same 4 epochs |
# | separate | 4 epochs, Adam, lr 0.01, final loss only | 4 epochs, Adam, lr 0.01, backbone frozen |
#
# Every parameter gets 4 epochs at the same learning rate; the heads of separate training
# train after the backbone, on embeddings computed once (so their epochs are cheap). The
# training times below are cached, measured when the models were trained.

# %%
backbone = runs["final_only"]
separate_net = separate.run_heads(backbone, "pooled", epochs=epochs, lr=lr, seed=seed)
test_probs["final_only + separate heads"] = mexit.exit_probs(separate_net, data.x_test)
head_seconds = sum(r["seconds"] for r in separate_net.head_reports.values())
versus = pd.DataFrame(
    {
        "JT (uniform)": 100 * mexit.exit_accuracies(test_probs["uniform"], data.y_test),
        "separate heads": 100
        * mexit.exit_accuracies(test_probs["final_only + separate heads"], data.y_test),
    },
    index=exit_cols,
).T
versus["training time when trained (s)"] = [
    runs["uniform"].history.seconds,
    backbone.history.seconds + head_seconds,
]
difference = versus.loc["separate heads", exit_cols] - versus.loc["JT (uniform)", exit_cols]
versus.loc["separate − JT (points)"] = list(difference) + [None]
versus.astype(float).round(1).astype(object).fillna("—")  # — : not a time

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for name in scheme_names:
    ax.plot(arch.exits, accuracy.loc[name, exit_cols], marker="o", label=name, alpha=0.6)
ax.plot(
    arch.exits,
    versus.loc["separate heads", exit_cols],
    "k--s",
    label="final_only + separate heads",
)
ax.set(
    xlabel="exit (block index i)",
    ylabel="test accuracy (%)",
    xticks=arch.exits,
    ylim=(0, 100),
    title=f"per-exit accuracy, {epochs} epochs for every parameter",
)
ax.legend(title="training", fontsize=8)
plt.show()

# %% [markdown]
# What the numbers say, at this budget:
# - averaged over the three early exits, heads trained separately on the final-only
#   backbone are within 3 points of JT's [✓ separate-matches-jt];
# - per exit, neither method wins everywhere: each is ahead by at least half a point at
#   some exit [✓ neither-wins-every-exit]. Which exit favours which method varies with the
#   seed (run the notebook with `seed = 1` or `2`): read the per-exit gaps as noise of a
#   short run, not as a finding;
# - JT does not improve the final exit here: the final-only network's final exit is at
#   least as accurate, within half a point [✓ final-exit-not-helped].
#
# So on this running example JT is *not* what makes early exits useful: heads added
# afterwards do as well. What JT gives is one training run for everything, and help where
# the final loss alone cannot train the network (next section).

# %%
early = exit_cols[:-1]
fo_acc = accuracy.loc["final_only"]
mexit.check(
    "untrained-heads-at-chance",
    bool((fo_acc[early] <= 20).all()) and fo_acc[exit_cols[-1]] >= 85,
    final_only_early_exits=list(fo_acc[early]),
    final_only_final_exit=fo_acc[exit_cols[-1]],
)
mean_gap = difference[early].mean()
mexit.check(
    "separate-matches-jt",
    abs(mean_gap) <= 3.0,
    separate_minus_jt_per_early_exit=list(difference[early]),
    mean_gap_points=mean_gap,
)
mexit.check(
    "neither-wins-every-exit",
    difference.max() >= 0.5 and difference.min() <= -0.5,
    best_for_separate=difference.max(),
    best_for_jt=-difference.min(),
)
mexit.check(
    "final-exit-not-helped",
    accuracy.loc["uniform", exit_cols[-1]] <= fo_acc[exit_cols[-1]] + 0.5,
    jt_final=accuracy.loc["uniform", exit_cols[-1]],
    final_only_final=fo_acc[exit_cols[-1]],
)

# %% [markdown]
# ## §5.1.1 Why JT helps training: Theorem 1, as an illustration
#
# Lee et al. [38] take the squared hinge loss for every exit, each augmented with an
# $\ell_2$ penalty on its weights (the proof extends to other losses such as the
# cross-entropy). Theorem 1: assume the companion losses $\sum_i L_i$ are
# $\lambda$-strongly convex near the optimum $\theta^*$ and SGD runs $T$ steps with step
# $\eta_t = 1/t$; then
#
# $$\frac{\mathbb{E}\,\|\theta^* - \theta_T^{\text{standard}}\|^2}
#        {\mathbb{E}\,\|\theta^* - \theta_T^{\text{joint}}\|^2} = \Theta\big(T^{\lambda}\big),$$
#
# i.e. JT converges faster, the more so the larger $\lambda$. The $\ell_2$ term is what
# makes strong convexity plausible, and Lee et al. argue that in practice the companion
# losses' constant $\lambda$ is large compared with the final loss's, which would explain
# why JT works well empirically (§5.1.1); the survey adds that the link between the local
# and the global problem remains open.
#
# A deep ReLU network is not strongly convex and we use SGD with momentum and a one-cycle
# schedule, so nothing here *proves* the theorem. What we can watch is its intuition on a
# **deep plain network** (10 blocks Linear + ReLU, no residuals, no batch norm, linear heads):
# the gradient of the final loss shrinks block after block on its way down (vanishing
# gradients), while each companion loss $L_i$ injects gradient right at block $i$. Both
# networks get the same budget: `deep_epochs` = 8 epochs of SGD, peak lr 0.05, batch 128.

# %%
deep = {
    name: schemes.run_scheme(
        name,
        model="mlp",
        model_kwargs={"widths": list(deep_widths)},
        epochs=deep_epochs,
        lr=deep_lr,
        optimizer="sgd",
        record_gradients=True,
        seed=seed,
    )
    for name in ("uniform", "final_only")
}
labels = {"uniform": "JT (α_i = 1)", "final_only": "final loss only"}
steps_per_epoch = len(deep["uniform"].gradient_norms) // deep_epochs
fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
for name, m in deep.items():
    a1.plot(m.step_losses[:, -1], lw=0.8, label=labels[name])
    first_epoch = m.gradient_norms[:steps_per_epoch].mean(0)
    a2.semilogy(range(1, len(deep_widths) + 1), first_epoch, "o-", label=labels[name])
a1.axhline(math.log(10), color="gray", ls=":", label="ln 10 (uniform guess)")
a1.set(
    xlabel="SGD step",
    ylabel="final exit's loss L on the batch (nats)",
    title=f"{len(deep_widths)}-block plain network",
)
a2.set(
    xlabel="block i",
    ylabel=r"$\|\nabla\theta_i\|$ (mean over epoch 1)",
    xticks=range(1, len(deep_widths) + 1),
    title="gradient reaching each block",
)
a1.legend()
a2.legend()
plt.show()

# %% [markdown]
# Here the contrast is starker than a speed-up: trained on its final loss alone, the
# 10-block network **never trains** in this budget. Its final loss stays at
# $\ln 10 \approx 2.30$ nats, the loss of a uniform guess, and its accuracy at chance, while
# JT's final loss falls well below it [✓ final-only-stuck]. The reason is visible on the
# right: without companion losses the first block receives less than a tenth of the gradient
# of the last, and JT delivers it more than ten times as much
# [✓ vanishing-gradient]. Theorem 1's ratio of distances needs the plain network to converge
# at all; here it does not, so the picture illustrates the intuition (gradient where it is
# needed), not the rate $T^\lambda$.

# %%
g_jt = deep["uniform"].gradient_norms[:steps_per_epoch].mean(0)
g_fo = deep["final_only"].gradient_norms[:steps_per_epoch].mean(0)
last_epoch = slice(-steps_per_epoch, None)
loss_fo = deep["final_only"].step_losses[last_epoch, -1].mean().item()
loss_jt = deep["uniform"].step_losses[last_epoch, -1].mean().item()
acc_fo = deep["final_only"].history.val_accuracy[-1][-1]
mexit.check(
    "final-only-stuck",
    abs(loss_fo - math.log(10)) < 0.05 and acc_fo < 0.15 and loss_jt < math.log(10) - 0.5,
    final_only_loss_last_epoch=loss_fo,
    ln10=math.log(10),
    final_only_val_accuracy=acc_fo,
    jt_loss_last_epoch=loss_jt,
)
mexit.check(
    "vanishing-gradient",
    bool(g_fo[0] < 0.1 * g_fo[-1]) and bool(g_jt[0] > 10 * g_fo[0]),
    final_only_block1=g_fo[0],
    final_only_blockL=g_fo[-1],
    jt_block1=g_jt[0],
)

# %% [markdown]
# ## §5.2 One answer from all exits: combined output (eq. 8)
#
# Instead of summing the losses, merge the predictions and train on the merged one:
#
# $$\hat{y} = \alpha f(x) + \sum_{i=1}^{L-1} \alpha_i c_i(x) \quad (8)$$
#
# with $\alpha, \alpha_i$ learned with $\theta$: free, constrained positive, or through a
# softmax (a convex combination); or a fixed max- or average-pooling of the exits (DDNN).
# In mexit each $c_i(x)$ enters as log-probabilities, so exits with different logit scales
# are comparable.
#
# Every row starts from the reference model (`mexit.pretrained`, joint training, 20 epochs)
# and is compared with **the reference's own final exit**. The extra training, all of it:
# - `max`, `average`: none (fixed pooling);
# - `α only`: θ frozen, the weights α alone fitted by `alpha_steps` = 300 full-batch Adam
#   steps (lr 0.05) on the validation split: the learned combination at its best, since
#   the exits cannot get worse;
# - `θ + α`: θ and α fine-tuned together on ŷ for `combined_epochs` = 1 epoch (Adam,
#   one-cycle to lr 0.003 for θ and 0.1 for α) on the training split, as eq. 8 intends.

# %%
reference = mexit.pretrained(model_name, seed=seed)
eq8 = {f"{mode} pooling": combined.CombinedOutput(reference, mode) for mode in ("max", "average")}
for mode in combined.LEARNED:
    net = combined.CombinedOutput(reference, mode)
    combined.fit_alpha(net, data.x_val, data.y_val, steps=alpha_steps)
    eq8[f"{mode}, α only"] = net
for mode in combined.LEARNED:
    eq8[f"{mode}, θ + α"] = combined.run_combined(
        reference, mode, epochs=combined_epochs, seed=seed
    )
ref_final = 100 * mexit.exit_accuracies(mexit.exit_probs(reference, data.x_test), data.y_test)[-1]
print(f"reference's final exit: {ref_final:.1f} % test accuracy")
eq8_table = pd.DataFrame(
    combined.combination_rows(eq8, data.x_test, data.y_test, reference=reference)
).set_index("output")
eq8_table.round(1)

# %% [markdown]
# Read the Δ columns. No combination beats the reference's final exit by more than one
# point [✓ eq8-no-gain], not even α fitted alone on the frozen exits, where the combination
# can only add. **Eq. 8 does not help here.** A plausible reason: the final exit is the most
# accurate exit of this network (notebook 01), and a weighted vote can only gain where the
# exits err on different inputs. Fine-tuning θ and α together for one epoch also moves the
# network's own final exit (column "own final − reference final"), up or down depending on
# the seed: compare with the reference, not with the fine-tuned network itself, to tell
# whether eq. 8 helped.
#
# More generally (§5.2), the combination can itself be a network component, e.g. an LSTM or
# another recurrent network reading the exits' predictions in turn, one more degree of
# freedom; this is related to boosting methods that build the architecture incrementally
# [18, 51]. mexit does not implement it.

# %%
eq8_gain = eq8_table["combined − reference final (points)"]
mexit.check(
    "eq8-no-gain",
    bool((eq8_gain <= 1.0).all()),
    combined_minus_reference_final=eq8_gain.round(2).tolist(),
    reference_final=ref_final,
)

# %% [markdown]
# ## §5.2 Gated combination (eq. 9)
#
# A gate $g_i(x) \in [0, 1]$ per exit, a small binary classifier that says how far to trust
# $c_i$ (Scardapane et al. [61]), gives a recursive combination:
#
# $$\hat{c}_i(x) = g_i(x)\, c_i(x) + \big(1 - g_i(x)\big)\, \hat{c}_{i+1}(x), \qquad
# \hat{c}_L(x) = f(x) \quad (9)$$
#
# Unrolled from $i = 1$, it is a mixture of the exits with the exit probabilities of eq. 14:
#
# $$\hat{c}_1(x) = \sum_{j=1}^{L} p_j(x)\, c_j(x), \qquad
# p_j(x) = g_j(x) \prod_{l<j} \big(1 - g_l(x)\big), \quad g_L \equiv 1 \quad (14)$$
#
# Each gate reads its head's confidence (`mexit.gates.OutputGate`). Two runs, both starting
# from the reference model and fine-tuning θ and the gates for `gated_epochs` = 2 epochs
# (Adam, one-cycle to lr 0.003), loss $-\log \hat{c}_1(x)[y] + \sum_i L_i$:
# - **task only** ($\lambda = 0$), gates starting half open ($g = 0.5$): eq. 9 as §5.2 has it;
# - **with a cost** $\lambda = 0.3$ times the expected cost of eq. 13–14 (§6.1, notebook 07),
#   gates starting nearly closed ($g \approx 0.12$).
#
# The 2 extra epochs also change the network's own exits: the table shows its own final
# exit beside the combined answer, both against the reference's final exit.

# %%
gated = {
    "eq. 9, task only (λ = 0)": combined.run_gated(
        reference, lam=0.0, gate_bias=0.0, epochs=gated_epochs, seed=seed
    ),
    f"eq. 9, with cost (λ = {gated_lam})": combined.run_gated(
        reference, lam=gated_lam, gate_bias=-2.0, epochs=gated_epochs, seed=seed
    ),
}
eq9_table = pd.DataFrame(
    combined.combination_rows(gated, data.x_test, data.y_test, reference=reference)
).set_index("output")
eq9_table.round(1)

# %%
g_probs, g_values = gates.gated_outputs(gated["eq. 9, task only (λ = 0)"], data.x_test)
p = mexit.cost.exit_probabilities(g_values)  # eq. 14: p_j for every input, (N, E)
c_hat = gates.combine_recursive(g_probs, g_values)  # eq. 9, recursively
unrolled = (p.T[:, :, None] * g_probs).sum(0)  # Σ_j p_j c_j
print(f"max |recursive − unrolled| over the test set: {(c_hat - unrolled).abs().max():.1e}")
pd.DataFrame(
    {
        **{f"p_{i}": p[:6, k] for k, i in enumerate(arch.exits)},
        **{f"c_{i} says": g_probs[k, :6].argmax(-1) for k, i in enumerate(arch.exits)},
        "ĉ_1 says": c_hat[:6].argmax(-1),
        "label": data.y_test[:6],
    }
).round(2)

# %% [markdown]
# With the task loss alone the gates stay open: on average $\hat{c}_1$ puts a large share
# of its weight $\sum_{j<L} p_j$ on the early exits, yet its answer agrees with its own
# final exit on nearly every input [✓ eq9-gates-open]: in effect, the gated answer is the
# final exit. Look at the small table above: how much weight $p_1$ gets, and what $c_1$ says
# on those inputs, and think about why a mixture of a flat distribution with a peaked one
# follows the peaked one. Either way eq. 9 evaluates every exit, so it saves nothing by
# itself. With the cost term the gates learn to *close the computation*: read as
# a hard policy (exit at the first gate $\geq 0.5$), they send a large part of the test set
# out at an early exit with the accuracy of the network's own final exit, within one point
# [✓ eq9-cost-gates-exit]; notebooks 06–07 develop this.

# %%
early_mass = 1 - p[:, -1]
agree = (c_hat.argmax(-1) == g_probs[-1].argmax(-1)).float().mean().item()
mexit.check(
    "eq9-gates-open",
    early_mass.mean().item() >= 0.3 and agree >= 0.97,
    mean_weight_on_early_exits=early_mass.mean(),
    mean_gates=g_values.mean(0),
    agreement_with_own_final=agree,
)
cost_net = gated[f"eq. 9, with cost (λ = {gated_lam})"]
cp, cg = gates.gated_outputs(cost_net, data.x_test)
taken = gates.gate_exits(cg)  # exit position per input under the hard policy
hard_acc = (cp[taken, torch.arange(len(taken))].argmax(-1) == data.y_test).float().mean().item()
own_final = (cp[-1].argmax(-1) == data.y_test).float().mean().item()
left_early = (taken < E - 1).float().mean().item()
mexit.check(
    "eq9-cost-gates-exit",
    left_early >= 0.3 and hard_acc >= own_final - 0.01,
    fraction_leaving_early=left_early,
    hard_policy_accuracy=hard_acc,
    own_final_accuracy=own_final,
)

# %% [markdown]
# ## Explore
#
# Pick how the network was trained (an α scheme, or the final-only backbone with separately
# trained heads), switch exits off and on, and move the normalized-entropy threshold β
# (eq. 11, notebook 06). The cost is the mean FLOPs per input, as a fraction of the plain
# network. Look at `final_only`: its untrained heads are never confident, so nobody leaves
# early and every input pays the heads on top of the whole network.

# %%
costs = mexit.measure_costs(arch, data.input_shape)
scheme_widget = mexit.widgets.SchemeExplorer(test_probs, data.y_test, costs, arch.exits)
scheme_widget.threshold.value = threshold
scheme_widget.show();

# %% [markdown]
# At β = 0.5 the final-only network lets almost nobody leave early and so pays more than the
# plain network, more than a JT network does [✓ final-only-pays-more].

# %%
at = {name: scheme_widget.compute(scheme=name, threshold=threshold) for name in test_probs}
early_leavers = sum(at["final_only"]["exit_counts"][:-1]) / len(data.y_test)
mexit.check(
    "final-only-pays-more",
    early_leavers <= 0.05
    and at["final_only"]["cost_fraction"] > 1.0
    and at["uniform"]["cost_fraction"] < at["final_only"]["cost_fraction"] - 0.05,
    final_only_early_leavers=early_leavers,
    final_only_cost=at["final_only"]["cost_fraction"],
    jt_cost=at["uniform"]["cost_fraction"],
    jt_accuracy=at["uniform"]["accuracy"],
)


# %% [markdown]
# ## Takeaways
#
# - On this running example, at an equal budget (4 epochs at lr 0.01 for every parameter), heads trained separately on a final-only backbone match joint training's early exits within 3 points on average [✓ separate-matches-jt], and neither wins every exit [✓ neither-wins-every-exit]: JT's gift is one training run, not better exits.
# - On a deep plain network the final loss alone does not train at all (loss ln 10) while JT does [✓ final-only-stuck]: the companion losses bring gradient to the first blocks [✓ vanishing-gradient], the intuition behind Theorem 1 (§5.1.1), not its proof.
# - Merging the exits does not beat the reference's final exit here: eq. 8 gains at most one point [✓ eq8-no-gain], and eq. 9's open gates still answer like the final exit [✓ eq9-gates-open]; both run every exit, so only hard gates trained with a cost save computation [✓ eq9-cost-gates-exit].
#
# **Try with the widget:** which training gives the cheapest policy at β = 0.5? Does
# switching off exit 1 cost accuracy under `branchynet`, which trained it hardest? Compare
# `uniform` with `final_only + separate heads` at the same β: which one leaves earlier?

# %% [markdown]
# ## Exercises
#
# Each checker runs your function on fixed inputs against mexit's implementation and names
# the mistake when it recognises one. These cells need only the setup and parameters cells.
#
# **Exercise 1 (an α schedule, eq. 6).** Write `sdn_alphas(n_exits)`: SDN's weights for the
# companion losses of eq. 6, $\alpha_k = k / E$ for the early exits $k = 1, \dots, E-1$ of a
# network with $E$ exits (the final loss keeps weight 1 and has no α). Return $E-1$ numbers.

# %% tags=["exercise-sdn_alphas"]
def sdn_alphas(n_exits):
    """α_1..α_{E-1} of SDN's linear ramp for a network with n_exits exits."""
    raise NotImplementedError  # your code here


# %%
result = mexit.exercises.check_sdn_alphas(sdn_alphas)


# %% [markdown]
# **Exercise 2 (eq. 9 unrolled).** Write `gated_combination(probs, gates)`: the gated output
# $\hat c_1(x)$ of eq. 9 in its unrolled form $\hat c_1 = \sum_j p_j c_j$ with
# $p_j = g_j \prod_{l<j} (1 - g_l)$ (eq. 14) and $g \equiv 1$ at the final exit. `probs` is
# $(E, N, K)$ (the softmax of every exit), `gates` $(N, E-1)$ in $[0, 1]$; return $(N, K)$ in the
# dtype of `probs`.

# %% tags=["exercise-eq9"]
def gated_combination(probs, gates):
    """ĉ_1 = Σ_j p_j c_j with p_j = g_j ∏_{l<j} (1 − g_l) and g ≡ 1 at the final exit."""
    raise NotImplementedError  # your code here


# %%
result = mexit.exercises.check_eq9(gated_combination)

# %% [markdown]
# **Exercise 3 (with the scheme explorer).** Predict which scheme's exit 1 is the most
# accurate, then check: pick `branchynet`, then `sdn`, at the same β. *What to look for:* the
# accuracy of the first exit and the share of inputs leaving there; a scheme that weights an
# exit more should make it more confident, so more inputs leave there at the same β.
#
# **Exercise 4 (with the scheme explorer).** Choose `final_only` and lower β to zero, then
# raise it. *What to look for:* at which β its untrained heads let anyone out at all, and what
# accuracy those inputs get: a head that never learned is confident only by accident.
