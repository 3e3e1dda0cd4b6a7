# %% [markdown]
# # §7.2 Distributed multi-exit networks: device → edge → cloud
#
# *Companion to Scardapane et al., "Why should we add early exits to neural networks?", §7.2.*
#
# Early exits fit multi-tier systems naturally (the survey's Fig. 5; BranchyNet, DDNN,
# Baccarelli et al.): the first blocks run on the device where the input arrives, the next
# on an edge server, the last in the cloud. An input that is answered on the device never
# travels; one that is not sends its embedding $h_i$ across a link, paying latency and
# bandwidth. In this notebook you will:
# - measure the bytes of every $h_i$ from its tensor size and dtype;
# - build a cost model with a compute speed per tier and a latency and bandwidth per link,
#   and compute end-to-end latency and accuracy for every placement and threshold;
# - find the best tier boundary under a latency budget, and ask whether splitting the
#   network across tiers pays at all;
# - run the network **for real across three processes** (`torch.distributed`, gloo on
#   127.0.0.1) and check it answers exactly as the single-process early exit, sending only
#   the unresolved inputs' embeddings;
# - **train** across the tiers (§7.2's second half, §8's Challenge 2): each tier trains its
#   own blocks and exits, then sends its features to the next, and you compare it with
#   single-process joint training at the same budget, in accuracy and in bytes;
# - measure the processes' memory as they really use it (proportional set size);
# - move bandwidth, latency, the tier boundary and the threshold with a widget.
#
# ← [08 Biological plausibility](08_biological_plausibility.ipynb) · next →
# [10 Information bottleneck](10_information_bottleneck.ipynb)

# %%
import copy
import multiprocessing
import socket

import matplotlib.pyplot as plt
import seaborn as sns
import torch

import mexit
from mexit import tier_training, tiers

sns.set_theme(style="whitegrid")
# %matplotlib inline

# %% tags=["parameters"]
seed = 0  # seeds the reference model, the training runs and their data order
speeds = [1e7, 1e9, 2e10]  # compute speed of device, edge, cloud (FLOP/s)
latencies = [0.01, 0.03]  # link latency device→edge, edge→cloud (s)
bandwidths = [1e6, 1.25e7]  # link bandwidth device→edge (8 Mbit/s), edge→cloud (100 Mbit/s)
threshold = 0.4  # exit threshold β on the normalized entropy (eq. 11)
latency_budget = 0.014  # mean end-to-end latency we can afford per input (s)
run_placement = [0, 0, 1, 2]  # tier of blocks 1..4 for the real run: device, device, edge, cloud
run_timeout = 50.0  # seconds before the real run gives up and stops its processes
train_placement = [0, 0, 1, 2]  # tier of blocks 1..4 for distributed training
train_epochs = 3  # epochs of every training run compared (per tier, and for joint training)
train_lr = 3e-3  # Adam, one-cycle schedule to this learning rate, batches of 128

# %%
mexit.seed_everything(seed)

# %% [markdown]
# ## What crosses a link: the bytes of $h_i$
#
# When block $i$ is the last one on a tier, the inputs not yet answered carry $h_i$ to the
# next tier. Its size is what the tensor holds: elements × bytes per element (4 for
# float32). Our CNN halves the length while it doubles the channels, so every $h_i$ holds
# 640 numbers — **16 times the raw input** [✓ h-bytes]. Deeper is not smaller here: sending
# $x$ itself is the cheapest transfer, a fact any placement must reckon with.

# %%
data = mexit.load_mnist1d()
model = mexit.pretrained("mnist1d_cnn", seed=seed)
L = model.num_blocks
h_bytes = tiers.embedding_bytes(model, data.input_shape)
for i, b in enumerate(h_bytes):
    print(f"h_{i}{' = x' if i == 0 else ''}: {b:5d} bytes per input")
fig, ax = plt.subplots(figsize=(5, 2.8))
ax.bar([f"h_{i}" for i in range(L + 1)], [b / 1e3 for b in h_bytes])
ax.set(ylabel="size per input (kB)", title="what a link carries after block i")
plt.show()

# %%
# check: the bytes found from the shapes are those of the real tensors of a forward pass,
# and h_1 is 16 times x
real = [data.x_test[:1]] + model.embeddings(data.x_test[:1])
real_bytes = [t.numel() * t.element_size() for t in real]
mexit.check(
    "h-bytes",
    list(h_bytes) == real_bytes and real_bytes[1] == 16 * real_bytes[0],
    from_shapes=list(h_bytes),
    from_tensors=real_bytes,
)

# %% [markdown]
# ## A cost model: compute per tier, latency and bandwidth per link
#
# A placement $\pi$ maps each block $k$ to a tier $\pi(k)$, in tier order (device 0 → edge
# 1 → cloud 2). An input answered at exit $j$ pays the FLOPs of every block and head up to
# $j$ at the speed $s_t$ of the tier that runs them, plus, for every link $\ell$ it crosses,
# the latency $\lambda_\ell$ and the transfer of the embedding $h_{i_\ell}$ that leaves the
# last block before the link:
#
# $$T_j(\pi) = \sum_{k \le j} \frac{\gamma_{f_k} + [k \in C]\,\gamma_{c_k}}{s_{\pi(k)}}
# + \sum_{\ell \text{ crossed}} \Big(\lambda_\ell + \frac{\mathrm{bytes}(h_{i_\ell})}{b_\ell}\Big)
# + \sum_{\ell \text{ crossed}} \lambda_\ell$$
#
# The last term returns the answer (a class index, a few bytes) to the device. The mean
# latency of a policy is $\sum_j \frac{n_j}{N} T_j$, $n_j$ the inputs leaving at exit $j$:
# the cascaded cost of eq. (12) with time in place of FLOPs. `tier_latencies` agrees with a
# hand computation of two extreme placements [✓ latency-by-hand].

# %%
system = tiers.tier_system(speeds, latencies, bandwidths)
costs = mexit.measure_costs(model, data.input_shape)
test_probs = mexit.exit_probs(model, data.x_test)
examples = {
    "all on device": (0, 0, 0, 0),
    "all in the cloud": (2, 2, 2, 2),
    "device, device, edge, cloud": (0, 0, 1, 2),
    "edge only": (1, 1, 1, 1),
}
print(
    f"{'placement':28s} {'accuracy':>9s} {'latency':>11s} {'bytes/input':>12s}  answered on "
    "device / edge / cloud"
)
for name, p in examples.items():
    r = tiers.evaluate_tiers(
        test_probs, data.y_test, threshold, costs, model.exits, h_bytes, system, p
    )
    print(
        f"{name:28s} {100 * r.accuracy:8.1f}% {1e3 * r.mean_latency:8.2f} ms {r.mean_bytes:12.0f}"
        "  " + " / ".join(f"{100 * f:3.0f} %" for f in r.tier_fractions)
    )

# %%
# check: the model against a hand computation — all on the device costs Γ_L / s_0 for an
# input that reaches the last exit and sends nothing; all in the cloud sends x over both
# links, then returns the answer
Gamma = costs.Gamma(model.exits)
lat_dev, sent_dev = tiers.tier_latencies(costs, model.exits, h_bytes, system, (0, 0, 0, 0))
lat_cloud, sent_cloud = tiers.tier_latencies(costs, model.exits, h_bytes, system, (2, 2, 2, 2))
hand_dev = Gamma[-1].item() / speeds[0]
hand_cloud = 2 * sum(latencies) + sum(h_bytes[0] / b for b in bandwidths)
hand_cloud += Gamma[0].item() / speeds[2]
mexit.check(
    "latency-by-hand",
    abs(lat_dev[-1].item() - hand_dev) < 1e-12
    and abs(lat_cloud[0].item() - hand_cloud) < 1e-12
    and sent_dev.abs().sum().item() == 0
    and bool((sent_cloud == 2 * h_bytes[0]).all()),
    device_exit4_ms=1e3 * lat_dev[-1].item(),
    by_hand_ms=1e3 * hand_dev,
    cloud_exit1_ms=1e3 * lat_cloud[0].item(),
    cloud_by_hand_ms=1e3 * hand_cloud,
)

# %% [markdown]
# ## Every placement, every threshold, and the best tier boundary under a budget
#
# With $L = 4$ blocks and 3 tiers there are 15 placements in tier order; with 21
# thresholds, 315 configurations. Each is a point (mean latency, accuracy). Under a latency
# budget, the best tier boundary is the most accurate configuration that fits. The question
# worth asking is whether *splitting* the network across tiers buys anything over the best
# single-tier deployment (everything on the device, or $x$ shipped whole to the edge or the
# cloud) at the same budget.

# %%
best, best_threshold, tried = tiers.best_boundary(
    test_probs, data.y_test, costs, model.exits, h_bytes, system, latency_budget
)
print(
    f"budget {1e3 * latency_budget:.1f} ms → best placement "
    f"{tiers.placement_label(best.placement)} at β = {best_threshold}: accuracy "
    f"{100 * best.accuracy:.1f} %, mean latency {1e3 * best.mean_latency:.2f} ms, "
    f"{best.mean_bytes:.0f} bytes per input"
)

budgets = [0.001 * k for k in range(1, 41)]


def best_under(budget, split=None):
    """Best accuracy within `budget` (s); split=True: placements over 2+ tiers, False: 1."""
    fits = [
        r.accuracy
        for _, r in tried
        if r.mean_latency <= budget and split in (None, len(set(r.placement)) > 1)
    ]
    return max(fits) if fits else float("nan")


frontier = [best_under(b) for b in budgets]
split_gain = [best_under(b, split=True) - best_under(b, split=False) for b in budgets]
helps = [b for b, g in zip(budgets, split_gain) if g > 0.01]
print(
    f"a split beats every single-tier deployment by more than 1 point at {len(helps)} of "
    f"{len(budgets)} budgets ({', '.join(f'{1e3 * b:.0f}' for b in helps) or 'none'} ms); "
    f"largest gain {100 * max(split_gain):.1f} points"
)
tight, loose = 0.005, 0.04  # two more budgets (s), to see the boundary move
at_tight, _, _ = tiers.best_boundary(
    test_probs, data.y_test, costs, model.exits, h_bytes, system, tight
)
at_loose, _, _ = tiers.best_boundary(
    test_probs, data.y_test, costs, model.exits, h_bytes, system, loose
)
for b, r in ((tight, at_tight), (latency_budget, best), (loose, at_loose)):
    print(
        f"budget {1e3 * b:4.0f} ms: {tiers.placement_label(r.placement):22s} "
        f"{100 * r.accuracy:.1f} %, answered on device {100 * r.tier_fractions[0]:.0f} %"
    )
fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
for p in tiers.all_placements(L, system.num_tiers):
    pts = [(1e3 * r.mean_latency, 100 * r.accuracy) for _, r in tried if r.placement == p]
    a1.plot(*zip(*pts), ".", ms=4, alpha=0.6)
a1.plot(1e3 * best.mean_latency, 100 * best.accuracy, "r*", ms=14, label="best under budget")
a1.axvline(1e3 * latency_budget, color="red", ls="--", lw=1, label="budget")
a1.set(
    xlabel="mean end-to-end latency (ms per input)",
    ylabel="test accuracy (%)",
    title="15 placements × 21 thresholds",
    xlim=(0, 60),
)
a1.legend()
a2.plot([1e3 * b for b in budgets], [100 * a for a in frontier], "o-", ms=3)
a2.set(
    xlabel="latency budget (ms per input)",
    ylabel="best accuracy within budget (%)",
    title="what a budget buys",
)
fig.tight_layout()
plt.show()

# %%
# check: splitting the blocks across tiers rarely pays — at fewer than 1 budget in 10 does
# the best split beat the best single-tier deployment by more than a point; and the
# deployment moves with the budget (all on the device when tight, x to the edge when loose)
mexit.check(
    "split-rarely-pays",
    len(helps) < 0.1 * len(budgets),
    budgets_where_split_helps=len(helps),
    budgets=len(budgets),
    largest_gain=max(split_gain),
)
mexit.check(
    "boundary-moves-with-budget",
    at_tight.placement == (0, 0, 0, 0) and at_loose.placement[0] > 0,
    tight=tiers.placement_label(at_tight.placement),
    loose=tiers.placement_label(at_loose.placement),
)

# %% [markdown]
# Splitting the network rarely pays in this system: at fewer than one budget in ten between
# 1 and 40 ms does the best split beat the best single-tier deployment by more than a point
# [✓ split-rarely-pays] (at seed 0, a 14 ms budget is one of the few). The reason is the
# first section's: every $h_i$ is 16× $x$, so once an input must leave the device, shipping
# $x$ itself is the cheapest transfer. What moves with the budget is *which* single tier:
# a tight budget keeps every block on the device and answers early, a loose one ships $x$
# to the edge and runs every block there [✓ boundary-moves-with-budget].

# %% [markdown]
# ## A real run across processes
#
# The cost model is arithmetic; now the network runs for real on three processes, one per
# tier, started from this notebook with `torch.multiprocessing` (forked where the platform
# allows, which takes milliseconds; `start_method="spawn"` works too, a few seconds per
# process) and talking `torch.distributed` (gloo backend) on 127.0.0.1. Rank 0, the device, holds the 1000 test
# inputs and runs blocks 1–2 with their exits; it sends to rank 1 only the rows not yet
# answered: their indices and their $h_2$. Rank 1 (edge) runs block 3, rank 2 (cloud)
# block 4. A free port is picked automatically; the processes start and stop inside this
# cell. Loopback is not a wireless link: the wall time measures the processes, not the
# cost model's links. The run gives the same predictions and exits as the single-process
# early exit, input by input, and sends exactly the unresolved rows' embeddings
# [✓ distributed-equals-single].
#
# **Memory.** Forked ranks share the notebook's pages (torch, the model, the data) until
# they write to them. Their resident set sizes (RSS) each count those shared pages in full,
# so summing them counts torch once per process; the *proportional* set size (PSS, from
# `/proc/<pid>/smaps_rollup`) divides every page among the processes that share it, and
# sums to what the run really occupies.

# %%
single = mexit.early_exit_predict(model, data.x_test, threshold, costs=costs)
run = tiers.distributed_early_exit(
    model, data.x_test, threshold, run_placement, world_size=3, timeout=run_timeout
)
expected = tiers.unresolved_embedding_bytes(single.exit_index, model.exits, run_placement, h_bytes)
for link, (b, e, n) in enumerate(zip(run.embedding_bytes, expected, run.rows_sent)):
    print(
        f"link {system.names[link]} → {system.names[link + 1]}: {n} inputs, {b} bytes of "
        f"embeddings (expected {e}), {run.overhead_bytes[link]} bytes of row indices + header"
    )
print(
    f"inference wall time {1e3 * run.wall_seconds:.0f} ms on 3 ranks; with starting and "
    f"stopping the processes {run.total_seconds:.1f} s"
)
print(
    "proportional set size (MB): ranks "
    + ", ".join(f"{p / 1e6:.0f}" for p in run.pss_bytes[:-1])
    + f", this notebook {run.pss_bytes[-1] / 1e6:.0f}; total {sum(run.pss_bytes) / 1e6:.0f} MB"
)

# %%
# check: the distributed run answers exactly as the single-process early exit, and sends
# only the unresolved inputs' embeddings (rows not answered at exits 1-2 cross link 1)
mexit.check(
    "distributed-equals-single",
    torch.equal(run.predictions, single.predictions)
    and torch.equal(run.exit_index, single.exit_index)
    and run.embedding_bytes == expected
    and run.rows_sent[0] == int((single.exit_index > 1).sum()),
    inputs=len(run.predictions),
    bytes_sent=list(run.embedding_bytes),
    unresolved_bytes=list(expected),
)

# %% [markdown]
# ### When a rank cannot start
#
# A port already taken, or a rank that dies at start-up, must not leave processes behind
# nor hang the notebook. Both raise `tiers.TierRunError` with a message saying what
# happened; every process started has been stopped by then [✓ failures-are-clean].

# %%
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        tiers.distributed_early_exit(
            model, data.x_test[:50], threshold, [0, 0, 1, 1], port=taken.getsockname()[1]
        )
    except tiers.TierRunError as err:
        port_error = str(err)
print("port in use →", port_error)
try:
    tiers.distributed_early_exit(
        model, data.x_test[:50], threshold, [0, 0, 1, 1], fail_rank=1, timeout=run_timeout
    )
except tiers.TierRunError as err:
    rank_error = str(err).splitlines()[0]
print("rank fails  →", rank_error)

# %%
# check: both failures gave a clear message and no process is left behind
mexit.check(
    "failures-are-clean",
    "in use" in port_error
    and "rank 1 of 2 failed" in rank_error
    and multiprocessing.active_children() == [],
    children_left=len(multiprocessing.active_children()),
)

# %% [markdown]
# ## Training across the tiers (§7.2, second half)
#
# So far the network was trained in one place and only *ran* on the tiers. The survey asks
# for more when "the separate tiers have to adapt to new data without the possibility of
# communicating everything to a centralized controller": "LT methods lend themselves
# naturally to an iterative implementation, in which every tier trains its own model before
# sending the new set of input features to the next tier" (§7.2); elastic, asynchronous
# schemes are among the open problems of Challenge 2 (§8). Here is the iterative scheme,
# run for real on three processes (gloo, 127.0.0.1):
#
# - the device holds the 3200 training inputs; it trains blocks 1–2 with exits 1–2 on
#   their own joint loss, eq. (6) restricted to the tier's exits (every $\alpha = 1$);
# - it then computes $h_2$ of every training input once and sends it, with the labels, to
#   the edge; the edge trains block 3 with exit 3 on $L_3$, sends $h_3$ to the cloud, which
#   trains block 4 with the final exit.
#
# No gradient crosses a link: each tier is a stage of layer-wise training (§5.3, eq. 7),
# each stage minimising
# $$\min_{f_t,\, c_t} \; \sum_{k \in \text{tier } t} L\big(y, c_k(h_k)\big), \qquad
# h_{\text{first}(t)-1} \text{ fixed (received from tier } t-1).$$
#
# **Budget.** Every run below starts from the same initialisation and gets `train_epochs`
# epochs of Adam over the 3200 training inputs (one-cycle schedule to `train_lr`, batches of
# 128): per tier for the tier-wise scheme, over the whole network for single-process joint
# training (eq. 6), so every parameter takes the same number of steps. Nothing is
# fine-tuned afterwards. The same tier-wise scheme also runs in this process, with the
# same seeds, to see what distributing it changes.

# %%
mexit.seed_everything(seed)
init = mexit.mnist1d_cnn()  # one initialisation shared by the three runs
budget = dict(epochs=train_epochs, lr=train_lr, seed=seed)
by_tiers = copy.deepcopy(init)
trained = tier_training.distributed_train_by_tiers(
    by_tiers, data.x_train, data.y_train, train_placement, timeout=run_timeout, **budget
)
one_process = copy.deepcopy(init)
reference = tier_training.train_by_tiers(
    one_process, data.x_train, data.y_train, train_placement, **budget
)
joint = copy.deepcopy(init)
mexit.seed_everything(seed)
joint_history = mexit.fit(
    joint,
    data.x_train,
    data.y_train,
    epochs=train_epochs,
    lr=train_lr,
    desc="joint training, one process",
)
runs = {"per tier, 3 processes": by_tiers, "per tier, 1 process": one_process, "joint": joint}
test_acc = {
    k: mexit.exit_accuracies(mexit.exit_probs(m, data.x_test), data.y_test) for k, m in runs.items()
}
print(f"test accuracy after {train_epochs} epochs (lr {train_lr}), per exit:")
for name, acc in test_acc.items():
    print(
        f"  {name:22s} "
        + "  ".join(f"exit {i}: {100 * a:5.1f} %" for i, a in zip(model.exits, acc))
    )
fig, ax = plt.subplots(figsize=(5.5, 3.2))
for name in ("per tier, 3 processes", "joint"):
    ax.plot(model.exits, 100 * test_acc[name], "o-", label=name)
ax.set(
    xlabel="exit (block i)",
    ylabel="test accuracy (%)",
    xticks=list(model.exits),
    title=f"same budget: {train_epochs} epochs per parameter",
)
ax.legend()
plt.show()

# %%
N = len(data.y_train)
raw = N * h_bytes[0] + N * 8  # the raw training set and its labels, once over a link
for link, (e, b) in enumerate(zip(trained.embedding_bytes, trained.label_bytes)):
    print(
        f"link {system.names[link]} → {system.names[link + 1]}: {e / 1e6:.2f} MB of h_"
        f"{max(i + 1 for i, t in enumerate(train_placement) if t <= link)} + {b / 1e3:.1f} kB of "
        f"labels; shipping the raw training set would take {raw / 1e6:.2f} MB"
    )
print(
    f"in all {sum(trained.bytes_sent) / 1e6:.1f} MB, "
    f"{sum(trained.bytes_sent) / (2 * raw):.1f}× centralised training's {2 * raw / 1e6:.2f} MB "
    "(x and y sent once over both links to the cloud)"
)
print(
    "training time per tier (s, one measurement on a shared machine): "
    + ", ".join(f"{t:.1f}" for t in trained.tier_seconds)
    + f"; joint training in one process: {joint_history.seconds:.1f} s"
)
pss_mb = [p / 1e6 for p in trained.pss_bytes]
print(
    "proportional set size (MB): ranks "
    + ", ".join(f"{p:.0f}" for p in pss_mb[:-1])
    + f", this notebook {pss_mb[-1]:.0f}; total {sum(pss_mb):.0f} MB"
)

# %%
# check: distributing the tier-wise scheme changes nothing — the weights that came back
# from the ranks equal those trained in this process
gap = max(
    (a.float() - b.float()).abs().max().item()
    for a, b in zip(by_tiers.state_dict().values(), one_process.state_dict().values())
)
mexit.check(
    "tiers-train-as-one-process",
    gap < 1e-5 and torch.equal(test_acc["per tier, 3 processes"], test_acc["per tier, 1 process"]),
    max_weight_difference=gap,
    final_3_processes=test_acc["per tier, 3 processes"][-1],
    final_1_process=test_acc["per tier, 1 process"][-1],
)
# check: the bytes the ranks counted on the wire are N × bytes(h_i) found from the shapes
# (h_2 over link 1, h_3 over link 2), 16 times the raw inputs
expected_train = (N * h_bytes[2], N * h_bytes[3])
mexit.check(
    "training-bytes",
    trained.embedding_bytes == expected_train and trained.embedding_bytes[0] == 16 * N * h_bytes[0],
    on_the_wire=list(trained.embedding_bytes),
    from_shapes=list(expected_train),
)
# check: the processes of the run (three ranks and this notebook) use less than 1.5 GB
mexit.check(
    "memory-pss",
    sum(trained.pss_bytes) < 1.5e9 and sum(run.pss_bytes) < 1.5e9,
    training_pss_mb=sum(trained.pss_bytes) / 1e6,
    inference_pss_mb=sum(run.pss_bytes) / 1e6,
)

# %%
# check: at this budget, single-process joint training's final exit beats the tier-wise
# scheme's by at least 5 points
mexit.check(
    "joint-beats-tiers-final",
    test_acc["joint"][-1] >= test_acc["per tier, 3 processes"][-1] + 0.05,
    joint_final=test_acc["joint"][-1],
    per_tier_final=test_acc["per tier, 3 processes"][-1],
    epochs=train_epochs,
)

# %% [markdown]
# What the numbers say:
#
# - **Distributing costs nothing in accuracy.** The weights that came back from the three
#   ranks are those of the same scheme run in one process [✓ tiers-train-as-one-process]:
#   the links carry data, not approximations.
# - **Layer-wise per tier costs the final exit.** At the same budget (3 epochs, `train_epochs`,
#   for every parameter, Adam to lr 3e-3), joint training's final exit beats the
#   tier-wise one by at least 5 points [✓ joint-beats-tiers-final]: no gradient from exits
#   3–4 reaches the device's blocks, which learn features for exits 1–2 only. The early
#   exits land near joint training's, ahead or behind depending on the seed (read the
#   table), so this notebook claims nothing about them.
# - **It sends more, not less.** Each link carried the whole training set's $h_i$, 16× the
#   raw inputs [✓ training-bytes], because this CNN's embeddings are 16× $x$.
# - **Memory.** Measured as proportional set size, the three ranks and the notebook stay
#   well below 1.5 GB [✓ memory-pss]; summing their RSS would count the shared torch
#   pages once per process.
#
# **Note on the survey's claim.** The survey motivates distributed training by tiers that
# cannot communicate everything to a central controller (§7.2). With this network, the
# iterative scheme communicates *more* than centralising the raw data (the ratio is printed
# above): it saves bytes only when the embeddings at the tier boundaries are smaller than
# the input (a network that downsamples faster), or when they travel in fewer bits.

# %% [markdown]
# ### A communication constraint: half precision on the wire
#
# The survey points to "distributed optimization strategies, possibly taking into account
# also communication constraints" (§7.2). The simplest one: send $h_i$ in float16 (2 bytes
# per number instead of 4). The same tier-wise run, same seeds and budget, in this process
# (the distributed run reproduces the one-process run exactly, as checked above): the links
# carry half the bytes, and the final exit moves by less than 2 points
# [✓ half-wire-costs-little].

# %%
half_wire = copy.deepcopy(init)
half = tier_training.train_by_tiers(
    half_wire, data.x_train, data.y_train, train_placement, wire_dtype=torch.float16, **budget
)
test_acc["per tier, float16 wire"] = mexit.exit_accuracies(
    mexit.exit_probs(half_wire, data.x_test), data.y_test
)
for name in ("per tier, 1 process", "per tier, float16 wire"):
    acc = test_acc[name]
    print(
        f"{name:24s} " + "  ".join(f"exit {i}: {100 * a:5.1f} %" for i, a in zip(model.exits, acc))
    )
print(
    f"bytes on the links: float32 {sum(reference.embedding_bytes) / 1e6:.1f} MB, "
    f"float16 {sum(half.embedding_bytes) / 1e6:.1f} MB"
)
# check: float16 halves the embedding bytes and moves the final exit by less than 2 points
change = float(test_acc["per tier, float16 wire"][-1] - test_acc["per tier, 1 process"][-1])
mexit.check(
    "half-wire-costs-little",
    2 * sum(half.embedding_bytes) == sum(reference.embedding_bytes) and abs(change) < 0.02,
    float16_bytes=sum(half.embedding_bytes),
    float32_bytes=sum(reference.embedding_bytes),
    final_exit_change=change,
)

# %% [markdown]
# ## Explore
#
# **Tier explorer.** Slow the device → edge link down or speed it up, add latency, move the
# tier boundaries (which blocks run where) and the threshold. You see the mean latency per
# input, the bytes sent, the accuracy, where the inputs are answered, and the fastest
# placement at this threshold. All exit outputs were computed once.

# %%
tier_widget = mexit.widgets.TierExplorer(
    test_probs, data.y_test, costs, model.exits, h_bytes, system
)
tier_widget.placement.value = tuple(run_placement)
tier_widget.threshold.value = threshold
tier_widget.show();


# %% [markdown]
# ## Takeaways
#
# - On tiers, an exit's cost is compute *and* communication: the bytes of $h_i$ and the latency of every link it crosses. Here every $h_i$ is 16× the raw input [✓ h-bytes], so splitting the blocks across tiers rarely beats the best single tier [✓ split-rarely-pays].
# - The best tier boundary depends on the budget: a tight one keeps every block on the device, a loose one sends $x$ to the edge [✓ boundary-moves-with-budget].
# - A real run across processes answers exactly as the single-process early exit and only the unresolved inputs travel [✓ distributed-equals-single].
# - Training per tier (the survey's iterative LT, §7.2) runs for real and loses nothing by being distributed [✓ tiers-train-as-one-process], but at an equal budget its final exit trails joint training's [✓ joint-beats-tiers-final], and its links carry 16× the bytes of the raw inputs [✓ training-bytes] — half that in float16, at little cost [✓ half-wire-costs-little].
#
# **Exercise:** try `train_placement = [0, 1, 1, 2]` (the edge trains blocks 2–3): what
# crosses each link now, and what happens to the final exit? Try `wire_dtype=torch.bfloat16`.
#
# **Try with the widget:** at 10 kB/s, which placement is fastest? How low must the
# threshold go before sending $x$ straight to the edge beats computing on the device?
# Where does the fastest placement switch as you add link latency?

# %% [markdown]
# ## Exercises
#
# Write the code, then run the checker cell under it: it runs your function on a handful of
# fixed inputs (random and edge cases) against mexit's own implementation and says "correct",
# or shows the first input where yours differs, naming the mistake when it recognises it.
# These cells need only the setup and parameters cells at the top, so you can jump here
# straight away.
#
# **Exercise 1 (the bytes each link carries).** A placement gives the tier of every block
# $1..L$ (0 = device, 1 = edge, 2 = cloud, non-decreasing). Only inputs not yet answered
# travel: link $t$ (from tier $t$ to tier $t + 1$) carries, for every input whose exit lies
# beyond the last block of tiers $0..t$, the embedding $h_i$ leaving that block ($h_0 = x$ when
# those tiers run no block). Write `link_bytes(exit_index, exits, placement, h_bytes)`:
# `exit_index` the exit *position* $0..E-1$ of every input (as `mexit.simulate_exits` returns),
# `exits` the exit blocks, `h_bytes[i]` the bytes of $h_i$ for one input. Return one integer per
# link: `max(placement)` of them (none when everything runs on the device).

# %% tags=["exercise-link_bytes"]
def link_bytes(exit_index, exits, placement, h_bytes):
    """Bytes carried by each link t = 0 .. max(placement) - 1: a tuple of ints."""
    raise NotImplementedError  # your code here


# %%
result = mexit.exercises.check_link_bytes(link_bytes)


# %% [markdown]
# **Exercise 2 (the latency of each exit).** Write
# `exit_latencies(costs, exits, h_bytes, system, placement)`: the end-to-end latency $T_j(\pi)$
# (in seconds) of one input answered at each exit $j$ of `exits`, as in the cost model above:
# every block and head up to $j$ at the speed of its tier, every link crossed on the way out
# (its latency plus the bytes of the embedding that leaves the last block before it, over its
# bandwidth), and the link latencies again to bring the answer back to the device. `costs` is a
# `mexit.CostProfile` (`costs.gamma_f[k - 1]`: FLOPs of block $k$; `costs.gamma_c[k]`: of head
# $k$), `system` a `mexit.tiers.TierSystem` (`system.speeds[t]` in FLOP/s per tier,
# `system.latencies[t]` in s and `system.bandwidths[t]` in bytes/s per link $t$). Return one
# number per exit.

# %% tags=["exercise-exit_latencies"]
def exit_latencies(costs, exits, h_bytes, system, placement):
    """Latency (s) of an input answered at each exit of `exits`, the reply included."""
    raise NotImplementedError  # your code here


# %%
result = mexit.exercises.check_exit_latencies(exit_latencies)

# %% [markdown]
# **Exercise 3 (with the tier explorer).** Set the placement device, device, edge, cloud and
# predict, before you move the threshold from 0 to 1: how do the bytes sent per input change,
# and why can they never exceed the bytes of $h_2$ plus those of $h_3$? *What to look for:* the
# bytes readout and the share of inputs answered on the device; then slow the device → edge
# link down and watch which placement becomes the fastest.
#
# **Exercise 4 (when would splitting pay?).** Every $h_i$ of our CNN is 16× the raw input.
# Using your `link_bytes`, what would a link carry if $h_2$ were 8× *smaller* than $x$ (a
# network that downsamples fast)? *With the explorer:* which setting of bandwidth and threshold
# makes keeping the first blocks on the device worth its compute time?
