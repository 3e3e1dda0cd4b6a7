# %% [markdown]
# # Solutions: 09 Distributed (§7.2)
#
# One cell per coding exercise, tagged like the notebook's exercise cell it replaces.

# %% tags=["exercise-link_bytes"]
def link_bytes(exit_index, exits, placement, h_bytes):
    """Bytes carried by each link t = 0 .. max(placement) - 1: a tuple of ints."""
    out = []
    for t in range(max(placement)):
        blocks = [b for b in range(1, len(placement) + 1) if placement[b - 1] <= t]
        last = max(blocks, default=0)  # the last block run on tiers 0..t (0: none, send x)
        answered = [k for k, b in enumerate(exits) if b <= last]  # exits before the link
        k_last = max(answered, default=-1)
        travelling = int((exit_index > k_last).sum())
        out.append(travelling * int(h_bytes[last]))
    return tuple(out)


# %% tags=["exercise-exit_latencies"]
def exit_latencies(costs, exits, h_bytes, system, placement):
    """Latency (s) of an input answered at each exit of `exits`, the reply included."""
    out, t, tier = [], 0.0, 0
    for k in range(1, len(placement) + 1):
        while tier < placement[k - 1]:  # cross the links up to block k's tier, sending h_{k-1}
            t += system.latencies[tier] + h_bytes[k - 1] / system.bandwidths[tier]
            tier += 1
        t += costs.gamma_f[k - 1] / system.speeds[tier]
        if k in exits:
            t += costs.gamma_c[k] / system.speeds[tier]
            out.append(t + sum(system.latencies[:tier]))  # the answer comes back
    return out


# %% [markdown]
# **Exercise 3.** As the threshold grows, more inputs are answered on the device, so fewer
# bytes travel; an input that travels furthest sends $h_2$ over the first link and $h_3$ over
# the second, hence the bound. A slow first link makes every placement that sends something
# over it slower, which favours running more on the device.
#
# **Exercise 4.** With $h_2$ 8× smaller than $x$, each travelling input would send 1/8 of
# the raw input's bytes over the first link: computing blocks 1–2 on the device would pay
# whenever the link time saved exceeds the device's compute time for them.
