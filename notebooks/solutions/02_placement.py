# %% [markdown]
# # Solutions: 02 Placement (§4, eq. 4)
#
# For instructors: one cell per exercise of `notebooks/02_placement.ipynb`, tagged like the
# exercise cell it replaces.

# %% tags=["exercise-percentile"]
def percentile_exits(block_costs, fractions):
    """SDN placement: the sorted early exits (block indices 1..L-1) for cost fractions."""
    costs = [float(c) for c in block_costs]
    L, total = len(costs), sum(costs)
    cumulative = [sum(costs[:i]) / total for i in range(1, L + 1)]  # through block i
    exits = set()
    for q in fractions:
        i = next(i for i in range(1, L + 1) if cumulative[i - 1] >= q - 1e-12)
        if i < L:  # the final exit is always there
            exits.add(i)
    return tuple(sorted(exits))


# %% tags=["exercise-eq4"]
def efficient_exits(gamma, I):
    """Eq. 4's verdict for exits 1..E-1: a list of booleans."""
    g = [float(v) for v in gamma]
    r = [float(v) for v in I]
    # Python index i-1 is the survey's exit i
    return [(g[i] - g[i - 1]) * (r[i - 1] - r[i]) > g[i - 1] * r[i] for i in range(1, len(g))]
