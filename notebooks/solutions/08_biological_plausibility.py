# %% [markdown]
# # Solutions: 08 Biological plausibility (§7.1)
#
# One cell per coding exercise, tagged like the notebook's exercise cell it replaces.

# %% tags=["exercise-feedback_backward"]
def fa_backward(delta, h, M, K):
    """The error feedback alignment sends to the block for c = h M^T: (N, d)."""
    return delta @ K  # backprop would send delta @ M


# %% [markdown]
# **Exercise 2.** At a high $\beta$ many inputs leave at exit 1, which with an independent
# $K$ is barely better than chance: the histogram moves left while accuracy falls. With the
# sign-concordant $K$ the exits learn, so the same move costs less accuracy.
#
# **Exercise 3.** $\mathbb{E}[\delta^\top M K^\top \delta] = \delta^\top \mathbb{E}[M K^\top]
# \delta = 0$ for $K$ independent of $M$ with zero mean, whatever $K$'s scale: on average the
# block's signal is orthogonal to its gradient. With $K = \mathrm{sign}(M) \odot |R|$ every
# product $M_{ij} K_{ij} \ge 0$, so $\mathbb{E}[M K^\top]$ has a positive diagonal and the signal
# stays within 90° of the gradient.
