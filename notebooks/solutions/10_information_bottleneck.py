# %% [markdown]
# # Solutions: 10 Information bottleneck (§7.3)
#
# One cell per coding exercise, tagged like the notebook's exercise cell it replaces.

# %% tags=["exercise-binned_mi"]
import torch


def binned_mi(a, b, bins):
    """I(A; B) in bits after binning each floating-point tensor into `bins` bins."""

    def symbols(t):
        t = t.reshape(t.shape[0], -1)
        if not t.is_floating_point():
            return t.long()  # labels: already discrete
        lo, hi = t.min(), t.max()
        if hi <= lo:
            return torch.zeros_like(t, dtype=torch.long)  # one bin
        return ((t - lo) / (hi - lo) * bins).long().clamp(max=bins - 1)

    def entropy(s):
        _, counts = torch.unique(s, dim=0, return_counts=True)
        p = counts.double() / s.shape[0]
        return float(-(p * p.log2()).sum())

    sa, sb = symbols(a), symbols(b)
    return entropy(sa) + entropy(sb) - entropy(torch.cat([sa, sb], dim=1))


# %% [markdown]
# **Exercise 2.** With 640 units and 30 bins every one of the 500 rows is a distinct symbol:
# $H(A) = \log_2 500$, $H(A, Y) = \log_2 500$, so $I = H(Y)$ — for a random layer too. The
# estimate means something only when rows share symbols (few bins, few units, many samples).
#
# **Exercise 3.** Without exits 1 and 2 every input runs at least to block 3: the mean cost
# rises, and the inputs that left early before now leave at exit 3 or later.
