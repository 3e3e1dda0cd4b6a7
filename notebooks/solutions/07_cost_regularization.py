# %% [markdown]
# # Solutions: 07 Cost regularisation (§6.1, eq. 12-14)
#
# One cell per coding exercise, tagged like the notebook's exercise cell it replaces.

# %% tags=["exercise-eq14"]
import torch

import mexit


def exit_probabilities(gates):
    """Eq. 14: gates (N, E-1) -> probabilities of exiting at each of the E exits (N, E)."""
    g = torch.cat([gates, torch.ones_like(gates[:, :1])], dim=1)  # g ≡ 1 at the final exit
    reach = torch.cumprod(1 - g, dim=1)  # ∏_{l ≤ j} (1 − g_l)
    reach = torch.cat([torch.ones_like(g[:, :1]), reach[:, :-1]], dim=1)  # ∏_{l < j}
    return g * reach


# %% tags=["exercise-expected_cost"]
def expected_cost(gates, gamma_f, gamma_c, exits):
    """Mean over inputs of Σ_j p_ij Γ_j (eq. 13, consistent form), in FLOPs per input."""
    Gamma = []
    for j in exits:
        blocks = sum(float(gamma_f[k]) for k in range(j))
        heads = sum(float(gamma_c[i]) for i in exits if i <= j)
        Gamma.append(blocks + heads)
    p = mexit.exit_probabilities(gates)
    Gamma = torch.tensor(Gamma, dtype=p.dtype)
    return (p * Gamma).sum(1).mean()


# %% [markdown]
# **Exercise 3.** A higher $\tau$ lets fewer gates fire, so fewer inputs leave early: the
# star moves right (more cost); its accuracy usually rises toward the final exit's. Compare
# it with the blue line of the same heads at the star's cost: that is the fair comparison.
#
# **Exercise 4.** $p = (0.5, 0.5)$, $\varepsilon = (1, 2)$: as printed $0.5 + 1 = 1.5$; the
# input really costs $0.5 \cdot 1 + 0.5 \cdot 3 = 2$. With $g_1 \in \{0, 1\}$ the consistent
# form gives $\Gamma_1$ or $\Gamma_2$, eq. 12; the printed one gives $\varepsilon_2 = 2 \ne 3$
# when the input runs to the end. With only the final exit, both readouts show $\Gamma_L$.
