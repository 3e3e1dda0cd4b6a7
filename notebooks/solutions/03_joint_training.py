# %% [markdown]
# # Solutions: 03 Joint training (§5.1-5.2, eq. 6 and 9)
#
# For instructors: one cell per exercise of `notebooks/03_joint_training.ipynb`, tagged like
# the exercise cell it replaces.

# %% tags=["exercise-sdn_alphas"]
def sdn_alphas(n_exits):
    """α_1..α_{E-1} of SDN's linear ramp for a network with n_exits exits."""
    return [k / n_exits for k in range(1, n_exits)]


# %% tags=["exercise-eq9"]
def gated_combination(probs, gates):
    """ĉ_1 = Σ_j p_j c_j with p_j = g_j ∏_{l<j} (1 − g_l) and g ≡ 1 at the final exit."""
    import torch

    E = probs.shape[0]
    g = torch.cat([gates, torch.ones_like(gates[:, :1])], dim=1)  # g_L ≡ 1
    reach = torch.ones_like(g[:, 0])  # ∏_{l<j} (1 − g_l): the share that reaches exit j
    out = torch.zeros_like(probs[0])
    for j in range(E):
        out = out + (g[:, j] * reach)[:, None] * probs[j]
        reach = reach * (1 - g[:, j])
    return out
