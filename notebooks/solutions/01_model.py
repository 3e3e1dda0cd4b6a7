# %% [markdown]
# # Solutions: 01 The model (§3, eq. 1-3)
#
# For instructors: one cell per exercise of `notebooks/01_model.ipynb`, tagged like the
# exercise cell it replaces (`exercise-<name>`). `tests/test_exercises_solutions.py` runs the
# notebook's exercises with these cells in place and requires every checker to print
# "correct".

# %% tags=["exercise-exit_outputs"]
def exit_outputs(model, x):
    """Logits of every exit of `model` on the batch x: a list of (N, K) tensors."""
    outs, h = [], x
    for i, block in enumerate(model.blocks, start=1):
        h = block(h)  # h_i = f_i(h_{i-1}), eq. 1
        if i in model.exits:
            outs.append(model.head(i)(h))  # y_i = c_i(h_i), eq. 3
    return outs


# %% tags=["exercise-gamma"]
def Gamma(gamma_f, gamma_c, exits):
    """Γ_j for each exit j in `exits`: every block up to j and every head of `exits` on the way."""
    out = []
    for j in exits:
        blocks = sum(float(g) for g in gamma_f[:j])  # blocks f_1..f_j
        heads = sum(float(gamma_c[k]) for k in exits if k <= j)  # heads passed, head j included
        out.append(blocks + heads)
    return out
