# %% [markdown]
# # §6.1 Regularising for cost: the expected cost as a penalty
#
# *Companion to Scardapane et al., "Why should we add early exits to neural networks?",
# §6.1.*
#
# In this notebook you will:
# - compute the cascaded cost of eq. 12 for a hard exit policy, and count the FLOPs real
#   early exit spends to confirm it;
# - build exit probabilities from gates (eq. 14) and the soft cost (eq. 13), and see that
#   the printed form of eq. 13 under-counts, with hard gates as with soft ones;
# - unroll the gated combination of eq. 9 and find the mixture $\sum_j p_j c_j$;
# - fine-tune gated networks with task loss $+\,\lambda\,\cdot$ expected cost, see what the
#   fine-tuning does to each exit, and compare the gates with an entropy threshold **on the
#   same heads**;
# - learn Bolukbasi et al.'s cost-weighted exit decisions on a frozen pre-trained network
#   (§6.1, [12]) and compare them with the entropy threshold at equal cost.
#
# ← [06 Inference](06_inference.ipynb) · next →
# [08 Biological plausibility](08_biological_plausibility.ipynb)

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

import mexit
from mexit import cost_weighted_policy, gates, policies
from mexit.cost import counted_flops

sns.set_theme(style="whitegrid")
# %matplotlib inline

# %% tags=["parameters"]
seed = 0  # seeds the reference model, the gated fine-tuning and every random draw
model_name = "mnist1d_cnn"  # the reference model the gated networks start from
lambdas = (0.0, 1.0, 2.0, 4.0, 8.0)  # weights λ of the expected-cost penalty
epochs = 4  # fine-tuning epochs of each gated network (cached after the first run)
lr = 3e-3  # learning rate of the fine-tuning
alpha = 1.0  # weight of the joint loss that keeps every head trained
beta = 0.3  # normalized-entropy threshold of the hard policy in the eq. 12 section
gate_threshold = 0.5  # a gate g_i ≥ this lets the input out at inference
policy_lambdas = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)  # λ of Bolukbasi et al.'s exit policy

# %%
mexit.seed_everything(seed)

# %% [markdown]
# ## Eq. 12: the cascaded cost of a hard policy
#
# Let $\varepsilon_j$ be the cost of running from exit $j-1$ on to exit $j$ (the blocks in
# between and head $j$), and $\delta_{ij} = 1$ when input $i$ was processed by head $j$,
# i.e. every head up to the one it left at. The cost of the network on the data is
#
# $$C[f] = \sum_i \sum_j \delta_{ij}\,\varepsilon_j \quad (12)$$
#
# Per input this is $\Gamma_{\text{exit}(i)}$, the cumulative cost of its exit; we report the
# mean over inputs, in FLOPs and as a fraction of the plain network. To see that the formula
# describes what really happens, we also run real early exit (`mexit.early_exit_predict`,
# which drops the rows that left) under PyTorch's FLOP counter and divide by the number of
# inputs.

# %%
data = mexit.load_mnist1d()
model = mexit.pretrained(model_name, seed=seed)
E = len(model.exits)
costs = mexit.measure_costs(model, data.input_shape)
Gamma = costs.Gamma(model.exits)
epsilon = gates.marginal_costs(Gamma)
test_probs = mexit.exit_probs(model, data.x_test)
exit_index = mexit.simulate_exits(test_probs, beta)
delta = (torch.arange(E)[None, :] <= exit_index[:, None]).double()  # δ_ij, (N, E)
C_eq12 = (delta * epsilon).sum(1).mean().item()
flops_run, run = counted_flops(mexit.early_exit_predict, model, data.x_test, beta, costs=costs)
C_counted = flops_run / len(data.y_test)
print(
    "ε_j (kFLOPs):",
    [round(e / 1e3, 1) for e in epsilon.tolist()],
    " Γ_j (kFLOPs):",
    [round(g / 1e3, 1) for g in Gamma.tolist()],
)
print(
    f"β = {beta}: inputs per exit {torch.bincount(exit_index, minlength=E).tolist()}; "
    f"eq. 12 gives {C_eq12 / 1e3:.1f} kFLOPs per input = {100 * C_eq12 / costs.full:.1f} % "
    f"of the plain network; real early exit executed {C_counted / 1e3:.1f} kFLOPs per input"
)

# %%
mexit.check(
    "eq12-counted",
    abs(C_eq12 - C_counted) < 1e-3 * costs.full and torch.equal(run.exit_index, exit_index),
    eq12_kflops=C_eq12 / 1e3,
    counted_kflops=C_counted / 1e3,
)

# %% [markdown]
# Eq. 12 is exactly what real early exit spends: the FLOPs counted while it ran match the
# formula to 0.1 % of the plain network [✓ eq12-counted].
#
# The survey notes that eq. 12 "can now be used in any procedure to select the
# hyper-parameters of the model" (§6.1): it is a **model-selection criterion**. Two trained
# networks, two placements of the exits or two thresholds can be ranked by accuracy at a
# given cascaded cost, measured on validation data as above; notebook 02 does this for
# placement. The survey adds that [65] optimises the *whole* design (placement and
# hyper-parameters together) by Bayesian optimisation (§4 and §6.1); we do not run it here:
# each trial would be a training run.

# %% [markdown]
# ## Eq. 13–14: the soft cost from gates
#
# A hard exit decision has no gradient. Replace it by a **gate** $g_j(x) \in [0, 1]$ per
# early exit ($g \equiv 1$ at the final exit). The probability that input $i$ *exits* at $j$:
#
# $$p_{ij} = g_j(x_i)\prod_{l<j}\big(1 - g_l(x_i)\big) \quad (14)$$
#
# and the soft cost as printed:
#
# $$C[f] = \sum_i \sum_j p_{ij}\,\varepsilon_j \quad (13)$$
#
# **Note on the formula.** $p_{ij}$ is the probability of *exiting* at $j$, and an input
# exiting at $j$ paid $\varepsilon_1 + \dots + \varepsilon_j = \Gamma_j$, not $\varepsilon_j$.
# The expected cost is therefore $\sum_j p_{ij}\Gamma_j = \sum_j P(\text{reach } j)\,
# \varepsilon_j$. Eq. 13 with the marginal $\varepsilon_j$ under-counts for *any* gates,
# hard 0/1 gates included: it charges an input only the last stage it ran.
# `mexit.expected_cost` implements the consistent form, `gates.soft_cost_as_printed` the
# printed one.
#
# With hard gates $g_j = \mathbb{1}[H_j \le \beta]$, eq. 14 puts all the mass on the exit
# the policy takes, so the consistent form must give eq. 12 back.

# %%
H = mexit.normalized_entropy(test_probs[:-1]).T.double()  # (N, E-1)
hard = (H <= beta).double()
soft = torch.sigmoid((beta - H) / 0.05)  # the same decision, smoothed
rows = []
for name, g in (("hard gates 1[H ≤ β]", hard), ("soft gates σ((β − H)/0.05)", soft)):
    rows.append(
        {
            "gates": name,
            "Σ p Γ, consistent (kFLOPs)": mexit.expected_cost(g, Gamma).item() / 1e3,
            "Σ p ε, as printed (kFLOPs)": gates.soft_cost_as_printed(g, epsilon).item() / 1e3,
        }
    )
soft_table = pd.DataFrame(rows)
print(f"eq. 12 for the same hard policy: {C_eq12 / 1e3:.2f} kFLOPs")
print(soft_table.round(2).to_string(index=False))

# %%
printed_share = [
    (gates.soft_cost_as_printed(g, epsilon) / mexit.expected_cost(g, Gamma)).item()
    for g in (hard, soft)
]
mexit.check(
    "hard-gates-give-eq12",
    abs(mexit.expected_cost(hard, Gamma).item() - C_eq12) < 1e-6 * costs.full,
    eq14_kflops=mexit.expected_cost(hard, Gamma).item() / 1e3,
    eq12_kflops=C_eq12 / 1e3,
)
mexit.check(
    "printed-eq13-undercounts",
    max(printed_share) < 0.9,
    printed_over_consistent_hard=printed_share[0],
    printed_over_consistent_soft=printed_share[1],
)

# %% [markdown]
# With 0/1 gates the consistent soft cost is eq. 12 [✓ hard-gates-give-eq12]. The printed
# eq. 13 counts only part of it, for hard gates as for soft ones (see the ratios above)
# [✓ printed-eq13-undercounts]: the under-count is a property of the formula, not of the
# smoothing.

# %% [markdown]
# ## Eq. 9: gated exits, and their unrolled form
#
# Scardapane et al.'s differentiable branching combines the exits recursively, from the
# final one back:
#
# $$\hat c_i(x) = g_i(x)\,c_i(x) + \big(1 - g_i(x)\big)\,\hat c_{i+1}(x), \qquad
# \hat c_L(x) = f(x) \quad (9)$$
#
# Unrolled, $\hat c_1 = \sum_j p_j c_j$ with the $p_j$ of eq. 14: the network's answer is a
# mixture of its exits, weighted by the probability of leaving at each. Our gates read
# the head's own prediction: $g_i = \sigma(w_i^\top \phi(c_i(x)) + b_i)$ with
# $\phi$ = (max probability, top-2 margin, $1 - H$), 4 parameters per exit
# (`gates.GatedExits`).
#
# Training minimises the task loss on $\hat c_1$ plus $\lambda$ times the expected cost
# (as a fraction of the plain network), plus $\alpha$ times the joint loss of every exit
# so the heads stay good classifiers.
#
# **Budgets.** The reference network was trained jointly (eq. 6, every $\alpha_i = 1$) for
# 20 epochs at learning rate 3e-3, batch 128. Each gated network starts from a copy of it
# and is fine-tuned for `epochs` = 4 **more** epochs at `lr` = 3e-3 with the loss above:
# 24 epochs in all. Every run is cached, so this cell trains only on its first run.

# %%
runs = {
    lam: gates.pretrained_gated(lam, base=model_name, epochs=epochs, lr=lr, alpha=alpha, seed=seed)
    for lam in lambdas
}
outputs = {lam: gates.gated_outputs(net, data.x_test) for lam, net in runs.items()}
gated_costs = runs[lambdas[0]].costs()  # the gates add 6 FLOPs per exit to the heads
Gamma_g = gated_costs.Gamma(model.exits)
probs0, g0 = outputs[lambdas[len(lambdas) // 2]]
recursive = gates.combine_recursive(probs0.double(), g0.double())
unrolled = gates.combine_unrolled(probs0.double(), g0.double())
print(
    f"λ = {lambdas[len(lambdas) // 2]}: max |eq. 9 recursive − Σ_j p_j c_j| = "
    f"{(recursive - unrolled).abs().max().item():.2e} over {len(data.y_test)} × 10 outputs"
)
print(
    f"fine-tuning took {sum(n.history.seconds for n in runs.values()):.1f} s in all "
    "when it was trained"
)

# %%
mexit.check(
    "eq9-unrolled",
    torch.allclose(recursive, unrolled, atol=1e-12),
    max_abs_difference=(recursive - unrolled).abs().max(),
)

# %% [markdown]
# The recursion of eq. 9 and the mixture $\sum_j p_j c_j$ of eq. 14 agree to 1e-12
# [✓ eq9-unrolled].
#
# ## What the fine-tuning did to each exit
#
# Before comparing policies, look at the heads themselves: test accuracy of every exit
# alone, for the reference (20 epochs) and after the 4 epochs of gated fine-tuning at each
# $\lambda$.

# %%
per_exit = pd.DataFrame(
    {
        "reference (20 ep.)": mexit.exit_accuracies(test_probs, data.y_test).tolist(),
        **{
            f"λ = {lam:g} (+{epochs} ep.)": mexit.exit_accuracies(p, data.y_test).tolist()
            for lam, (p, _) in outputs.items()
        },
    },
    index=[f"exit {e}" for e in model.exits],
)
print("test accuracy of each exit alone (%)")
print((100 * per_exit).round(1).to_string())

# %%
acc_ref = per_exit.iloc[:, 0]
acc_lam0, acc_lam_max = per_exit.iloc[:, 1], per_exit.iloc[:, -1]
mexit.check(
    "exit1-drops-at-large-lambda",
    acc_lam_max.iloc[0] < acc_ref.iloc[0] - 0.03,
    exit1_reference=acc_ref.iloc[0],
    exit1_largest_lambda=acc_lam_max.iloc[0],
)
mexit.check(
    "exit1-barely-moves-at-lambda-0",
    abs(acc_lam0.iloc[0] - acc_ref.iloc[0]) < 0.03,
    exit1_reference=acc_ref.iloc[0],
    exit1_lambda_0=acc_lam0.iloc[0],
)
mexit.check(
    "final-exit-keeps-accuracy",
    min(per_exit.iloc[-1, 1:]) > acc_ref.iloc[-1] - 0.01,
    final_reference=acc_ref.iloc[-1],
    final_worst_lambda=min(per_exit.iloc[-1, 1:]),
)

# %% [markdown]
# Fine-tuning does **not** improve every head. With a large $\lambda$, exit 1 loses
# accuracy: at the largest $\lambda$ it falls more than 3 points below the reference
# [✓ exit1-drops-at-large-lambda]. At $\lambda = 0$ exit 1 moves by less than 3 points
# [✓ exit1-barely-moves-at-lambda-0]; do not read a direction into a change that small.
# The final exit stays within a point of the reference (or above it) at every $\lambda$
# [✓ final-exit-keeps-accuracy]. So a gated network's heads differ from the reference's:
# compare its gates with thresholds on **its own** heads.
#
# ## The accuracy–cost frontier of λ, on the same heads
#
# At inference the gates become a hard policy: an input leaves at the first exit whose gate
# reaches `gate_threshold`. For each $\lambda$ we report that policy's accuracy and mean cost
# (eq. 12) on the test set, the soft expected cost the training minimised, and the cost at
# which an **entropy threshold on the same network's heads** (eq. 11, swept on the test set)
# reaches the same accuracy. Both sides have the same 24 epochs; the only difference is the
# exit rule. The reference network's entropy threshold (20 epochs) is given for context
# ("never": it never reaches that accuracy).

# %%
reference_curve = policies.accuracy_cost_curve(
    test_probs, data.y_test, "entropy", Gamma, costs.full
)
rows, curves = [], {}
for lam, (probs, g) in outputs.items():
    right = probs.argmax(-1) == data.y_test
    idx = gates.gate_exits(g, gate_threshold)
    acc = right.gather(0, idx[None]).double().mean().item()
    own = policies.accuracy_cost_curve(probs, data.y_test, "entropy", Gamma_g, costs.full)
    curves[lam] = own
    rows.append(
        {
            "λ": lam,
            "gates: acc (%)": 100 * acc,
            "gates: cost (%)": 100 * (Gamma_g[idx].mean() / costs.full).item(),
            "expected soft cost (%)": 100
            * mexit.expected_cost(g.double(), Gamma_g).item()
            / costs.full,
            "entropy, same heads: cost (%)": 100 * own.cost_at(acc),
            "entropy, reference: cost (%)": 100 * reference_curve.cost_at(acc),
            "exits (gates)": torch.bincount(idx, minlength=E).tolist(),
        }
    )
frontier = pd.DataFrame(rows)
shown = frontier.assign(
    **{"exits (gates)": frontier["exits (gates)"].map(lambda n: " · ".join(map(str, n)))}
)
print(shown.round(1).astype(object).replace(float("inf"), "never").to_string(index=False))

fig, ax = plt.subplots(figsize=(7.5, 4.2))
ax.plot(
    100 * reference_curve.cost_fraction,
    100 * reference_curve.accuracy,
    color="gray",
    ls=":",
    label="reference, entropy",
)
palette = sns.color_palette("viridis", len(lambdas))
for color, (lam, cv) in zip(palette, curves.items()):
    ax.plot(100 * cv.cost_fraction, 100 * cv.accuracy, color=color, lw=1, alpha=0.7)
    r = frontier.set_index("λ").loc[lam]
    ax.plot(r["gates: cost (%)"], r["gates: acc (%)"], "o", color=color, ms=9, label=f"λ = {lam:g}")
ax.set(
    xlabel="mean cost (% of the plain network)",
    ylabel="test accuracy (%)",
    xlim=(0, 110),
    ylim=(60, 100),
    title=f"dots: gates at τ = {gate_threshold}; lines: entropy threshold on the same heads",
)
ax.legend(fontsize=8, loc="lower right")
plt.show()

# %%
soft_costs = frontier["expected soft cost (%)"].tolist()
mexit.check(
    "cost-falls-with-lambda",
    soft_costs[-1] < soft_costs[0] - 10,
    soft_cost_lambda_min=soft_costs[0],
    soft_cost_lambda_max=soft_costs[-1],
)
gated = frontier.set_index("λ").loc[[lam for lam in lambdas if lam > 0]]
cost_gap = (gated["gates: cost (%)"] - gated["entropy, same heads: cost (%)"]).tolist()
accuracy_gap = [  # gates minus the entropy threshold at the gates' own cost, same heads
    r["gates: acc (%)"] - 100 * curves[lam].accuracy_at(r["gates: cost (%)"] / 100)
    for lam, r in gated.iterrows()
]
mexit.check(
    "gates-match-thresholds",
    max(abs(d) for d in accuracy_gap[:-1]) < 1.5,
    lambdas=gated.index.tolist()[:-1],
    gate_minus_entropy_accuracy_points=[round(d, 2) for d in accuracy_gap[:-1]],
    gate_minus_entropy_cost_points=[round(d, 2) for d in cost_gap[:-1]],
)
mexit.check(
    "entropy-ahead-at-largest-lambda",
    accuracy_gap[-1] < -0.5,
    largest_lambda=gated.index[-1],
    gate_minus_entropy_accuracy_points=round(accuracy_gap[-1], 2),
)

# %% [markdown]
# Reading the table: a larger $\lambda$ buys a cheaper network; the expected cost the
# training minimised falls by more than 10 points of the plain network's cost from the
# smallest to the largest $\lambda$ [✓ cost-falls-with-lambda]. With $\lambda = 0$ nothing
# pushes the gates open and everyone goes to the end.
#
# On the **same heads**, neither exit rule clearly wins at moderate $\lambda$: at
# $\lambda \le 4$, an entropy threshold that spends what the gates spend is within 1.5 points
# of their accuracy (the gates slightly ahead, by at most about a point)
# [✓ gates-match-thresholds]; at the largest $\lambda$ the entropy threshold is ahead, by
# more than half a point at the gates' cost [✓ entropy-ahead-at-largest-lambda]. The
# check also prints the cost gap at equal accuracy ("-inf" where no entropy threshold on
# those heads reaches the gates' accuracy at all, which happens at some seeds). An earlier version of this chapter put the gated networks (24 epochs) against the *reference* network's thresholds (20 epochs): that
# comparison mixes the exit rule with the extra training. Compare the last two cost columns
# of the table to see how much the 4 epochs alone move the threshold's cost. What the cost
# penalty does buy is a network whose operating point is set by training ($\lambda$)
# rather than by a threshold tuned afterwards.

# %% [markdown]
# ## Bolukbasi et al.: cost-weighted exit decisions on a frozen network
#
# The survey: "In the case of a pre-trained backbone network, [12] explores training
# separately each auxiliary classifier with a constraint on computational time. The global
# problem is, then, reduced to a sequence of weighted binary classification problems,
# where the weights depend on the costs" (§6.1). The network stays frozen; only the exit
# decisions are learned. With $\ell_k$ the 0/1 error of exit $k$ and $\lambda$ the price of
# a unit of cost (as a fraction of the plain network), the decision at the last early exit
# is learned first, then the one before it, and so on. At exit $k$:
#
# $$\text{leave: } \ell_k(x, y), \qquad
# \text{go on: } V_{k+1}(x, y) + \lambda\,\frac{\Gamma_{k+1} - \Gamma_k}{\Gamma_L},$$
#
# where $V_{k+1}$ is what the already-learned later decisions cost on that input. The
# example is labelled with the cheaper option and **weighted by the difference**, so inputs
# for which the choice does not matter do not steer the classifier. Each decision is a
# logistic regression on the same three confidence features as the gates
# (`mexit.cost_weighted_policy`).
#
# **Budgets.** Both policies use the *reference* network (20 epochs) unchanged. The learned
# decisions are fitted on the validation split (one fit of 4 parameters per exit and
# $\lambda$); the entropy threshold is swept on the test split itself, which favours it.
# We compare test accuracies at equal test cost (eq. 12), reading the entropy curve by
# linear interpolation.

# %%
val_probs = mexit.exit_probs(model, data.x_val)
learned, fitted = cost_weighted_policy.cost_weighted_curve(
    val_probs, data.y_val, test_probs, data.y_test, Gamma, policy_lambdas, costs.full
)
entropy_curve = reference_curve  # the same frozen heads, the threshold swept on test
comparison = pd.DataFrame(
    {
        "λ": policy_lambdas,
        "learned: cost (%)": (100 * learned.cost_fraction).tolist(),
        "learned: acc (%)": (100 * learned.accuracy).tolist(),
        "entropy at that cost: acc (%)": [
            100 * cost_weighted_policy.accuracy_at_cost(entropy_curve, c)
            for c in learned.cost_fraction.tolist()
        ],
    }
)
comparison["difference (points)"] = (
    comparison["learned: acc (%)"] - comparison["entropy at that cost: acc (%)"]
)
print(comparison.round(2).to_string(index=False))

fig, ax = plt.subplots(figsize=(6.5, 3.6))
ax.plot(
    100 * entropy_curve.cost_fraction,
    100 * entropy_curve.accuracy,
    color="gray",
    label="entropy threshold (swept on test)",
)
ax.plot(
    comparison["learned: cost (%)"],
    comparison["learned: acc (%)"],
    "o-",
    color="tab:red",
    label="cost-weighted decisions [12] (fit on validation)",
)
ax.set(
    xlabel="mean cost (% of the plain network)",
    ylabel="test accuracy (%)",
    xlim=(20, 80),
    ylim=(85, 100),
    title="frozen reference network: two exit policies",
)
ax.legend(fontsize=8, loc="lower right")
plt.show()

# %%
diff = comparison["difference (points)"].tolist()
mexit.check(
    "learned-policy-vs-entropy",
    min(diff) > -0.5 and diff[-1] > 1.0,
    difference_points=[round(d, 2) for d in diff],
    cheapest_lambda=policy_lambdas[-1],
)

# %% [markdown]
# At equal cost, the learned decisions are never more than half a point below the entropy
# threshold, and at the cheapest setting (the largest $\lambda$) they are more than a point
# above it [✓ learned-policy-vs-entropy], although the threshold was swept on the test set
# itself. Both rules read the same three numbers of each head; what differs is the training
# signal: each example weighs what its decision costs, and $\lambda$ prices the cost
# directly, so the operating point is chosen by a number with a meaning rather than by a
# threshold.

# %% [markdown]
# ## Explore
#
# Choose $\lambda$ among the trained networks, **remove exits** with the checkboxes (a
# removed exit's head and gate are not run, and $\Gamma$ is recomputed), move the gate
# threshold $\tau$ and the entropy threshold $\beta$: the gates (red star) and the entropy
# threshold on the same heads and the same exits (blue line, blue dot) side by side, the
# reference network's entropy curve dotted. Nothing retrains; every network's outputs were
# computed once on the test set.

# %%
explorer = mexit.widgets.CostRegExplorer(
    outputs,
    data.y_test,
    Gamma_g,
    costs.full,
    model.exits,
    frontier=(entropy_curve.cost_fraction, entropy_curve.accuracy),
    costs=gated_costs,
    beta=beta,
)
explorer.show();


# %% [markdown]
# ## Takeaways
#
# - Eq. 12 is what real early exit spends [✓ eq12-counted]; its soft version must weight $p_j$ by the cumulative $\Gamma_j$: the printed eq. 13, with marginal $\varepsilon_j$, under-counts for hard and soft gates alike [✓ printed-eq13-undercounts].
# - Training with $\lambda \cdot$ expected cost: the largest $\lambda$ gives a much cheaper network than the smallest [✓ cost-falls-with-lambda], and at the largest $\lambda$ the first exit loses accuracy [✓ exit1-drops-at-large-lambda]; on the same heads and at the same cost the learned gates are within 1.5 points of an entropy threshold at moderate $\lambda$ [✓ gates-match-thresholds], and behind it at the largest [✓ entropy-ahead-at-largest-lambda].
# - Bolukbasi et al.'s cost-weighted decisions on a frozen network are never more than half a point behind the entropy threshold at equal cost, and lead it at the lowest cost [✓ learned-policy-vs-entropy]; the survey points to Bayesian optimisation of the whole design [65] and to eq. 12 as a model-selection criterion (§6.1).
#
# **Try with the widget:** Which λ and gate threshold match the full model's accuracy most
# cheaply? Remove exit 1: do the gates or the entropy threshold lose more? At λ = 8, can
# any β on the same heads beat the gates?

# %% [markdown]
# ## Exercises
#
# Write the code, then run the checker cell under it: it runs your function on a handful of
# fixed inputs (random and edge cases) against mexit's own implementation and says "correct",
# or shows the first input where yours differs, naming the mistake when it recognises it.
# These cells need only the setup and parameters cells at the top, so you can jump here
# straight away.
#
# **Exercise 1 (eq. 14).** Write `exit_probabilities(gates)`: from the gates $g_j(x_i) \in [0, 1]$
# of the $E - 1$ early exits, a tensor $(N, E-1)$, the probability that input $i$ *exits* at $j$,
#
# $$p_{ij} = g_j(x_i)\prod_{l<j}\big(1 - g_l(x_i)\big) \quad (14)$$
#
# with $g \equiv 1$ at the final exit, so that every row of the result $(N, E)$ sums to 1. Keep
# the input's dtype.

# %% tags=["exercise-eq14"]
def exit_probabilities(gates):
    """Eq. 14: gates (N, E-1) -> probabilities of exiting at each of the E exits (N, E)."""
    raise NotImplementedError  # your code here


# %%
result = mexit.exercises.check_eq14(exit_probabilities)


# %% [markdown]
# **Exercise 2 (eq. 13 in its consistent form; eq. 12 with hard gates).** Write
# `expected_cost(gates, gamma_f, gamma_c, exits)`: the mean over the inputs of
# $\sum_j p_{ij}\,\Gamma_j$, with $p_{ij}$ from eq. 14 and the cumulative cost of exit $j$
#
# $$\Gamma_j = \sum_{k \le j} \gamma_{f_k} + \sum_{k \le j,\, k \in C} \gamma_{c_k},$$
#
# `gamma_f` the list of the $L$ block costs, `gamma_c` a dict {block: head cost} (it may hold
# heads that are not in `exits`), `exits` the increasing exit blocks ending at $L$, one per
# column of $p$. You may call your `exit_probabilities` (or `mexit.exit_probabilities`).
# Return one number: FLOPs per input.

# %% tags=["exercise-expected_cost"]
def expected_cost(gates, gamma_f, gamma_c, exits):
    """Mean over inputs of Σ_j p_ij Γ_j (eq. 13, consistent form), in FLOPs per input."""
    raise NotImplementedError  # your code here


# %%
result = mexit.exercises.check_expected_cost(expected_cost)

# %% [markdown]
# **Exercise 3 (with the cost-regularisation explorer).** Pick $\lambda = 4$ and predict,
# before you move it: when the gate threshold $\tau$ goes from 0.5 up to 0.9, does the red star
# move left or right, up or down? *What to look for:* the star's cost (fewer gates reach a
# higher $\tau$, so fewer inputs leave early) and its accuracy against the blue entropy line of
# the same heads: is there a $\tau$ where the gates sit above that line?
#
# **Exercise 4 (eq. 13 as printed, by hand).** Two exits, $\Gamma = (1, 3)$, one input whose
# gate at exit 1 is $g_1 = 0.5$. What does eq. 13 as printed charge ($\sum_j p_j \varepsilon_j$),
# and what does the input cost on average ($\sum_j p_j \Gamma_j$)? Which one equals eq. 12
# when $g_1$ is 0 or 1? *With the explorer:* untick every early exit: with the final exit
# alone, every rule pays $\Gamma_L$ for every input — do the gates' and the entropy threshold's
# cost readouts agree?
