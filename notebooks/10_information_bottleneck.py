# %% [markdown]
# # §7.3 The information bottleneck, layer by layer
#
# *Companion to Scardapane et al., "Why should we add early exits to neural networks?", §7.3.*
#
# The information bottleneck (IB) says a good representation $F_i$ keeps what predicts the
# target $Y$ and forgets the rest of the input $X$. Elad et al. turn it into a *local*
# training criterion, one per block — which needs an exit at every block. In this notebook
# you will:
# - estimate mutual information several ways and check each where the answer is known
#   (correlated Gaussians, a Gaussian channel);
# - see why a deterministic network needs noise before $I(X;F_i)$ means anything (the
#   survey's footnote 4), what the data-processing inequality allows, and what the noisy
#   estimate measures instead;
# - follow every layer of the running example through the **information plane** while it
#   trains jointly;
# - train layer by layer with the local IB objective of eq. (15) in both senses, and for
#   three values of $\beta$; explore the runs, the exit set and the threshold with a widget.
#
# ← [09 Distributed](09_distributed.ipynb) · next → [11 Open challenges](11_open_challenges.ipynb)

# %%
import math

import matplotlib.pyplot as plt
import seaborn as sns
import torch

import mexit
from mexit import information

sns.set_theme(style="whitegrid")
# %matplotlib inline

# %% tags=["parameters"]
seed = 0  # seeds every model trained or loaded here (each seed has its own cache files)
samples = 500  # validation inputs on which mutual information is estimated
noise = 0.5  # std σ of the Gaussian noise added to each normalised representation
small_noise = 0.25  # a smaller σ, to see what the noise scale does to the estimate
bins = 30  # bins per activation for the binning estimator
joint_epochs = 8  # joint training recorded in the information plane
ib_epochs = 4  # epochs of each local-IB run (one per β)
betas = [0.0, 0.1, 0.5]  # trade-offs β of eq. (15), one cached run each
sign_epochs = 2  # epochs of each of the two runs that train eq. (15) in opposite senses
sign_beta = 0.1  # β of those two runs
threshold = 0.4  # exit threshold on the normalized entropy (eq. 11) for the explorer

# %%
mexit.seed_everything(seed)

# %% [markdown]
# ## Two estimators, checked where the answer is known
#
# For two correlated Gaussians with correlation $\rho$ the mutual information is known:
#
# $$I(A;B) = -\tfrac{1}{2}\log_2(1-\rho^2) \text{ bits}$$
#
# - **Binning** (Shwartz-Ziv & Tishby): cut each variable into equal-width bins and count,
#   $I(A;B) = H(A) + H(B) - H(A,B)$ on the bin indices.
# - **Kernel** (`kernel_mi`): the same three entropies from Gaussian kernel density
#   estimates (leave-one-out, on standardised samples).
#
# Both are biased; the question is by how much on a case like ours.

# %%
rhos = [0.0, 0.3, 0.5, 0.7, 0.8, 0.9]
g = torch.Generator().manual_seed(seed)
n = 2000
estimates = {"true": [], "binning (16 bins)": [], "kernel": []}
for rho in rhos:
    a = torch.randn(n, 1, generator=g)
    b = rho * a + math.sqrt(1 - rho**2) * torch.randn(n, 1, generator=g)
    estimates["true"].append(-0.5 * math.log2(1 - rho**2))
    estimates["binning (16 bins)"].append(information.binned_mi(a, b, bins=16))
    estimates["kernel"].append(information.kernel_mi(a, b))
fig, ax = plt.subplots(figsize=(5, 3.2))
for name, values in estimates.items():
    ax.plot(rhos, values, "k--" if name == "true" else "o-", label=name)
ax.set(xlabel="correlation ρ", ylabel="I(A; B) (bits)", title=f"correlated Gaussians, N = {n}")
ax.legend()
plt.show()
errors = {
    name: max(abs(e - t) for e, t in zip(estimates[name], estimates["true"]))
    for name in ("binning (16 bins)", "kernel")
}

# %% [markdown]
# Both estimators land within 0.12 bits of the true mutual information for every
# $\rho \le 0.9$ at $N = 2000$ [✓ estimators-on-gaussians].

# %%
mexit.check(
    "estimators-on-gaussians",
    all(e < 0.12 for e in errors.values()),
    binning_max_error=errors["binning (16 bins)"],
    kernel_max_error=errors["kernel"],
)

# %% [markdown]
# ## Footnote 4: a deterministic layer needs noise
#
# For a deterministic network with continuous inputs, $I(X;F_i)$ is infinite: $F_i$
# determines $x$. On a finite sample, binning shows the same disease — once every input
# falls in its own bin pattern, $I(X;F_i) = H(F_i) = \log_2 N$ and $I(F_i;Y) = H(Y)$ for
# every layer. The survey's way out is a noisy representation $T_i = F_i + \varepsilon$,
# $\varepsilon \sim \mathcal{N}(0, \sigma^2 I)$. We normalise each $F_i$ (mean squared
# distance to its mean = 1), so one $\sigma$ = `noise` serves every layer, and treat $X$ as
# uniform over the $N$ samples: $T_i$ is then a mixture of $N$ Gaussians, whose entropy
# Kolchinsky & Tracey (2017, *Estimating mixture entropy with pairwise distances*) bound with
# a pairwise distance $D$ between the components:
#
# $$\hat I_D(X;T) = -\frac{1}{N}\sum_i \log_2 \frac{1}{N}\sum_j e^{-D(i, j)}, \qquad
# D_{\mathrm{KL}} = \frac{\lVert f_i - f_j\rVert^2}{2\sigma^2} \;\text{(upper bound)}, \quad
# D_{\mathrm{B}} = \frac{\lVert f_i - f_j\rVert^2}{8\sigma^2} \;\text{(lower bound)}$$
#
# and $\hat I(T;Y) = \hat I(X;T) - \sum_y p(y)\, \hat I(X;T \mid Y = y)$, each term with the
# same $D$. Saxe et al. (2018) drew their information planes with the KL **upper** bound and
# reported the Bhattacharyya **lower** bound beside it; so do we. Note that only $I(X;T)$ is
# bracketed: $\hat I(T;Y)$ is a difference of two bounds of one kind, an estimate.
#
# **Check on a Gaussian channel.** For $X \sim \mathcal{N}(0, I/d)$ (normalised as above)
# and $T = X + \mathcal{N}(0, \sigma^2 I)$, $I(X;T) = \tfrac{d}{2}\log_2(1 + 1/(d\sigma^2))$.

# %%
channel = {}
for dim in (1, 4):
    z = torch.randn(samples, dim, generator=g)
    channel[dim] = {
        "lower": information.pairwise_mi(z, noise=noise, bound="lower"),
        "true": information.gaussian_channel_mi(dim, noise=noise),
        "upper": information.pairwise_mi(z, noise=noise, bound="upper"),
    }
    print(
        f"d = {dim}, σ = {noise}, N = {samples}: lower {channel[dim]['lower']:.2f} ≤ true "
        f"{channel[dim]['true']:.2f} ≤ upper {channel[dim]['upper']:.2f} bits"
    )

# %% [markdown]
# The true value lies between the two bounds in 1 and 4 dimensions (within 0.05 bits), and
# the upper bound overestimates it by more than 0.4 bits in both [✓ pairwise-bounds-bracket]:
# the bracket is wide, and wider in 4D than in 1D (the values are printed above). Read
# every plane below as an upper bound on $I(X;T)$, not as "the" mutual information.

# %%
mexit.check(
    "pairwise-bounds-bracket",
    all(c["lower"] - 0.05 <= c["true"] <= c["upper"] - 0.4 for c in channel.values())
    and channel[4]["upper"] - channel[4]["lower"] > channel[1]["upper"] - channel[1]["lower"],
    **{f"{k}_{d}d": v for d, c in channel.items() for k, v in c.items()},
)

# %% [markdown]
# ### The layers of the running example, and the data-processing inequality
#
# The blocks form a Markov chain $Y \to X \to F_1 \to F_2 \to \dots \to F_L$: each $F_{i+1}$
# is a deterministic function of $F_i$. The **data-processing inequality** then forbids any
# layer from knowing more about the label than the layer before it:
#
# $$I(F_{i+1}; Y) \le I(F_i; Y) \le I(X; Y).$$
#
# Processing can only lose information; what depth buys is information in an *easier to
# read* form. The noisy $T_i = F_i + \varepsilon_i$ do **not** form such a chain —
# $T_{i+1}$ is computed from $F_i$, not from $T_i$, and each layer gets fresh noise after its
# own normalisation — so nothing stops $\hat I(T_i;Y)$ from rising with depth. What it
# measures is how well a noisy observer of layer $i$ can tell the classes apart at noise
# scale $\sigma$, relative to the layer's own spread: a separability at one scale.

# %%
data = mexit.load_mnist1d()
model = mexit.pretrained("mnist1d_cnn", seed=seed)
L = model.num_blocks
xs, ys = data.x_val[:samples], data.y_val[:samples]
plane = information.information_plane(model, xs, ys, noise=noise, bins=bins)
fine = information.information_plane(model, xs, ys, noise=small_noise, bins=bins)
h_y = information.entropy(ys)
print(f"log2 N = {math.log2(samples):.2f} bits, H(Y) = {h_y:.2f} bits")
for i in range(L):
    (bx, by), (ux, uy), (lx, ly) = (plane[k][i] for k in ("binning", "upper", "lower"))
    print(
        f"layer {i + 1}: binning I(X;F) = {bx:.2f}, I(F;Y) = {by:.2f}  |  σ = {noise}: "
        f"I(X;T) in [{lx:.2f}, {ux:.2f}], I(T;Y) ≈ {uy:.2f} (upper), {ly:.2f} (lower)  |  "
        f"σ = {small_noise}: I(T;Y) ≈ {fine['upper'][i][1]:.2f} bits"
    )
binned_x = [bx for bx, _ in plane["binning"]]
binned_y = [by for _, by in plane["binning"]]
noisy_ty = [uy for _, uy in plane["upper"]]
fine_ty = [uy for _, uy in fine["upper"]]

# %% [markdown]
# On the deterministic layers the sample cannot show the inequality at work: binning gives
# $I(X;F_i) = \log_2 N$ and $I(F_i;Y) = H(Y)$ for every layer, equal within 0.1 bits
# [✓ binning-saturates]. With noise the picture depends on $\sigma$. At $\sigma$ = `noise`
# the estimate rises with depth, by more than 0.3 bits from layer 1 to layer $L$; at
# $\sigma$ = `small_noise` every layer keeps nearly all of $H(Y)$ and layer $L$ is no longer
# ahead of layer 1 (not by more than 0.1 bits) [✓ noise-sets-the-order]. The rise is not
# information created by depth (the inequality forbids that): the deeper layers separate the
# classes at a coarser scale, relative to their spread, so their classes survive more noise.
# Shwartz-Ziv & Tishby's planes show deeper layers *below* shallower ones, as the
# inequality requires of $I(F_i;Y)$; this plane shows the reverse, for this reason.

# %%
mexit.check(
    "binning-saturates",
    min(binned_x) > math.log2(samples) - 0.1 and min(binned_y) > h_y - 0.1,
    log2_N=math.log2(samples),
    binned_I_XF=binned_x,
    H_Y=h_y,
    binned_I_FY=binned_y,
)
mexit.check(
    "noise-sets-the-order",
    min(fine_ty) > h_y - 0.3
    and fine_ty[-1] < fine_ty[0] + 0.1
    and noisy_ty[-1] > noisy_ty[0] + 0.3,
    H_Y=h_y,
    I_TY_small_noise=fine_ty,
    I_TY_noise=noisy_ty,
)

# %% [markdown]
# ## The information plane during joint training
#
# Shwartz-Ziv & Tishby plot each layer as a point $(I(X;T_i), I(T_i;Y))$ and follow it
# during training. We train the running example jointly (eq. 6, all exits) for
# `joint_epochs` epochs — a fresh run, cached, with the plane recorded after every epoch on
# the same `samples` validation inputs — and draw one trajectory per layer, with the KL
# upper bound at $\sigma$ = `noise`.

# %%
joint, extras = information.train_joint_with_plane(
    epochs=joint_epochs, samples=samples, noise=noise, bins=bins, seed=seed
)
trajectory = torch.tensor([epoch["upper"] for epoch in extras["plane"]])  # (epochs+1, L, 2)
fig, ax = plt.subplots(figsize=(6, 3.8))
for i in range(L):
    ax.plot(trajectory[:, i, 0], trajectory[:, i, 1], "o-", ms=3, label=f"layer {i + 1}")
    ax.plot(trajectory[0, i, 0], trajectory[0, i, 1], "kx")
ax.set(
    xlabel=r"$I(X; T_i)$ (bits, upper bound)",
    ylabel=r"$I(T_i; Y)$ (bits, noisy estimate)",
    title="information plane, joint training (× = initialisation)",
)
ax.legend()
plt.show()
for i in range(L):
    path = ", ".join(f"{v:.2f}" for v in trajectory[:, i, 0].tolist())
    print(f"layer {i + 1}: I(X;T) per epoch {path}; I(T;Y) ", end="")
    print(f"{trajectory[0, i, 1]:.2f} → {trajectory[-1, i, 1]:.2f} bits")
gain = trajectory[-1, :, 1] - trajectory[0, :, 1]
ixt_last = trajectory[:, -1, 0]
dip = float(torch.minimum(ixt_last[0], ixt_last[-1]) - ixt_last.min())

# %% [markdown]
# Joint training raises the noisy label information of the last layer by more than 0.3
# bits, more than that of layer 1 [✓ joint-label-gain]: at this noise scale, the deeper
# layers learn to separate the classes. $I(X;T_L)$ does not "barely move": its endpoints are
# close, but on the way it first drops and then climbs back, by more than 0.3 bits below
# both endpoints [✓ joint-ixt-dips]. This is not Shwartz-Ziv & Tishby's late compression
# phase (a fall that lasts): with ReLU layers, Saxe et al. found no compression either.

# %%
mexit.check(
    "joint-label-gain",
    bool(gain[-1] > 0.3 and gain[-1] > gain[0]),
    gain_layer_1=gain[0],
    gain_layer_L=gain[-1],
)
mexit.check(
    "joint-ixt-dips",
    dip > 0.3,
    I_XT_layer_L_start=ixt_last[0],
    I_XT_layer_L_min=ixt_last.min(),
    I_XT_layer_L_end=ixt_last[-1],
    dip_below_endpoints=dip,
)

# %% [markdown]
# ## Eq. (15): the local IB objective, and its sign
#
# Elad et al. train block by block, each with the local objective
#
# $$\mathcal{L}_i = I(Y; F_i) - \beta\, I(X; F_i) \quad (15)$$
#
# **Note on the formula.** The survey says representations "tend to *minimize*" (15). The
# IB *maximises* it: it keeps label information ($+I(Y;F_i)$) and pays for input
# information ($-\beta I(X;F_i)$). (The IB Lagrangian is usually *minimised* in the other
# order, $I(X;F) - \beta' I(Y;F)$.) Rather than take this on faith, train the running
# example once in each sense, with the same estimate for both terms (the pairwise upper
# bound on each minibatch), $\beta$ = `sign_beta`, and the same budget for both:
# `sign_epochs` epochs at learning rate $10^{-2}$, blocks detached (layer-wise, §5.3). No
# classification loss reaches a block: its head is a probe trained on the detached $F_i$,
# which reads how much of the label the block kept.

# %%
sign_runs = {
    sense: information.train_sign(sense, beta=sign_beta, epochs=sign_epochs, seed=seed)[0]
    for sense in ("maximise", "minimise")
}
sign_ty, sign_acc = {}, {}
for sense, m in sign_runs.items():
    sign_ty[sense] = [p[1] for p in information.information_plane(m, xs, ys, noise=noise)["upper"]]
    sign_acc[sense] = mexit.exit_accuracies(mexit.exit_probs(m, data.x_test), data.y_test)
    print(
        f"{sense} (15): I(T_i;Y) "
        + ", ".join(f"{v:.2f}" for v in sign_ty[sense])
        + " bits; probe test accuracy "
        + ", ".join(f"{100 * a:.1f} %" for a in sign_acc[sense])
    )

# %% [markdown]
# Minimised as printed, (15) throws the labels away: at equal budget the last layer keeps
# less label information than when (15) is maximised, and its probe is less accurate
# [✓ printed-sense-loses-labels]. The pairwise estimate on 128-example minibatches is a
# weak training signal for `sign_epochs` epochs, so compare the two senses with each other,
# not with the classifiers of the next section.

# %%
mexit.check(
    "printed-sense-loses-labels",
    sign_ty["maximise"][-1] > sign_ty["minimise"][-1] + 0.2
    and sign_acc["maximise"][-1] > sign_acc["minimise"][-1] + 0.05,
    I_TY_L_maximise=sign_ty["maximise"][-1],
    I_TY_L_minimise=sign_ty["minimise"][-1],
    probe_acc_L_maximise=sign_acc["maximise"][-1],
    probe_acc_L_minimise=sign_acc["minimise"][-1],
)

# %% [markdown]
# ### Training with (15) in its consistent sense
#
# Elad et al. train each layer with the IB objective alone (no classification loss), and
# estimate both terms with a neural estimator (a modification of MINE: auxiliary networks
# trained as discriminators — the survey's "auxiliary classifiers acting as
# discriminators"); they report accuracy on par with end-to-end training (their claim, not
# reproduced here). **mexit does not implement that estimator**; it replaces it by two
# cheaper ones: $I(Y;F_i) \ge H(Y) - \mathrm{CE}_i$ (the head's cross-entropy, eq. 7's
# loss, bounds the first term from below) and the pairwise upper bound above for
# $I(X;F_i)$. So each block minimises
#
# $$\mathrm{CE}_i + \beta\, \hat I(X; F_i),$$
#
# differentiable, so it trains; blocks are detached as in layer-wise training (§5.3). One
# run per $\beta$ in `betas`, `ib_epochs` epochs each at learning rate $10^{-2}$.

# %%
runs = {
    beta: information.train_ib(beta, epochs=ib_epochs, noise=noise, seed=seed) for beta in betas
}
ib_planes, ib_probs, ib_acc = {}, {}, {}
for beta, (m, _) in runs.items():
    ib_planes[beta] = information.information_plane(m, xs, ys, noise=noise, bins=bins)["upper"]
    ib_probs[beta] = mexit.exit_probs(m, data.x_test)
    ib_acc[beta] = mexit.exit_accuracies(ib_probs[beta], data.y_test)
    print(
        f"β = {beta:<4g} test accuracy per exit: "
        + ", ".join(f"{100 * a:.1f} %" for a in ib_acc[beta])
        + "   I(X;T_i) (upper bound): "
        + ", ".join(f"{p[0]:.2f}" for p in ib_planes[beta])
        + " bits"
    )
fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
for beta in betas:
    a1.plot(*zip(*ib_planes[beta]), "o-", label=f"β = {beta:g}")
    a2.plot(range(1, L + 1), 100 * ib_acc[beta], "o-", label=f"β = {beta:g}")
a1.set(
    xlabel=r"$I(X; T_i)$ (bits, upper bound)",
    ylabel=r"$I(T_i; Y)$ (bits, noisy estimate)",
    title="layers 1 → 4 after local-IB training",
)
a2.set(
    xlabel="exit (block index)",
    ylabel="test accuracy (%)",
    xticks=range(1, L + 1),
    title="what compression costs",
)
a1.legend()
a2.legend()
fig.tight_layout()
plt.show()
last = [ib_planes[beta][-1][0] for beta in betas]

# %% [markdown]
# A larger $\beta$ compresses more — the upper bound on $I(X;T_L)$ falls by more than 0.2
# bits at each step of `betas` — and costs final-exit accuracy [✓ beta-compresses].

# %%
mexit.check(
    "beta-compresses",
    all(b < a - 0.2 for a, b in zip(last, last[1:]))
    and bool(ib_acc[betas[-1]][-1] < ib_acc[betas[0]][-1]),
    I_XT_L=last,
    final_acc_smallest_beta=ib_acc[betas[0]][-1],
    final_acc_largest_beta=ib_acc[betas[-1]][-1],
)

# %% [markdown]
# ## Explore
#
# **Information explorer.** Pick $\beta$ (each a cached run), which layers get an exit (the
# final exit $L$ is always there) and the exit threshold. The stars are the exits you placed,
# in the information plane; the text gives each exit's accuracy, how many test inputs leave
# there, and the accuracy and mean cost of early exit through that exit set.

# %%
ib_costs = {beta: mexit.measure_costs(m, data.input_shape) for beta, (m, _) in runs.items()}
info_widget = mexit.widgets.InformationExplorer(
    ib_planes, ib_probs, data.y_test, ib_costs, tuple(range(1, L + 1))
)
info_widget.beta.value = betas[len(betas) // 2]
info_widget.threshold.value = threshold
info_widget.show();


# %% [markdown]
# ## Takeaways
#
# - The data-processing inequality forbids a deterministic layer from knowing more about the label than the layer before it; a noisy estimate that rises with depth measures how well the classes separate at that noise scale, and the rise disappears at a smaller $\sigma$ [✓ noise-sets-the-order].
# - The plane's pairwise KL estimate is an upper bound on $I(X;T)$: on a Gaussian channel the truth lies between it and the Bhattacharyya lower bound, well below the upper one [✓ pairwise-bounds-bracket].
# - Eq. (15) is to be *maximised*: minimised as printed, it discards label information at equal budget [✓ printed-sense-loses-labels]; in its consistent sense, a larger $\beta$ compresses more at a price in accuracy [✓ beta-compresses].
#
# **Try with the widget:** at $\beta_{IB} = 0.5$ (the $\beta$ of eq. 15), remove the exits at layers 1 and 2: what
# happens to accuracy and to the mean cost, and why? Is the cheapest exit set that keeps
# accuracy within a point of the final exit found with the most or the least compressed run?

# %% [markdown]
# ## Exercises
#
# Write the code, then run the checker cell under it: it runs your function on a handful of
# fixed inputs (random and edge cases) against mexit's own implementation and says "correct",
# or shows the first input where yours differs, naming the mistake when it recognises it.
# These cells need only the setup and parameters cells at the top, so you can jump here
# straight away.
#
# **Exercise 1 (the binning estimator, Shwartz-Ziv & Tishby).** Write
# `binned_mi(a, b, bins)`: the mutual information in **bits**
#
# $$I(A; B) = H(A) + H(B) - H(A, B)$$
#
# of two tensors with $N$ rows. A floating-point tensor is first cut into `bins` equal-width
# bins spanning its overall minimum and maximum (one grid for all its units; the maximum goes
# in the last bin); an integer tensor (labels) is used as it is. Each row is one symbol: $H$
# is the plug-in entropy of the distinct rows (`torch.unique(..., dim=0,
# return_counts=True)`), and $(A, B)$ is the row of $A$'s symbols followed by $B$'s. Return a
# float.

# %% tags=["exercise-binned_mi"]
def binned_mi(a, b, bins):
    """I(A; B) in bits after binning each floating-point tensor into `bins` bins."""
    raise NotImplementedError  # your code here


# %%
result = mexit.exercises.check_binned_mi(binned_mi)

# %% [markdown]
# **Exercise 2 (why binning saturates).** Take a random layer, `torch.randn(500, 640)`,
# and random labels `torch.randint(0, 10, (500,))`, and compute your `binned_mi` with 30 bins.
# Compare with $\log_2 500$ and with $H(Y)$. Then try 2 bins, and a layer of 2 units. When does
# the estimate mean something? *What to look for:* the number of distinct rows among the 500.
#
# **Exercise 3 (with the information explorer).** Pick $\beta = 0.5$ and remove the exits at
# layers 1 and 2. Predict: what happens to accuracy and to the mean cost, and why? *What to look
# for:* the stars left in the information plane, the inputs that now reach exit 3, and whether
# the cheapest exit set within a point of the final exit comes from the most or the least
# compressed run (switch $\beta$).
