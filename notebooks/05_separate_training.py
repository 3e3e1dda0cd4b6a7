# %% [markdown]
# # §5.4 Separate training and FreezeOut
#
# *Companion to Scardapane et al., "Why should we add early exits to neural networks?",
# §5.4 (and §3.2.2).*
#
# In this notebook you will:
# - take a backbone trained alone (final loss only) and turn it into a multi-exit network by
#   training heads on it, frozen: neural heads and scikit-learn heads (logistic regression,
#   decision tree, linear SVM) side by side — accuracy, fit time, cost with the pooling each
#   head needs;
# - plot FreezeOut's learning-rate schedule (eq. 10) for the survey's example, then train
#   with it and count what it saves (parameter gradients and FLOPs), time it with repeats,
#   and see what it costs in accuracy;
# - choose the head at each exit (or none) and the threshold in a widget.
#
# ← [04 Layer-wise training](04_layerwise_training.ipynb) · next →
# [06 Inference](06_inference.ipynb)

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

import mexit
from mexit import freezeout, schemes, separate

sns.set_theme(style="whitegrid")
# %matplotlib inline

# %% tags=["parameters"]
seed = 0  # seeds the initialisation and data order of every model trained here
model_name = "mnist1d_cnn"  # the running example's 4-block CNN
epochs = 4  # epochs of the backbone, of the joint (cosine) run and of the FreezeOut run
lr = 1e-2  # their peak learning rate
head_kinds = ("pooled", "mlp", "logistic", "tree", "svm")  # heads trained on the backbone
head_epochs = 5  # epochs of each neural head
head_lr = 1e-2  # learning rate of the neural heads
timing_repeats = 15  # interleaved A/B pairs of the FreezeOut timing
threshold = 0.5  # normalized-entropy threshold β of the widget's exit policy

# %%
mexit.seed_everything(seed)

# %% [markdown]
# ## Separate training: heads on a frozen backbone
#
# Train the backbone first, alone, on the final loss $L$ of eq. 2; then train each head
# $c_i$ on the embeddings $h_i = f_i(h_{i-1})$ of the **frozen** backbone, on its own loss
# $L_i$. This is how you turn a backbone you were *given* into a multi-exit network, and it
# makes trying heads cheap: the embeddings are computed once, no gradient flows into the
# backbone (the weights and batch-norm statistics stay bit-identical; `tests/test_separate.py`
# checks it). The survey (§3.2.2) reads this as "a very primitive form of knowledge
# distillation" [24]: the backbone's final layers act as a teacher whose features the small
# heads learn to read out — though here the heads learn from the labels, not from the
# teacher's soft outputs. Heads need not be neural: §5.4 mentions decision trees and SVMs
# [72]. In mexit a scikit-learn head (`separate.SklearnHead`) reads the globally
# average-pooled, standardised $h_i$, and is compiled to torch after fitting, so it is an
# exit like any other: `exit_probs`, policies and widgets use it unchanged.
#
# | kind | head $c_i$ | cost $\gamma_{c_i}$ per input |
# |---|---|---|
# | `pooled` | global average pooling, then linear (trained with Adam) | $C_i T_i + 2 C_i K$ |
# | `mlp` | flatten, one hidden layer of 64, linear (Adam) | $2(C_i T_i \cdot 64 + 64 K)$ |
# | `logistic` | pooled, standardised, multinomial logistic regression | $C_i T_i + 3C_i + 2 C_i K$ |
# | `tree` | pooled, standardised, decision tree of depth ≤ 8 | $C_i T_i + 3C_i$ + one comparison per level |
# | `svm` | pooled, standardised, linear SVM, scores → softmax (one fitted temperature) | $C_i T_i + 3C_i + 2 C_i K$ |
#
# ($C_i$ channels and $T_i$ positions of $h_i$, $K = 10$ classes; pooling costs one addition
# per element and one division per channel, standardisation two operations per feature.)
# The backbone is trained on the final loss only (the `final_only` scheme of notebook 03).
# **Budgets:** backbone and joint-training run: `epochs` = 4 epochs at peak lr 1e-2 each;
# the heads then get their own training on the frozen embeddings (5 epochs of Adam at 1e-2
# for the neural heads, a solver run to convergence for the scikit-learn ones) — separate
# training spends more in total than the joint run it is compared with.

# %%
data = mexit.load_mnist1d()
backbone = schemes.run_scheme("final_only", model=model_name, epochs=epochs, lr=lr, seed=seed)
with_heads = {
    kind: separate.run_heads(backbone, kind, epochs=head_epochs, lr=head_lr, seed=seed)
    for kind in head_kinds
}
fo_runs = {
    "joint (cosine, no freezing)": freezeout.run_freezeout(
        freeze=False, model=model_name, epochs=epochs, lr=lr, seed=seed
    ),
    "FreezeOut": freezeout.run_freezeout(
        freeze=True, model=model_name, epochs=epochs, lr=lr, seed=seed
    ),
}
jt, fo = fo_runs.values()
exits = backbone.exits
test_probs = {kind: mexit.exit_probs(m, data.x_test) for kind, m in with_heads.items()}
gamma_c = {kind: separate.exit_costs(m, data.input_shape).gamma_c for kind, m in with_heads.items()}
head_table = separate.head_table(
    with_heads, data.x_test, data.y_test, data.input_shape, references={"JT (joint, cosine)": jt}
)
head_table.round(1).astype(object).fillna("—")  # —: trained with the backbone, no own fit

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for kind in head_kinds:
    ax.plot(exits, 100 * mexit.exit_accuracies(test_probs[kind], data.y_test), "o-", label=kind)
jt_acc = mexit.exit_accuracies(mexit.exit_probs(jt, data.x_test), data.y_test)
ax.plot(exits, 100 * jt_acc, "k--", label="JT (all trained together)")
ax.set(
    xlabel="exit (block index i)",
    ylabel="test accuracy (%)",
    xticks=exits,
    ylim=(0, 100),
    title="heads on the frozen final-only backbone",
)
ax.legend(title="head")
plt.show()

# %%
early = list(range(len(exits) - 1))
separate_acc = mexit.exit_accuracies(test_probs["logistic"], data.y_test)
gap = [100 * (separate_acc[i] - jt_acc[i]).item() for i in early]
mexit.check(
    "logistic-heads-beat-joint-exits",
    min(gap) >= 5.0,
    gap_points_per_early_exit=[round(g, 1) for g in gap],
)

# %% [markdown]
# Logistic-regression heads fitted on the frozen final-only backbone beat the joint run's
# early exits by at least 5 points at every early exit [✓ logistic-heads-beat-joint-exits].
# Read it with its budget: the backbone had the same 4 epochs as the joint run but spent
# them on the final exit alone, and the heads then had their own fit on top (seconds in
# the table) — separate training is not an equal-budget rival of joint training here, and
# the final exits of the two runs differ too (compare the last column). The `pooled` head
# and logistic regression are the same kind of function (linear on pooled features); where
# they differ, the difference is the fit: a few epochs of Adam on raw features against a
# solver run to convergence on standardised ones. The flattening MLP
# head reads position too, but each one costs more than the first two blocks together
# [✓ mlp-head-costs-more-than-two-blocks]. Counted with
# the pooling and standardisation it needs, a tree head is **not** nearly free: at every
# early exit it costs at least 30 % as much as logistic regression on the same features,
# where counting its comparisons alone gave under 1 % [✓ tree-pays-for-its-features].

# %%
backbone_costs = separate.exit_costs(backbone, data.input_shape)
two_blocks = backbone_costs.gamma_f[0] + backbone_costs.gamma_f[1]
mexit.check(
    "mlp-head-costs-more-than-two-blocks",
    min(gamma_c["mlp"][i] for i in exits[:-1]) > two_blocks,
    mlp_head_flops=[gamma_c["mlp"][i] for i in exits[:-1]],
    blocks_1_and_2_flops=two_blocks,
)
trees = {i: with_heads["tree"].head(i) for i in exits[:-1]}
tree_share = [gamma_c["tree"][i] / gamma_c["logistic"][i] for i in exits[:-1]]
comparisons_share = [
    (trees[i].flops - trees[i].pooling_flops) / gamma_c["logistic"][i] for i in exits[:-1]
]
mexit.check(
    "tree-pays-for-its-features",
    min(tree_share) >= 0.3 and max(comparisons_share) < 0.01,
    tree_over_logistic=[round(r, 2) for r in tree_share],
    comparisons_only=[round(r, 4) for r in comparisons_share],
)

# %% [markdown]
# ## FreezeOut (eq. 10): freeze the first layers early
#
# FreezeOut (Brock et al. [13]) sits between joint and layer-wise training: train jointly,
# but anneal each layer's learning rate to zero at its own time $t_i$, then freeze it. With
# a budget of $T$ iterations the freezing points are equispaced, $t_i = iT/L$ (the first
# layer first), and
#
# $$\eta_i(t) = 0.5\,\eta_i(0)\Big(1 + \cos\Big(\frac{\pi t}{t_i}\Big)\Big) \quad
# \text{for } t < t_i, \qquad \eta_i(t) = 0 \text{ for } t \ge t_i \quad (10)$$
#
# Here is the survey's example (Fig. 4): $L = 3$, $T = 150$, $\eta_i(0) = 0.1$.

# %%
T, L3, eta0 = 150, 3, 0.1
rates = freezeout.freezeout_rates(eta0, T, L3)
fig, ax = plt.subplots(figsize=(6, 3))
for i, row in enumerate(rates, 1):
    ax.plot(range(T + 1), row, label=f"layer {i}, t_{i} = {i * T // L3}")
ax.set(xlabel="iteration t", ylabel=r"learning rate $\eta_i(t)$", title="FreezeOut, eq. 10")
ax.legend()
plt.show()

# %% [markdown]
# Now on the running example, with the joint loss ($\alpha_i = 1$): a "layer" is block
# $f_i$ with its head $c_i$, so $L = 4$ and $T$ is the number of training steps. The
# baseline is the same run without freezing: every layer follows the cosine to $T$ (this is
# also the JT row of the table above). **Budget:** both runs take the same $T$ steps, same
# batches, same peak lr 1e-2. A frozen layer gets no gradient, its batch-norm statistics
# stop moving (it runs in eval mode from $t_i$ on), and once the layers below it are frozen
# too, back-propagation stops before it.
#
# What FreezeOut saves is first a **count**: parameter gradients (scalar parameters that
# received a gradient, summed over steps) and training FLOPs (FlopCounterMode over a
# forward and backward step in each phase, times the steps spent in it).

# %%
xb, yb = data.x_train[:128], data.y_train[:128]
saved_gradients = 1 - fo.gradient_count / jt.gradient_count
train_flops = {
    name: freezeout.training_flops(m, xb, yb, m.steps, freeze=name == "FreezeOut")
    for name, m in fo_runs.items()
}
saved_flops = 1 - train_flops["FreezeOut"] / train_flops["joint (cosine, no freezing)"]
rows = []
for name, m in fo_runs.items():
    acc = mexit.evaluate(m, data.x_test, data.y_test)
    rows.append(
        {
            "run": name,
            **{f"exit {i} (%)": 100 * a for i, a in zip(m.exits, acc)},
            "parameter gradients (M)": m.gradient_count / 1e6,
            "training GFLOPs (counted)": train_flops[name] / 1e9,
            "training s (when trained)": m.history.seconds,
        }
    )
fo_table = pd.DataFrame(rows).set_index("run")
print(f"T = {fo.steps} steps; freezing points t_i = {[round(t, 1) for t in fo.times]}")
print(
    f"FreezeOut saves {100 * saved_gradients:.1f} % of the parameter gradients and "
    f"{100 * saved_flops:.1f} % of the training FLOPs"
)
fo_table.round(2)

# %%
mexit.check(
    "flops-saved-exceed-gradients-saved",
    saved_flops >= saved_gradients + 0.05,
    flops_saved=saved_flops,
    gradients_saved=saved_gradients,
)

# %% [markdown]
# Counted in FLOPs, FreezeOut saves more than the gradient count suggests, by at least 5
# points [✓ flops-saved-exceed-gradients-saved]: once a layer and everything below it are
# frozen, back-propagation also stops computing the gradient *with respect to its input*,
# which costs as much as its weight gradient. Both savings stay modest here because the
# layers that freeze first are the cheap ones of this CNN (most FLOPs live in block 4,
# which trains to the end). FreezeOut pays off when the early layers are expensive, as in
# wide-resolution CNNs (§5.4: "a partial speed-up similar to a layer-wise training").
#
# **Time.** A saving in FLOPs need not show up on the clock of a small network on a busy
# CPU. We time it with `mexit.timing.time_ab`: A runs four standard training steps, B runs
# one step in each of FreezeOut's four phases (0, 1, 2 and 3 layers frozen) — the average
# step of each run — in interleaved pairs, on one thread.

# %%
standard_step = freezeout.phase_step(jt, xb, yb, frozen=0)
frozen_steps = [freezeout.phase_step(jt, xb, yb, frozen=k) for k in range(jt.num_blocks)]


def four_standard_steps():
    for _ in range(jt.num_blocks):
        standard_step()


def one_step_per_phase():
    for step in frozen_steps:
        step()


timing = mexit.timing.time_ab(
    four_standard_steps, one_step_per_phase, repeats=timing_repeats, threads=1
)
verdict = (
    "faster"
    if timing.ratio_low > 1
    else "slower"
    if timing.ratio_high < 1
    else "not measurably faster or slower (the interval includes 1×)"
)
print(f"standard step / FreezeOut step: {timing} → FreezeOut is {verdict} on this machine")

# %% [markdown]
# **Accuracy.** FreezeOut spends its saving on the layers that freeze first: block 1 and
# exit 1 stop training at $T/4$, exit 2 at $T/2$. Both exits 1 and 2 end lower than in the
# joint run by at least 3 points each [✓ freezeout-costs-early-exits] — the trade-off the
# survey describes (§5.4), "between the accuracy of training everything jointly" and the
# speed-up. The final exit's change is printed below and varies with the seed.

# %%
jt_test = mexit.evaluate(jt, data.x_test, data.y_test)
fo_test = mexit.evaluate(fo, data.x_test, data.y_test)
drop = [100 * (a - b) for a, b in zip(jt_test, fo_test)]
print("joint − FreezeOut, per exit (points):", [round(d, 1) for d in drop])
mexit.check(
    "freezeout-costs-early-exits",
    min(drop[:2]) >= 3.0,
    drop_exit_1=drop[0],
    drop_exit_2=drop[1],
    drop_final=drop[-1],
)

# %% [markdown]
# ## Other ways to train the exits
#
# The survey closes §5.4 by mentioning **reinforcement-learning** strategies that train
# the overall architecture [22]. The general idea of such schemes: the decision to stop
# at an exit is treated as an action whose reward trades accuracy against cost, so the
# exits and the exit policy are learned together instead of fixing a threshold afterwards.
# We do not implement it; notebook 07 learns exit gates with a differentiable cost penalty
# instead.

# %% [markdown]
# ## Explore
#
# **Head explorer.** Pick the head at each exit of the frozen backbone, or none (the exit
# placement), and move the threshold β. Every head was fitted once; switching only re-reads
# its stored outputs. Costs include each head's pooling. Mix them: a cheap head at exit 1,
# logistic regression deeper?

# %%
head_widget = mexit.widgets.HeadKindExplorer(
    test_probs, gamma_c, data.y_test, backbone_costs, exits
)
head_widget.threshold.value = threshold
head_widget.show();


# %% [markdown]
# ## Takeaways
#
# - Separate training turns a trained backbone into a multi-exit network without touching it: the embeddings are computed once and heads of any kind, even scikit-learn estimators, are fitted and swapped freely (§5.4); the survey reads it as a primitive knowledge distillation (§3.2.2). Here, logistic heads on a final-only backbone beat the joint run's early exits, with a larger total budget [✓ logistic-heads-beat-joint-exits].
# - A head's cost includes the features it reads: with pooling and standardisation counted, a tree is not nearly free [✓ tree-pays-for-its-features].
# - FreezeOut saves training arithmetic — more in FLOPs than in parameter gradients [✓ flops-saved-exceed-gradients-saved] — and pays for it at the exits that froze first [✓ freezeout-costs-early-exits]; whether the saving shows on the clock depends on the measured interval.
#
# **Try with the widget:** which mix of heads gives the best accuracy at under 60 % of the
# FLOPs? What does a tree at exit 1 do to the cost compared with a pooled linear head?

# %% [markdown]
# ## Exercises
#
# The checker runs your function on fixed inputs against mexit's implementation and names the
# mistake when it recognises one. These cells need only the setup and parameters cells.
#
# **Exercise 1 (FreezeOut, eq. 10).** Write `freezeout_schedule(eta0, T, L)`: the learning rate
# $\eta_i(t)$ of every layer $i = 1..L$ at every step $t = 0..T$, shape $(L, T+1)$, with the
# freezing points equispaced, $t_i = i\,T/L$ (the first layer freezes first), and
#
# $$\eta_i(t) = \tfrac12\, \eta_i(0)\,\bigl(1 + \cos(\pi t / t_i)\bigr) \ \text{for } t < t_i, \qquad \eta_i(t) = 0 \ \text{for } t \ge t_i . \qquad (10)$$
#
# The survey's example: $L = 3$, $T = 150$, $\eta_i(0) = 0.1$.

# %% tags=["exercise-freezeout"]
def freezeout_schedule(eta0, T, L):
    """η_i(t) of eq. 10: a (L, T + 1) table, layer i = 1..L in rows, step t = 0..T in columns."""
    raise NotImplementedError  # your code here


# %%
result = mexit.exercises.check_freezeout(freezeout_schedule)

# %% [markdown]
# **Exercise 2 (what FreezeOut saves).** With your schedule, count the layer-steps at which
# a layer still learns ($\eta_i(t) > 0$) for the survey's example, and divide by $L \cdot T$.
# Work out the limit for large $T$ on paper ($\sum_i t_i / (L T)$). *What to look for:* the
# fraction of parameter updates kept; the FLOPs saved are a different number (a frozen layer's
# forward pass still runs), which is why the chapter counts both.
#
# **Exercise 3 (with the head explorer).** Find the cheapest mix of heads that stays within
# one point of the best accuracy you can reach. *What to look for:* the cost of a head
# includes the features it reads (pooling, standardisation): compare a tree at exit 1 with a
# pooled linear head at the same position.
