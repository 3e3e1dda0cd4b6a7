"""Exercise of notebook 09 (§7.2): the bytes each link of a device → edge → cloud system
carries when only the inputs not yet answered travel."""

from __future__ import annotations

import torch

from ..cost import CostProfile
from ..tiers import tier_latencies, tier_system, unresolved_embedding_bytes
from ._core import Case, Exercise, Mistake

# bytes of h_0 = x, h_1, ..., h_4 for one input: all different, so a wrong h_i shows
_H = (160, 2560, 1280, 640, 320)


def _bytes_cases() -> list[Case]:
    g = torch.Generator().manual_seed(901)
    exit_index = torch.randint(0, 4, (20,), generator=g)
    two = torch.randint(0, 2, (12,), generator=g)
    return [
        Case(
            "placement device, device, edge, cloud; exits after every block",
            (exit_index, (1, 2, 3, 4), (0, 0, 1, 2), _H),
        ),
        Case("all on the device: no link", (exit_index, (1, 2, 3, 4), (0, 0, 0, 0), _H)),
        Case(
            "all in the cloud: x crosses both links for every input",
            (exit_index, (1, 2, 3, 4), (2, 2, 2, 2), _H),
        ),
        Case(
            "the edge runs no block: h_2 crosses both links",
            (exit_index, (1, 2, 3, 4), (0, 0, 2, 2), _H),
        ),
        Case(
            "exits at blocks 2 and 4 only, placement device, edge, edge, cloud",
            (two, (2, 4), (0, 1, 1, 2), _H),
        ),
        Case(
            "two tiers, everyone answered on the device",
            (torch.zeros(6, dtype=torch.long), (1, 2, 3, 4), (0, 0, 1, 1), _H),
        ),
    ]


def _last_block(placement, t):
    on = [b for b in range(1, len(placement) + 1) if placement[b - 1] <= t]
    return max(on) if on else 0


def _variant(
    exit_index,
    exits,
    placement,
    h_bytes,
    *,
    everyone=False,
    at_or_beyond=False,
    shift=0,
    positions_are_blocks=False,
    skip_empty=False,
):
    out = []
    for t in range(max(placement)):
        last = _last_block(placement, t)
        if skip_empty and t not in placement:
            out.append(0)
            continue
        if positions_are_blocks:
            k_last = last - 1
        else:
            k_last = max((k for k, b in enumerate(exits) if b <= last), default=-1)
        if everyone:
            n = len(exit_index)
        elif at_or_beyond:
            n = int((exit_index >= k_last).sum())
        else:
            n = int((exit_index > k_last).sum())
        out.append(n * int(h_bytes[min(last + shift, len(h_bytes) - 1)]))
    return tuple(out)


def _everyone(exit_index, exits, placement, h_bytes):
    return _variant(exit_index, exits, placement, h_bytes, everyone=True)


def _answered_sent(exit_index, exits, placement, h_bytes):
    return _variant(exit_index, exits, placement, h_bytes, at_or_beyond=True)


def _next_embedding(exit_index, exits, placement, h_bytes):
    return _variant(exit_index, exits, placement, h_bytes, shift=1)


def _positions_as_blocks(exit_index, exits, placement, h_bytes):
    return _variant(exit_index, exits, placement, h_bytes, positions_are_blocks=True)


def _skip_empty(exit_index, exits, placement, h_bytes):
    return _variant(exit_index, exits, placement, h_bytes, skip_empty=True)


LINK_BYTES = Exercise(
    "link_bytes",
    title="link_bytes(exit_index, exits, placement, h_bytes), the bytes each link carries",
    params=("exit_index", "exits", "placement", "h_bytes"),
    reference=unresolved_embedding_bytes,
    cases=_bytes_cases,
    success="your bytes equal mexit.tiers.unresolved_embedding_bytes",
    mistakes=[
        Mistake(
            "every input crosses every link",
            _everyone,
            "an input answered on the device never travels: link t carries only the inputs "
            "whose exit lies beyond the last block of tiers 0..t.",
        ),
        Mistake(
            "inputs answered at the tier's last exit sent on",
            _answered_sent,
            "an input leaving at the last exit of tier t is answered there: count "
            "exit_index > k (k the position of that exit), not ≥.",
        ),
        Mistake(
            "h_{i+1} instead of h_i",
            _next_embedding,
            "what leaves a tier is h_i, the output of its LAST block i (h_bytes[i]; h_bytes[0] "
            "is x): the next tier computes h_{i+1} itself.",
        ),
        Mistake(
            "exit positions read as block numbers",
            _positions_as_blocks,
            "exit_index holds positions 0..E-1 in `exits`, not block numbers: find the last "
            "exit at or before the tier's last block (with exits after every block the two "
            "coincide, which hides the mistake).",
        ),
        Mistake(
            "a tier without blocks sends nothing",
            _skip_empty,
            "an input bound for the cloud crosses the edge too: a tier that runs no block "
            "forwards what it received (here h_2 crosses both links).",
        ),
    ],
)
check_link_bytes = LINK_BYTES.checker_fn


# ------------------------------------------------------------------ latency per exit

_SYSTEM = dict(speeds=(1e7, 1e9, 2e10), latencies=(0.01, 0.03), bandwidths=(1e6, 1.25e7))


def _latency_cases() -> list[Case]:
    costs = CostProfile((1000, 8000, 30000, 120000), {1: 200, 2: 300, 3: 400, 4: 500})
    system = tier_system(**_SYSTEM)
    two = tier_system((1e7, 1e9), (0.02,), (5e5,))
    every = (1, 2, 3, 4)
    return [
        Case("device, device, edge, cloud", (costs, every, _H, system, (0, 0, 1, 2))),
        Case("all on the device (no link)", (costs, every, _H, system, (0, 0, 0, 0))),
        Case("all in the cloud: x crosses both links", (costs, every, _H, system, (2, 2, 2, 2))),
        Case("the edge runs no block", (costs, every, _H, system, (0, 0, 2, 2))),
        Case(
            "exits (2, 4) only, device, edge, edge, cloud",
            (costs, (2, 4), _H, system, (0, 1, 1, 2)),
        ),
        Case("two tiers: device and edge", (costs, every, _H, two, (0, 0, 1, 1))),
    ]


def _latency_reference(costs, exits, h_bytes, system, placement):
    return tier_latencies(costs, exits, h_bytes, system, placement)[0]


def _latency_variant(
    costs, exits, h_bytes, system, placement, *, reply=True, heads=True, one_speed=False, shift=0
):
    out, t, tier = [], 0.0, 0
    for b in range(1, len(placement) + 1):
        while tier < placement[b - 1]:
            i = min(b - 1 + shift, len(h_bytes) - 1)
            t += system.latencies[tier] + h_bytes[i] / system.bandwidths[tier]
            tier += 1
        speed = system.speeds[0 if one_speed else tier]
        t += costs.gamma_f[b - 1] / speed
        if b in exits:
            t += costs.gamma_c[b] / speed if heads else 0.0
            out.append(t + (sum(system.latencies[:tier]) if reply else 0.0))
    return out


def _no_reply(costs, exits, h_bytes, system, placement):
    return _latency_variant(costs, exits, h_bytes, system, placement, reply=False)


def _no_heads(costs, exits, h_bytes, system, placement):
    return _latency_variant(costs, exits, h_bytes, system, placement, heads=False)


def _device_speed(costs, exits, h_bytes, system, placement):
    return _latency_variant(costs, exits, h_bytes, system, placement, one_speed=True)


def _next_h(costs, exits, h_bytes, system, placement):
    return _latency_variant(costs, exits, h_bytes, system, placement, shift=1)


LATENCY = Exercise(
    "exit_latencies",
    title="exit_latencies(costs, exits, h_bytes, system, placement), the end-to-end latency of "
    "an input answered at each exit",
    params=("costs", "exits", "h_bytes", "system", "placement"),
    reference=_latency_reference,
    cases=_latency_cases,
    atol=1e-9,
    rtol=1e-7,
    success="your latencies equal mexit.tiers.tier_latencies",
    mistakes=[
        Mistake(
            "the answer's way back not counted",
            _no_reply,
            "the answer is needed on the device: an input answered on tier t pays the "
            "latencies of the t links once more on the way back (a class index: a few bytes, "
            "so latency only).",
        ),
        Mistake(
            "the heads' FLOPs not counted",
            _no_heads,
            "an input answered at exit j also ran every head of `exits` up to j, each on "
            "its block's tier: add γ_{c_k} / s_{π(k)}.",
        ),
        Mistake(
            "every block at the device's speed",
            _device_speed,
            "a block runs on the tier the placement gives it: divide its FLOPs by that "
            "tier's speed, system.speeds[placement[k - 1]].",
        ),
        Mistake(
            "h_{i+1} sent instead of h_i",
            _next_h,
            "crossing a link before block i + 1 sends h_i, the output of block i "
            "(h_bytes[i], h_bytes[0] = x): the next tier computes h_{i+1} itself.",
        ),
    ],
)
check_exit_latencies = LATENCY.checker_fn
