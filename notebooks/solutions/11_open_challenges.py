# %% [markdown]
# # Solutions: 11 Open challenges (§8)
#
# One cell per coding exercise, tagged like the notebook's exercise cell it replaces.

# %% tags=["exercise-cascade_cost"]
import mexit


def cascade_cost(small_probs, threshold, cost_small, cost_large):
    """Mean FLOPs per input of the cascade small -> large at entropy threshold β."""
    H = mexit.normalized_entropy(small_probs)
    deferred = (H > threshold).double().mean().item()
    return cost_small + deferred * cost_large


# %% [markdown]
# **Exercise 2.** $\gamma_s + P\gamma_l < \gamma_l \iff P < 1 - \gamma_s/\gamma_l = 0.75$ for a
# small network at a quarter of the large one. A multi-exit network never repeats work: it
# costs less than the plain network as soon as the heads it runs cost less than the blocks its
# early leavers skip.
#
# **Exercise 3.** Removing an exit sends its inputs to the next exit; with equal layer costs,
# the cost of the removed exit's inputs grows by one layer each, while everyone who passed it
# saves one head.
